//! Dated rate tables and reminder templates: read from the configuration directory when it
//! has them (`rates/fr.toml`, `templates/<lang>/*.txt`), otherwise the copies built into the
//! binary from this repository's `config/` (so the demo and a minimal install work as is).

use anyhow::Context as _;
use relance_core::dunning::template::TemplateSet;
use relance_core::dunning::RateTable;
use std::path::Path;

/// The rate table shipped with this build (`config/rates/fr.toml`).
pub const BUILTIN_RATES: &str = include_str!("../config/rates/fr.toml");

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

/// The rate table: `<config_dir>/rates/fr.toml` if present, else the built-in one. Checked.
pub fn rates(config_dir: Option<&Path>) -> anyhow::Result<RateTable> {
    let (src, origin) = match config_dir.map(|d| d.join("rates").join("fr.toml")) {
        Some(p) if p.is_file() => (
            std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?,
            p.display().to_string(),
        ),
        _ => (
            BUILTIN_RATES.to_owned(),
            "built-in config/rates/fr.toml".to_owned(),
        ),
    };
    let table: RateTable = toml::from_str(&src).with_context(|| format!("rate table {origin}"))?;
    table
        .validate()
        .with_context(|| format!("rate table {origin}"))?;
    Ok(table)
}

/// The templates: the built-in ones, overridden by any `<config_dir>/templates/<lang>/*.txt`.
pub fn templates(config_dir: Option<&Path>) -> anyhow::Result<TemplateSet> {
    let mut set = TemplateSet::default();
    for (name, src) in BUILTIN_TEMPLATES {
        set.insert(*name, *src);
    }
    if let Some(root) = config_dir.map(|d| d.join("templates")) {
        if root.is_dir() {
            for lang in
                std::fs::read_dir(&root).with_context(|| format!("reading {}", root.display()))?
            {
                let lang = lang?;
                if !lang.file_type()?.is_dir() {
                    continue;
                }
                let lang_name = lang.file_name().to_string_lossy().into_owned();
                for f in std::fs::read_dir(lang.path())? {
                    let f = f?;
                    let p = f.path();
                    if p.extension().and_then(|e| e.to_str()) != Some("txt") {
                        continue;
                    }
                    let Some(stem) = p.file_stem().and_then(|s| s.to_str()) else {
                        continue;
                    };
                    let src = std::fs::read_to_string(&p)
                        .with_context(|| format!("reading {}", p.display()))?;
                    set.insert(format!("{lang_name}/{stem}"), src);
                }
            }
        }
    }
    set.validate().context("reminder templates")?;
    Ok(set)
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
}
