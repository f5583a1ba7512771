//! Shared builders for the dunning tests: fixed dates, a company, customers and invoices.
#![allow(dead_code, clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use chrono::{Duration, NaiveDate};
use relance_core::dunning::{PlanInput, Policy, RateTable};
use relance_core::model::{
    Customer, CustomerKind, Invoice, InvoiceKind, InvoiceStatus, PostalAddress,
};
use relance_core::{CompanyId, Currency, InvoiceId};
use rust_decimal::Decimal;

/// Monday 2 March 2026 (H1 2026 rates are in the table).
pub fn today() -> NaiveDate {
    d(2026, 3, 2)
}

pub fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

pub fn rates() -> RateTable {
    toml::from_str(include_str!("../../../config/rates/fr.toml")).unwrap()
}

pub fn customer(id: &str, kind: CustomerKind) -> Customer {
    let mut c = Customer::new(id, format!("Client {id}"));
    c.kind = kind;
    c.emails = vec![format!("{id}@example.test")];
    c.address = Some(address(
        &format!("{} avenue du Client", id.len()),
        "69003",
        "Lyon",
    ));
    c
}

/// A French postal address.
pub fn address(street: &str, postcode: &str, city: &str) -> PostalAddress {
    PostalAddress {
        lines: vec![street.to_owned()],
        postcode: Some(postcode.to_owned()),
        city: Some(city.to_owned()),
        subdivision: None,
        country: Some("FR".to_owned()),
    }
}

/// An open invoice of `amount` due `days` days before `today()` (negative: due later).
pub fn invoice(id: &str, customer: &str, days_overdue: i64, amount: Decimal) -> Invoice {
    let due = today() - Duration::days(days_overdue);
    Invoice {
        id: InvoiceId::new(id),
        number: id.to_owned(),
        kind: InvoiceKind::Invoice,
        type_code: 380,
        issue_date: due - Duration::days(30),
        due_date: Some(due),
        instalments: Vec::new(),
        currency: Currency::EUR,
        total_without_vat: amount,
        total_vat: Decimal::ZERO,
        total_with_vat: amount,
        amount_due: amount,
        customer: customer.into(),
        buyer_reference: None,
        order_reference: None,
        remittance_reference: None,
        payment_iban: None,
        mandate_id: None,
        status: InvoiceStatus::Open,
    }
}

/// An input with fresh bank data, the default policy and the bundled rate table.
pub fn input(customers: Vec<Customer>, invoices: Vec<Invoice>) -> PlanInput {
    let mut i = PlanInput::new(CompanyId::new("acme"), Policy::default(), rates());
    i.customers = customers;
    i.invoices = invoices;
    i.bank_data_as_of = Some(today());
    i.sender_address = Some(address("12 rue des Forges", "69007", "Lyon"));
    i
}
