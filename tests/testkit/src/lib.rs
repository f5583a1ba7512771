//! relance-testkit: what relance's tests share and the product does not ship.
//!
//! - [`compliance`]: the one suite every connector passes (sources and write-back targets);
//! - [`tryton_fake`]: a fake Tryton JSON-RPC server on 127.0.0.1:0;
//! - [`dolibarr_fake`]: a fake Dolibarr REST API on 127.0.0.1:0;
//! - [`odoo_fake`]: a fake Odoo 16–19 (JSON-RPC and JSON-2) on 127.0.0.1:0;
//! - [`pennylane_fake`]: a fake Pennylane Company API v2 on 127.0.0.1:0;
//! - [`smtp`]: the real SMTP peer (aiosmtpd) started on 127.0.0.1 for the mail tests;
//! - [`skip_peer`] / [`skip_corpus`]: how a test whose peer or corpus is missing says so.
//!
//! A dev-dependency only: no product crate depends on it.
//!
//! ```no_run
//! relance_testkit::skip_peer("an example of a missing peer");
//! ```

pub mod compliance;
pub mod dolibarr_fake;
pub mod odoo_fake;
pub mod pennylane_fake;
pub mod smtp;
pub mod tryton_fake;

pub use relance_connectors::testkit::{skip_corpus, skip_peer};
