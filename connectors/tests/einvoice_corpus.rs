//! Every e-invoice of the shared corpus is parsed or rejected with a reason, and agrees with
//! the corpus's EXPECTED.md tables (type code, currency, BT-112, BT-115, line count). Skips,
//! saying so, when the corpus is absent (a user's fresh clone).
#![allow(clippy::unwrap_used)]

use relance_connectors::formats::einvoice::{self, Format};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;

fn corpus() -> Option<PathBuf> {
    let p = std::env::var_os("RELANCE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
        .join("corpus/einvoice");
    p.is_dir().then_some(p)
}

#[derive(Debug, Default)]
struct Row {
    detected: String,
    type_code: Option<u16>,
    currency: Option<String>,
    total: Option<Decimal>,
    due: Option<Decimal>,
    lines: Option<usize>,
}

fn table(md: &str) -> BTreeMap<String, Row> {
    let mut out = BTreeMap::new();
    for l in md
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| file"))
    {
        let c: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
        if c.len() < 8 || c[0].starts_with("---") {
            continue;
        }
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        out.insert(
            c[0].to_owned(),
            Row {
                detected: c[1].to_owned(),
                type_code: c[3].parse().ok(),
                currency: opt(c[4]),
                total: Decimal::from_str(c[5]).ok(),
                due: Decimal::from_str(c[6]).ok(),
                lines: c[7].parse().ok(),
            },
        );
    }
    out
}

/// Files the corpus marks as rule-test inputs or as unusable, with the rule we must report.
const EXPECTED_REJECTS: [(&str, &str); 3] = [
    ("cen_test_BR-CO-15-2.xml", "BR-CO-15"),
    ("cen_test_BR-CO-17.xml", "BR-CO-17"),
    (
        "mustang_failfolder_factur-x-invalid-xml-encoding-attribute.pdf",
        "XML-ENCODING",
    ),
];

#[test]
fn corpus_matches_expected() {
    let Some(root) = corpus() else {
        relance_connectors::testkit::skip_corpus(
            "../shared/corpus/einvoice absent (set RELANCE_SHARED): corpus not checked",
        );
        return;
    };
    let (mut parsed, mut rejected_ok, mut mismatched) = (0, 0, Vec::new());
    let mut totals_by_stem: BTreeMap<String, Vec<(String, Decimal)>> = BTreeMap::new();
    for folder in ["cii", "ubl", "facturx"] {
        let dir = root.join(folder);
        let expected = table(&std::fs::read_to_string(dir.join("EXPECTED.md")).unwrap());
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "xml" || e == "pdf"))
            .collect();
        files.sort();
        for f in files {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(&f).unwrap();
            let r = einvoice::parse(&name, &bytes);
            if let Some((_, rule)) = EXPECTED_REJECTS.iter().find(|(n, _)| *n == name) {
                if r.diagnostics.iter().any(|d| d.rule == *rule) {
                    rejected_ok += 1;
                } else {
                    mismatched.push(format!(
                        "{name}: expected a {rule} diagnostic, got {:?}",
                        r.diagnostics
                    ));
                }
                continue;
            }
            let Some(row) = expected.get(&name) else {
                mismatched.push(format!("{name}: not in EXPECTED.md"));
                continue;
            };
            // Files the oracle read as ZUGFeRD 1.0 must be recognised as such, never as CII.
            if row.detected.contains("zugferd ") && !row.detected.contains("factur-x") {
                let z1 = r.format == Some(Format::Zugferd1)
                    || r.diagnostics.iter().any(|d| d.rule == "FX-ZUGFERD1");
                if z1 {
                    parsed += 1;
                } else {
                    mismatched.push(format!(
                        "{name}: a ZUGFeRD 1.0 file not recognised as such ({:?})",
                        r.format
                    ));
                }
                continue;
            }
            if row.detected.starts_with("NO XML") {
                if r.diagnostics.iter().any(|d| d.rule == "FX-NO-XML") {
                    rejected_ok += 1;
                } else {
                    mismatched.push(format!("{name}: expected FX-NO-XML"));
                }
                continue;
            }
            let Some(doc) = r.documents.first() else {
                if row.total.is_none() && row.type_code.is_none() {
                    // The oracle read nothing either (non-EN 16931 or unsupported): a reason is enough.
                    if !r.diagnostics.is_empty() {
                        rejected_ok += 1;
                    } else {
                        mismatched.push(format!("{name}: no document and no reason"));
                    }
                } else {
                    mismatched.push(format!("{name}: no document read: {:?}", r.diagnostics));
                }
                continue;
            };
            let mut errs = Vec::new();
            if row.type_code.is_some() && row.type_code != doc.type_code {
                errs.push(format!("type {:?} vs {:?}", doc.type_code, row.type_code));
            }
            if row.currency.is_some() && row.currency != doc.currency {
                errs.push(format!("currency {:?} vs {:?}", doc.currency, row.currency));
            }
            if let Some(t) = row.total {
                if doc.total_with_vat.map(|x| x.normalize()) != Some(t.normalize()) {
                    errs.push(format!("BT-112 {:?} vs {t}", doc.total_with_vat));
                }
            }
            if let Some(t) = row.due {
                if doc.amount_due.map(|x| x.normalize()) != Some(t.normalize()) {
                    errs.push(format!("BT-115 {:?} vs {t}", doc.amount_due));
                }
            }
            if let Some(n) = row.lines {
                if n != doc.lines.len() {
                    errs.push(format!("lines {} vs {n}", doc.lines.len()));
                }
            }
            if errs.is_empty() {
                parsed += 1;
                if let Some(t) = doc.total_with_vat {
                    let stem = name
                        .trim_start_matches("zfcorpus_")
                        .trim_end_matches(".cii.xml")
                        .trim_end_matches(".ubl.xml")
                        .to_owned();
                    totals_by_stem
                        .entry(stem)
                        .or_default()
                        .push((name.clone(), t));
                }
            } else {
                mismatched.push(format!("{name}: {}", errs.join(", ")));
            }
        }
    }
    // Twins: the same invoice in CII and UBL gives the same total.
    let mut twins = 0;
    for (stem, v) in &totals_by_stem {
        if v.len() > 1 {
            twins += 1;
            assert!(
                v.iter().all(|(_, t)| t.normalize() == v[0].1.normalize()),
                "twins of {stem} disagree: {v:?}"
            );
        }
    }
    println!(
        "einvoice corpus: {parsed} parsed, {rejected_ok} rejected as expected, {} mismatched ({twins} CII/UBL twin pairs agree)",
        mismatched.len()
    );
    for m in &mismatched {
        println!("  mismatch: {m}");
    }
    assert!(mismatched.is_empty(), "{} mismatches", mismatched.len());
}
