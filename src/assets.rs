//! Dated rate tables and reminder templates: the copies built into the binary from this
//! repository's `config/` (so the demo and a minimal install work as is), updated from the
//! configuration directory.
//!
//! Rates: `<config>/rates/fr.toml`, when present, replaces the built-in table as a whole;
//! then every `<config>/rates.d/*.toml` (in file-name order) is merged into it — rows added,
//! a row of the same date replaced, `confirmed_until` only moving forward (see
//! [`RateTable::merge`]). Each file is checked on its own (schema, order, plausible figures,
//! sources), errors placed at file, key and line; `relance check-config` reports them all.
//!
//! Templates: the built-in ones, overridden by any `<config>/templates/<lang>/*.txt`; every
//! template must parse and use only known variables.

use crate::config::load::{KeyPath, Location, SourceFile};
use crate::config::{ConfigError, ErrorKind};
use anyhow::Context as _;
use relance_core::dunning::rates::RatePatch;
use relance_core::dunning::template::TemplateSet;
use relance_core::dunning::RateTable;
use std::fmt;
use std::path::{Path, PathBuf};

/// The rate table shipped with this build (`config/rates/fr.toml`).
pub const BUILTIN_RATES: &str = include_str!("../config/rates/fr.toml");
/// How the built-in table is named in messages and `relance rates`.
pub const BUILTIN_RATES_ORIGIN: &str = "built-in config/rates/fr.toml";
/// The drop-in folder of rate-table updates inside the configuration directory.
pub const RATES_DROPIN_DIR: &str = "rates.d";

macro_rules! builtin_templates {
    ($($lang:literal / $name:literal),* $(,)?) => {
        &[$(
            (concat!($lang, "/", $name),
             include_str!(concat!("../config/templates/", $lang, "/", $name, ".txt"))),
        )*]
    };
}

/// The templates shipped with this build (`config/templates/`).
pub const BUILTIN_TEMPLATES: &[(&str, &str)] = builtin_templates![
    "fr" / "preventive",
    "fr" / "amiable",
    "fr" / "amiable.firm",
    "fr" / "amiable.phone_task",
    "fr" / "formelle",
    "fr" / "mise_en_demeure",
    "fr" / "contentieux",
    "en" / "preventive",
    "en" / "amiable",
    "en" / "amiable.firm",
    "en" / "amiable.phone_task",
    "en" / "formelle",
    "en" / "mise_en_demeure",
    "en" / "contentieux",
];

/// A problem in one asset file, placed at its key and line when known (a configuration error
/// of kind [`ErrorKind::Asset`]).
pub type AssetError = ConfigError;

/// Every problem found, one per line.
#[derive(Debug)]
pub struct AssetErrors(pub Vec<AssetError>);

/// An asset error at `file`, `key` (found in `location`), saying `message`.
fn asset_error(
    file: PathBuf,
    key: KeyPath,
    location: Option<Location>,
    message: impl Into<String>,
) -> AssetError {
    ConfigError {
        file,
        key,
        location,
        kind: ErrorKind::Asset(message.into()),
    }
}

impl fmt::Display for AssetErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for AssetErrors {}

/// The rate table in force and what merging it said.
#[derive(Clone, Debug)]
pub struct LoadedRates {
    /// The merged, checked table (its `origins` list the files).
    pub table: RateTable,
    /// Rows a drop-in replaced by a different figure.
    pub notes: Vec<String>,
}

fn placed(file: &SourceFile, key: KeyPath, message: String) -> AssetError {
    let location = file.locate(&key);
    asset_error(file.path.clone(), key, location, message)
}

fn read_toml<T: serde::de::DeserializeOwned>(
    path: &Path,
    errors: &mut Vec<AssetError>,
) -> Option<(SourceFile, T)> {
    let file = match SourceFile::read(path) {
        Ok(f) => f,
        Err(e) => {
            errors.push(asset_error(
                path.to_owned(),
                KeyPath::default(),
                None,
                format!("cannot read: {e}"),
            ));
            return None;
        }
    };
    match file.parse::<T>() {
        Ok(t) => Some((file, t)),
        Err(f) => {
            let message = if f.syntax {
                format!("invalid TOML: {}", f.message)
            } else {
                f.message
            };
            errors.push(asset_error(file.path.clone(), f.key, f.location, message));
            None
        }
    }
}

/// The drop-in files of `dir/rates.d`, sorted; hidden files skipped, others than `.toml`
/// refused (a `2026-h2.toml.bak` would otherwise be silently ignored).
fn dropin_files(dir: &Path, errors: &mut Vec<AssetError>) -> Vec<PathBuf> {
    let d = dir.join(RATES_DROPIN_DIR);
    let rd = match std::fs::read_dir(&d) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            errors.push(asset_error(
                d,
                KeyPath::default(),
                None,
                format!("cannot read: {e}"),
            ));
            return Vec::new();
        }
    };
    let mut files = Vec::new();
    for e in rd.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || p.is_dir() {
            continue;
        }
        if name.ends_with(".toml") {
            files.push(p);
        } else {
            errors.push(asset_error(
                p,
                KeyPath::default(),
                None,
                "not a .toml file: rate-table updates must be rates.d/*.toml",
            ));
        }
    }
    files.sort();
    files
}

/// The rate table: `<config_dir>/rates/fr.toml` if present, else the built-in one, with
/// every `<config_dir>/rates.d/*.toml` merged in; every problem of every file at once.
pub fn load_rates(config_dir: Option<&Path>) -> Result<LoadedRates, AssetErrors> {
    let mut errors = Vec::new();
    let base_path = config_dir.map(|d| d.join("rates").join("fr.toml"));
    let mut table = match base_path.as_deref().filter(|p| p.is_file()) {
        Some(p) => {
            let Some((file, mut t)) = read_toml::<RateTable>(p, &mut errors) else {
                return Err(AssetErrors(errors));
            };
            if let Err(e) = t.validate() {
                errors.push(placed(&file, KeyPath::default(), e.to_string()));
            }
            t.origins = vec![p.display().to_string()];
            t
        }
        None => {
            let mut t: RateTable = toml::from_str(BUILTIN_RATES).map_err(|e| {
                AssetErrors(vec![asset_error(
                    PathBuf::from(BUILTIN_RATES_ORIGIN),
                    KeyPath::default(),
                    None,
                    e.to_string(),
                )])
            })?;
            t.origins = vec![BUILTIN_RATES_ORIGIN.to_owned()];
            t
        }
    };
    let mut notes = Vec::new();
    if let Some(dir) = config_dir {
        for p in dropin_files(dir, &mut errors) {
            let Some((file, patch)) = read_toml::<RatePatch>(&p, &mut errors) else {
                continue;
            };
            let problems = patch.validate();
            if !problems.is_empty() {
                for (key, message) in problems {
                    let key = KeyPath::parse_dotted(&key).unwrap_or_default();
                    errors.push(placed(&file, key, message));
                }
                continue;
            }
            notes.extend(table.merge(patch, &p.display().to_string()));
            if let Err(e) = table.validate() {
                errors.push(placed(
                    &file,
                    KeyPath::default(),
                    format!("after merging this file: {e}"),
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(LoadedRates { table, notes })
    } else {
        Err(AssetErrors(errors))
    }
}

/// [`load_rates`], the errors as one message.
pub fn rates(config_dir: Option<&Path>) -> anyhow::Result<RateTable> {
    load_rates(config_dir)
        .map(|l| l.table)
        .map_err(|e| anyhow::anyhow!("rate table:\n{e}"))
}

/// The templates: the built-in ones, overridden by any `<config_dir>/templates/<lang>/*.txt`.
/// Every problem at once: a file that cannot be read, a template that does not parse or uses
/// an unknown variable, named by its file.
pub fn load_templates(config_dir: Option<&Path>) -> Result<TemplateSet, AssetErrors> {
    let mut set = TemplateSet::default();
    let mut files: std::collections::BTreeMap<String, PathBuf> = Default::default();
    for (name, src) in BUILTIN_TEMPLATES {
        set.insert(*name, *src);
        files.insert(
            (*name).to_owned(),
            PathBuf::from(format!("built-in config/templates/{name}.txt")),
        );
    }
    let mut errors = Vec::new();
    let io = |p: &Path, e: std::io::Error| {
        asset_error(
            p.to_owned(),
            KeyPath::default(),
            None,
            format!("cannot read: {e}"),
        )
    };
    if let Some(root) = config_dir.map(|d| d.join("templates")) {
        if root.is_dir() {
            match std::fs::read_dir(&root) {
                Err(e) => errors.push(io(&root, e)),
                Ok(langs) => {
                    for lang in langs.flatten() {
                        if !lang.path().is_dir() {
                            continue;
                        }
                        let lang_name = lang.file_name().to_string_lossy().into_owned();
                        let entries = match std::fs::read_dir(lang.path()) {
                            Ok(e) => e,
                            Err(e) => {
                                errors.push(io(&lang.path(), e));
                                continue;
                            }
                        };
                        for f in entries.flatten() {
                            let p = f.path();
                            if p.extension().and_then(|e| e.to_str()) != Some("txt") {
                                continue;
                            }
                            let Some(stem) = p.file_stem().and_then(|s| s.to_str()) else {
                                continue;
                            };
                            match std::fs::read_to_string(&p) {
                                Ok(src) => {
                                    let name = format!("{lang_name}/{stem}");
                                    set.insert(name.clone(), src);
                                    files.insert(name, p.clone());
                                }
                                Err(e) => errors.push(io(&p, e)),
                            }
                        }
                    }
                }
            }
        }
    }
    for e in set.check() {
        let (name, message) = match &e {
            relance_core::dunning::DunningError::Template { name, message } => {
                (name.clone(), message.clone())
            }
            other => (String::new(), other.to_string()),
        };
        let file = files
            .get(&name)
            .cloned()
            .unwrap_or_else(|| PathBuf::from(format!("templates/{name}.txt")));
        errors.push(asset_error(file, KeyPath::default(), None, message));
    }
    if errors.is_empty() {
        Ok(set)
    } else {
        Err(AssetErrors(errors))
    }
}

/// [`load_templates`], the errors as one message.
pub fn templates(config_dir: Option<&Path>) -> anyhow::Result<TemplateSet> {
    load_templates(config_dir).map_err(|e| anyhow::anyhow!("reminder templates:\n{e}"))
}

/// A configuration directory given on the command line must exist (a typo must not fall
/// back to the built-in assets silently).
pub fn existing_dir(dir: &Path) -> anyhow::Result<&Path> {
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(anyhow::anyhow!(
            "configuration directory {} does not exist",
            dir.display()
        ))
        .context("--config")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_assets_are_valid() {
        rates(None).unwrap();
        let t = templates(None).unwrap();
        assert!(t.templates.contains_key("fr/mise_en_demeure"));
        assert!(t.templates.contains_key("en/formelle"));
    }

    fn dropin(dir: &Path, name: &str, text: &str) {
        let d = dir.join(RATES_DROPIN_DIR);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(name), text).unwrap();
    }

    /// A drop-in adds the H2 2026 rows on top of the built-in table: the semester is covered,
    /// the rows cite their file.
    #[test]
    fn dropin_extends_the_builtin_table() {
        let d = tempfile::tempdir().unwrap();
        let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        assert!(!rates(Some(d.path())).unwrap().missing_as_of(day).is_empty());
        dropin(
            d.path(),
            "2026-h2.toml",
            "version = 1\nrevision = 2\nupdated = \"2026-07-02\"\n\n[ecb_mro]\nconfirmed_until = \"2026-12-03\"\n\n[[taux_legal.semesters]]\nstart = \"2026-07-01\"\nnatural_person_percent = \"6.50\"\nother_cases_percent = \"2.50\"\nsource = \"test arrêté\"\n",
        );
        let t = rates(Some(d.path())).unwrap();
        assert_eq!(t.missing_as_of(day), vec![]);
        assert_eq!(t.revision, 2);
        assert_eq!(t.origins.len(), 2);
        assert!(t.legal_rate(day, false).unwrap().citation.contains("2.50"));
        assert!(t.row_sources()["taux_legal@2026-07-01"].contains("2026-h2.toml"));
    }

    /// Every problem of every drop-in at once, each at its file, key and line.
    #[test]
    fn dropin_errors_are_placed() {
        let d = tempfile::tempdir().unwrap();
        dropin(
            d.path(),
            "a.toml",
            "version = 1\nrevision = 2\nupdated = \"2026-07-02\"\n\n[[ecb_mro.changes]]\neffective = \"2026-07-23\"\nrate_percent = \"215\"\nsource = \"x\"\n",
        );
        dropin(
            d.path(),
            "b.toml",
            "version = 1\nrevision = 3\nupdated = \"2026-07-02\"\n\n[[taux_legal.semesters]]\nstart = \"2026-08-01\"\nnatural_person_percent = \"6.5\"\nother_cases_percent = \"2.5\"\nsource = \"y\"\nrate = 1\n",
        );
        dropin(d.path(), "c.toml.bak", "");
        let e = load_rates(Some(d.path())).unwrap_err().to_string();
        assert!(
            e.contains("a.toml: line 7, column 1: ecb_mro.changes[0].rate_percent: 215% is not a plausible ECB rate"),
            "{e}"
        );
        assert!(
            e.contains(
                "b.toml: line 10, column 1: taux_legal.semesters[0].rate: unknown field `rate`"
            ),
            "{e}"
        );
        assert!(e.contains("c.toml.bak: not a .toml file"), "{e}");
    }
}
