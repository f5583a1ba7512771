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

/// FNV-1a over bytes from a given state.
fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

/// Stable 64-bit hash of a key (FNV-1a, then a final mix: deterministic and fast on short
/// keys). One hash for every namespace: a single probe finds numbers, order and buyer
/// references; the namespace is stored with each entry.
pub(crate) fn key_hash(_ns: Ns, key: &str) -> u64 {
    mix(fnv(0xcbf2_9ce4_8422_2325, key.as_bytes()))
}

/// A second, independent 16-bit hash of a reference key, stored beside each entry: a hit
/// must match both, so two different keys are confused only if they collide on 80 bits
/// (about once in 10^24 lookups), and no hit needs the invoice's keys recomputed.
pub(crate) fn check_hash(key: &str) -> u16 {
    let h = mix(fnv(0x8422_2325_cbf2_9ce4, key.as_bytes()));
    (h >> 48) as u16
}

/// Stable 64-bit hash of a text (a payer IBAN, a payer name key): learnt payers are keyed
/// by it.
pub(crate) fn text_hash(s: &str) -> u64 {
    mix(fnv(0x1f2e_3d4c_5b6a_7988, s.as_bytes()))
}

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
    let h = fnv(0xcbf2_9ce4_8422_2325, x.as_bytes());
    let h = fnv(h, b" ");
    mix(fnv(h, y.as_bytes())).rotate_left(17) ^ 0x5bd1_e995
}

/// A multimap from 64-bit keys to values, built once: every (key, value) entry in one array
/// sorted by mixed key, and the start of each bucket of keys (a key's bucket is the top bits
/// of its mixed value, about four entries a bucket). A lookup reads one bucket; the index
/// costs its entries and a few bits more, with no empty slots. Values of a key come back in
/// ascending order.
#[derive(Debug)]
pub(crate) struct KeyIndex<T> {
    entries: Vec<(u64, T)>,
    starts: Vec<u32>,
    shift: u32,
}

/// The mixed key of a key (amounts are small consecutive numbers): buckets are its top bits.
fn slot_key(k: u64) -> u64 {
    let mut z = k.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl<T: Copy + Ord> KeyIndex<T> {
    pub(crate) fn build(mut entries: Vec<(u64, T)>) -> Self {
        for e in &mut entries {
            e.0 = slot_key(e.0);
        }
        entries.sort_unstable();
        entries.dedup();
        entries.shrink_to_fit();
        let bits = (entries.len() / 4)
            .max(1)
            .next_power_of_two()
            .trailing_zeros()
            .max(1);
        let shift = 64 - bits;
        let nb = 1usize << bits;
        let mut starts = vec![0u32; nb + 1];
        for e in &entries {
            starts[(e.0 >> shift) as usize + 1] += 1;
        }
        for b in 0..nb {
            starts[b + 1] += starts[b];
        }
        Self {
            entries,
            starts,
            shift,
        }
    }

    /// An index with nothing in it.
    pub(crate) fn empty() -> Self {
        Self {
            entries: Vec::new(),
            starts: vec![0, 0],
            shift: 63,
        }
    }

    pub(crate) fn get(&self, k: u64) -> impl Iterator<Item = T> + '_ {
        let sk = slot_key(k);
        let b = (sk >> self.shift) as usize;
        let (lo, hi) = (self.starts[b] as usize, self.starts[b + 1] as usize);
        let bucket = &self.entries[lo..hi];
        let from = bucket.partition_point(|e| e.0 < sk);
        bucket[from..]
            .iter()
            .take_while(move |e| e.0 == sk)
            .map(|e| e.1)
    }
}

/// No trailing sequence number (or one too long to be one).
pub(crate) const NO_SEQUENCE: u64 = u64::MAX;

/// The trailing sequence number of a reference as a number ([`NO_SEQUENCE`] when none).
pub(crate) fn sequence_value(reference: &str) -> u64 {
    normalise::sequence(reference)
        .filter(|s| s.len() <= 18)
        .and_then(|s| s.parse().ok())
        .unwrap_or(NO_SEQUENCE)
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
    /// Customer index of each invoice.
    pub inv_cust: Vec<u32>,
    /// Reference keys (invoice numbers, RF, order and buyer references) → (invoice, ns).
    pub refs: KeyIndex<(u32, u8, u16)>,
    /// Per customer: its open items (start offset into `open_items`).
    pub cust_start: Vec<u32>,
    pub open_items: Vec<u32>,
    pub by_iban: HashMap<String, Vec<u32>>,
    pub by_siren: HashMap<String, Vec<u32>>,
    pub by_mandate: HashMap<String, Vec<u32>>,
    /// Customer names, indexed by what survives the banks.
    pub names: super::names::NameIndex,
    /// Customer account number → customers.
    pub by_number: KeyIndex<u32>,
    /// Open amount in cents → open items (initial amounts; the engine re-checks).
    pub by_amount: KeyIndex<u32>,
    /// The seller's numbering pattern as learnt from its documents: the letter prefixes its
    /// numbers start with (`VT`, `AV`, `FA`...), most frequent first.
    pub prefixes: Vec<String>,
    /// The trailing sequence number of each invoice's number ([`normalise::sequence`]),
    /// [`NO_SEQUENCE`] when it has none.
    pub seq: Vec<u64>,
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
        let mut cust_names: Vec<&'a str> = Vec::new();
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
            cust_names.push(c.name.as_str());
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
                    cust_names.push(inv.customer.as_str());
                    k
                }
            };
            inv_cust.push(k);
        }
        let nc = cust_ids.len();
        let mut entries: Vec<(u64, (u32, u8, u16))> = Vec::with_capacity(invoices.len() * 3);
        let mut by_mandate: HashMap<String, Vec<u32>> = HashMap::new();
        let mut amounts = Vec::new();
        let mut counts = vec![0u32; nc + 1];
        for (i, inv) in invoices.iter().copied().enumerate() {
            if inv.status == InvoiceStatus::Cancelled {
                continue;
            }
            let ii = u32::try_from(i).unwrap_or(u32::MAX);
            for k in normalise::reference_keys(&inv.number) {
                entries.push((
                    key_hash(Ns::Number, &k),
                    (ii, Ns::Number as u8, check_hash(&k)),
                ));
            }
            if let Some(r) = &inv.remittance_reference {
                let c = normalise::compact(r);
                if c.len() >= 3 {
                    entries.push((
                        key_hash(Ns::Creditor, &c),
                        (ii, Ns::Creditor as u8, check_hash(&c)),
                    ));
                }
            }
            if let Some(r) = &inv.order_reference {
                for k in normalise::reference_keys(r) {
                    entries.push((
                        key_hash(Ns::Order, &k),
                        (ii, Ns::Order as u8, check_hash(&k)),
                    ));
                }
            }
            if let Some(r) = &inv.buyer_reference {
                for k in normalise::reference_keys(r) {
                    entries.push((
                        key_hash(Ns::Buyer, &k),
                        (ii, Ns::Buyer as u8, check_hash(&k)),
                    ));
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
        let names = super::names::NameIndex::build(&cust_names);
        // Customer account numbers (5 characters or more, with a letter and a digit).
        let mut numbers: Vec<(u64, u32)> = Vec::new();
        for (k, id) in cust_ids.iter().enumerate() {
            let c = normalise::compact(id.as_str());
            if c.len() >= 5
                && c.bytes().any(|b| b.is_ascii_digit())
                && c.bytes().any(|b| b.is_ascii_alphabetic())
            {
                numbers.push((text_hash(&c), u32::try_from(k).unwrap_or(u32::MAX)));
            }
        }
        let prefixes = learn_prefixes(&invoices);
        let seq = invoices.iter().map(|i| sequence_value(&i.number)).collect();
        Self {
            invoices,
            cust_ids,
            inv_cust,
            refs: KeyIndex::build(entries),
            cust_start,
            open_items,
            by_iban,
            by_siren,
            by_mandate,
            names,
            by_number: KeyIndex::build(numbers),
            by_amount: KeyIndex::build(amounts),
            prefixes,
            seq,
        }
    }

    /// The index of the (first) invoice with this id: invoices are sorted by id.
    pub(crate) fn invoice_index(&self, id: &str) -> Option<u32> {
        let k = self.invoices.partition_point(|i| i.id.as_str() < id);
        (self.invoices.get(k)?.id.as_str() == id).then(|| u32::try_from(k).unwrap_or(u32::MAX))
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
    /// `nss` (matched on 80 bits of two independent hashes, see [`check_hash`]).
    pub(crate) fn lookup_any(&self, nss: &[Ns], key: &str, out: &mut Vec<(u32, Ns)>) {
        let check = check_hash(key);
        for (inv, n, c) in self.refs.get(key_hash(Ns::Number, key)) {
            if c != check {
                continue;
            }
            if let Some(&ns) = nss.iter().find(|x| **x as u8 == n) {
                out.push((inv, ns));
            }
        }
    }

    /// As [`Self::lookup_any`] for one namespace.
    pub(crate) fn lookup(&self, ns: Ns, key: &str, out: &mut Vec<(u32, Ns)>) {
        self.lookup_any(&[ns], key, out);
    }
}
