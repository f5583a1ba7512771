//! `relance store migrate --from sled:DIR --to postgres:URL`.

use crate::store::postgres::PgConfig;
use crate::store::{PgStore, SharedStore, SledStore};
use anyhow::Context as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

/// A store named on the command line, opened.
enum Opened {
    Sled(SharedStore),
    Pg(PgStore),
}

impl Opened {
    fn store(&self) -> SharedStore {
        match self {
            Opened::Sled(s) => s.clone(),
            Opened::Pg(p) => Arc::new(p.clone()),
        }
    }
}

fn open(
    spec: &str,
    password_file: Option<&Path>,
    must_exist: bool,
) -> anyhow::Result<(Opened, String)> {
    if let Some(dir) = spec.strip_prefix("sled:") {
        if must_exist && !Path::new(dir).join("conf").is_file() {
            anyhow::bail!("{dir} is not a sled store directory (no conf file): nothing to migrate");
        }
        let s = SledStore::open(Path::new(dir))
            .with_context(|| format!("opening the sled store {dir}"))?;
        return Ok((Opened::Sled(Arc::new(s)), format!("sled {dir}")));
    }
    let url = spec.strip_prefix("postgres:").filter(|u| !u.is_empty());
    let url = match url {
        Some(u) => u,
        None if spec.starts_with("postgres://") || spec.starts_with("postgresql://") => spec,
        None => anyhow::bail!("store {spec:?}: expected sled:DIR or postgres:URL"),
    };
    let password = match password_file {
        Some(p) => Some(
            crate::config::secrets::read(p)
                .with_context(|| format!("reading the password file {}", p.display()))?,
        ),
        None => None,
    };
    let cfg = PgConfig::new(url, password.as_ref().map(|s| s.expose()))?;
    let name = format!("postgres {}", cfg.describe());
    let store = PgStore::open(&cfg).with_context(|| format!("opening {name}"))?;
    Ok((Opened::Pg(store), name))
}

/// Copies `from` into `to`, checks the copy, prints one line per company.
pub fn migrate(
    from: &str,
    to: &str,
    password_file: Option<&Path>,
    overwrite: bool,
) -> anyhow::Result<ExitCode> {
    let (src, src_name) = open(from, password_file, true)?;
    let (dst, dst_name) = open(to, password_file, false)?;
    let clear = |c: &relance_core::CompanyId| match &dst {
        Opened::Pg(p) => p.clear_company(c),
        Opened::Sled(_) => Err(crate::store::StoreError::TargetNotEmpty(format!(
            "{c} (--overwrite replaces data in a PostgreSQL target only)"
        ))),
    };
    let report = crate::store::migrate::migrate(
        &*src.store(),
        &*dst.store(),
        overwrite.then_some(&clear as &dyn Fn(&relance_core::CompanyId) -> _),
    )
    .with_context(|| format!("migrating {src_name} to {dst_name}"))?;
    for (c, digest) in &report.companies {
        super::out(&format!(
            "{}: {} customers, {} invoices, {} receipts, {} allocations, {} cursors, {} files, \
             {} outbox, {} dead letters, {} audit, {} provisions, {} inbox; digest {} (equal on both sides)",
            c.company,
            c.customers,
            c.invoices,
            c.receipts,
            c.allocations,
            c.cursors,
            c.seen_files,
            c.outbox,
            c.dead_letters,
            c.audit,
            c.provisions,
            c.inbox,
            &digest[..16]
        ))?;
    }
    super::out(&format!(
        "copied {} companies and {} documents from {src_name} to {dst_name}, checked",
        report.companies.len(),
        report.documents
    ))?;
    Ok(ExitCode::SUCCESS)
}
