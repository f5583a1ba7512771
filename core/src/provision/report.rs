//! Readable forms of a closing table: a fixed-width text table and a CSV of the provision state.

use super::classify::Criterion;
use super::closing::ClosingTable;
use rust_decimal::Decimal;
use std::fmt::Write as _;

fn amt(d: Decimal) -> String {
    format!("{:.2}", d)
}

fn pct(rate: Decimal) -> String {
    format!("{}%", (rate * Decimal::ONE_HUNDRED).normalize())
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// The provision table as text: one row per invoice, then the entries, the notes, the totals.
pub fn table_text(t: &ClosingTable) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Provisions for doubtful debts — company {} — closing {}",
        t.company, t.closing_date
    );
    match t.previous_closing {
        Some(p) => {
            let _ = writeln!(o, "Previous closing: {p}");
        }
        None => {
            let _ = writeln!(o, "Previous closing: none");
        }
    }
    let _ = writeln!(
        o,
        "\n{:<14} {:<12} {:<13} {:>5} {:>12} {:>12} {:>6} {:<10} {:>12} {:>12} {:>12} {:<3}",
        "Invoice",
        "Customer",
        "Class",
        "Days",
        "416 TTC",
        "Base HT",
        "Rate",
        "Rule",
        "Previous",
        "Movement",
        "New",
        "Ded"
    );
    for l in &t.lines {
        let _ = writeln!(
            o,
            "{:<14} {:<12} {:<13} {:>5} {:>12} {:>12} {:>6} {:<10} {:>12} {:>12} {:>12} {:<3}",
            cut(&l.number, 14),
            cut(l.customer.as_str(), 12),
            l.classification.as_str(),
            l.days_overdue,
            amt(l.doubtful_after),
            amt(l.base_ht),
            pct(l.rate),
            cut(&l.rate_rule, 10),
            amt(l.previous_provision),
            amt(l.movement),
            amt(l.new_provision),
            if l.deductible { "yes" } else { "no" }
        );
        let crit: Vec<String> = l.criteria.iter().map(Criterion::describe).collect();
        let _ = writeln!(o, "    criteria: {}", crit.join("; "));
        if !l.evidence.is_empty() {
            let _ = writeln!(o, "    evidence: {}", l.evidence.join(" | "));
        }
        let _ = writeln!(o, "    rate: {}", l.rate_detail);
    }
    let x = &t.totals;
    let _ = writeln!(
        o,
        "\nTotals: 416 {}  base HT {}  previous {}  +68174 {}  -78174 {}  new {}  written off HT {}  non-deductible {}",
        amt(x.doubtful_ttc),
        amt(x.base_ht),
        amt(x.previous_provision),
        amt(x.increase),
        amt(x.decrease),
        amt(x.new_provision),
        amt(x.written_off_ht),
        amt(x.non_deductible)
    );
    if t.entries.is_empty() {
        let _ = writeln!(
            o,
            "\nEntries: none (the state already includes this closing)"
        );
    } else {
        let _ = writeln!(o, "\nEntries:");
        for e in &t.entries {
            let _ = writeln!(o, "  {} {} {}  [{}]", e.journal, e.date, e.label, e.key);
            for l in &e.lines {
                let _ = writeln!(
                    o,
                    "      {:<8} {:>12} {:>12}  {}",
                    l.account,
                    if l.debit.is_zero() {
                        String::new()
                    } else {
                        amt(l.debit)
                    },
                    if l.credit.is_zero() {
                        String::new()
                    } else {
                        amt(l.credit)
                    },
                    l.party.as_ref().map(|p| p.as_str()).unwrap_or("")
                );
            }
            let _ = writeln!(o, "      why: {}", e.justification);
        }
    }
    if !t.notes.is_empty() {
        let _ = writeln!(o, "\nTo review:");
        for n in &t.notes {
            let _ = writeln!(o, "  {}: {}", n.subject, n.message);
        }
    }
    o
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// The header of [`state_csv`].
pub const STATE_CSV_HEADER: &str = "company,closing_date,invoice,number,customer,classification,days_overdue,total_ttc,open_ttc,doubtful_416,base_ht,vat,rate,rate_rule,previous_provision,movement,new_provision,deductible,criteria,entry_keys,justification";

/// The provision state at the closing as CSV (RFC 4180: comma separator, double quotes,
/// CRLF line ends; amounts with a dot and two decimals, rates as decimals 0..1), one row
/// per line of the table.
pub fn state_csv(t: &ClosingTable) -> String {
    let mut o = String::new();
    o.push_str(STATE_CSV_HEADER);
    o.push_str("\r\n");
    for l in &t.lines {
        let crit: Vec<String> = l.criteria.iter().map(Criterion::describe).collect();
        let fields = [
            t.company.to_string(),
            t.closing_date.to_string(),
            l.invoice.to_string(),
            l.number.clone(),
            l.customer.to_string(),
            l.classification.as_str().to_owned(),
            l.days_overdue.to_string(),
            amt(l.total_ttc),
            amt(l.open_ttc),
            amt(l.doubtful_after),
            amt(l.base_ht),
            amt(l.vat),
            l.rate.normalize().to_string(),
            l.rate_rule.clone(),
            amt(l.previous_provision),
            amt(l.movement),
            amt(l.new_provision),
            l.deductible.to_string(),
            crit.join("; "),
            l.entry_keys.join(" "),
            l.justification.clone(),
        ];
        let row: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        o.push_str(&row.join(","));
        o.push_str("\r\n");
    }
    o
}

/// The mention a rectified invoice must carry for the VAT on an unpaid receivable to be
/// recovered (CGI 272-1, BOI-TVA-DED-40-10-20; required even in liquidation, CE 28/03/2012
/// n°320470), with the amounts of the write-off: `ht` without VAT, `vat` the VAT.
pub fn rectification_mention(invoice_number: &str, ht: Decimal, vat: Decimal) -> String {
    format!(
        "Facture n° {invoice_number} demeurée impayée pour la somme de {} € (prix net) et pour la somme de {} € (TVA correspondante) qui ne peut faire l'objet d'une déduction (CGI art. 272).",
        amt(ht).replace('.', ","),
        amt(vat).replace('.', ",")
    )
}
