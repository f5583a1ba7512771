//! Who paid: the customers a receipt identifies, each with the strength of that
//! identification and its evidence.
//!
//! The ledger's part (recorded IBANs, mandates, SIREN/VAT ids, customer numbers and names)
//! is read once per receipt, independently of every decision ([`static_ident`]); what the
//! run learns (IBANs and names that paid a customer's invoices) and what people confirmed
//! is added when a strategy asks ([`Run::identify`]).

use super::super::confidence as conf;
use super::super::engine::{name_key, Run, Shared, SHARED_PAYER};
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

/// What the ledger alone says of a receipt's payer.
#[derive(Clone, Debug, Default)]
pub(in super::super) struct StaticIdent {
    /// Customers whose recorded IBAN is the payer's.
    pub ledger_iban: Vec<u32>,
    /// Customers whose mandate the receipt carries.
    pub mandate: Vec<u32>,
    /// Customers whose SIREN the remittance cites, with the SIREN.
    pub siren: Vec<(u32, Box<str>)>,
    /// Customers whose account number the remittance cites.
    pub number: Vec<(u32, Box<str>)>,
    /// Customers the payer name identifies.
    pub names: Vec<NameHit>,
    /// The one customer the remittance names, if any.
    pub named_in_text: Option<u32>,
}

impl StaticIdent {
    /// Every customer it mentions.
    pub(in super::super) fn customers(&self, out: &mut Vec<u32>) {
        out.extend(&self.ledger_iban);
        out.extend(&self.mandate);
        out.extend(self.siren.iter().map(|x| x.0));
        out.extend(self.number.iter().map(|x| x.0));
        out.extend(self.names.iter().map(|x| x.cust));
        out.extend(self.named_in_text);
    }
}

/// Reads what the ledger says of receipt `r`'s payer.
pub(in super::super) fn static_ident(sh: &Shared<'_>, r: usize) -> StaticIdent {
    let rec = sh.receipts[r];
    let ledger = &sh.ledger;
    let mut s = StaticIdent::default();
    if let Some(ib) = rec.counterparty_iban.as_deref() {
        let k = normalise::iban(ib);
        if let Some(v) = ledger.by_iban.get(&k).filter(|v| v.len() <= SHARED_PAYER) {
            s.ledger_iban.extend(v);
        }
    }
    if let Some(m) = rec.mandate_id.as_deref() {
        let k = normalise::compact(m);
        if let Some(v) = ledger
            .by_mandate
            .get(&k)
            .filter(|v| v.len() <= SHARED_PAYER)
        {
            s.mandate.extend(v);
        }
    }
    for id in normalise::siren_candidates(&rec.remittance) {
        if let Some(v) = ledger.by_siren.get(&id).filter(|v| v.len() <= SHARED_PAYER) {
            for &c in v {
                s.siren.push((c, id.clone().into_boxed_str()));
            }
        }
    }
    s.number = names::customer_numbers(ledger, &rec.remittance);
    if let Some(n) = rec.counterparty_name.as_deref() {
        s.names = names::identify(ledger, n, sh.policy.name_similarity_min);
    }
    s.named_in_text = names::named_in_text(ledger, &rec.remittance);
    s
}

impl Run<'_, '_> {
    /// Who the payer is: IBAN (ledger, learnt, confirmed), mandate, SIREN/VAT and customer
    /// number in the text, payer name, customer name in the text.
    pub(in super::super) fn identify(&self, r: usize) -> Ident {
        self.identify_with(r, true)
    }

    /// [`Self::identify`], with or without what names say.
    pub(in super::super) fn identify_with(&self, r: usize, with_names: bool) -> Ident {
        let rec = self.rec(r);
        let Some(st) = self.readings.get(&r) else {
            return Ident::default();
        };
        let st = &st.ident;
        let mut custs: Vec<(u32, u16, Evidence)> = Vec::new();
        let mut homonyms: Vec<u32> = Vec::new();
        let iban_key = rec.counterparty_iban.as_deref().map(normalise::iban);
        for &c in &st.ledger_iban {
            custs.push((
                c,
                conf::IDENT_LEDGER_IBAN,
                Evidence::PayerIban {
                    source: IbanSource::Ledger,
                },
            ));
        }
        if let Some(k) = iban_key.as_deref() {
            if let Some(v) = self.learnt_iban_of(k).filter(|v| v.len() <= SHARED_PAYER) {
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
                .get(k)
                .filter(|v| v.len() <= SHARED_PAYER)
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
        }
        for &c in &st.mandate {
            custs.push((c, conf::IDENT_MANDATE, Evidence::Mandate));
        }
        for (c, id) in &st.siren {
            custs.push((
                *c,
                conf::IDENT_SIREN,
                Evidence::Identifier { id: id.to_string() },
            ));
        }
        for (c, n) in &st.number {
            custs.push((
                *c,
                conf::IDENT_CUSTOMER_NUMBER,
                Evidence::CustomerNumber {
                    number: n.to_string(),
                },
            ));
        }
        if with_names {
            if let Some(n) = rec.counterparty_name.as_deref() {
                let key = name_key(n);
                if let Some(v) = self
                    .learnt_name_of(&key)
                    .filter(|v| v.len() <= SHARED_PAYER)
                {
                    // A name learnt for several customers is a name they share: it no
                    // longer tells which one paid.
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
                if let Some(v) = self.sh.confirmed_name.get(&key).filter(|v| v.len() == 1) {
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
            }
            for h in &st.names {
                if h.homonym {
                    homonyms.push(h.cust);
                }
                custs.push((
                    h.cust,
                    h.strength,
                    Evidence::PayerName {
                        similarity: h.similarity,
                        form: h.form,
                        homonym: h.homonym,
                    },
                ));
            }
            if let Some(c) = st.named_in_text {
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
