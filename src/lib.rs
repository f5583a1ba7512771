//! relance: the receivables daemon and its command line, as a library.
//!
//! The binary (`src/main.rs`) only parses the command line and calls [`cmd::run`]; everything
//! else lives here so the integration tests, the benchmarks and the test-support crate reach
//! the store, the outbox and the pipeline by name.
//!
//! ```no_run
//! use clap::Parser as _;
//! let cli = relance::cli::Cli::parse_from(["relance", "check-config", "--config", "/etc/relance"]);
//! let code = relance::cmd::run(cli)?;
//! # let _ = code;
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod api;
pub mod assets;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod cmd;
pub mod config;
pub mod console;
pub mod daemon;
pub mod decisions;
pub mod einvoicing;
pub mod ereporting;
pub mod http;
pub mod ledger;
pub mod metrics;
pub mod offline;
pub mod outbox;
pub mod pipeline;
pub mod registry;
pub mod store;
