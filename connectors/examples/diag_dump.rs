//! Prints every diagnostic (severity rule path) and key fields of the given files.
use relance_connectors::formats::{bank, einvoice};
fn main() {
    for p in std::env::args().skip(1) {
        let b = std::fs::read(&p).unwrap_or_default();
        let name = p.rsplit('/').next().unwrap_or(&p).to_owned();
        if bank::detect(&b).is_some() {
            let f = bank::parse(&name, &b);
            let r = f.receipts();
            println!(
                "{name} usable={} stmts={} receipts={} sum={}",
                bank::is_usable(&f),
                f.statements.len(),
                r.len(),
                r.iter().map(|x| x.amount).sum::<rust_decimal::Decimal>()
            );
            let mut ds: Vec<String> = f
                .diagnostics
                .iter()
                .map(|d| format!("  {:?} {} {} | {}", d.severity, d.rule, d.path, d.message))
                .collect();
            ds.sort();
            for d in ds {
                println!("{d}");
            }
            for x in r.iter().take(400) {
                println!(
                    "  R {} {} {} {}",
                    x.id,
                    x.amount,
                    x.booking_date,
                    x.currency.as_str()
                );
            }
        } else {
            let f = einvoice::parse(&name, &b);
            println!(
                "{name} usable={} fmt={:?} docs={}",
                einvoice::is_usable(&f),
                f.format,
                f.documents.len()
            );
            for d in &f.documents {
                println!(
                    "  D {:?} {:?} {:?} {:?} due={:?} issue={:?}",
                    d.number, d.total_with_vat, d.amount_due, d.type_code, d.due_date, d.issue_date
                );
            }
            let mut ds: Vec<String> = f
                .diagnostics
                .iter()
                .map(|d| format!("  {:?} {} {} | {}", d.severity, d.rule, d.path, d.message))
                .collect();
            ds.sort();
            for d in ds {
                println!("{d}");
            }
        }
    }
}
