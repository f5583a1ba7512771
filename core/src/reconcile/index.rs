//! Indexes over the ledger: references → invoices, customers → open items, IBAN / mandate /
//! SIREN / name → customers, amount → open items. Built once per run, in linear time and
//! memory; lookups never scan all invoices.

use super::normalise;
use crate::model::{Customer, Invoice, InvoiceStatus};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::hash::Hasher;

/// Namespaces of reference keys, so an order reference never collides with an invoice number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Ns {
    Number = 0,
    Creditor = 1,
    Order = 2,
    Buyer = 3,
}

/// Stable 64-bit hash of a namespaced key (FNV-1a, then a final mix: deterministic and fast on
/// short keys). Hits are verified against the invoice, so a collision never matches.
pub(crate) fn key_hash(_ns: Ns, key: &str) -> u64 {
    // One hash for every namespace: a single probe finds numbers, order and buyer references;
    // the namespace is stored with each entry.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

/// Hasher for keys that are already well-mixed 64-bit hashes.
#[derive(Default, Clone, Copy, Debug)]
pub(crate) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) ^ u64::from(b) ^ (self.0 >> 56);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type FastMap<V> = HashMap<u64, V, std::hash::BuildHasherDefault<PassThrough>>;

/// Hasher for small integer keys (invoice and receipt indexes): one multiplication, as
/// the keys are dense and never chosen by an attacker to collide (they are positions).
#[derive(Default, Clone, Copy, Debug)]
pub(crate) struct IntHasher(u64);

impl Hasher for IntHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0 ^ v)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(29);
    }
}

/// A map keyed by invoice, receipt or customer index.
pub(crate) type IdxMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<IntHasher>>;
/// A set of invoice, receipt or customer indexes.
pub(crate) type IdxSet<K> = std::collections::HashSet<K, std::hash::BuildHasherDefault<IntHasher>>;

/// Hash of a pair of name tokens (sorted), for the name index.
pub(crate) fn pair_hash(a: &str, b: &str) -> u64 {
    let (x, y) = if a <= b { (a, b) } else { (b, a) };
    let mut k = String::with_capacity(x.len() + y.len() + 1);
    k.push_str(x);
    k.push(' ');
    k.push_str(y);
    key_hash(Ns::Number, &k).rotate_left(17) ^ 0x5bd1_e995
}

/// A multimap from 64-bit keys to values, stored as one sorted array plus an offset map.
#[derive(Debug)]
pub(crate) struct KeyIndex<T> {
    entries: Vec<(u64, T)>,
    slots: FastMap<(u32, u32)>,
}

impl<T: Copy + Ord> KeyIndex<T> {
    pub(crate) fn build(mut entries: Vec<(u64, T)>) -> Self {
        entries.sort_unstable();
        entries.dedup();
        let mut slots = FastMap::with_capacity_and_hasher(entries.len(), Default::default());
        let mut i = 0usize;
        while i < entries.len() {
            let k = entries[i].0;
            let mut j = i;
            while j < entries.len() && entries[j].0 == k {
                j += 1;
            }
            let start = u32::try_from(i).unwrap_or(u32::MAX);
            let len = u32::try_from(j - i).unwrap_or(u32::MAX);
            slots.insert(k, (start, len));
            i = j;
        }
        Self { entries, slots }
    }

    pub(crate) fn get(&self, k: u64) -> impl Iterator<Item = T> + '_ {
        let (s, l) = self.slots.get(&k).copied().unwrap_or((0, 0));
        let s = s as usize;
        self.entries[s..s + l as usize].iter().map(|e| e.1)
    }
}

/// Amount in minor units (cents), rounded half away from zero.
pub(crate) fn cents(d: Decimal) -> i64 {
    (d * Decimal::ONE_HUNDRED)
        .round()
        .to_i64()
        .unwrap_or(i64::MAX)
}

/// Cents back to a decimal with two places.
pub(crate) fn from_cents(c: i64) -> Decimal {
    Decimal::new(c, 2)
}

/// The indexed ledger.
#[derive(Debug)]
pub(crate) struct Ledger<'a> {
    /// Invoices sorted by id (so nothing depends on input order); indexes refer to this.
    pub invoices: Vec<&'a Invoice>,
    /// Customer ids (ledger customers first, then ids found only on invoices).
    pub cust_ids: Vec<crate::ids::CustomerId>,
    pub cust_names: Vec<String>,
    /// Customer index of each invoice.
    pub inv_cust: Vec<u32>,
    /// Reference keys (invoice numbers, RF, order and buyer references) → (invoice, ns).
    pub refs: KeyIndex<(u32, u8)>,
    /// Per customer: its open items (start offset into `open_items`).
    pub cust_start: Vec<u32>,
    pub open_items: Vec<u32>,
    pub by_iban: HashMap<String, Vec<u32>>,
    pub by_siren: HashMap<String, Vec<u32>>,
    pub by_mandate: HashMap<String, Vec<u32>>,
    pub name_toks: Vec<Vec<String>>,
    /// Name token → customers, for one-word names.
    pub by_name_token: HashMap<String, Vec<u32>>,
    /// Pair of name tokens → customers.
    pub by_name_pair: KeyIndex<u32>,
    /// Open amount in cents → open items (initial amounts; the engine re-checks).
    pub by_amount: KeyIndex<u32>,
    /// The seller's numbering pattern as learnt from its documents: the letter prefixes its
    /// numbers start with (`VT`, `AV`, `FA`...), most frequent first.
    pub prefixes: Vec<String>,
}

/// The letter prefixes of the seller's document numbers that begin at least 1 % of them (at
/// most eight), most frequent first.
fn learn_prefixes(invoices: &[&Invoice]) -> Vec<String> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for inv in invoices {
        if let Some(first) = normalise::tokens(&inv.number).into_iter().next() {
            if first.bytes().all(|b| b.is_ascii_alphabetic()) && first.len() <= 6 {
                *counts.entry(first).or_default() += 1;
            }
        }
    }
    let min = (invoices.len() / 100).max(1);
    let mut v: Vec<(usize, String)> = counts
        .into_iter()
        .filter(|(_, n)| *n >= min)
        .map(|(p, n)| (n, p))
        .collect();
    v.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    v.into_iter().take(8).map(|(_, p)| p).collect()
}

impl<'a> Ledger<'a> {
    pub(crate) fn build(invoices: &'a [Invoice], customers: &'a [Customer]) -> Self {
        let mut invoices: Vec<&'a Invoice> = invoices.iter().collect();
        invoices.sort_by(|a, b| {
            a.id.cmp(&b.id)
                .then(a.number.cmp(&b.number))
                .then(a.amount_due.cmp(&b.amount_due))
                .then(a.issue_date.cmp(&b.issue_date))
        });
        let mut customers: Vec<&'a Customer> = customers.iter().collect();
        customers.sort_by(|a, b| a.id.cmp(&b.id).then(a.name.cmp(&b.name)));
        let mut cust_ids = Vec::new();
        let mut cust_names = Vec::new();
        let mut cust_of: HashMap<&'a str, u32> = HashMap::new();
        let mut by_iban: HashMap<String, Vec<u32>> = HashMap::new();
        let mut by_siren: HashMap<String, Vec<u32>> = HashMap::new();
        for c in customers.iter().copied() {
            if cust_of.contains_key(c.id.as_str()) {
                continue;
            }
            let k = u32::try_from(cust_ids.len()).unwrap_or(u32::MAX);
            cust_of.insert(c.id.as_str(), k);
            cust_ids.push(c.id.clone());
            cust_names.push(c.name.clone());
            for i in &c.ibans {
                by_iban.entry(normalise::iban(i)).or_default().push(k);
            }
            if let Some(s) = &c.siren {
                by_siren.entry(s.as_str().to_owned()).or_default().push(k);
            }
            if let Some(v) = &c.vat_id {
                let v = normalise::compact(v);
                if v.starts_with("FR") && v.len() == 13 {
                    by_siren.entry(v[4..].to_owned()).or_default().push(k);
                }
            }
        }
        let mut inv_cust = Vec::with_capacity(invoices.len());
        for inv in invoices.iter().copied() {
            let k = match cust_of.get(inv.customer.as_str()) {
                Some(&k) => k,
                None => {
                    let k = u32::try_from(cust_ids.len()).unwrap_or(u32::MAX);
                    cust_of.insert(inv.customer.as_str(), k);
                    cust_ids.push(inv.customer.clone());
                    cust_names.push(inv.customer.as_str().to_owned());
                    k
                }
            };
            inv_cust.push(k);
        }
        let nc = cust_ids.len();
        let mut entries: Vec<(u64, (u32, u8))> = Vec::with_capacity(invoices.len() * 3);
        let mut by_mandate: HashMap<String, Vec<u32>> = HashMap::new();
        let mut amounts = Vec::new();
        let mut counts = vec![0u32; nc + 1];
        for (i, inv) in invoices.iter().copied().enumerate() {
            if inv.status == InvoiceStatus::Cancelled {
                continue;
            }
            let ii = u32::try_from(i).unwrap_or(u32::MAX);
            for k in normalise::reference_keys(&inv.number) {
                entries.push((key_hash(Ns::Number, &k), (ii, Ns::Number as u8)));
            }
            if let Some(r) = &inv.remittance_reference {
                let c = normalise::compact(r);
                if c.len() >= 3 {
                    entries.push((key_hash(Ns::Creditor, &c), (ii, Ns::Creditor as u8)));
                }
            }
            if let Some(r) = &inv.order_reference {
                for k in normalise::reference_keys(r) {
                    entries.push((key_hash(Ns::Order, &k), (ii, Ns::Order as u8)));
                }
            }
            if let Some(r) = &inv.buyer_reference {
                for k in normalise::reference_keys(r) {
                    entries.push((key_hash(Ns::Buyer, &k), (ii, Ns::Buyer as u8)));
                }
            }
            let ck = inv_cust[i];
            if let Some(m) = &inv.mandate_id {
                let m = normalise::compact(m);
                if !m.is_empty() {
                    let v = by_mandate.entry(m).or_default();
                    if !v.contains(&ck) {
                        v.push(ck);
                    }
                }
            }
            if inv.status == InvoiceStatus::Open && inv.amount_due != Decimal::ZERO {
                counts[ck as usize] += 1;
                amounts.push((cents(inv.signed_open()) as u64, ii));
            }
        }
        let mut cust_start = vec![0u32; nc + 1];
        for c in 0..nc {
            cust_start[c + 1] = cust_start[c] + counts[c];
        }
        let mut fill = cust_start.clone();
        let mut open_items = vec![0u32; cust_start[nc] as usize];
        for (i, inv) in invoices.iter().copied().enumerate() {
            if inv.status == InvoiceStatus::Open
                && inv.amount_due != Decimal::ZERO
                && inv.status != InvoiceStatus::Cancelled
            {
                let c = inv_cust[i] as usize;
                open_items[fill[c] as usize] = u32::try_from(i).unwrap_or(u32::MAX);
                fill[c] += 1;
            }
        }
        // Each customer's items in Code civil art. 1342-10 order: due date, issue date, number.
        for c in 0..nc {
            let s = &mut open_items[cust_start[c] as usize..cust_start[c + 1] as usize];
            s.sort_by(|&a, &b| {
                let (x, y) = (invoices[a as usize], invoices[b as usize]);
                x.effective_due_date()
                    .cmp(&y.effective_due_date())
                    .then(x.issue_date.cmp(&y.issue_date))
                    .then(x.number.cmp(&y.number))
                    .then(x.id.cmp(&y.id))
            });
        }
        let mut name_toks = Vec::with_capacity(nc);
        let mut by_name_token: HashMap<String, Vec<u32>> = HashMap::new();
        let mut pairs: Vec<(u64, u32)> = Vec::new();
        for (k, n) in cust_names.iter().enumerate() {
            let t = normalise::name_tokens(n);
            let kk = u32::try_from(k).unwrap_or(u32::MAX);
            for w in &t {
                by_name_token.entry(w.clone()).or_default().push(kk);
            }
            let m = t.len().min(8);
            for i in 0..m {
                for j in i + 1..m {
                    pairs.push((pair_hash(&t[i], &t[j]), kk));
                }
            }
            name_toks.push(t);
        }
        let prefixes = learn_prefixes(&invoices);
        Self {
            invoices,
            cust_ids,
            cust_names,
            inv_cust,
            refs: KeyIndex::build(entries),
            cust_start,
            open_items,
            by_iban,
            by_siren,
            by_mandate,
            name_toks,
            by_name_token,
            by_name_pair: KeyIndex::build(pairs),
            by_amount: KeyIndex::build(amounts),
            prefixes,
        }
    }

    /// The open items of a customer in 1342-10 order (due first, then oldest).
    pub(crate) fn items_of(&self, c: u32) -> &[u32] {
        let c = c as usize;
        if c + 1 >= self.cust_start.len() {
            return &[];
        }
        &self.open_items[self.cust_start[c] as usize..self.cust_start[c + 1] as usize]
    }

    /// Invoices whose reference key (after normalisation) is `key`, in any of the namespaces
    /// `nss`; the hash hit is verified against the invoice's own keys, so a hash collision
    /// never matches.
    pub(crate) fn lookup_any(&self, nss: &[Ns], key: &str, out: &mut Vec<(u32, Ns)>) {
        for (inv, n) in self.refs.get(key_hash(Ns::Number, key)) {
            let Some(&ns) = nss.iter().find(|x| **x as u8 == n) else {
                continue;
            };
            let i = self.invoices[inv as usize];
            let ok = match ns {
                Ns::Number => normalise::reference_keys(&i.number)
                    .iter()
                    .any(|k| k == key),
                Ns::Creditor => i
                    .remittance_reference
                    .as_deref()
                    .is_some_and(|r| normalise::compact(r) == key),
                Ns::Order => i
                    .order_reference
                    .as_deref()
                    .is_some_and(|r| normalise::reference_keys(r).iter().any(|k| k == key)),
                Ns::Buyer => i
                    .buyer_reference
                    .as_deref()
                    .is_some_and(|r| normalise::reference_keys(r).iter().any(|k| k == key)),
            };
            if ok {
                out.push((inv, ns));
            }
        }
    }

    /// As [`Self::lookup_any`] for one namespace.
    pub(crate) fn lookup(&self, ns: Ns, key: &str, out: &mut Vec<(u32, Ns)>) {
        self.lookup_any(&[ns], key, out);
    }
}
