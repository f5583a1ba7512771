//! Payer names as banks print them, matched to the ledger's customers as a bookkeeper would.
//!
//! The debtor name on a credit is typed or cut by the payer's bank, not copied from the
//! seller's ledger. The forms a name survives in, and how each is recognised:
//!
//! | the bank printed | form | how |
//! |---|---|---|
//! | `DUPONT JEAN M`, `SARL DUPONT & FILS`, `Société Dupont` | [`NameForm::Words`] | the identity words (accents, case, punctuation folded; legal forms ETS, STE, SOC, SARL, SAS, SASU, EURL, SA, SNC, SCI…, civilities and articles dropped), in any order, are the customer's |
//! | `DUPOND JEAN`, `GARAGE MARTIN` for "Garage Martin du Centre" | [`NameForm::Close`] | Dice similarity of the word sets, a word one edit away (5 letters or more) counting, at or above the policy's minimum |
//! | `ETSNGUYENSASU`, `LEGRANDCONSEILSAS` | [`NameForm::Glued`] | spaces removed: the letters, with legal forms and civilities stripped from either end, are the customer's words run together (in the name's order, or any order for up to three words, articles kept or not) |
//! | `CONSEIL GRANGEUGRONR SAINT-MIC`, `LEGRANDCONSEILDELAV` | [`NameForm::Cut`] | cut at the bank's field length (18 to 70 characters): the printed name, run together, begins the customer's, 10 letters at least |
//! | `M OU MME DUPONT`, `MR ET MME DUPONT`, `MME DUPONT` | [`NameForm::Couple`] | a civility and the customer's surname (a strict part of its name) |
//!
//! A trade name instead of the legal name is not in the ledger: it is learnt when a receipt
//! bearing it is applied by its reference, or confirmed by a person
//! ([`super::Decisions`]).
//!
//! **False matches.** A name is the weakest identification the engine uses, so every form is
//! guarded against homonyms (two customers, or a stranger, with the same name):
//! * a name identifies a customer only if no more than two others are as close (within 0.05):
//!   two or three such customers are *homonyms*, their strength is lowered
//!   ([`super::confidence::HOMONYM_PENALTY`]) and only an amount unique among all their
//!   open items can then decide; more than three, and the name identifies nobody;
//! * the run-together and cut forms count only from 5 and 10 letters, and a cut or couple
//!   form must designate exactly one customer (a surname several customers share
//!   identifies none of them);
//! * words that are in many customers' names (more than 50: "GARAGE", "MARTIN") are no lead
//!   on their own, and a name of only legal forms, civilities and articles has no identity;
//! * a name, however close, is never evidence of *what* was paid: an allocation without a
//!   reference also needs the amount (or a unique combination) to fit, and an amount alone
//!   from an unidentified payer is never applied.

use super::confidence as conf;
use super::explain::NameForm;
use super::index::{pair_hash, text_hash, KeyIndex, Ledger};
use super::normalise;
use super::strategy::identify::NameHit;
use std::collections::HashMap;

/// Legal forms and civilities a bank adds, drops or abbreviates: stripped from either end
/// of a name run together. Longest first, so that `SASU` is tried before `SAS` and `SA`.
const AFFIXES: &[&str] = &[
    "ETABLISSEMENTS",
    "MADEMOISELLE",
    "MONSIEUR",
    "MADAME",
    "SOCIETE",
    "SELARL",
    "MOUMME",
    "METMME",
    "MRETMME",
    "MROUMME",
    "EURL",
    "SARL",
    "SASU",
    "SCOP",
    "EIRL",
    "MLLE",
    "SAS",
    "SCI",
    "SNC",
    "ETS",
    "STE",
    "SOC",
    "MME",
    "GIE",
    "SCP",
    "SCM",
    "SA",
    "MR",
    "EI",
];

/// Civilities that mark a person, or a couple, under a surname.
const CIVILITIES: &[&str] = &[
    "M",
    "MR",
    "MME",
    "MLLE",
    "MLE",
    "MM",
    "MMES",
    "MRS",
    "MONSIEUR",
    "MADAME",
    "MADEMOISELLE",
    "EPOUX",
    "CONSORTS",
];

/// Lengths at which banks cut the debtor name (SEPA allows 70; many print 18, 24, 32, 35 or
/// 40 characters).
const FIELD_LENGTHS: &[usize] = &[18, 24, 32, 35, 40, 50, 70];

/// A word in more customers' names than this is no lead on its own.
const COMMON_WORD: usize = 50;
/// A pair of words in more customers' names than this is no lead either.
const COMMON_PAIR: usize = 30;
/// Shortest run-together form that identifies.
const GLUED_MIN: usize = 5;
/// Shortest cut form that identifies.
const CUT_MIN: usize = 10;
/// Similarity given to each form (per-mille), compared with the policy's minimum.
const SIM_GLUED: u16 = 1000;
const SIM_CUT: u16 = 950;
const SIM_COUPLE: u16 = 900;
/// Names within this of the best are as close (homonyms).
const HOMONYM_BAND: u16 = 50;

/// The ledger's customer names, indexed by what survives the banks.
#[derive(Debug)]
pub(crate) struct NameIndex {
    /// Token texts, one after the other.
    text: String,
    /// Token id → (offset, length) in `text`.
    spans: Vec<(u32, u8)>,
    /// Customer → its identity tokens (ids, sorted by text), from `at[c]` to `at[c + 1]`.
    at: Vec<u32>,
    toks: Vec<u32>,
    by_token: KeyIndex<u32>,
    by_pair: KeyIndex<u32>,
    by_skeleton: KeyIndex<u32>,
    /// Skeletons (the name run together, in its order) sorted, for names cut short.
    skel_text: String,
    skels: Vec<(u32, u16, u32)>,
}

/// Every word of a name (letters and digits, folded), in order, articles kept, legal forms
/// and civilities dropped.
fn words_in_order(name: &str) -> Vec<String> {
    name.split(|c: char| !c.is_alphanumeric())
        .map(normalise::compact)
        .filter(|w| !w.is_empty() && !normalise::is_legal_or_civility(w))
        .collect()
}

/// The run-together variants of a name printed without spaces: its letters, and those with
/// legal forms and civilities stripped from either end (up to two each side).
fn glued_variants(s: &str) -> Vec<String> {
    let mut out = vec![s.to_owned()];
    let mut frontier = vec![s.to_owned()];
    for _ in 0..2 {
        let mut next = Vec::new();
        for v in &frontier {
            for a in AFFIXES {
                if v.len() > a.len() + 2 {
                    if let Some(rest) = v.strip_prefix(a) {
                        next.push(rest.to_owned());
                    }
                    if let Some(rest) = v.strip_suffix(a) {
                        next.push(rest.to_owned());
                    }
                }
            }
        }
        next.sort();
        next.dedup();
        out.extend(next.iter().cloned());
        frontier = next;
    }
    out.sort();
    out.dedup();
    out.retain(|v| v.len() >= GLUED_MIN);
    out
}

impl NameIndex {
    pub(crate) fn build(names: &[&str]) -> Self {
        let mut ids: HashMap<String, u32> = HashMap::new();
        let mut text = String::new();
        let mut spans: Vec<(u32, u8)> = Vec::new();
        let mut at = vec![0u32];
        let mut toks: Vec<u32> = Vec::new();
        let mut by_token: Vec<(u64, u32)> = Vec::new();
        let mut by_pair: Vec<(u64, u32)> = Vec::new();
        let mut by_skeleton: Vec<(u64, u32)> = Vec::new();
        let mut skel_text = String::new();
        let mut skels: Vec<(u32, u16, u32)> = Vec::new();
        for (k, n) in names.iter().enumerate() {
            let c = u32::try_from(k).unwrap_or(u32::MAX);
            let t = normalise::name_tokens(n);
            for w in &t {
                let id = *ids.entry(w.clone()).or_insert_with(|| {
                    let id = u32::try_from(spans.len()).unwrap_or(u32::MAX);
                    let off = u32::try_from(text.len()).unwrap_or(u32::MAX);
                    let take = w.len().min(255);
                    text.push_str(&w[..take]);
                    spans.push((off, u8::try_from(take).unwrap_or(u8::MAX)));
                    id
                });
                toks.push(id);
                by_token.push((text_hash(w), c));
            }
            at.push(u32::try_from(toks.len()).unwrap_or(u32::MAX));
            let m = t.len().min(8);
            for i in 0..m {
                for j in i + 1..m {
                    by_pair.push((pair_hash(&t[i], &t[j]), c));
                }
            }
            // Run together: the identity words in the name's order, every order of up to
            // three, and all words with articles.
            let ordered: Vec<String> = words_in_order(n);
            let identity: Vec<String> = ordered
                .iter()
                .filter(|w| !normalise::is_stop_word(w))
                .cloned()
                .collect();
            let mut forms: Vec<String> = vec![identity.concat(), ordered.concat()];
            if (2..=3).contains(&t.len()) {
                let mut p = t.clone();
                permutations(&mut p, 0, &mut forms);
            }
            forms.sort();
            forms.dedup();
            for f in forms.iter().filter(|f| f.len() >= GLUED_MIN) {
                by_skeleton.push((text_hash(f), c));
            }
            for f in [identity.concat(), ordered.concat()] {
                if f.len() >= CUT_MIN {
                    let off = u32::try_from(skel_text.len()).unwrap_or(u32::MAX);
                    let take = f.len().min(usize::from(u16::MAX));
                    skel_text.push_str(&f[..take]);
                    skels.push((off, u16::try_from(take).unwrap_or(u16::MAX), c));
                }
            }
        }
        let st = &skel_text;
        let key = |e: &(u32, u16, u32)| &st[e.0 as usize..e.0 as usize + usize::from(e.1)];
        skels.sort_by(|a, b| key(a).cmp(key(b)).then(a.2.cmp(&b.2)));
        skels.dedup_by(|a, b| a.2 == b.2 && key(a) == key(b));
        text.shrink_to_fit();
        NameIndex {
            text,
            spans,
            at,
            toks,
            by_token: KeyIndex::build(by_token),
            by_pair: KeyIndex::build(by_pair),
            by_skeleton: KeyIndex::build(by_skeleton),
            skel_text,
            skels,
        }
    }

    fn token(&self, id: u32) -> &str {
        let (o, l) = self.spans[id as usize];
        &self.text[o as usize..o as usize + usize::from(l)]
    }

    /// The identity tokens of customer `c`, sorted.
    pub(crate) fn tokens_of(&self, c: u32) -> Vec<&str> {
        let c = c as usize;
        if c + 1 >= self.at.len() {
            return Vec::new();
        }
        self.toks[self.at[c] as usize..self.at[c + 1] as usize]
            .iter()
            .map(|&t| self.token(t))
            .collect()
    }

    /// Customers whose name has this token, unless more than `max` do.
    fn with_token(&self, t: &str, max: usize) -> Option<Vec<u32>> {
        let v: Vec<u32> = self.by_token.get(text_hash(t)).take(max + 1).collect();
        (v.len() <= max).then_some(v)
    }

    fn with_pair(&self, a: &str, b: &str) -> Option<Vec<u32>> {
        let v: Vec<u32> = self
            .by_pair
            .get(pair_hash(a, b))
            .take(COMMON_PAIR + 1)
            .collect();
        (v.len() <= COMMON_PAIR).then_some(v)
    }

    fn with_skeleton(&self, s: &str) -> Vec<u32> {
        self.by_skeleton.get(text_hash(s)).take(8).collect()
    }

    /// Customers whose name run together begins with `p`.
    fn with_prefix(&self, p: &str) -> Vec<u32> {
        let st = &self.skel_text;
        let key = |e: &(u32, u16, u32)| &st[e.0 as usize..e.0 as usize + usize::from(e.1)];
        let from = self.skels.partition_point(|e| key(e) < p);
        let mut v: Vec<u32> = self.skels[from..]
            .iter()
            .take_while(|e| key(e).starts_with(p))
            .take(8)
            .map(|e| e.2)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The customers whose identity tokens include all of `toks` (a strict part of their
    /// name), through the rarest token.
    fn supersets(&self, toks: &[String]) -> Vec<u32> {
        let mut best: Option<Vec<u32>> = None;
        for t in toks {
            if let Some(v) = self.with_token(t, COMMON_WORD) {
                if best.as_ref().is_none_or(|b| v.len() < b.len()) {
                    best = Some(v);
                }
            }
        }
        let Some(cands) = best else {
            return Vec::new();
        };
        let mut v: Vec<u32> = cands
            .into_iter()
            .filter(|&c| {
                let ct = self.tokens_of(c);
                ct.len() > toks.len() && toks.iter().all(|t| ct.contains(&t.as_str()))
            })
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// Every order of `p[k..]` appended to `out`, run together.
fn permutations(p: &mut [String], k: usize, out: &mut Vec<String>) {
    if k == p.len() {
        out.push(p.concat());
        return;
    }
    for i in k..p.len() {
        p.swap(k, i);
        permutations(p, k + 1, out);
        p.swap(k, i);
    }
}

/// Similarity of a statement name's tokens `a` (its last word perhaps cut: `tail`) to a
/// customer's `b`, in per-mille.
fn similarity(a: &[String], b: &[&str], tail: Option<&str>) -> u16 {
    let b: Vec<String> = b.iter().map(|s| (*s).to_owned()).collect();
    normalise::payer_name_similarity(a, &b, tail)
}

/// Words that begin a French street address.
const STREET_WORDS: &[&str] = &[
    "RUE",
    "AVENUE",
    "AV",
    "AVE",
    "BD",
    "BOULEVARD",
    "BLD",
    "CHEMIN",
    "CHE",
    "PLACE",
    "PL",
    "ALLEE",
    "IMPASSE",
    "IMP",
    "ROUTE",
    "RTE",
    "QUAI",
    "COURS",
    "LIEU",
    "LIEUDIT",
    "LOT",
    "RES",
    "RESIDENCE",
    "HAMEAU",
    "ZA",
    "ZI",
    "ZAC",
    "BP",
    "CS",
];

/// The name before an address the bank ran on in the same field (legacy formats have one
/// field for both, cut at 35 characters): `M THIERRY HUET 14 CHEMIN DU MOU` is
/// `M THIERRY HUET`. The address begins at a street number followed by a street word, a
/// street word, or a postcode, after at least one word of name.
pub(crate) fn before_address(name: &str) -> Option<&str> {
    let mut words = Vec::new();
    let mut at = 0usize;
    for w in name.split_whitespace() {
        let off = name[at..].find(w).map(|o| o + at).unwrap_or(at);
        at = off + w.len();
        words.push((off, w));
    }
    let street = |w: &str| STREET_WORDS.contains(&normalise::compact(w).as_str());
    for k in 1..words.len() {
        let (off, w) = words[k];
        let digits = !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit());
        let number_then_street = digits
            && w.len() <= 4
            && words.get(k + 1).is_some_and(|(_, n)| {
                let n = normalise::compact(n);
                // The street word itself, or its beginning where the field was cut.
                street(&n)
                    || matches!(n.as_str(), "BIS" | "TER")
                    || (n.len() >= 2
                        && words.len() == k + 2
                        && STREET_WORDS
                            .iter()
                            .any(|s| s.len() > 2 && s.starts_with(&n)))
            });
        let postcode = digits && w.len() == 5;
        // A street number the field cut right after.
        let number_cut = digits
            && w.len() <= 4
            && k + 1 == words.len()
            && FIELD_LENGTHS.contains(&name.trim_end().chars().count());
        if number_then_street || postcode || number_cut {
            let head = name[..off].trim_end();
            let has_name = head
                .split_whitespace()
                .any(|x| !normalise::is_legal_or_civility(&normalise::compact(x)));
            return has_name.then_some(head);
        }
    }
    None
}

/// The best match of a printed name to each customer it could be: (customer, similarity,
/// form), before the homonym guard.
fn candidates(ix: &NameIndex, name: &str) -> Vec<(u32, u16, NameForm)> {
    if let Some(head) = before_address(name) {
        // The name part alone, read as cut: what followed it was the address.
        return candidates(ix, head)
            .into_iter()
            .map(|(c, s, f)| {
                if s >= SIM_CUT {
                    (c, SIM_CUT, NameForm::Cut)
                } else {
                    (c, s, f)
                }
            })
            .collect();
    }
    let toks = normalise::name_tokens(name);
    let tail = normalise::cut_tail(name);
    let mut found: HashMap<u32, (u16, NameForm)> = HashMap::new();
    let mut offer = |c: u32, s: u16, f: NameForm| {
        let e = found.entry(c).or_insert((0, f));
        if s > e.0 {
            *e = (s, f);
        }
    };
    // Words: customers sharing two words, or the one word of a one-word name.
    let mut cand: Vec<u32> = Vec::new();
    let m = toks.len().min(8);
    for i in 0..m {
        for j in i + 1..m {
            if let Some(v) = ix.with_pair(&toks[i], &toks[j]) {
                cand.extend(v);
            }
        }
    }
    for t in &toks {
        if let Some(v) = ix.with_token(t, COMMON_WORD) {
            cand.extend(v.into_iter().filter(|&c| ix.tokens_of(c).len() == 1));
        }
    }
    cand.sort_unstable();
    cand.dedup();
    for c in cand {
        let s = similarity(&toks, &ix.tokens_of(c), tail.as_deref());
        offer(
            c,
            s,
            if s >= 1000 {
                NameForm::Words
            } else {
                NameForm::Close
            },
        );
    }
    // Run together: the whole name, and each long word, without the affixes banks add.
    let glued: String = words_in_order(name).concat();
    let all_letters: String = normalise::compact(name);
    let mut runs: Vec<String> = vec![all_letters.clone()];
    if glued != all_letters {
        runs.push(glued.clone());
    }
    for w in name
        .split(|c: char| !c.is_alphanumeric())
        .map(normalise::compact)
    {
        if w.len() >= 8 && !runs.contains(&w) {
            runs.push(w);
        }
    }
    for run in &runs {
        for v in glued_variants(run) {
            for c in ix.with_skeleton(&v) {
                offer(c, SIM_GLUED, NameForm::Glued);
            }
        }
    }
    // Cut at the field length: the name run together begins the customer's.
    // A cut falling just after a word leaves one character less once the blank is trimmed.
    let printed = name.trim_end().chars().count();
    if FIELD_LENGTHS.contains(&printed) || FIELD_LENGTHS.contains(&(printed + 1)) || tail.is_some()
    {
        for run in &runs {
            for v in glued_variants(run) {
                if v.len() >= CUT_MIN {
                    let v2 = ix.with_prefix(&v);
                    if v2.len() == 1 {
                        offer(v2[0], SIM_CUT, NameForm::Cut);
                    }
                }
            }
        }
    }
    // A couple, or a person under the customer's surname: a civility and a strict part of
    // exactly one customer's name.
    let civil = name
        .split(|c: char| !c.is_alphanumeric())
        .map(normalise::compact)
        .any(|w| CIVILITIES.contains(&w.as_str()))
        || ["MOUMME", "METMME", "MRETMME", "MROUMME"]
            .iter()
            .any(|p| all_letters.starts_with(p));
    if civil && !toks.is_empty() && toks.iter().all(|t| t.len() >= 3) {
        let mut part = toks.clone();
        if part.len() == 1 && part[0].len() > 12 {
            // A couple run together: "MOUMMEDUPONT".
            part = glued_variants(&part[0])
                .into_iter()
                .filter(|v| ix.with_token(v, COMMON_WORD).is_some_and(|x| !x.is_empty()))
                .take(1)
                .collect();
        }
        let sup = ix.supersets(&part);
        if sup.len() == 1 {
            offer(sup[0], SIM_COUPLE, NameForm::Couple);
        }
    }
    let mut v: Vec<(u32, u16, NameForm)> = found.into_iter().map(|(c, (s, f))| (c, s, f)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

/// Customers the payer name `name` identifies, strongest first, after the homonym guard
/// (see the module documentation).
pub(super) fn identify(ledger: &Ledger<'_>, name: &str, min: u16) -> Vec<NameHit> {
    let scored: Vec<(u32, u16, NameForm)> = candidates(&ledger.names, name)
        .into_iter()
        .filter(|x| x.1 >= min)
        .collect();
    let mut out = Vec::new();
    if let Some(&(_, top, _)) = scored.first() {
        let close: Vec<(u32, u16, NameForm)> = scored
            .into_iter()
            .filter(|x| x.1 + HOMONYM_BAND >= top)
            .collect();
        if close.len() <= 3 {
            // Homonyms: the name alone no longer identifies one customer.
            let homonym = close.len() > 1;
            for (c, s, form) in close {
                let base = if s >= 950 {
                    conf::IDENT_NAME_STRONG
                } else {
                    conf::IDENT_NAME_CLOSE
                };
                out.push(NameHit {
                    cust: c,
                    strength: if homonym {
                        base - conf::HOMONYM_PENALTY
                    } else {
                        base
                    },
                    similarity: s,
                    form,
                    homonym,
                });
            }
        }
    }
    out
}

/// The one customer whose name (two words or more, or run together) the remittance spells
/// out: a group or a factor paying for it often names it.
pub(super) fn named_in_text(ledger: &Ledger<'_>, remittance: &str) -> Option<u32> {
    let ix = &ledger.names;
    let words: Vec<String> = normalise::name_tokens(remittance)
        .into_iter()
        .filter(|w| w.len() >= 2 && w.bytes().all(|b| b.is_ascii_alphabetic()))
        .collect();
    let m = words.len().min(10);
    let mut cand: Vec<u32> = Vec::new();
    for i in 0..m {
        for j in i + 1..m {
            cand.extend(ix.by_pair.get(pair_hash(&words[i], &words[j])).take(31));
        }
    }
    cand.sort_unstable();
    cand.dedup();
    let named: Vec<u32> = cand
        .into_iter()
        .filter(|&c| {
            let t = ix.tokens_of(c);
            t.len() >= 2 && t.iter().all(|w| words.iter().any(|x| x == w))
        })
        .collect();
    (named.len() == 1).then(|| named[0])
}

/// Customers whose account number (their id in the ledger, 5 characters or more with a
/// digit and a letter, as printed on invoices for the payer to quote) the remittance cites.
pub(super) fn customer_numbers(ledger: &Ledger<'_>, remittance: &str) -> Vec<u32> {
    let mut out: Vec<u32> = Vec::new();
    normalise::for_each_text_key(remittance, |k| {
        if k.len() >= 5 {
            out.extend(ledger.by_number.get(text_hash(k)).take(2));
        }
    });
    out.sort_unstable();
    out.dedup();
    out.retain(|&c| {
        let id = normalise::compact(ledger.cust_ids[c as usize].as_str());
        normalise::text_keys(remittance).contains(&id)
    });
    out
}

/// The lowest similarity at which a payer name still points at a customer for the gate
/// (never to apply anything).
const LOOSE_MIN: u16 = 600;

/// Customers a payer name or the remittance points at loosely (for probable payments):
/// names similar without identifying, homonyms, a customer named in the text. At most
/// five, closest first.
pub(super) fn loose(ledger: &Ledger<'_>, name: &str, remittance: &str) -> Vec<(u32, u16)> {
    let ix = &ledger.names;
    let mut out: Vec<(u32, u16)> = Vec::new();
    if !name.trim().is_empty() {
        out.extend(
            candidates(ix, name)
                .into_iter()
                .filter(|x| x.1 >= LOOSE_MIN)
                .map(|x| (x.0, x.1)),
        );
        // Single words shared with a customer's name (a surname alone, a trade word).
        let toks = normalise::name_tokens(name);
        let tail = normalise::cut_tail(name);
        for t in toks.iter().filter(|t| t.len() >= 4) {
            if let Some(v) = ix.with_token(t, 10) {
                for c in v {
                    if !out.iter().any(|x| x.0 == c) {
                        let s = similarity(&toks, &ix.tokens_of(c), tail.as_deref());
                        if s >= LOOSE_MIN {
                            out.push((c, s));
                        }
                    }
                }
            }
        }
    }
    if let Some(c) = named_in_text(ledger, remittance) {
        if !out.iter().any(|x| x.0 == c) {
            out.push((c, 1000));
        }
    }
    out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    out.truncate(5);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ix(names: &[&str]) -> NameIndex {
        NameIndex::build(names)
    }

    fn best(ix: &NameIndex, printed: &str) -> Option<(u32, u16, NameForm)> {
        candidates(ix, printed).into_iter().next()
    }

    #[test]
    fn glued_names_are_found() {
        let i = ix(&["Ets Nguyen SASU", "Le Grand Conseil SAS", "Dupont Jean"]);
        assert_eq!(
            best(&i, "ETSNGUYENSASU").map(|x| (x.0, x.2)),
            Some((0, NameForm::Glued))
        );
        assert_eq!(
            best(&i, "LEGRANDCONSEILSAS").map(|x| (x.0, x.2)),
            Some((1, NameForm::Glued))
        );
        assert_eq!(
            best(&i, "JEANDUPONT").map(|x| (x.0, x.2)),
            Some((2, NameForm::Glued))
        );
    }

    #[test]
    fn cut_and_couple_forms() {
        let i = ix(&[
            "Conseil Grangeugronr Saint-Michel EURL",
            "Jean-Pierre Durandeau",
            "Marie Lefort",
            "Paul Lefort",
        ]);
        // Cut at 18 characters, run together.
        assert_eq!(
            best(&i, "CONSEILGRANGEUGRON").map(|x| (x.0, x.2)),
            Some((0, NameForm::Cut))
        );
        assert_eq!(
            best(&i, "M OU MME DURANDEAU").map(|x| (x.0, x.2)),
            Some((1, NameForm::Couple))
        );
        // A surname two customers share identifies neither.
        assert!(candidates(&i, "MR ET MME LEFORT")
            .iter()
            .all(|x| x.2 != NameForm::Couple));
    }

    #[test]
    fn affixes_strip_from_either_end() {
        let v = glued_variants("SARLDUPONTETFILSSAS");
        assert!(v.contains(&"DUPONTETFILS".to_owned()), "{v:?}");
    }
}
