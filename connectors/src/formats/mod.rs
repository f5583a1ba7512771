//! Pure parsers and writers: bytes in, documents plus diagnostics out. No IO here.

pub mod diag;
