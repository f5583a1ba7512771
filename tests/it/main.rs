//! Integration tests of the relance binary and its parts.
