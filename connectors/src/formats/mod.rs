//! Pure parsers and writers: bytes in, documents plus diagnostics out. No IO here.

pub mod bank;
pub mod diag;
pub mod einvoice;
pub mod fec;
pub mod letter;
