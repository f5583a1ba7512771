//! Diagnostics shared by every parser: a severity, a rule id, a path or line, a message.

use serde::{Deserialize, Serialize};

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Informational.
    Info,
    /// Suspicious, but the document is usable.
    Warning,
    /// A rule is broken; policy decides whether the document is imported.
    Error,
    /// The file cannot be used at all.
    Fatal,
}

/// One finding about a file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// Severity.
    pub severity: Severity,
    /// Rule id (e.g. "BR-CO-10", "FR-SIREN", "CAMT-BALANCE", "XML-SYNTAX").
    pub rule: String,
    /// Where: an element path, or "line N".
    pub path: String,
    /// What is wrong, naming what was expected.
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic.
    pub fn new(
        severity: Severity,
        rule: impl Into<String>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            severity,
            rule: rule.into(),
            path: path.into(),
            message: message.into(),
        }
    }
}

/// True when any diagnostic makes the file unusable.
pub fn has_fatal(d: &[Diagnostic]) -> bool {
    d.iter().any(|x| x.severity == Severity::Fatal)
}
