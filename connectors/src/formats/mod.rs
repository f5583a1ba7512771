//! Pure parsers and writers: bytes in, documents plus diagnostics out. No IO here.

pub mod bank;
pub mod cdar;
pub mod decimal;
pub mod diag;
pub mod einvoice;
pub mod encoding;
pub mod fec;
pub mod hostile;
pub mod letter;
