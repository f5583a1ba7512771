//! Whether a shortfall is a deduction the policy books beside the allocation (an
//! early-payment discount, bank charges of a transfer from abroad, a rounding difference)
//! rather than a partial payment.

use super::super::confidence as conf;
use super::super::engine::Run;
use super::super::index::{cents, from_cents};
use super::super::DeductionKind;
use rust_decimal::Decimal;

/// A deduction that explains a shortfall.
#[derive(Clone, Copy, Debug)]
pub(in super::super) struct Deduct {
    pub kind: DeductionKind,
    /// Per-mille: how precisely the shortfall fits.
    pub confidence: u16,
    /// The discount rate, for a discount.
    pub rate: Option<Decimal>,
    /// The transfer came from abroad.
    pub abroad: bool,
    /// A payment platform paid, net of its commission.
    pub platform: bool,
}

impl Run<'_, '_> {
    /// The deduction that explains `open − paid` on `items` (their open total is `open`),
    /// if within policy. Bank charges are deducted only from a transfer from abroad (or one
    /// whose IBAN the statement does not give); neither they nor a discount are read into a
    /// payment its text calls partial. With `early`, an early-payment discount (escompte) is
    /// read only into a payment made by the due date (C. com. art. L441-9: the discount is
    /// for paying before the date of the terms), as when no reference says which invoice
    /// was paid.
    pub(in super::super) fn deduction_kind(
        &self,
        r: usize,
        items: &[u32],
        open: i64,
        paid: i64,
        early: bool,
    ) -> Option<Deduct> {
        let short = open - paid;
        if short <= 0 {
            return None;
        }
        let policy = self.policy();
        let rec = self.rec(r);
        let text = self.text(r);
        let partial = text.partial;
        let tol = i64::try_from(items.len()).unwrap_or(1).max(1);
        let due = items
            .iter()
            .map(|&i| self.inv(i).effective_due_date())
            .max();
        let on_time = due.is_some_and(|d| rec.booking_date <= d + chrono::Duration::days(7));
        let abroad = text.abroad;
        // A payment platform (card acquirer, wallet) pays each charge net of its commission,
        // whatever its amount and wherever its account is; a bank transfer arrives less
        // charges only from abroad, and only up to what banks charge.
        let platform = text.platform;
        let fee_possible = !partial
            && (platform || (abroad != Some(false) && short <= cents(policy.max_bank_fee)))
            && from_cents(short) <= from_cents(open) * policy.max_fee_fraction;
        let says_discount = text.says_discount;
        // A payment from abroad short by what a discount rate would give is more likely
        // short by bank charges, unless its text says it takes a discount.
        let in_time = if early {
            on_time
        } else if fee_possible && abroad == Some(true) {
            says_discount
        } else {
            true
        };
        if in_time && !partial {
            for rate in &policy.discount_rates {
                let expected = cents(from_cents(open) * (Decimal::ONE - rate));
                if (expected - paid).abs() <= tol {
                    return Some(Deduct {
                        kind: DeductionKind::Discount,
                        confidence: conf::DEDUCTION_DISCOUNT,
                        rate: Some(*rate),
                        abroad: abroad == Some(true),
                        platform: false,
                    });
                }
            }
        }
        if short <= cents(policy.rounding_tolerance) && !partial {
            return Some(Deduct {
                kind: DeductionKind::Rounding,
                confidence: conf::DEDUCTION_ROUNDING,
                rate: None,
                abroad: abroad == Some(true),
                platform: false,
            });
        }
        if fee_possible {
            return Some(Deduct {
                kind: DeductionKind::BankFees,
                confidence: if platform {
                    conf::DEDUCTION_PLATFORM_FEE
                } else if abroad == Some(true) {
                    conf::DEDUCTION_FEES_ABROAD
                } else {
                    conf::DEDUCTION_FEES_UNKNOWN
                },
                rate: None,
                abroad: abroad == Some(true),
                platform,
            });
        }
        None
    }
}
