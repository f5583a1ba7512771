//! Who paid: the customers a receipt identifies, each with the strength of that
//! identification and its evidence.
//!
//! The ledger's part (recorded IBANs, mandates, SIREN/VAT ids, customer numbers and names)
//! is read once per receipt, independently of every decision ([`static_ident`]); what the
//! run learns (IBANs and names that paid a customer's invoices) and what people confirmed
//! is added when a strategy asks ([`Run::identify`]).

use super::super::confidence as conf;
use super::super::engine::{Run, Shared, SHARED_PAYER};
use super::super::explain::{IbanSource, NameForm};
use super::super::names;
use super::super::normalise;
use super::super::Evidence;
use super::Ident;

/// A customer a payer name identifies.
#[derive(Clone, Debug)]
pub(in super::super) struct NameHit {
    pub cust: u32,
    pub strength: u16,
    pub similarity: u16,
    pub form: NameForm,
    pub homonym: bool,
}

/// How the ledger identifies a customer for a receipt.
#[derive(Clone, Copy, Debug)]
pub(in super::super) enum Source {
    /// Its recorded IBAN is the payer's.
    LedgerIban,
    /// The receipt carries its mandate.
    Mandate,
    /// The remittance cites its SIREN.
    Siren,
    /// The remittance cites its account number.
    Number,
    /// The payer name identifies it.
    Name {
        strength: u16,
        similarity: u16,
        form: NameForm,
        homonym: bool,
    },
}

/// What the ledger alone says of a receipt's payer (compact: one is kept per receipt
/// between the reading and the units steps).
#[derive(Clone, Debug, Default)]
pub(in super::super) struct StaticIdent {
    /// (customer, how), in the order IBAN, mandate, SIREN, number, name.
    pub entries: Box<[(u32, Source)]>,
    /// The one customer the remittance names, if any.
    pub named_in_text: Option<u32>,
}

impl StaticIdent {
    /// Every customer it mentions.
    pub(in super::super) fn customers(&self, out: &mut Vec<u32>) {
        out.extend(self.entries.iter().map(|x| x.0));
        out.extend(self.named_in_text);
    }
}

/// Reads what the ledger says of receipt `r`'s payer.
pub(in super::super) fn static_ident(sh: &Shared<'_>, r: usize) -> StaticIdent {
    let rec = sh.receipts[r];
    let ledger = &sh.ledger;
    let mut e: Vec<(u32, Source)> = Vec::new();
    if let Some(ib) = rec.counterparty_iban.as_deref() {
        let k = normalise::iban(ib);
        if let Some(v) = ledger.by_iban.get(&k).filter(|v| v.len() <= SHARED_PAYER) {
            e.extend(v.iter().map(|&c| (c, Source::LedgerIban)));
        }
    }
    if let Some(m) = rec.mandate_id.as_deref() {
        let k = normalise::compact(m);
        if let Some(v) = ledger
            .by_mandate
            .get(&k)
            .filter(|v| v.len() <= SHARED_PAYER)
        {
            e.extend(v.iter().map(|&c| (c, Source::Mandate)));
        }
    }
    for id in normalise::siren_candidates(&rec.remittance) {
        if let Some(v) = ledger.by_siren.get(&id).filter(|v| v.len() <= SHARED_PAYER) {
            e.extend(v.iter().map(|&c| (c, Source::Siren)));
        }
    }
    e.extend(
        names::customer_numbers(ledger, &rec.remittance)
            .into_iter()
            .map(|c| (c, Source::Number)),
    );
    if let Some(n) = rec.counterparty_name.as_deref() {
        for h in names::identify(ledger, n, sh.policy.name_similarity_min) {
            e.push((
                h.cust,
                Source::Name {
                    strength: h.strength,
                    similarity: h.similarity,
                    form: h.form,
                    homonym: h.homonym,
                },
            ));
        }
    }
    StaticIdent {
        entries: e.into_boxed_slice(),
        named_in_text: names::named_in_text(ledger, &rec.remittance),
    }
}

impl Run<'_, '_> {
    /// Who the payer is: IBAN (ledger, learnt, confirmed), mandate, SIREN/VAT and customer
    /// number in the text, payer name, customer name in the text.
    pub(in super::super) fn identify(&self, r: usize) -> Ident {
        self.identify_with(r, true)
    }

    /// [`Self::identify`], with or without what names say.
    pub(in super::super) fn identify_with(&self, r: usize, with_names: bool) -> Ident {
        let Some(reading) = self.reading(r) else {
            return Ident::default();
        };
        let mut custs: Vec<(u32, u16, Evidence)> = Vec::new();
        let mut homonyms: Vec<u32> = Vec::new();
        for &(c, s) in reading.ident.iter() {
            if matches!(s, Source::LedgerIban) {
                custs.push((
                    c,
                    conf::IDENT_LEDGER_IBAN,
                    Evidence::PayerIban {
                        source: IbanSource::Ledger,
                    },
                ));
            }
        }
        if let Some(v) = self
            .learnt_iban_of(reading.iban_key)
            .filter(|v| v.len() <= SHARED_PAYER)
        {
            for &c in v {
                custs.push((
                    c,
                    conf::IDENT_LEARNT_IBAN,
                    Evidence::PayerIban {
                        source: IbanSource::Learnt,
                    },
                ));
            }
        }
        if let Some(v) = self
            .sh
            .confirmed_iban
            .get(&reading.iban_key)
            .filter(|v| reading.iban_key != 0 && v.len() <= SHARED_PAYER)
        {
            for &c in v {
                custs.push((
                    c,
                    conf::IDENT_CONFIRMED_IBAN,
                    Evidence::PayerIban {
                        source: IbanSource::Confirmed,
                    },
                ));
            }
        }
        for &(c, s) in reading.ident.iter() {
            match s {
                Source::Mandate => custs.push((c, conf::IDENT_MANDATE, Evidence::Mandate)),
                Source::Siren => custs.push((c, conf::IDENT_SIREN, Evidence::Identifier)),
                Source::Number => {
                    custs.push((c, conf::IDENT_CUSTOMER_NUMBER, Evidence::CustomerNumber))
                }
                Source::LedgerIban | Source::Name { .. } => {}
            }
        }
        if with_names {
            let key = reading.name_key;
            if let Some(v) = self.learnt_name_of(key).filter(|v| v.len() <= SHARED_PAYER) {
                // A name learnt for several customers is a name they share: it no longer
                // tells which one paid.
                let shared = v.len() > 1;
                for &c in v {
                    if shared {
                        homonyms.push(c);
                    }
                    custs.push((
                        c,
                        if shared {
                            conf::IDENT_LEARNT_NAME_SHARED
                        } else {
                            conf::IDENT_LEARNT_NAME
                        },
                        Evidence::PayerName {
                            similarity: 1000,
                            form: NameForm::Learnt,
                            homonym: shared,
                        },
                    ));
                }
            }
            if let Some(v) = self
                .sh
                .confirmed_name
                .get(&key)
                .filter(|v| key != 0 && v.len() == 1)
            {
                custs.push((
                    v[0],
                    conf::IDENT_CONFIRMED_NAME,
                    Evidence::PayerName {
                        similarity: 1000,
                        form: NameForm::Confirmed,
                        homonym: false,
                    },
                ));
            }
            for &(c, s) in reading.ident.iter() {
                if let Source::Name {
                    strength,
                    similarity,
                    form,
                    homonym,
                } = s
                {
                    if homonym {
                        homonyms.push(c);
                    }
                    custs.push((
                        c,
                        strength,
                        Evidence::PayerName {
                            similarity,
                            form,
                            homonym,
                        },
                    ));
                }
            }
            if let Some(c) = reading.named_in_text {
                if !custs
                    .iter()
                    .any(|x| x.0 == c && x.1 >= conf::IDENT_NAME_IN_TEXT)
                {
                    custs.push((c, conf::IDENT_NAME_IN_TEXT, Evidence::CustomerNameInText));
                }
            }
        }
        custs.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        Ident { custs, homonyms }
    }
}
