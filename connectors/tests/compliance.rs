//! The connectors' compliance suite on the connectors that need no server: the folder sources
//! (`einvoice_inbox`, `bank_dir`) and the local folder write-back target. Tryton runs it in
//! `tryton.rs` (fake and real server), SMTP in `smtp.rs` (real server).
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use relance_connectors::contract::{IdempotencyKey, Page, Record, WriteCommand};
use relance_connectors::formats::einvoice::write;
use relance_connectors::systems::folder::{FolderKind, FolderOptions, FolderSource, ImportLedger};
use relance_connectors::systems::local::DirWriteBack;
use relance_connectors::ConnectorError;
use relance_core::{Invoice, InvoiceId};
use relance_testkit::compliance::{self, Fault, SourceHarness, WriteBackHarness};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the pipeline's commit would record, as a folder source reads it back.
#[derive(Default)]
struct Ledger {
    seen: Mutex<HashSet<String>>,
    invoices: Mutex<HashMap<InvoiceId, Invoice>>,
}

impl ImportLedger for Ledger {
    fn seen(&self, hash: &str) -> Result<bool, ConnectorError> {
        Ok(self.seen.lock().unwrap().contains(hash))
    }
    fn invoice(&self, id: &InvoiceId) -> Result<Option<Invoice>, ConnectorError> {
        Ok(self.invoices.lock().unwrap().get(id).cloned())
    }
}

struct Folder {
    dir: tempfile::TempDir,
    ledger: Arc<Ledger>,
    kind: FolderKind,
    /// Records a full pull must give at least.
    records: usize,
    /// Records a page may hold at most.
    max_page: usize,
}

const BATCH: usize = 5;

impl SourceHarness for Folder {
    type Source = FolderSource;
    async fn source(&self) -> Result<FolderSource, ConnectorError> {
        let opts = FolderOptions {
            settle: Duration::ZERO,
            batch_files: BATCH,
            ..FolderOptions::default()
        };
        Ok(FolderSource::new(
            self.dir.path(),
            self.kind,
            opts,
            self.ledger.clone(),
        ))
    }
    async fn source_with_bad_credentials(&self) -> Option<Result<FolderSource, ConnectorError>> {
        None
    }
    fn secrets(&self) -> Vec<String> {
        Vec::new()
    }
    fn max_page(&self) -> usize {
        self.max_page
    }
    fn min_records(&self) -> usize {
        self.records
    }
    fn commit(&self, page: &Page) {
        for f in &page.imported {
            self.ledger.seen.lock().unwrap().insert(f.hash.clone());
        }
        for r in &page.records {
            if let Record::Invoice(i) = r {
                self.ledger
                    .invoices
                    .lock()
                    .unwrap()
                    .insert(i.id.clone(), i.clone());
            }
        }
    }
    fn inject(&self, _: Fault) -> bool {
        false
    }
}

#[tokio::test]
async fn folder_source_passes_the_compliance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let files = 3 * BATCH + 2;
    for i in 0..files {
        std::fs::write(
            dir.path().join(format!("f{i:03}.xml")),
            write::cii(&write::sample(i)),
        )
        .unwrap();
    }
    let h = Folder {
        dir,
        ledger: Arc::default(),
        kind: FolderKind::Einvoices,
        records: 2 * files,
        max_page: 2 * BATCH, // a customer and an invoice per file
    };
    let report = compliance::source_suite(&h)
        .await
        .unwrap_or_else(|e| panic!("folder compliance: {e}"));
    eprintln!("folder compliance:\n{report}");
    assert_eq!(
        std::fs::read_dir(h.dir.path().join("done"))
            .unwrap()
            .count(),
        files,
        "every file moved once acknowledged"
    );
}

#[tokio::test]
async fn bank_folder_source_passes_the_compliance_suite() {
    // Statements of different accounts and days (an intraday report of the same day would
    // repeat entries of the statement: the same keys, deduplicated by the store).
    let dir = tempfile::tempdir().unwrap();
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bank");
    let names = [
        "camt053_v08_batch.xml",
        "mt940_fr_de.sta",
        "cfonb120_fr.txt",
        "ofx211_xml.ofx",
    ];
    for n in names {
        std::fs::copy(fixtures.join(n), dir.path().join(n)).unwrap();
    }
    let h = Folder {
        dir,
        ledger: Arc::default(),
        kind: FolderKind::Bank,
        records: 6,
        max_page: 10_000,
    };
    let report = compliance::source_suite(&h)
        .await
        .unwrap_or_else(|e| panic!("bank folder compliance: {e}"));
    eprintln!("bank folder compliance:\n{report}");
    let moved = std::fs::read_dir(h.dir.path().join("done")).map_or(0, |d| d.count())
        + std::fs::read_dir(h.dir.path().join("quarantine")).map_or(0, |d| d.count());
    assert!(moved >= names.len(), "every file moved once acknowledged");
}

struct Local {
    dir: tempfile::TempDir,
}

impl WriteBackHarness for Local {
    type Target = DirWriteBack;
    async fn target(&self) -> Result<DirWriteBack, ConnectorError> {
        Ok(DirWriteBack::new(self.dir.path()))
    }
    async fn target_with_bad_credentials(&self) -> Option<Result<DirWriteBack, ConnectorError>> {
        None
    }
    fn secrets(&self) -> Vec<String> {
        Vec::new()
    }
    fn commands(&self) -> Vec<(IdempotencyKey, WriteCommand)> {
        vec![
            (
                IdempotencyKey::derive("acme", "task", &["call", "C1"]),
                WriteCommand::CreateTask {
                    assignee: None,
                    title: "Appeler le client".into(),
                    details: "Relance amiable".into(),
                },
            ),
            (
                IdempotencyKey::derive("acme", "mail", &["C1"]),
                WriteCommand::SendEmail {
                    to: vec!["compta@client.example".into()],
                    subject: "Relance".into(),
                    body: "Bonjour".into(),
                    attachments: vec![("lettre.pdf".into(), b"%PDF-1.4".to_vec())],
                },
            ),
        ]
    }
    fn refused_command(&self) -> Option<(IdempotencyKey, WriteCommand)> {
        None
    }
    async fn effects(&self, key: &IdempotencyKey) -> Result<usize, ConnectorError> {
        let t = DirWriteBack::new(self.dir.path());
        let named = t.entry_dir(key);
        Ok(std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter(|e| e.as_ref().is_ok_and(|e| e.path() == named))
            .count())
    }
    fn inject(&self, _: Fault) -> bool {
        false
    }
}

#[tokio::test]
async fn local_folder_target_passes_the_compliance_suite() {
    let h = Local {
        dir: tempfile::tempdir().unwrap(),
    };
    let report = compliance::writeback_suite(&h)
        .await
        .unwrap_or_else(|e| panic!("local target compliance: {e}"));
    eprintln!("local target compliance:\n{report}");
}
