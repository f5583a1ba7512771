//! Payer names as banks print them, matched to the ledger's customers as a bookkeeper would.
//!
//! (First version: token similarity; see the rest of this module's documentation.)

use super::confidence as conf;
use super::explain::NameForm;
use super::index::{pair_hash, Ledger};
use super::normalise;
use super::strategy::identify::NameHit;

/// Customers the payer name `name` identifies, strongest first.
pub(super) fn identify(ledger: &Ledger<'_>, name: &str, min: u16) -> Vec<NameHit> {
    let toks = normalise::name_tokens(name);
    let tail = normalise::cut_tail(name);
    // Candidates share two name tokens (pair index), or the one token of a one-word name; a
    // long posting (a very common pair) is not a lead.
    let mut cand: Vec<u32> = Vec::new();
    let m = toks.len().min(8);
    for i in 0..m {
        for j in i + 1..m {
            let before = cand.len();
            cand.extend(
                ledger
                    .by_name_pair
                    .get(pair_hash(&toks[i], &toks[j]))
                    .take(31),
            );
            if cand.len() - before > 30 {
                cand.truncate(before);
            }
        }
    }
    for t in &toks {
        if let Some(v) = ledger.by_name_token.get(t) {
            if v.len() <= 50 {
                cand.extend(
                    v.iter()
                        .copied()
                        .filter(|&c| ledger.name_toks[c as usize].len() == 1),
                );
            }
        }
    }
    cand.sort_unstable();
    cand.dedup();
    let mut scored: Vec<(u16, u32)> = cand
        .into_iter()
        .map(|c| {
            (
                normalise::payer_name_similarity(
                    &toks,
                    &ledger.name_toks[c as usize],
                    tail.as_deref(),
                ),
                c,
            )
        })
        .filter(|(s, _)| *s >= min)
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut out = Vec::new();
    if let Some(&(top, _)) = scored.first() {
        let close: Vec<(u16, u32)> = scored.into_iter().filter(|(s, _)| *s + 50 >= top).collect();
        if close.len() <= 3 {
            // Homonyms: the name alone no longer identifies one customer.
            let homonym = close.len() > 1;
            for (s, c) in close {
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
                    form: if s >= 1000 {
                        NameForm::Words
                    } else {
                        NameForm::Close
                    },
                    homonym,
                });
            }
        }
    }
    out
}

/// The one customer whose name (two words or more) the remittance spells out: a group or a
/// factor paying for it often names it.
pub(super) fn named_in_text(ledger: &Ledger<'_>, remittance: &str) -> Option<u32> {
    let words: Vec<String> = normalise::name_tokens(remittance)
        .into_iter()
        .filter(|w| w.len() >= 2 && w.bytes().all(|b| b.is_ascii_alphabetic()))
        .collect();
    let m = words.len().min(10);
    let mut cand: Vec<u32> = Vec::new();
    for i in 0..m {
        for j in i + 1..m {
            cand.extend(
                ledger
                    .by_name_pair
                    .get(pair_hash(&words[i], &words[j]))
                    .take(31),
            );
        }
    }
    cand.sort_unstable();
    cand.dedup();
    let named: Vec<u32> = cand
        .into_iter()
        .filter(|&c| {
            let t = &ledger.name_toks[c as usize];
            t.len() >= 2 && t.iter().all(|w| words.contains(w))
        })
        .collect();
    (named.len() == 1).then(|| named[0])
}

/// Customers whose account number the remittance cites.
pub(super) fn customer_numbers(_ledger: &Ledger<'_>, _remittance: &str) -> Vec<(u32, Box<str>)> {
    Vec::new()
}

/// The lowest similarity at which a payer name still points at a customer for the gate
/// (never to apply anything).
const LOOSE_MIN: u16 = 600;

/// Customers a payer name or the remittance points at loosely (for probable payments):
/// names similar without identifying, homonyms, a customer named in the text. At most five,
/// closest first.
pub(super) fn loose(ledger: &Ledger<'_>, name: &str, remittance: &str) -> Vec<(u32, u16)> {
    let mut out: Vec<(u32, u16)> = Vec::new();
    let toks = normalise::name_tokens(name);
    let tail = normalise::cut_tail(name);
    let mut cand: Vec<u32> = Vec::new();
    for t in &toks {
        if t.len() >= 3 {
            if let Some(v) = ledger.by_name_token.get(t) {
                if v.len() <= 50 {
                    cand.extend(v);
                }
            }
        }
    }
    cand.sort_unstable();
    cand.dedup();
    for c in cand {
        let s =
            normalise::payer_name_similarity(&toks, &ledger.name_toks[c as usize], tail.as_deref());
        if s >= LOOSE_MIN {
            out.push((c, s));
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
