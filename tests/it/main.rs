//! Integration tests of the relance binary and its parts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// The store and the outbox live in the binary crate (no library target): their sources are
// compiled into this test binary as modules, so the store tests reach them directly.
#[allow(dead_code, unused_imports)]
#[path = "../../src/outbox.rs"]
mod outbox;
#[allow(dead_code, unused_imports)]
#[path = "../../src/store/mod.rs"]
mod store;

mod config;
mod daemon;
mod demo;
mod kill_delivery;
mod store_model;
mod systemd;
mod tryton_e2e;
