//! relance-testkit: what relance's tests share and the product does not ship.
//!
//! - [`compliance`]: the one suite every connector passes (sources and write-back targets);
//! - [`chorus_fake`]: a fake Chorus Pro behind PISTE on 127.0.0.1:0;
//! - [`tryton_fake`]: a fake Tryton JSON-RPC server on 127.0.0.1:0;
//! - [`dolibarr_fake`]: a fake Dolibarr REST API on 127.0.0.1:0;
//! - [`odoo_fake`]: a fake Odoo 16–19 (JSON-RPC and JSON-2) on 127.0.0.1:0;
//! - [`pa_fake`]: a fake plateforme agréée (AFNOR flow service, Super PDP) on 127.0.0.1:0;
//! - [`pennylane_fake`]: a fake Pennylane Company API v2 on 127.0.0.1:0;
//! - [`qonto_fake`]: a fake Qonto Business API (OAuth2 with rotating refresh tokens) on 127.0.0.1:0;
//! - [`smtp`]: the real SMTP peer (aiosmtpd) started on 127.0.0.1 for the mail tests;
//! - [`skip_peer`] / [`skip_corpus`]: how a test whose peer or corpus is missing says so.
//!
//! A dev-dependency only: no product crate depends on it.
//!
//! ```no_run
//! relance_testkit::skip_peer("an example of a missing peer");
//! ```

pub mod chorus_fake;
pub mod compliance;
pub mod dolibarr_fake;
mod fakehttp;
pub mod odoo_fake;
pub mod pa_fake;
pub mod pennylane_fake;
pub mod qonto_fake;
pub mod smtp;
pub mod tryton_fake;

pub use relance_connectors::testkit::{skip_corpus, skip_peer};

/// Drains `source` from `from` as the pipeline does over cycles: every page acknowledged, a
/// Transient error retried after its delay (the next cycle, from the same cursor). Returns the
/// records and the final cursor.
///
/// # Panics
/// On a Config or Permanent error, or after 10 000 pages.
pub async fn drain<S: relance_connectors::contract::Source>(
    source: &mut S,
    from: Option<relance_connectors::contract::Cursor>,
) -> (
    Vec<relance_connectors::contract::Record>,
    relance_connectors::contract::Cursor,
) {
    use relance_connectors::ConnectorError;
    let mut cursor = from;
    let mut all = Vec::new();
    for _ in 0..10_000 {
        let page = match source.pull(cursor.as_ref()).await {
            Ok(p) => p,
            Err(ConnectorError::Transient { retry_after, .. }) => {
                let wait = retry_after.unwrap_or(std::time::Duration::from_millis(200));
                tokio::time::sleep(wait).await;
                continue;
            }
            Err(e) => panic!("pull: {e}"),
        };
        all.extend(page.records);
        if let Err(e) = source.ack(page.acks).await {
            panic!("ack: {e}");
        }
        cursor = page.next;
        if !page.has_more {
            match cursor {
                Some(c) => return (all, c),
                None => panic!("the last page gave no cursor"),
            }
        }
    }
    panic!("pull never ended");
}
