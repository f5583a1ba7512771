//! Reconciliation policy: tolerances, discount rates, imputation and the auto threshold.
//!
//! Embedded in a company's configuration as the `[reconcile]` table. Every key is optional and
//! the defaults are the safe ones: nothing is imputed by Code civil art. 1342-10 without a
//! person unless `fifo_auto = true`, and an allocation is automatic only at or above
//! `auto_threshold`.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// How the engine decides what it may apply on its own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Minimum confidence, in per-mille (0..=1000), for an allocation to be automatic.
    /// Default 900 (0.90).
    pub auto_threshold: u16,
    /// When a known customer's payment fits none of its open items exactly (several items of
    /// different amounts, no combination), apply it by Code civil art. 1342-10 (debts due
    /// first, then the oldest) without a person. Default false: the imputation is proposed,
    /// not applied. (Among several items of exactly the amount, a subscription paid without
    /// reference, the first due is applied whatever this says: the amount designates what
    /// was paid, the article only which of equal items.)
    pub fifo_auto: bool,
    /// Early-payment discount rates (escompte) accepted as a deduction, as fractions
    /// (0.02 = 2 %). The paid amount must equal the open amount times (1 − rate) within
    /// `rounding_tolerance`. Default 0.5 %, 1 %, 1.5 %, 2 %, 2.5 %, 3 %.
    pub discount_rates: Vec<Decimal>,
    /// Largest shortfall booked as bank charges of a transfer (frais bancaires), in the
    /// account currency. Default 30.00. The shortfall must also be under
    /// `max_fee_fraction` of the invoice, else it is a partial payment. Only a transfer from
    /// abroad (payer IBAN outside France and Monaco, or none given) arrives less charges: a
    /// domestic SEPA transfer is credited whole (PSD2 art. 81), so its shortfall is a partial
    /// payment.
    pub max_bank_fee: Decimal,
    /// Largest fraction of the open amount a bank-fee deduction may represent. Default 0.05.
    pub max_fee_fraction: Decimal,
    /// Largest difference written off as rounding (écart de règlement). Default 0.05.
    pub rounding_tolerance: Decimal,
    /// Largest number of invoices one receipt may settle in a combination search. Default 10.
    pub max_combination_items: usize,
    /// Largest number of one customer's open items a combination search considers
    /// (the oldest by due date are kept). Default 24.
    pub max_combination_candidates: usize,
    /// Node budget of one combination search; beyond it the search gives up (then the
    /// receipt is proposed, never applied). Default 50 000.
    pub max_combination_nodes: u32,
    /// Largest edit distance (with transpositions) accepted for a reference within the
    /// payer's own open invoices. Default 2 (only for references of 8 characters or more;
    /// shorter ones accept 1).
    pub max_edit_distance: u8,
    /// Minimum payer-name similarity, per-mille, to identify a customer by name. Default 850.
    pub name_similarity_min: u16,
    /// Apply automatically a partial payment that carries an exact reference. Default true.
    pub auto_partial_with_reference: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            auto_threshold: 900,
            fifo_auto: false,
            discount_rates: vec![
                Decimal::new(5, 3),
                Decimal::new(1, 2),
                Decimal::new(15, 3),
                Decimal::new(2, 2),
                Decimal::new(25, 3),
                Decimal::new(3, 2),
            ],
            max_bank_fee: Decimal::new(3000, 2),
            max_fee_fraction: Decimal::new(5, 2),
            rounding_tolerance: Decimal::new(5, 2),
            max_combination_items: 10,
            max_combination_candidates: 24,
            max_combination_nodes: 50_000,
            max_edit_distance: 2,
            name_similarity_min: 850,
            auto_partial_with_reference: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_table_gives_defaults() {
        let p: Policy = toml::from_str("").unwrap();
        assert_eq!(p, Policy::default());
    }

    #[test]
    fn unknown_key_is_refused() {
        assert!(toml::from_str::<Policy>("auto_treshold = 800").is_err());
    }

    #[test]
    fn partial_table_keeps_other_defaults() {
        let p: Policy = toml::from_str("fifo_auto = true\nmax_bank_fee = \"25.00\"").unwrap();
        assert!(p.fifo_auto);
        assert_eq!(p.max_bank_fee, Decimal::new(2500, 2));
        assert_eq!(p.auto_threshold, 900);
    }

    #[test]
    fn rates_as_numbers_or_strings() {
        let p: Policy =
            toml::from_str("discount_rates = [0.02, \"0.03\"]\nmax_bank_fee = 25").unwrap();
        assert_eq!(
            p.discount_rates,
            vec![Decimal::new(2, 2), Decimal::new(3, 2)]
        );
        assert_eq!(p.max_bank_fee, Decimal::new(25, 0));
    }
}
