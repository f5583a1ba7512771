//! Store schema versions and the migrations between them, run when a store is opened.
//!
//! The schema version lives in sled's default tree under `schema_version` (ASCII decimal).
//! History:
//! - **1**: each value was the bare JSON of its record; no index of pending outbox entries.
//! - **2**: each value is an envelope `{"v":2,"body":…}` so a record is never read by a build
//!   that does not know its version; `obxp/<key>` indexes pending outbox entries.
//! - **3** (current): secondary indexes of the allocations of an invoice, the invoices of a
//!   customer, the receipts of a transaction and the audit entries of a kind (see
//!   [`super::sled`]); the records themselves are unchanged.
//!
//! Migrations are crash-safe: each company tree is rewritten in one atomic batch that also sets
//! the tree's own marker `meta/schema`, so a migration interrupted by a crash resumes with the
//! trees not yet done, and no record is wrapped twice. The global version is written last.
//! A store with a version above [`SCHEMA_VERSION`] is refused; a store with data but no
//! version is refused too (its layout would be a guess).

use super::sled::{index_key_of, printable, COMPANY_TREE, INDEXED, META, OBX, OBX_PENDING};
use super::{
    AllocationRecord, AuditEntry, CustomerRecord, DeadLetter, InvoiceRecord, OutboxEntry,
    ProvisionState, ReceiptRecord, SeenFile, StoreError,
};
use relance_connectors::contract::Cursor;
use serde::Deserialize;
use std::path::Path;

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = 3;
/// The record envelope version this build writes and reads.
pub const RECORD_VERSION: u32 = 2;
/// Key of the schema version in the default tree.
pub(crate) const VERSION_KEY: &[u8] = b"schema_version";
/// Key of a company tree's own schema marker, written by migrations.
pub(crate) const TREE_SCHEMA_KEY: &[u8] = b"meta/schema";

/// What opening did to the schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prepared {
    /// A new, empty store was stamped with the current version.
    Created,
    /// The store was already at the current version.
    Current,
    /// The store was migrated from this version.
    Migrated {
        /// The version found on disk.
        from: u32,
    },
}

fn parse_version(bytes: &[u8]) -> Option<u32> {
    std::str::from_utf8(bytes).ok()?.trim().parse().ok()
}

/// Checks the schema of an opened database and migrates it to [`SCHEMA_VERSION`].
pub fn prepare(db: &::sled::Db, path: &Path) -> Result<Prepared, StoreError> {
    let found = match db.get(VERSION_KEY)? {
        Some(v) => parse_version(&v).ok_or_else(|| StoreError::UnknownSchema {
            path: path.display().to_string(),
        })?,
        None => {
            let default_name = db.name();
            let mut has_data = !db.is_empty();
            for name in db.tree_names() {
                if name != default_name && !db.open_tree(&name)?.is_empty() {
                    has_data = true;
                }
            }
            if has_data {
                return Err(StoreError::UnknownSchema {
                    path: path.display().to_string(),
                });
            }
            db.insert(VERSION_KEY, SCHEMA_VERSION.to_string().as_bytes())?;
            db.flush()?;
            return Ok(Prepared::Created);
        }
    };
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found == SCHEMA_VERSION {
        return Ok(Prepared::Current);
    }
    let mut version = found;
    while version < SCHEMA_VERSION {
        match version {
            1 => migrate_1_to_2(db)?,
            2 => migrate_2_to_3(db)?,
            other => {
                return Err(StoreError::Migration {
                    from: other,
                    to: other + 1,
                    key: String::new(),
                    reason: "no migration from this version (it was never released)".into(),
                })
            }
        }
        version += 1;
        db.insert(VERSION_KEY, version.to_string().as_bytes())?;
        db.flush()?;
    }
    Ok(Prepared::Migrated { from: found })
}

/// Checks that a schema-1 body reads as the record type its key prefix stands for, so the
/// migration never wraps something it would later misread.
fn check_v1_body(key: &[u8], body: &serde_json::Value) -> Result<bool, String> {
    fn is<T: serde::de::DeserializeOwned>(body: &serde_json::Value) -> Result<(), String> {
        T::deserialize(body).map(|_| ()).map_err(|e| e.to_string())
    }
    let prefix = key
        .iter()
        .position(|&b| b == b'/')
        .map(|i| &key[..=i])
        .unwrap_or(key);
    match prefix {
        b"cust/" => is::<CustomerRecord>(body),
        b"inv/" => is::<InvoiceRecord>(body),
        b"rcpt/" => is::<ReceiptRecord>(body),
        b"alloc/" => is::<AllocationRecord>(body),
        b"cur/" => is::<Cursor>(body),
        b"seen/" => is::<SeenFile>(body),
        b"obx/" => {
            return OutboxEntry::deserialize(body)
                .map(|e| e.is_pending())
                .map_err(|e| e.to_string())
        }
        b"dead/" => is::<DeadLetter>(body),
        b"aud/" => is::<AuditEntry>(body),
        b"prov/" => is::<ProvisionState>(body),
        _ => Err("unknown key prefix".to_owned()),
    }
    .map(|()| false)
}

/// Schema 1 → 2: wrap every value in a version envelope and build the pending-outbox index.
fn migrate_1_to_2(db: &::sled::Db) -> Result<(), StoreError> {
    let err = |key: &[u8], reason: String| StoreError::Migration {
        from: 1,
        to: 2,
        key: printable(key),
        reason,
    };
    migrate_trees(db, 2, 1, |tree, batch| {
        for kv in tree.iter() {
            let (k, v) = kv?;
            if k.starts_with(META) {
                continue;
            }
            let body: serde_json::Value =
                serde_json::from_slice(&v).map_err(|e| err(&k, e.to_string()))?;
            let pending = check_v1_body(&k, &body).map_err(|e| err(&k, e))?;
            let wrapped = serde_json::to_vec(&serde_json::json!({ "v": 2, "body": body }))
                .map_err(|e| err(&k, e.to_string()))?;
            if pending {
                let mut pk = OBX_PENDING.to_vec();
                pk.extend_from_slice(&k[OBX.len()..]);
                batch.insert(pk, &[] as &[u8]);
            }
            batch.insert(k, wrapped);
        }
        Ok(())
    })
}

/// Schema 2 → 3: build the secondary indexes of every company tree, each tree in one batch
/// with its marker (an interrupted run resumes with the trees not yet done; an index entry
/// written twice is the same entry).
fn migrate_2_to_3(db: &::sled::Db) -> Result<(), StoreError> {
    migrate_trees(db, 3, 2, |tree, batch| {
        for prefix in INDEXED {
            for kv in tree.scan_prefix(prefix) {
                let (k, v) = kv?;
                let x = index_key_of(&k, &v).map_err(|e| StoreError::Migration {
                    from: 2,
                    to: 3,
                    key: printable(&k),
                    reason: e.to_string(),
                })?;
                if let Some(x) = x {
                    batch.insert(x, &[] as &[u8]);
                }
            }
        }
        Ok(())
    })
}

/// Runs `step` on every company tree whose own marker is below `to` (a tree without a marker
/// is at `untagged`), in one atomic batch per tree that also sets the marker to `to`, so an
/// interrupted migration resumes with the trees not yet done; then flushes.
fn migrate_trees(
    db: &::sled::Db,
    to: u32,
    untagged: u32,
    mut step: impl FnMut(&::sled::Tree, &mut ::sled::Batch) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    for name in db.tree_names() {
        if !name.starts_with(COMPANY_TREE.as_bytes()) {
            continue;
        }
        let tree = db.open_tree(&name)?;
        let done = tree
            .get(TREE_SCHEMA_KEY)?
            .and_then(|v| parse_version(&v))
            .unwrap_or(untagged);
        if done >= to {
            continue; // done by an earlier, interrupted run of this migration
        }
        let mut batch = ::sled::Batch::default();
        step(&tree, &mut batch)?;
        batch.insert(TREE_SCHEMA_KEY, to.to_string().as_bytes());
        tree.apply_batch(batch)?;
    }
    db.flush()?;
    Ok(())
}

/// Fixtures shared by the store's unit tests.
#[cfg(test)]
pub(crate) mod tests_support {
    use chrono::NaiveDate;
    use relance_core::{
        Currency, Invoice, InvoiceId, InvoiceKind, InvoiceStatus, Receipt, TransactionId,
    };
    use rust_decimal::Decimal;

    /// A receipt of `cents` with the bank id `id`.
    pub(crate) fn receipt(id: &str, cents: i64) -> Receipt {
        Receipt {
            id: TransactionId::new(id),
            account: "FR7630006000011234567890189".into(),
            booking_date: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
            value_date: None,
            amount: Decimal::new(cents, 2),
            currency: Currency::EUR,
            counterparty_name: Some("ACME".into()),
            counterparty_iban: None,
            remittance: "F1".into(),
            structured_ref: None,
            end_to_end_id: None,
            mandate_id: None,
            bank_code: None,
            return_reason: None,
            reversal: false,
            source: "stmt.xml#1".into(),
        }
    }

    /// An open 120 € invoice due 2026-01-15.
    pub(crate) fn invoice(id: &str) -> Invoice {
        let d = NaiveDate::from_ymd_opt(2026, 1, 15).unwrap();
        Invoice {
            id: InvoiceId::new(id),
            number: id.to_owned(),
            kind: InvoiceKind::Invoice,
            type_code: 380,
            issue_date: d,
            due_date: Some(d),
            instalments: vec![],
            currency: Currency::EUR,
            total_without_vat: Decimal::new(10000, 2),
            total_vat: Decimal::new(2000, 2),
            total_with_vat: Decimal::new(12000, 2),
            amount_due: Decimal::new(12000, 2),
            customer: "C1".into(),
            buyer_reference: None,
            order_reference: None,
            remittance_reference: None,
            payment_iban: None,
            mandate_id: None,
            status: InvoiceStatus::Open,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::invoice;
    use super::*;
    use crate::store::{AuditEvent, OutboxState, SledStore, Store};
    use chrono::{NaiveDate, TimeZone, Utc};
    use relance_connectors::contract::{IdempotencyKey, WriteCommand};
    use relance_core::{CompanyId, InvoiceId};

    /// Opens the database itself, waiting for sled's threads to release the lock of a store
    /// dropped just before (see `SledStore::open`).
    fn raw_open(dir: &Path) -> ::sled::Db {
        for _ in 0..200 {
            match ::sled::open(dir) {
                Ok(db) => return db,
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
            }
        }
        ::sled::open(dir).unwrap()
    }

    /// Writes a store the way schema 1 did: bare JSON values, no pending index.
    fn write_v1_store(dir: &Path) -> (InvoiceRecord, OutboxEntry, OutboxEntry, AuditEntry) {
        let db = raw_open(dir);
        db.insert(VERSION_KEY, b"1" as &[u8]).unwrap();
        let tree = db.open_tree("co/acme").unwrap();
        let inv = InvoiceRecord {
            source: "tryton".into(),
            content_hash: "h1".into(),
            invoice: invoice("F1"),
        };
        tree.insert(b"inv/F1", serde_json::to_vec(&inv).unwrap())
            .unwrap();
        let at = Utc.with_ymd_and_hms(2026, 2, 1, 9, 0, 0).unwrap();
        let cmd = WriteCommand::SetDunningLevel {
            invoice: "F1".into(),
            level: 1,
            date: NaiveDate::from_ymd_opt(2026, 2, 1).unwrap(),
        };
        let pending = OutboxEntry::new(
            IdempotencyKey("k-pending".into()),
            "tryton",
            cmd.clone(),
            at,
        );
        let mut done = OutboxEntry::new(IdempotencyKey("k-done".into()), "tryton", cmd, at);
        done.state = OutboxState::Done {
            at,
            remote_ref: relance_connectors::contract::RemoteRef("r1".into()),
            found_applied: false,
        };
        tree.insert(b"obx/k-pending", serde_json::to_vec(&pending).unwrap())
            .unwrap();
        tree.insert(b"obx/k-done", serde_json::to_vec(&done).unwrap())
            .unwrap();
        let audit = AuditEntry {
            seq: 1,
            event: AuditEvent {
                at,
                kind: "dunning.plan".into(),
                subject: "F1".into(),
                summary: "level 1".into(),
                explanation: serde_json::json!({"rule": "D1"}),
            },
        };
        let mut ak = b"aud/".to_vec();
        ak.extend_from_slice(&1u64.to_be_bytes());
        tree.insert(ak, serde_json::to_vec(&audit).unwrap())
            .unwrap();
        tree.insert(b"meta/audit_seq", &1u64.to_be_bytes()).unwrap();
        tree.insert(
            b"cur/tryton",
            serde_json::to_vec(&Cursor("42".into())).unwrap(),
        )
        .unwrap();
        db.flush().unwrap();
        (inv, pending, done, audit)
    }

    #[test]
    fn schema_1_store_is_migrated_not_misread() {
        let dir = tempfile::tempdir().unwrap();
        let (inv, pending, done, audit) = write_v1_store(dir.path());
        let store = SledStore::open(dir.path()).unwrap();
        let c = CompanyId::new("acme");
        assert_eq!(store.invoice(&c, &InvoiceId::new("F1")).unwrap(), Some(inv));
        assert_eq!(
            store.cursor(&c, "tryton").unwrap(),
            Some(Cursor("42".into()))
        );
        assert_eq!(store.outbox(&c).unwrap(), vec![done, pending.clone()]);
        assert_eq!(store.outbox_pending(&c, "tryton").unwrap(), vec![pending]);
        assert_eq!(store.audit(&c, 0, 10).unwrap(), vec![audit]);
        // The audit log goes on after the migrated entries.
        let mut b = crate::store::Batch::default();
        b.audit.push(AuditEvent {
            at: Utc.with_ymd_and_hms(2026, 2, 2, 9, 0, 0).unwrap(),
            kind: "k".into(),
            subject: "s".into(),
            summary: "x".into(),
            explanation: serde_json::Value::Null,
        });
        assert_eq!(store.commit(&c, b).unwrap().audit_seqs, Some((2, 2)));
        drop(store);
        // Reopening finds the current version: nothing is wrapped twice.
        let db = raw_open(dir.path());
        assert_eq!(prepare(&db, dir.path()).unwrap(), Prepared::Current);
    }

    #[test]
    fn interrupted_migration_resumes_without_double_wrapping() {
        let dir = tempfile::tempdir().unwrap();
        let (inv, ..) = write_v1_store(dir.path());
        {
            // Simulate a crash after the company tree was rewritten, before the global
            // version was written: run the tree step alone.
            let db = raw_open(dir.path());
            migrate_1_to_2(&db).unwrap();
            assert_eq!(db.get(VERSION_KEY).unwrap().as_deref(), Some(b"1" as &[u8]));
        }
        let db = raw_open(dir.path());
        assert_eq!(
            prepare(&db, dir.path()).unwrap(),
            Prepared::Migrated { from: 1 }
        );
        drop(db);
        let store = SledStore::open(dir.path()).unwrap();
        let got = store
            .invoice(&CompanyId::new("acme"), &InvoiceId::new("F1"))
            .unwrap();
        assert_eq!(got, Some(inv));
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = raw_open(dir.path());
            db.insert(VERSION_KEY, b"4" as &[u8]).unwrap();
            db.flush().unwrap();
        }
        let err = SledStore::open(dir.path()).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::NewerSchema {
                    found: 4,
                    supported: 3
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn data_without_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = raw_open(dir.path());
            db.open_tree("co/acme")
                .unwrap()
                .insert(b"inv/F1", b"{}" as &[u8])
                .unwrap();
            db.flush().unwrap();
        }
        let err = SledStore::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::UnknownSchema { .. }), "{err}");
    }

    #[test]
    fn v1_record_of_the_wrong_shape_stops_the_migration() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = raw_open(dir.path());
            db.insert(VERSION_KEY, b"1" as &[u8]).unwrap();
            db.open_tree("co/acme")
                .unwrap()
                .insert(b"inv/F1", b"{\"x\":1}" as &[u8])
                .unwrap();
            db.flush().unwrap();
        }
        let err = SledStore::open(dir.path()).unwrap_err();
        assert!(
            matches!(err, StoreError::Migration { from: 1, to: 2, .. }),
            "{err}"
        );
    }

    #[test]
    fn record_of_another_version_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        drop(store);
        {
            let db = raw_open(dir.path());
            db.open_tree("co/acme")
                .unwrap()
                .insert(b"cur/x", b"{\"v\":3,\"body\":\"1\"}" as &[u8])
                .unwrap();
            db.flush().unwrap();
        }
        let store = SledStore::open(dir.path()).unwrap();
        let err = store.cursor(&CompanyId::new("acme"), "x").unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::RecordVersion {
                    found: 3,
                    expected: 2,
                    ..
                }
            ),
            "{err}"
        );
    }

    /// A schema-2 store (no secondary indexes) is migrated: the look-ups by customer,
    /// invoice, transaction and audit kind find what was there, and the check finds it whole.
    #[test]
    fn schema_2_store_gets_its_indexes() {
        use crate::store::{AllocationRecord, Batch, ReceiptRecord};
        use relance_core::{CustomerId, TransactionId};
        let dir = tempfile::tempdir().unwrap();
        let c = CompanyId::new("acme");
        {
            let store = SledStore::open(dir.path()).unwrap();
            let mut b = Batch::default();
            for (id, cu) in [("F1", "C1"), ("F2", "C2"), ("F3", "C1")] {
                let mut i = invoice(id);
                i.customer = cu.into();
                b.invoices.push(InvoiceRecord {
                    source: "s".into(),
                    content_hash: id.into(),
                    invoice: i,
                });
            }
            let rr = super::tests_support::receipt("T1", 12000);
            b.receipts.push(ReceiptRecord {
                dedup_key: "acct:T1".into(),
                source: "bank".into(),
                receipt: rr,
            });
            b.allocations.push(AllocationRecord {
                transaction: TransactionId::new("T1"),
                invoice: InvoiceId::new("F3"),
                amount: rust_decimal::Decimal::new(12000, 2),
                auto: true,
                reason: "r".into(),
                evidence: serde_json::Value::Null,
                decided_at: Utc.with_ymd_and_hms(2026, 2, 2, 9, 0, 0).unwrap(),
            });
            for kind in ["a", "b", "a"] {
                b.audit.push(AuditEvent {
                    at: Utc.with_ymd_and_hms(2026, 2, 2, 9, 0, 0).unwrap(),
                    kind: kind.into(),
                    subject: "s".into(),
                    summary: "x".into(),
                    explanation: serde_json::Value::Null,
                });
            }
            store.commit(&c, b).unwrap();
        }
        {
            // What schema 2 wrote: the same records, no index entries.
            let db = raw_open(dir.path());
            let tree = db.open_tree("co/acme").unwrap();
            for prefix in [&b"xai/"[..], b"xic/", b"xrt/", b"xak/"] {
                for kv in tree.scan_prefix(prefix) {
                    tree.remove(kv.unwrap().0).unwrap();
                }
            }
            db.insert(VERSION_KEY, b"2" as &[u8]).unwrap();
            db.flush().unwrap();
            assert_eq!(
                prepare(&db, dir.path()).unwrap(),
                Prepared::Migrated { from: 2 }
            );
        }
        let store = SledStore::open(dir.path()).unwrap();
        let ids = |v: Vec<InvoiceRecord>| v.into_iter().map(|r| r.invoice.id.0).collect::<Vec<_>>();
        assert_eq!(
            ids(store
                .invoices_of_customer(&c, &CustomerId::new("C1"))
                .unwrap()),
            ["F1", "F3"]
        );
        assert_eq!(
            store
                .allocations_of_invoice(&c, &InvoiceId::new("F3"))
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            store
                .receipts_of_transaction(&c, &TransactionId::new("T1"))
                .unwrap()
                .len(),
            1
        );
        let seqs: Vec<u64> = store
            .audit_by_kind(&c, &["a"], 1, 10)
            .unwrap()
            .into_iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, [1, 3]);
        let report = store.verify().unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
    }
}
