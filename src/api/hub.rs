//! The daemon's companies as the API reaches them: for each company this instance runs, a
//! channel into its task (to run a cycle now, or a job between two cycles, never beside one),
//! the count of cycles done here and the last cycle's report.
//!
//! A job runs inside the company's task, with the cycle's context (its store is the lease's
//! fenced store), so anything the API asks of a company is serialised with its cycles.

use crate::daemon::{CycleContext, CycleReport};
use chrono::{DateTime, Utc};
use relance_core::CompanyId;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use tokio::sync::{mpsc, oneshot};

/// Work for a company's task between cycles.
pub type Job = Box<dyn FnOnce(CycleContext) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// What the API asks of a company's task.
pub enum Request {
    /// Run a cycle now; the report comes back.
    Cycle(oneshot::Sender<Result<CycleReport, String>>),
    /// Run this between two cycles.
    Job(Job),
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Request::Cycle(_) => "Request::Cycle",
            Request::Job(_) => "Request::Job",
        })
    }
}

/// The last cycle of a company on this instance.
#[derive(Clone, Debug)]
pub struct LastCycle {
    /// When it ended.
    pub at: DateTime<Utc>,
    /// Its report, or its error.
    pub report: Result<CycleReport, String>,
}

#[derive(Debug)]
struct Entry {
    tx: Option<mpsc::Sender<Request>>,
    generation: u64,
    last: Option<LastCycle>,
}

/// Why the hub could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The company does not run on this instance (another one holds its lease, or none).
    #[error("company {0} does not run on this instance (its lease is held elsewhere or it is not configured)")]
    NotHere(String),
    /// The company's task stopped before answering.
    #[error("company {0}: its task stopped before answering")]
    Gone(String),
}

/// The companies this instance runs.
#[derive(Debug, Default)]
pub struct Hub {
    inner: Mutex<BTreeMap<CompanyId, Entry>>,
}

impl Hub {
    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<CompanyId, Entry>) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// A company's task started here, listening on `tx`.
    pub fn attach(&self, company: &CompanyId, tx: mpsc::Sender<Request>) {
        self.with(|m| {
            m.entry(company.clone())
                .or_insert(Entry {
                    tx: None,
                    generation: 0,
                    last: None,
                })
                .tx = Some(tx)
        });
    }

    /// A company's task stopped here (removed, lease lost or shed).
    pub fn detach(&self, company: &CompanyId) {
        self.with(|m| {
            if let Some(e) = m.get_mut(company) {
                e.tx = None;
            }
        });
    }

    /// A cycle of `company` ended here.
    pub fn cycled(
        &self,
        company: &CompanyId,
        at: DateTime<Utc>,
        report: Result<CycleReport, String>,
    ) {
        self.with(|m| {
            let e = m.entry(company.clone()).or_insert(Entry {
                tx: None,
                generation: 0,
                last: None,
            });
            e.generation += 1;
            e.last = Some(LastCycle { at, report });
        });
    }

    /// True while the company runs here.
    pub fn runs_here(&self, company: &CompanyId) -> bool {
        self.with(|m| m.get(company).is_some_and(|e| e.tx.is_some()))
    }

    /// Cycles done here (`None`: the company does not run here).
    pub fn generation(&self, company: &CompanyId) -> Option<u64> {
        self.with(|m| {
            m.get(company)
                .filter(|e| e.tx.is_some())
                .map(|e| e.generation)
        })
    }

    /// The last cycle done here.
    pub fn last(&self, company: &CompanyId) -> Option<LastCycle> {
        self.with(|m| m.get(company).and_then(|e| e.last.clone()))
    }

    fn sender(&self, company: &CompanyId) -> Result<mpsc::Sender<Request>, HubError> {
        self.with(|m| m.get(company).and_then(|e| e.tx.clone()))
            .ok_or_else(|| HubError::NotHere(company.to_string()))
    }

    /// Runs a cycle of `company` now (after the one in progress, if any) and returns its report.
    pub async fn run_cycle(
        &self,
        company: &CompanyId,
    ) -> Result<Result<CycleReport, String>, HubError> {
        let tx = self.sender(company)?;
        let (reply, rx) = oneshot::channel();
        tx.send(Request::Cycle(reply))
            .await
            .map_err(|_| HubError::Gone(company.to_string()))?;
        rx.await.map_err(|_| HubError::Gone(company.to_string()))
    }

    /// Runs `job` in `company`'s task between two cycles and returns what it gives.
    pub async fn run_job<T, F, Fut>(&self, company: &CompanyId, job: F) -> Result<T, HubError>
    where
        T: Send + 'static,
        F: FnOnce(CycleContext) -> Fut + Send + 'static,
        Fut: Future<Output = T> + Send + 'static,
    {
        let tx = self.sender(company)?;
        let (reply, rx) = oneshot::channel();
        let job: Job = Box::new(move |ctx| {
            Box::pin(async move {
                let _ = reply.send(job(ctx).await);
            })
        });
        tx.send(Request::Job(job))
            .await
            .map_err(|_| HubError::Gone(company.to_string()))?;
        rx.await.map_err(|_| HubError::Gone(company.to_string()))
    }
}
