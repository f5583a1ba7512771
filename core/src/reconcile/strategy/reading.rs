//! What a receipt says, read once and independently of every decision: the references its
//! text carries, the customers the ledger says it identifies, what its text says of the
//! payment (partial, a discount), where its payer's bank is, and which of the candidate
//! customers' invoices have a number close to a word the payer typed. This is the costly
//! part of a run and it runs receipt by receipt on the executor; the passes then read it.

use super::super::engine::{name_key, Shared};
use super::super::index::{text_hash, NO_SEQUENCE};
use super::super::normalise;
use super::super::RefKind;
use super::identify::{static_ident, Source, StaticIdent};
use super::reference::collect_hits;
use super::{
    down_payment_words, partial_words, payer_abroad, receipt_text, ref_words, says_discount,
    typed_text, Hit,
};

/// What the text says of the payment.
#[derive(Clone, Copy, Debug, Default)]
pub(in super::super) struct TextFlags {
    /// Words of a partial payment ("acompte", "solde", "échéance").
    pub partial: bool,
    /// Words of a down payment ("acompte").
    pub down_payment: bool,
    /// The remittance announces an early-payment discount.
    pub says_discount: bool,
    /// The payer's bank is abroad (`Some(true)`), in France (`Some(false)`), unknown.
    pub abroad: Option<bool>,
    /// The payer is a payment platform paying net of its commission.
    pub platform: bool,
}

impl TextFlags {
    pub(in super::super) fn of(sh: &Shared<'_>, r: usize) -> Self {
        let rec = sh.receipts[r];
        let text = receipt_text(rec);
        TextFlags {
            partial: partial_words(&text),
            down_payment: down_payment_words(&text),
            says_discount: says_discount(rec),
            abroad: payer_abroad(rec),
            platform: super::payment_platform(rec),
        }
    }
}

/// An open item whose number is close to a word the payer typed.
#[derive(Clone, Debug)]
pub(in super::super) struct Near {
    pub inv: u32,
    /// Edit distance (with transpositions) of the closest word.
    pub distance: u8,
    /// Its number has 8 characters or more (a longer distance is allowed).
    pub long: bool,
    /// The closest word (the first in order among the closest).
    pub word: Box<str>,
}

/// What receipt `r` says (see the module documentation), owned.
pub(in super::super) struct Reading {
    /// The exact references its unit decides on.
    pub refs: Vec<(u32, RefKind)>,
    /// Exact references that designate only other customers' invoices than the identified
    /// payer's: weighed after every unit, by the foreign pass.
    pub foreign: Vec<(u32, RefKind)>,
    pub ident: StaticIdent,
    pub text: TextFlags,
    /// Hashes of the payer's IBAN and name keys (0 when absent): learnt payers are keyed by
    /// them.
    pub iban_key: u64,
    pub name_key: u64,
    /// Trailing numbers of what the payer typed (candidate sequence numbers).
    pub nums: Vec<u64>,
    /// Customers whose items `near` covers, and the items close to what was typed; `None`
    /// when the receipt is plainly settled by its reference (then computed if ever needed).
    pub near: Option<(Vec<u32>, Vec<Near>)>,
}

/// A receipt's foreign references in an arena: its position in the chunk, the references.
type ForeignRefs = (u32, Box<[(u32, RefKind)]>);

/// An item close to a typed word, in an arena.
#[derive(Clone, Copy, Debug)]
pub(in super::super) struct NearAt {
    pub inv: u32,
    pub distance: u8,
    pub long: bool,
    /// The word: offset and length in the arena's text.
    pub word: (u32, u16),
}

/// A reading, borrowed from an owned [`Reading`] or from an arena.
#[derive(Clone, Copy)]
pub(in super::super) struct View<'a> {
    pub refs: &'a [(u32, RefKind)],
    pub foreign: &'a [(u32, RefKind)],
    pub ident: &'a [(u32, Source)],
    pub named_in_text: Option<u32>,
    pub text: TextFlags,
    pub iban_key: u64,
    pub name_key: u64,
    pub nums: &'a [u64],
    near: Option<NearView<'a>>,
}

#[derive(Clone, Copy)]
enum NearView<'a> {
    Owned(&'a [u32], &'a [Near]),
    Arena(&'a [u32], &'a [NearAt], &'a str),
}

impl<'a> View<'a> {
    /// The exact references as hits.
    pub(in super::super) fn hits(&self) -> Vec<Hit> {
        self.refs
            .iter()
            .map(|&(inv, kind)| Hit {
                inv,
                kind,
                found: None,
                distance: 0,
            })
            .collect()
    }

    /// Every customer the ledger identifies for it.
    pub(in super::super) fn customers(&self, out: &mut Vec<u32>) {
        out.extend(self.ident.iter().map(|x| x.0));
        out.extend(self.named_in_text);
    }

    /// The items of customer `c` close to what was typed, if they were read.
    pub(in super::super) fn near_of(&self, c: u32, inv_cust: &[u32]) -> Option<Vec<Near>> {
        match self.near? {
            NearView::Owned(custs, near) => custs.binary_search(&c).is_ok().then(|| {
                near.iter()
                    .filter(|n| inv_cust[n.inv as usize] == c)
                    .cloned()
                    .collect()
            }),
            NearView::Arena(custs, near, words) => custs.binary_search(&c).is_ok().then(|| {
                near.iter()
                    .filter(|n| inv_cust[n.inv as usize] == c)
                    .map(|n| Near {
                        inv: n.inv,
                        distance: n.distance,
                        long: n.long,
                        word: words
                            .get(n.word.0 as usize..n.word.0 as usize + usize::from(n.word.1))
                            .unwrap_or("")
                            .into(),
                    })
                    .collect()
            }),
        }
    }
}

impl Reading {
    pub(in super::super) fn view(&self) -> View<'_> {
        View {
            refs: &self.refs,
            foreign: &self.foreign,
            ident: &self.ident.entries,
            named_in_text: self.ident.named_in_text,
            text: self.text,
            iban_key: self.iban_key,
            name_key: self.name_key,
            nums: &self.nums,
            near: self
                .near
                .as_ref()
                .map(|(c, n)| NearView::Owned(c.as_slice(), n.as_slice())),
        }
    }
}

/// The readings of a run's receipts, stored compactly: one arena per chunk of receipts (a
/// few large allocations rather than several small ones per receipt).
pub(in super::super) struct Readings {
    chunk: usize,
    chunks: Vec<Chunk>,
}

#[derive(Default)]
struct Chunk {
    present: Vec<bool>,
    refs_at: Vec<u32>,
    refs: Vec<(u32, RefKind)>,
    /// Receipts with foreign references, and those references (few: kept aside).
    foreign: Vec<ForeignRefs>,
    ident_at: Vec<u32>,
    ident: Vec<(u32, Source)>,
    named: Vec<u32>,
    text: Vec<TextFlags>,
    keys: Vec<(u64, u64)>,
    nums_at: Vec<u32>,
    nums: Vec<u64>,
    near_read: Vec<bool>,
    near_custs_at: Vec<u32>,
    near_custs: Vec<u32>,
    near_at: Vec<u32>,
    near: Vec<NearAt>,
    words: String,
}

fn at(v: &[u32], k: usize) -> (usize, usize) {
    (v[k] as usize, v[k + 1] as usize)
}

fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Chunk {
    fn push(&mut self, r: Option<Reading>) {
        if self.refs_at.is_empty() {
            for v in [
                &mut self.refs_at,
                &mut self.ident_at,
                &mut self.nums_at,
                &mut self.near_custs_at,
                &mut self.near_at,
            ] {
                v.push(0);
            }
        }
        self.present.push(r.is_some());
        let k = len32(self.present.len() - 1);
        let r = r.unwrap_or_else(|| Reading {
            refs: Vec::new(),
            foreign: Vec::new(),
            ident: StaticIdent::default(),
            text: TextFlags::default(),
            iban_key: 0,
            name_key: 0,
            nums: Vec::new(),
            near: None,
        });
        self.refs.extend(r.refs);
        self.refs_at.push(len32(self.refs.len()));
        if !r.foreign.is_empty() {
            self.foreign.push((k, r.foreign.into_boxed_slice()));
        }
        self.ident.extend(r.ident.entries.iter().copied());
        self.ident_at.push(len32(self.ident.len()));
        self.named.push(r.ident.named_in_text.unwrap_or(u32::MAX));
        self.text.push(r.text);
        self.keys.push((r.iban_key, r.name_key));
        self.nums.extend(r.nums);
        self.nums_at.push(len32(self.nums.len()));
        self.near_read.push(r.near.is_some());
        if let Some((custs, near)) = r.near {
            self.near_custs.extend(custs);
            for n in near {
                let start = len32(self.words.len());
                self.words.push_str(&n.word);
                self.near.push(NearAt {
                    inv: n.inv,
                    distance: n.distance,
                    long: n.long,
                    word: (start, u16::try_from(n.word.len()).unwrap_or(u16::MAX)),
                });
            }
        }
        self.near_custs_at.push(len32(self.near_custs.len()));
        self.near_at.push(len32(self.near.len()));
    }

    fn shrink(&mut self) {
        self.refs.shrink_to_fit();
        self.ident.shrink_to_fit();
        self.nums.shrink_to_fit();
        self.near_custs.shrink_to_fit();
        self.near.shrink_to_fit();
        self.words.shrink_to_fit();
    }

    fn view(&self, k: usize) -> Option<View<'_>> {
        if !*self.present.get(k)? {
            return None;
        }
        let (a, b) = at(&self.refs_at, k);
        let (c, d) = at(&self.ident_at, k);
        let (e, f) = at(&self.nums_at, k);
        let near = self.near_read[k].then(|| {
            let (g, h) = at(&self.near_custs_at, k);
            let (i, j) = at(&self.near_at, k);
            NearView::Arena(&self.near_custs[g..h], &self.near[i..j], &self.words)
        });
        let (ik, nk) = self.keys[k];
        let kk = len32(k);
        let foreign = self
            .foreign
            .binary_search_by_key(&kk, |x| x.0)
            .map_or(&[][..], |p| &self.foreign[p].1[..]);
        Some(View {
            refs: &self.refs[a..b],
            foreign,
            ident: &self.ident[c..d],
            named_in_text: (self.named[k] != u32::MAX).then_some(self.named[k]),
            text: self.text[k],
            iban_key: ik,
            name_key: nk,
            nums: &self.nums[e..f],
            near,
        })
    }
}

impl Readings {
    /// The readings of all receipts, read on the executor by chunks of `chunk`.
    pub(in super::super) fn read_all<E: super::super::units::Executor>(
        sh: &Shared<'_>,
        exec: &E,
        chunk: usize,
        wanted: impl Fn(usize) -> bool + Sync + Send,
    ) -> Readings {
        let n = sh.receipts.len();
        let chunks = exec.map(super::super::units::chunks(n, chunk), |range| {
            let mut c = Chunk::default();
            for r in range {
                c.push(wanted(r).then(|| read(sh, r)));
            }
            c.shrink();
            c
        });
        Readings { chunk, chunks }
    }

    /// Receipts with foreign references, in run order.
    pub(in super::super) fn with_foreign(&self) -> Vec<usize> {
        self.chunks
            .iter()
            .enumerate()
            .flat_map(|(c, ch)| {
                ch.foreign
                    .iter()
                    .map(move |x| c * self.chunk + x.0 as usize)
            })
            .collect()
    }

    /// The reading of receipt `r`, if it was read.
    pub(in super::super) fn get(&self, r: usize) -> Option<View<'_>> {
        self.chunks.get(r / self.chunk)?.view(r % self.chunk)
    }
}

/// The key of a payer IBAN.
pub(in super::super) fn iban_key(iban: Option<&str>) -> u64 {
    iban.map(normalise::iban)
        .filter(|k| !k.is_empty())
        .map_or(0, |k| text_hash(&k))
}

/// The key of a payer name.
pub(in super::super) fn payer_name_key(name: Option<&str>) -> u64 {
    name.map(name_key)
        .filter(|k| !k.is_empty())
        .map_or(0, |k| text_hash(&k))
}

/// Trailing numbers of the typed text, as numbers.
pub(in super::super) fn typed_numbers(sh: &Shared<'_>, r: usize) -> Box<[u64]> {
    normalise::trailing_numbers(&typed_text(sh.receipts[r]))
        .into_iter()
        .filter_map(|s| s.parse().ok())
        .filter(|&v| v != NO_SEQUENCE)
        .collect()
}

/// The items of customer `c` whose number is within the allowed edit distance of one of
/// `words` (see [`Near`]), in the customer's item order.
pub(in super::super) fn near_items_of(
    sh: &Shared<'_>,
    words: &[String],
    c: u32,
    out: &mut Vec<Near>,
) {
    let cap_long = sh.policy.max_edit_distance.max(1);
    let mut number = String::new();
    for &i in sh.ledger.items_of(c) {
        normalise::compact_into(&sh.ledger.invoices[i as usize].number, &mut number);
        let long = number.len() >= 8;
        let cap = if long { cap_long } else { 1 };
        let best = words
            .iter()
            .filter(|w| w.len().abs_diff(number.len()) <= usize::from(cap))
            .filter_map(|w| normalise::edit_distance(w, &number, cap).map(|d| (d, w)))
            .min();
        if let Some((distance, w)) = best {
            out.push(Near {
                inv: i,
                distance,
                long,
                word: w.as_str().into(),
            });
        }
    }
}

/// Reads receipt `r`.
pub(in super::super) fn read(sh: &Shared<'_>, r: usize) -> Reading {
    let rec = sh.receipts[r];
    let hits = collect_hits(sh, r);
    let ident = static_ident(sh, r);
    let iban_key = iban_key(rec.counterparty_iban.as_deref());
    let name_key = payer_name_key(rec.counterparty_name.as_deref());
    // Whom the ledger and what people taught identify, before anything this run learns.
    let mut known: Vec<u32> = Vec::new();
    ident.customers(&mut known);
    sh.taught_customers(iban_key, name_key, &mut known);
    known.sort_unstable();
    known.dedup();
    // References to another customer's invoices than the identified payer's: beside a
    // reference to one of its own, they are dropped; alone, they wait for the foreign pass,
    // once every customer's own receipts are decided (see [`Reading::foreign`]).
    let cust_of = |h: &Hit| sh.ledger.inv_cust[h.inv as usize];
    let (hits, foreign): (Vec<Hit>, Vec<Hit>) = if known.is_empty() {
        (hits, Vec::new())
    } else if hits
        .iter()
        .any(|h| known.binary_search(&cust_of(h)).is_ok())
    {
        (
            hits.into_iter()
                .filter(|h| known.binary_search(&cust_of(h)).is_ok())
                .collect(),
            Vec::new(),
        )
    } else {
        (Vec::new(), hits)
    };
    let mut custs: Vec<u32> = hits.iter().map(cust_of).collect();
    custs.extend(&known);
    custs.sort_unstable();
    custs.dedup();
    // Plainly settled: an exact reference of an identified customer's item whose open
    // amount is the amount received.
    let plain = hits.iter().any(|h| {
        sh.open0[h.inv as usize] == sh.rem0[r]
            && ident
                .entries
                .iter()
                .any(|e| e.0 == sh.ledger.inv_cust[h.inv as usize])
    });
    let near = (!plain).then(|| {
        let words = ref_words(rec);
        let mut v = Vec::new();
        if !words.is_empty() {
            for &c in &custs {
                near_items_of(sh, &words, c, &mut v);
            }
        }
        (custs, v)
    });
    Reading {
        refs: hits.iter().map(|h| (h.inv, h.kind)).collect(),
        foreign: foreign.iter().map(|h| (h.inv, h.kind)).collect(),
        ident,
        text: TextFlags::of(sh, r),
        iban_key,
        name_key,
        nums: typed_numbers(sh, r).into_vec(),
        near,
    }
}
