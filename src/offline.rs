//! Reading invoice and bank files into core values, for the offline commands (`reconcile`,
//! `dunning plan --invoices`, `demo`) and the folder sources.

use anyhow::Context as _;
use relance_connectors::formats::bank;
use relance_connectors::formats::diag::{Diagnostic, Severity};
use relance_connectors::formats::einvoice;
use relance_core::{Customer, Invoice, Receipt};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What one file gave.
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    /// Customers (buyers of the invoices).
    pub customers: Vec<Customer>,
    /// Invoices and credit notes.
    pub invoices: Vec<Invoice>,
    /// Bank receipts.
    pub receipts: Vec<Receipt>,
    /// Findings.
    pub diagnostics: Vec<Diagnostic>,
    /// Why the file cannot be used at all (then nothing else is set).
    pub unusable: Option<String>,
}

use relance_connectors::systems::folder::unusable_reason as reason_of;

/// Parses a bank statement file.
pub fn load_bank_bytes(name: &str, bytes: &[u8]) -> Loaded {
    let f = bank::parse(name, bytes);
    if !bank::is_usable(&f) {
        return Loaded {
            unusable: Some(reason_of(name, &f.diagnostics)),
            diagnostics: f.diagnostics,
            ..Default::default()
        };
    }
    Loaded {
        receipts: f.receipts(),
        diagnostics: f.diagnostics,
        ..Default::default()
    }
}

/// Parses an e-invoice file (Factur-X/ZUGFeRD PDF, CII, UBL).
pub fn load_einvoice_bytes(name: &str, bytes: &[u8]) -> Loaded {
    let parsed = einvoice::parse(name, bytes);
    if !einvoice::is_usable(&parsed) {
        return Loaded {
            unusable: Some(reason_of(name, &parsed.diagnostics)),
            diagnostics: parsed.diagnostics,
            ..Default::default()
        };
    }
    let mut out = Loaded {
        diagnostics: parsed.diagnostics.clone(),
        ..Default::default()
    };
    for doc in &parsed.documents {
        let (invoice, customer) = einvoice::to_core(doc);
        out.invoices.push(invoice);
        out.customers.push(customer);
    }
    out
}

/// Every regular file under `dir`, recursively, sorted (hidden files skipped).
pub fn files_under(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let ft = e.file_type()?;
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                out.push(e.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The ledger of an offline run: every invoice under `invoices` and every receipt of `bank`.
#[derive(Clone, Debug, Default)]
pub struct OfflineLedger {
    /// Customers, one per id (the first file naming a customer wins; later ones add IBANs).
    pub customers: Vec<Customer>,
    /// Invoices, one per id (a second file with the same number is reported and skipped).
    pub invoices: Vec<Invoice>,
    /// Receipts, deduplicated across files by their keys.
    pub receipts: Vec<Receipt>,
    /// Files that could not be used, with the reason.
    pub rejected: Vec<(String, String)>,
    /// Other findings, per file.
    pub warnings: Vec<String>,
}

/// Reads an invoice directory and bank files.
pub fn load(invoices: &Path, banks: &[PathBuf]) -> anyhow::Result<OfflineLedger> {
    let mut out = OfflineLedger::default();
    let mut customers: BTreeMap<String, Customer> = BTreeMap::new();
    let mut invs: BTreeMap<String, Invoice> = BTreeMap::new();
    for f in files_under(invoices)? {
        let name = f.display().to_string();
        let bytes = std::fs::read(&f).with_context(|| format!("reading {name}"))?;
        let l = load_einvoice_bytes(&name, &bytes);
        if let Some(r) = l.unusable {
            out.rejected.push((name, r));
            continue;
        }
        for d in l
            .diagnostics
            .iter()
            .filter(|d| d.severity >= Severity::Warning)
        {
            out.warnings.push(format!(
                "{name}: {:?} {} at {}: {}",
                d.severity, d.rule, d.path, d.message
            ));
        }
        for c in l.customers {
            customers.entry(c.id.as_str().to_owned()).or_insert(c);
        }
        for i in l.invoices {
            if invs.contains_key(i.id.as_str()) {
                out.warnings.push(format!(
                    "{name}: invoice {} already read from another file, skipped",
                    i.id
                ));
                continue;
            }
            invs.insert(i.id.as_str().to_owned(), i);
        }
    }
    let mut seen = std::collections::HashSet::new();
    for f in banks {
        let name = f.display().to_string();
        let bytes = std::fs::read(f).with_context(|| format!("reading {name}"))?;
        let parsed = bank::parse(&name, &bytes);
        if !bank::is_usable(&parsed) {
            out.rejected
                .push((name.clone(), reason_of(&name, &parsed.diagnostics)));
            continue;
        }
        for k in parsed.keyed_receipts() {
            if seen.insert(k.key) {
                out.receipts.push(k.receipt);
            }
        }
    }
    out.customers = customers.into_values().collect();
    out.invoices = invs.into_values().collect();
    Ok(out)
}
