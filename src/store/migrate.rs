//! `relance store migrate`: copies every record of one store into another (sled to
//! PostgreSQL when an install grows past one machine, or back), then checks the copy: the
//! record counts and a content digest of each company ([`super::company_digest`]) must be
//! equal on both sides.
//!
//! The target must hold no data (refused otherwise, unless the caller passes a way to clear
//! it: `--overwrite`). Records are copied through the [`Store`] trait in batches of
//! [`CHUNK`]; sequence numbers (audit log, inbox) come out equal because the target assigns
//! them in the same order from 1. A copy interrupted midway is finished by running the
//! command again with `--overwrite`. Run it with the daemons stopped.

use super::{company_digest, Batch, CompanyCounts, Store, StoreError};
use relance_core::CompanyId;

/// Records per target commit.
pub const CHUNK: usize = 5_000;

/// What was copied, per company: counts and the digest both sides agree on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MigrateReport {
    /// Per company.
    pub companies: Vec<(CompanyCounts, String)>,
    /// Shared documents copied.
    pub documents: usize,
}

fn chunks<T: Clone>(items: &[T], put: impl Fn(&mut Batch, Vec<T>)) -> Vec<Batch> {
    items
        .chunks(CHUNK)
        .map(|c| {
            let mut b = Batch::default();
            put(&mut b, c.to_vec());
            b
        })
        .collect()
}

/// Deletes one company's records from a target (`--overwrite`).
pub type Clear<'a> = &'a dyn Fn(&CompanyId) -> Result<(), StoreError>;

/// Copies `from` into `to` and checks the copy. With `clear`, companies (and documents)
/// already in the target are first deleted with it; without, a non-empty target is refused.
pub fn migrate(
    from: &dyn Store,
    to: &dyn Store,
    clear: Option<Clear<'_>>,
) -> Result<MigrateReport, StoreError> {
    let existing = to.companies()?;
    let namespaces = to.document_namespaces()?;
    match clear {
        None if !existing.is_empty() => {
            return Err(StoreError::TargetNotEmpty(format!(
                "{} companies ({}…)",
                existing.len(),
                existing[0]
            )))
        }
        None if !namespaces.is_empty() => {
            return Err(StoreError::TargetNotEmpty(format!(
                "documents ({})",
                namespaces.join(", ")
            )))
        }
        None => {}
        Some(clear) => {
            for c in &existing {
                clear(c)?;
            }
            for ns in &namespaces {
                for (k, _) in to.documents(ns)? {
                    to.put_document(ns, &k, None)?;
                }
            }
        }
    }
    let mut report = MigrateReport::default();
    for c in from.companies()? {
        copy_company(from, to, &c)?;
        let (want, want_digest) = company_digest(from, &c)?;
        let (got, got_digest) = company_digest(to, &c)?;
        if want != got || want_digest != got_digest {
            return Err(StoreError::Migration {
                from: 0,
                to: 0,
                key: c.to_string(),
                reason: format!(
                    "the copy differs from the source: source {want:?} digest {want_digest}, \
                     target {got:?} digest {got_digest}"
                ),
            });
        }
        report.companies.push((got, got_digest));
    }
    for ns in from.document_namespaces()? {
        for (k, d) in from.documents(&ns)? {
            to.put_document(&ns, &k, Some(d))?;
            report.documents += 1;
        }
    }
    to.flush()?;
    Ok(report)
}

fn copy_company(from: &dyn Store, to: &dyn Store, c: &CompanyId) -> Result<(), StoreError> {
    let mut batches = Vec::new();
    batches.extend(chunks(&from.customers(c)?, |b, v| b.customers = v));
    batches.extend(chunks(&from.invoices(c)?, |b, v| b.invoices = v));
    batches.extend(chunks(&from.receipts(c)?, |b, v| b.receipts = v));
    batches.extend(chunks(&from.allocations(c)?, |b, v| b.allocations = v));
    batches.extend(chunks(&from.cursors(c)?, |b, v| b.cursors = v));
    batches.extend(chunks(&from.seen_files(c)?, |b, v| b.seen_files = v));
    batches.extend(chunks(&from.outbox(c)?, |b, v| b.outbox_new = v));
    batches.extend(chunks(&from.dead_letters(c)?, |b, v| b.dead_letters = v));
    batches.extend(chunks(&from.provisions(c)?, |b, v| b.provisions = v));
    for b in batches {
        to.commit(c, b)?;
    }
    let mut next = 0u64;
    loop {
        let page = from.audit(c, next, CHUNK)?;
        let Some(last) = page.last() else { break };
        next = last.seq + 1;
        let b = Batch {
            audit: page.into_iter().map(|e| e.event).collect(),
            ..Batch::default()
        };
        to.commit(c, b)?;
    }
    let mut done = Vec::new();
    for e in from.inbox(c, 0, usize::MAX, false)? {
        let seq = to
            .inbox_record(c, e.item)?
            .ok_or_else(|| StoreError::Migration {
                from: 0,
                to: 0,
                key: format!("{c}/inbox/{}", e.seq),
                reason: "the target already has this inbox key".into(),
            })?;
        if let Some(at) = e.done_at {
            done.push((seq, at));
        }
    }
    for chunk in done.chunks(CHUNK) {
        let b = Batch {
            inbox_done: chunk.to_vec(),
            ..Batch::default()
        };
        to.commit(c, b)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AuditEvent, Document, InboxItem, SledStore};
    use chrono::{TimeZone, Utc};
    use relance_connectors::contract::Cursor;

    #[test]
    fn sled_to_sled_copy_is_checked_and_a_full_target_refused() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let from = SledStore::open(a.path()).unwrap();
        let to = SledStore::open(b.path()).unwrap();
        let c = CompanyId::new("acme");
        let at = Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap();
        let mut batch = Batch::default();
        batch.cursors.push(("src".into(), Cursor("9".into())));
        for i in 0..(CHUNK + 3) {
            batch.audit.push(AuditEvent {
                at,
                kind: "k".into(),
                subject: i.to_string(),
                summary: String::new(),
                explanation: serde_json::Value::Null,
            });
        }
        from.commit(&c, batch).unwrap();
        let item = InboxItem {
            key: "d".into(),
            kind: "decision".into(),
            recorded_at: at,
            actor: "a".into(),
            body: serde_json::Value::Null,
        };
        from.inbox_record(&c, item).unwrap();
        from.commit(
            &c,
            Batch {
                inbox_done: vec![(1, at)],
                ..Batch::default()
            },
        )
        .unwrap();
        let doc = Document {
            value: serde_json::json!({"u": 1}),
            expires_at: None,
        };
        from.put_document("users", "alice", Some(doc)).unwrap();
        let r = migrate(&from, &to, None).unwrap();
        assert_eq!(r.companies.len(), 1);
        assert_eq!(r.companies[0].0.audit, (CHUNK + 3) as u64);
        assert_eq!(r.documents, 1);
        assert_eq!(
            company_digest(&from, &c).unwrap(),
            company_digest(&to, &c).unwrap()
        );
        let err = migrate(&from, &to, None).unwrap_err();
        assert!(matches!(err, StoreError::TargetNotEmpty(_)), "{err}");
    }
}
