//! relance-connectors: everything that talks to the outside world.
//!
//! [`formats`] holds pure parsers and writers (bytes in, documents and diagnostics out);
//! [`systems`] holds one module per external system, each implementing the [`contract`]
//! traits [`contract::Source`] and/or [`contract::WriteBack`].
//!
//! ```
//! use relance_connectors::contract::IdempotencyKey;
//! let k = IdempotencyKey::derive("acme", "dunning", &["F2026-001", "stage2"]);
//! assert_eq!(k, IdempotencyKey::derive("acme", "dunning", &["F2026-001", "stage2"]));
//! ```

pub mod contract;
pub mod error;
pub mod formats;
pub mod gate;
pub mod http;
pub mod keys;
pub mod systems;
#[doc(hidden)]
pub mod testkit;
pub mod wire;

pub use contract::{
    Cursor, IdempotencyKey, Page, Record, RemoteRef, Source, WriteBack, WriteCommand,
};
pub use error::ConnectorError;
