//! `relance rates`: the rate table in force (built-in, or updated by the configuration
//! directory), the semesters it covers per rate, and the rows missing as of a date.

use crate::clock::Clock;
use chrono::NaiveDate;
use relance_core::dunning::penalty::{
    B2B_MARGIN_POINTS, CONTRACT_FLOOR_TIMES_LEGAL_RATE, PUBLIC_MARGIN_POINTS,
};
use relance_core::dunning::rates::TableName;
use rust_decimal::Decimal;
use serde_json::json;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The default configuration directory, used when it exists.
const DEFAULT_CONFIG: &str = "/etc/relance";

fn pct(d: Option<Decimal>) -> String {
    d.map(|d| format!("{:.2}", d.round_dp(2)))
        .unwrap_or_else(|| "missing".to_owned())
}

/// `relance rates [--config DIR] [--date D] [--json]`.
pub fn show(
    config: Option<&Path>,
    date: Option<NaiveDate>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let dir: Option<PathBuf> = match config {
        Some(d) => Some(crate::assets::existing_dir(d)?.to_owned()),
        None => Some(PathBuf::from(DEFAULT_CONFIG)).filter(|d| d.is_dir()),
    };
    let loaded = crate::assets::load_rates(dir.as_deref())
        .map_err(|e| anyhow::anyhow!("rate table:\n{e}"))?;
    let t = &loaded.table;
    let today = date.unwrap_or_else(|| Clock::System.today());
    let semesters = t.semesters(today);
    let missing = t.missing_as_of(today);
    if json {
        let v = json!({
            "origins": t.origins,
            "revision": t.revision,
            "updated": t.updated,
            "as_of": today,
            "ecb_mro": {
                "changes": t.ecb_mro.changes.len(),
                "first": t.ecb_mro.changes.first().map(|c| c.effective),
                "last": t.ecb_mro.changes.last().map(|c| c.effective),
                "confirmed_until": t.ecb_mro.confirmed_until,
            },
            "taux_legal": {
                "semesters": t.taux_legal.semesters.len(),
                "first": t.taux_legal.semesters.first().map(|r| r.start),
                "last": t.taux_legal.semesters.last().map(|r| r.start),
            },
            "indemnity": t.indemnity.amount.to_string(),
            "semesters": semesters,
            "missing": missing,
            "notes": loaded.notes,
        });
        super::out(&serde_json::to_string_pretty(&v)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Rate table in force (revision {}, updated {}):",
        t.revision, t.updated
    );
    for origin in &t.origins {
        let _ = writeln!(o, "  {origin}");
    }
    for n in &loaded.notes {
        let _ = writeln!(o, "  note: {n}");
    }
    let _ = writeln!(
        o,
        "ECB MRO: {} changes from {} to {}; the list is confirmed complete until {}",
        t.ecb_mro.changes.len(),
        t.ecb_mro
            .changes
            .first()
            .map(|c| c.effective.to_string())
            .unwrap_or_default(),
        t.ecb_mro
            .changes
            .last()
            .map(|c| c.effective.to_string())
            .unwrap_or_default(),
        t.ecb_mro.confirmed_until
    );
    let _ = writeln!(
        o,
        "Taux légal: {} semesters, {} to {}",
        t.taux_legal.semesters.len(),
        t.taux_legal
            .semesters
            .first()
            .map(|r| r.start.to_string())
            .unwrap_or_default(),
        t.taux_legal
            .semesters
            .last()
            .map(|r| relance_core::dunning::rates::semester_end(r.start).to_string())
            .unwrap_or_default()
    );
    let _ = writeln!(
        o,
        "Indemnité forfaitaire: {} per invoice\n",
        t.indemnity.amount
    );
    let _ = writeln!(
        o,
        "{:<10}  {:>8}  {:>12}  {:>13}  {:>10}  {:>10}  {:>11}",
        "semester", "MRO", "B2B MRO+10", "public MRO+8", "TIL pro", "TIL part.", "floor 3×TIL"
    );
    for s in &semesters {
        let mro = s.mro.map(|(r, _)| r);
        let _ = writeln!(
            o,
            "{:<10}  {:>8}  {:>12}  {:>13}  {:>10}  {:>10}  {:>11}",
            s.start.to_string(),
            pct(mro),
            pct(mro.map(|r| r + B2B_MARGIN_POINTS)),
            pct(mro.map(|r| r + PUBLIC_MARGIN_POINTS)),
            pct(s.legal_other_cases),
            pct(s.legal_natural_person),
            pct(s
                .legal_other_cases
                .map(|r| r * CONTRACT_FLOOR_TIMES_LEGAL_RATE))
        );
    }
    if missing.is_empty() {
        let _ = write!(o, "\nNothing missing as of {today}.");
    } else {
        let _ = writeln!(o, "\nMissing as of {today}:");
        for m in &missing {
            let needed = match m.table {
                TableName::EcbMro => "B2B penalties (MRO + 10 pts) and public intérêts moratoires (MRO + 8 pts)",
                TableName::TauxLegal => "consumer interest after a mise en demeure and the floor of contractual B2B rates",
            };
            let _ = writeln!(o, "  {m} — needed for {needed}");
        }
        let _ = write!(
            o,
            "Until then formal letters state the legal clause without an amount (or are held, \
             dunning.on_missing_rate = \"hold\"). To update the table, add a file to {}/{} \
             (see README, \"Updating the rate table\") and run `relance check-config`.",
            dir.as_deref()
                .map(|d| d.display().to_string())
                .unwrap_or_else(|| DEFAULT_CONFIG.to_owned()),
            crate::assets::RATES_DROPIN_DIR
        );
    }
    super::out(&o)?;
    Ok(ExitCode::SUCCESS)
}
