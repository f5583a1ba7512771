//! What the console derives from the store beyond the read model — the letters waiting for
//! approval, the next run, the probable payments, the closing drafts, the home page's series —
//! computed once per read-model generation and shared by every request until the company's
//! view is rebuilt (after a cycle) or a decision is recorded.
//!
//! A generation is the view's identity (its `Arc` and build instant) with the number of
//! decisions recorded on it: anything that changes what these queries answer changes one of
//! them. Only one computation of a query runs at a time per company; the others wait for it.

use crate::api::model::CompanyView;
use relance_core::CompanyId;
use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A read-model generation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Stamp {
    view: usize,
    built_at: chrono::DateTime<chrono::Utc>,
    decisions: usize,
}

impl Stamp {
    /// The generation of `view` with `decisions` decisions recorded.
    pub fn of(view: &Arc<CompanyView>, decisions: usize) -> Stamp {
        Stamp {
            view: Arc::as_ptr(view) as usize,
            built_at: view.built_at,
            decisions,
        }
    }
}

type Value = Arc<dyn Any + Send + Sync>;
type Key = (CompanyId, String);

/// The cache: per company and query name, the generation and its value.
#[derive(Debug, Default)]
pub struct Derived {
    values: Mutex<HashMap<Key, (Stamp, ValueBox)>>,
    locks: Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>,
}

struct ValueBox(Value);

impl std::fmt::Debug for ValueBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("…")
    }
}

impl Derived {
    fn hit<T: Send + Sync + 'static>(&self, k: &Key, stamp: &Stamp) -> Option<Arc<T>> {
        let values = self.values.lock().unwrap_or_else(|p| p.into_inner());
        let (s, v) = values.get(k)?;
        if s != stamp {
            return None;
        }
        v.0.clone().downcast::<T>().ok()
    }

    /// The value of query `name` for `company` at `stamp`: from the cache, or computed by
    /// `compute` on the blocking pool (once, however many requests ask at the same moment).
    pub async fn get<T, F>(
        &self,
        company: &CompanyId,
        name: &str,
        stamp: Stamp,
        compute: F,
    ) -> Result<Arc<T>, String>
    where
        T: Send + Sync + 'static,
        F: FnOnce() -> Result<T, String> + Send + 'static,
    {
        let k = (company.clone(), name.to_owned());
        if let Some(v) = self.hit(&k, &stamp) {
            return Ok(v);
        }
        let lock = self
            .locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(k.clone())
            .or_default()
            .clone();
        let _guard = lock.lock().await;
        if let Some(v) = self.hit(&k, &stamp) {
            return Ok(v);
        }
        let v: Arc<T> = Arc::new(
            tokio::task::spawn_blocking(compute)
                .await
                .map_err(|e| e.to_string())??,
        );
        let boxed: Value = v.clone();
        self.values
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(k, (stamp, ValueBox(boxed)));
        Ok(v)
    }
}
