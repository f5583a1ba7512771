//! Identifier newtypes, so a customer id is never passed where an invoice id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// Wraps a string as this identifier.
            pub fn new(s: impl Into<String>) -> Self {
                Self(s.into())
            }
            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }
    };
}

id_type!(
    /// A company configured in relance (the seller whose receivables are managed).
    CompanyId
);
id_type!(
    /// A customer (buyer) of a company, as identified by the system of record.
    CustomerId
);
id_type!(
    /// An invoice or credit note; for e-invoice files this is its number (BT-1).
    InvoiceId
);
id_type!(
    /// The bank's own id of a transaction (camt `AcctSvcrRef`, MT940 `:61:` reference, ...).
    TransactionId
);
