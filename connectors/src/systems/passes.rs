//! Incremental passes over streams ordered by `(last change, id)`, shared by the ERP
//! connectors whose records carry a modification timestamp (Odoo `write_date`, Dolibarr `tms`).
//!
//! A *pass* reads each stream in order, in bounded pages, after the stream's position; when it
//! ends, each stream restarts from the earlier of its last timestamp and `server clock at pass
//! start − overlap`: a transaction stamps its rows with its start time and may commit after a
//! reader passed that time, and two changes in the same second are both read (the position is
//! `(t, id)`, rows at `t` with a greater id come next). Rows read twice are emitted twice;
//! callers upsert by id.
//!
//! A stream may instead be a *sweep*: every row of a set (the open invoices) re-read by
//! offset, at most once every `sweep_every`, for changes the timestamp misses (Dolibarr does not
//! touch an invoice's `tms` on a partial payment; Odoo's stored computed `amount_residual` may
//! not bump `write_date`). The first pass reads everything and counts as a sweep.
//!
//! The cursor is JSON text, opaque to callers.

use crate::contract::{Cursor, Page, Record};
use chrono::{Duration, NaiveDateTime};
use serde::{Deserialize, Serialize};
use std::future::Future;

/// Position in a keyset stream: rows after `(t, id)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// Timestamp (naive UTC, or the server's own time zone: the stream decides).
    pub t: NaiveDateTime,
    /// Tie-break id.
    pub id: i64,
}

/// How a stream is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// After a `(t, id)` position.
    Keyset,
    /// A full re-read of a set by offset, when due.
    Sweep,
}

/// One page read from a stream.
#[derive(Debug, Default)]
pub struct StreamPage {
    /// The records.
    pub records: Vec<Record>,
    /// Keyset streams: the `(t, id)` of every row read, in order (rows that gave no record too).
    pub positions: Vec<Position>,
    /// Rows read (a full page means more may follow).
    pub rows: usize,
}

/// What a connector provides to [`next_page`].
pub trait Streams: Sync {
    /// Its error.
    type Error: From<CursorError> + Send;
    /// The server's clock now (from an answer's `Date`), when it can tell.
    fn server_now(&self)
        -> impl Future<Output = Result<Option<NaiveDateTime>, Self::Error>> + Send;
    /// Reads up to `limit` rows of stream `stream`: after `after` (keyset) or from `offset`
    /// (sweep).
    fn read(
        &self,
        stream: usize,
        after: Option<&Position>,
        offset: u64,
        limit: u32,
    ) -> impl Future<Output = Result<StreamPage, Self::Error>> + Send;
}

/// A cursor not produced here.
#[derive(Debug, thiserror::Error)]
#[error("invalid cursor: {0}")]
pub struct CursorError(pub String);

/// The state a cursor encodes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassState {
    /// Format version.
    pub v: u32,
    /// Completed passes.
    pub pass: u64,
    /// Stream being read.
    pub stream: usize,
    /// Server clock when this pass started.
    pub started: Option<NaiveDateTime>,
    /// Per stream: position (keyset).
    pub pos: Vec<Option<Position>>,
    /// Per stream: greatest timestamp read in this pass (keyset).
    pub hi: Vec<Option<NaiveDateTime>>,
    /// Per stream: offset reached (sweep).
    pub offset: Vec<u64>,
    /// When the last sweep started (the first pass counts as one).
    pub last_sweep: Option<NaiveDateTime>,
    /// Whether this pass sweeps.
    pub sweeping: bool,
}

impl PassState {
    fn initial(n: usize) -> Self {
        PassState {
            v: 1,
            pass: 0,
            stream: 0,
            started: None,
            pos: vec![None; n],
            hi: vec![None; n],
            offset: vec![0; n],
            last_sweep: None,
            sweeping: false,
        }
    }

    /// Decodes a cursor of `n` streams.
    pub fn decode(c: &Cursor, n: usize) -> Result<Self, CursorError> {
        let s: PassState = serde_json::from_str(&c.0).map_err(|e| CursorError(e.to_string()))?;
        if s.v != 1 || s.pos.len() != n || s.hi.len() != n || s.offset.len() != n || s.stream > n {
            return Err(CursorError(format!(
                "version {} with {} streams, expected 1 with {n}",
                s.v,
                s.pos.len()
            )));
        }
        Ok(s)
    }

    /// The cursor text.
    pub fn encode(&self) -> Cursor {
        Cursor(serde_json::to_string(self).unwrap_or_default())
    }

    fn end_pass(&mut self, overlap: Duration) {
        for i in 0..self.pos.len() {
            if let Some(hi) = self.hi[i] {
                let safe = self.started.map(|s| s - overlap).unwrap_or(hi - overlap);
                if safe < hi {
                    self.pos[i] = Some(Position { t: safe, id: 0 });
                }
            }
            self.hi[i] = None;
            self.offset[i] = 0;
        }
        if self.sweeping || self.pass == 0 {
            self.last_sweep = self.started.or(self.last_sweep);
        }
        self.sweeping = false;
        self.pass += 1;
        self.stream = 0;
        self.started = None;
    }
}

/// The passes' settings.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Rows per request.
    pub limit: u32,
    /// Overlap window.
    pub overlap: Duration,
    /// Shortest time between two sweeps.
    pub sweep_every: Duration,
}

/// Pulls the next page after `from` over `kinds.len()` streams.
pub async fn next_page<S: Streams>(
    s: &S,
    kinds: &[Kind],
    from: Option<&Cursor>,
    settings: Settings,
) -> Result<Page, S::Error> {
    let n = kinds.len();
    let mut st = match from {
        Some(c) => PassState::decode(c, n)?,
        None => PassState::initial(n),
    };
    let limit = settings.limit.max(1);
    loop {
        if st.stream >= n {
            st.end_pass(settings.overlap);
            return Ok(Page::new(Vec::new(), Some(st.encode()), false));
        }
        if st.started.is_none() {
            st.started = s.server_now().await?;
            st.sweeping = match (st.last_sweep, st.started) {
                (Some(last), Some(now)) => now - last >= settings.sweep_every,
                _ => false,
            };
        }
        let i = st.stream;
        let kind = kinds[i];
        if kind == Kind::Sweep && !st.sweeping {
            st.stream += 1;
            continue;
        }
        let page = match kind {
            Kind::Keyset => s.read(i, st.pos[i].as_ref(), 0, limit).await?,
            Kind::Sweep => s.read(i, None, st.offset[i], limit).await?,
        };
        match kind {
            Kind::Keyset => {
                if let Some(last) = page.positions.last() {
                    st.pos[i] = Some(last.clone());
                    let top = page.positions.iter().map(|p| p.t).max();
                    st.hi[i] = st.hi[i].max(top);
                }
            }
            Kind::Sweep => st.offset[i] += page.rows as u64,
        }
        let full = page.rows >= limit as usize;
        if !full {
            st.stream += 1;
        }
        let mut has_more = full || st.stream < n;
        if st.stream >= n {
            st.end_pass(settings.overlap);
            has_more = false;
        }
        if page.records.is_empty() && has_more {
            continue;
        }
        return Ok(Page::new(page.records, Some(st.encode()), has_more));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use std::sync::Mutex;

    fn t(s: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 11, 16)
            .unwrap()
            .and_hms_opt(8, 0, 0)
            .unwrap()
            + Duration::seconds(i64::from(s))
    }

    /// Rows `(t, id)` of stream 0, and an open set for the sweep (stream 1).
    struct Fake {
        rows: Mutex<Vec<(NaiveDateTime, i64)>>,
        open: Vec<i64>,
        now: Mutex<NaiveDateTime>,
    }

    fn rec(id: i64) -> Record {
        Record::InvoiceRemoved {
            id: id.to_string().into(),
        }
    }

    impl Streams for Fake {
        type Error = CursorError;
        async fn server_now(&self) -> Result<Option<NaiveDateTime>, CursorError> {
            Ok(Some(*self.now.lock().unwrap()))
        }
        async fn read(
            &self,
            stream: usize,
            after: Option<&Position>,
            offset: u64,
            limit: u32,
        ) -> Result<StreamPage, CursorError> {
            let mut p = StreamPage::default();
            if stream == 0 {
                let mut rows = self.rows.lock().unwrap().clone();
                rows.sort();
                for (rt, id) in rows
                    .into_iter()
                    .filter(|(rt, id)| after.is_none_or(|a| (*rt, *id) > (a.t, a.id)))
                    .take(limit as usize)
                {
                    p.positions.push(Position { t: rt, id });
                    p.records.push(rec(id));
                    p.rows += 1;
                }
            } else {
                for id in self.open.iter().skip(offset as usize).take(limit as usize) {
                    p.records.push(rec(*id));
                    p.rows += 1;
                }
            }
            Ok(p)
        }
    }

    async fn drain(f: &Fake, from: Option<Cursor>, s: Settings) -> (Vec<String>, Cursor) {
        let mut c = from;
        let mut out = Vec::new();
        for _ in 0..100 {
            let p = next_page(f, &[Kind::Keyset, Kind::Sweep], c.as_ref(), s)
                .await
                .unwrap();
            for r in &p.records {
                if let Record::InvoiceRemoved { id } = r {
                    out.push(id.to_string());
                }
            }
            c = p.next;
            if !p.has_more {
                return (out, c.unwrap());
            }
        }
        panic!("never ends");
    }

    #[tokio::test]
    async fn same_second_changes_overlap_and_sweeps() {
        let f = Fake {
            rows: Mutex::new((1..=7).map(|i| (t(i as u32), i)).collect()),
            open: vec![2, 5],
            now: Mutex::new(t(100)),
        };
        let s = Settings {
            limit: 3,
            overlap: Duration::seconds(0),
            sweep_every: Duration::seconds(600),
        };
        let (all, c) = drain(&f, None, s).await;
        assert_eq!(
            all,
            ["1", "2", "3", "4", "5", "6", "7"],
            "first pass: no sweep"
        );
        let (none, c) = drain(&f, Some(c), s).await;
        assert!(none.is_empty(), "{none:?}");
        // two rows changed in the same second as the last one read, one with a lower id
        f.rows.lock().unwrap().push((t(7), 3));
        f.rows.lock().unwrap().retain(|r| *r != (t(3), 3));
        f.rows.lock().unwrap().push((t(7), 9));
        let s2 = Settings {
            overlap: Duration::seconds(200),
            ..s
        };
        let (changed, c) = drain(&f, Some(c), s2).await;
        assert_eq!(
            changed,
            ["9"],
            "a lower id at the same second comes after the position"
        );
        // the overlap window reads again the rows of the seconds before the pass: (t7, 3) too
        let (again, c) = drain(&f, Some(c), s2).await;
        assert!(again.contains(&"3".to_owned()), "{again:?}");
        // the sweep comes back once its interval has passed
        *f.now.lock().unwrap() = t(100 + 700);
        let (swept, _) = drain(&f, Some(c), s).await;
        assert!(
            swept.ends_with(&["2".to_owned(), "5".to_owned()]),
            "{swept:?}"
        );
    }
}
