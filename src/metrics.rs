//! Prometheus metrics of the daemon: counters and gauges with labels, rendered in the text
//! exposition format (version 0.0.4) by `/metrics`.
//!
//! The registry is a small map behind a mutex, written here rather than pulled in as a crate:
//! relance needs a dozen families, updated a few times per cycle, and the format is simple.
//! Every family is declared once in [`FAMILIES`] with its help text and type; updating a
//! name that is not declared is a programming error caught by a test.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// The kind of a metric family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (resets when the process restarts).
    Counter,
    /// Goes up and down.
    Gauge,
}

/// A declared metric family.
#[derive(Clone, Copy, Debug)]
pub struct Family {
    /// Metric name.
    pub name: &'static str,
    /// One-line help text.
    pub help: &'static str,
    /// Counter or gauge.
    pub kind: Kind,
}

/// Build information (label `version`), always 1.
pub const BUILD_INFO: &str = "relance_build_info";
/// 1 once configuration and store are ready, 0 while starting or draining.
pub const READY: &str = "relance_ready";
/// Companies in the running configuration.
pub const COMPANIES: &str = "relance_companies";
/// 1 while a company's task runs, 0 while it waits to be restarted after a failure.
pub const COMPANY_UP: &str = "relance_company_up";
/// Cycles run, by company and outcome (`ok`; `partial`: done, but a source had errors;
/// `error`; `panic`).
pub const CYCLES: &str = "relance_cycles_total";
/// Source pulls, by company and connector (source name).
pub const PULLS: &str = "relance_pulls_total";
/// Documents (invoices, credit notes, receipts) stored, by company and connector.
pub const DOCUMENTS: &str = "relance_documents_total";
/// Receipt-to-invoice allocations decided, by company.
pub const MATCHES: &str = "relance_matches_total";
/// Dunning and provision actions planned, by company.
pub const ACTIONS: &str = "relance_actions_total";
/// Outbox entries still pending, by company.
pub const OUTBOX_DEPTH: &str = "relance_outbox_depth";
/// Errors, by company and connector (`cycle` for errors outside a connector).
pub const ERRORS: &str = "relance_errors_total";
/// Restarts of a company's task after a panic, by company.
pub const RESTARTS: &str = "relance_task_restarts_total";
/// Unix time of the end of the company's last successful cycle.
pub const LAST_SUCCESS: &str = "relance_last_success_timestamp_seconds";
/// Configuration reloads, by result (`ok`, `refused`).
pub const RELOADS: &str = "relance_config_reloads_total";
/// Configuration generation: 1 at start, +1 per accepted reload.
pub const CONFIG_GENERATION: &str = "relance_config_generation";
/// Rate-table rows missing as of the company's last cycle date (0 when the table covers every
/// semester up to today): update the table (`rates.d/*.toml`, `relance rates`).
pub const MISSING_RATE_ROWS: &str = "relance_dunning_missing_rate_rows";
/// Invoices of the company's last dunning plan whose penalty a missing rate row left
/// uncomputed (stated as the legal clause, or held).
pub const MISSING_RATE_INVOICES: &str = "relance_dunning_missing_rate_invoices";
/// Invoices the company's last dunning plan held back (each with its reason in the plan).
pub const DUNNING_HELD: &str = "relance_dunning_held_invoices";

/// Company leases this instance holds.
pub const LEASES_HELD: &str = "relance_leases_held";
/// Leases taken over from an instance whose lease ran out.
pub const LEASE_TAKEOVERS: &str = "relance_lease_takeovers_total";
/// Leases lost (not renewed in time, or taken by another instance).
pub const LEASES_LOST: &str = "relance_leases_lost_total";
/// Writes and remote calls refused because their lease token was no longer valid.
pub const FENCED_REFUSED: &str = "relance_fenced_writes_refused_total";

/// Every family the daemon exports.
pub const FAMILIES: &[Family] = &[
    Family {
        name: LEASES_HELD,
        help: "Company leases this instance holds.",
        kind: Kind::Gauge,
    },
    Family {
        name: LEASE_TAKEOVERS,
        help: "Company leases taken over from an instance whose lease ran out.",
        kind: Kind::Counter,
    },
    Family {
        name: LEASES_LOST,
        help: "Company leases lost (not renewed in time, or taken by another instance).",
        kind: Kind::Counter,
    },
    Family {
        name: FENCED_REFUSED,
        help: "Writes and remote calls refused because their lease token was no longer valid.",
        kind: Kind::Counter,
    },
    Family {
        name: BUILD_INFO,
        help: "Build information; the value is always 1.",
        kind: Kind::Gauge,
    },
    Family {
        name: READY,
        help: "1 when configuration and store are ready.",
        kind: Kind::Gauge,
    },
    Family {
        name: COMPANIES,
        help: "Companies in the running configuration.",
        kind: Kind::Gauge,
    },
    Family {
        name: COMPANY_UP,
        help: "1 while the company's task runs, 0 while it waits for a restart.",
        kind: Kind::Gauge,
    },
    Family {
        name: CYCLES,
        help: "Cycles run, by company and outcome.",
        kind: Kind::Counter,
    },
    Family {
        name: PULLS,
        help: "Source pulls, by company and connector.",
        kind: Kind::Counter,
    },
    Family {
        name: DOCUMENTS,
        help: "Documents stored, by company and connector.",
        kind: Kind::Counter,
    },
    Family {
        name: MATCHES,
        help: "Receipt allocations decided, by company.",
        kind: Kind::Counter,
    },
    Family {
        name: ACTIONS,
        help: "Dunning and provision actions planned, by company.",
        kind: Kind::Counter,
    },
    Family {
        name: OUTBOX_DEPTH,
        help: "Outbox entries pending delivery, by company.",
        kind: Kind::Gauge,
    },
    Family {
        name: ERRORS,
        help: "Errors, by company and connector.",
        kind: Kind::Counter,
    },
    Family {
        name: RESTARTS,
        help: "Company task restarts after a panic.",
        kind: Kind::Counter,
    },
    Family {
        name: LAST_SUCCESS,
        help: "Unix time of the last successful cycle.",
        kind: Kind::Gauge,
    },
    Family {
        name: RELOADS,
        help: "Configuration reloads, by result.",
        kind: Kind::Counter,
    },
    Family {
        name: CONFIG_GENERATION,
        help: "Configuration generation (1 at start, +1 per reload).",
        kind: Kind::Gauge,
    },
    Family {
        name: MISSING_RATE_ROWS,
        help: "Rate-table rows missing as of the last cycle's date, by company.",
        kind: Kind::Gauge,
    },
    Family {
        name: MISSING_RATE_INVOICES,
        help: "Invoices of the last dunning plan whose penalty a missing rate row left uncomputed, by company.",
        kind: Kind::Gauge,
    },
    Family {
        name: DUNNING_HELD,
        help: "Invoices the last dunning plan held back, by company.",
        kind: Kind::Gauge,
    },
];

type Labels = Vec<(String, String)>;

/// The metrics registry, shared by the scheduler, the company tasks and the HTTP endpoint.
#[derive(Debug, Default)]
pub struct Metrics {
    series: Mutex<BTreeMap<&'static str, BTreeMap<Labels, f64>>>,
}

impl Metrics {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn family(name: &str) -> Option<&'static Family> {
        FAMILIES.iter().find(|f| f.name == name)
    }

    fn update(&self, name: &str, labels: &[(&str, &str)], f: impl FnOnce(&mut f64)) {
        let Some(fam) = Self::family(name) else {
            debug_assert!(false, "undeclared metric {name}");
            return;
        };
        let key: Labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        // A poisoned lock only means another thread panicked mid-update of a number: the map
        // is still consistent, keep using it.
        let mut series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        f(series
            .entry(fam.name)
            .or_default()
            .entry(key)
            .or_insert(0.0));
    }

    /// Adds `by` to a counter.
    pub fn add(&self, name: &str, labels: &[(&str, &str)], by: u64) {
        // Counts stay far below 2^53, where f64 is exact.
        self.update(name, labels, |v| *v += by as f64);
    }

    /// Adds one to a counter.
    pub fn inc(&self, name: &str, labels: &[(&str, &str)]) {
        self.add(name, labels, 1);
    }

    /// Sets a gauge.
    pub fn set(&self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.update(name, labels, |v| *v = value);
    }

    /// Removes every series of `name` whose labels include `label = value` (a company that
    /// left the configuration no longer reports gauges).
    pub fn remove_matching(&self, name: &str, label: &str, value: &str) {
        let mut series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = series.get_mut(name) {
            s.retain(|labels, _| !labels.iter().any(|(k, v)| k == label && v == value));
        }
    }

    /// The current value of a series.
    #[cfg(test)]
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let key: Labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        series.get(name).and_then(|s| s.get(&key)).copied()
    }

    /// The Prometheus text exposition of every family with at least one series.
    pub fn render(&self) -> String {
        let series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        for fam in FAMILIES {
            let Some(s) = series.get(fam.name).filter(|s| !s.is_empty()) else {
                continue;
            };
            let kind = match fam.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
            };
            let _ = writeln!(out, "# HELP {} {}", fam.name, fam.help);
            let _ = writeln!(out, "# TYPE {} {kind}", fam.name);
            for (labels, value) in s {
                out.push_str(fam.name);
                if !labels.is_empty() {
                    out.push('{');
                    for (i, (k, v)) in labels.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        let _ = write!(out, "{k}=\"{}\"", escape_label(v));
                    }
                    out.push('}');
                }
                let _ = writeln!(out, " {}", format_value(*value));
            }
        }
        out
    }
}

fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

fn format_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_exposition_format() {
        let m = Metrics::new();
        m.inc(CYCLES, &[("company", "acme"), ("outcome", "ok")]);
        m.add(CYCLES, &[("company", "acme"), ("outcome", "ok")], 2);
        m.set(OUTBOX_DEPTH, &[("company", "a\"b")], 4.0);
        m.set(READY, &[], 1.0);
        let text = m.render();
        assert!(
            text.contains("# TYPE relance_cycles_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains("relance_cycles_total{company=\"acme\",outcome=\"ok\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("relance_outbox_depth{company=\"a\\\"b\"} 4\n"),
            "{text}"
        );
        assert!(text.contains("relance_ready 1\n"), "{text}");
        m.remove_matching(OUTBOX_DEPTH, "company", "a\"b");
        assert!(!m.render().contains("relance_outbox_depth"));
    }

    #[test]
    fn family_names_are_unique() {
        let mut names: Vec<_> = FAMILIES.iter().map(|f| f.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FAMILIES.len());
    }
}
