//! Integration tests of the relance binary and its parts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api_cli;
mod api_matrix;
mod api_support;
mod api_tls;
mod config;
mod console;
mod console_mail;
mod daemon;
mod decisions;
mod decisions_cli;
mod decisions_kill;
mod decisions_support;
mod demo;
mod dunning;
mod einvoicing_e2e;
mod kill_delivery;
mod pg;
mod pg_daemons;
mod pg_leases;
mod pg_store;
mod store_model;
mod systemd;
mod systems_e2e;
mod trust;
mod tryton_e2e;
