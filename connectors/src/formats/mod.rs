//! Pure parsers and writers: bytes in, documents plus diagnostics out. No IO here.

pub mod bank;
pub mod diag;
pub mod fec;
pub mod letter;
