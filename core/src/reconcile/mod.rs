//! Reconciliation: matches bank receipts to open invoices, with evidence and a reason for each.
