//! Secrets: resolved from `*_file` keys or systemd credentials, held in a redacting type.
//!
//! A secret never appears in the configuration (only a [`SecretRef`] does), in a log line or
//! in an error message: [`Secret`]'s `Debug` prints `Secret(<redacted>)` and it has no
//! `Display`; errors name the file or credential, never its content.
//!
//! systemd credentials: the unit says `LoadCredential=tryton-acme:/etc/relance/secrets/acme.pw`
//! and the company file says `password_file = "cred:tryton-acme"`; relance reads
//! `$CREDENTIALS_DIRECTORY/tryton-acme`, a private copy only the service can read, so the
//! original file may stay root-only even under `DynamicUser=`.
//!
//! The shipped unit loads a whole directory, `LoadCredential=relance:/etc/relance/credentials`,
//! so the file `credentials/smtp-acme` becomes the credential `relance_smtp-acme`. Outside
//! systemd (`relance check-config` from a shell, a test run) `$CREDENTIALS_DIRECTORY` is not
//! set, and `cred:relance_<name>` is read from `<config dir>/credentials/<name>`: the same file
//! the unit would load.

use super::schema::SecretRef;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The environment variable systemd sets to the directory of the service's credentials.
pub const CREDENTIALS_DIRECTORY: &str = "CREDENTIALS_DIRECTORY";

/// Largest secret file read (a password or token, not a document).
const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// A secret value. `Debug` is redacted and there is no `Display`, so it cannot end up in a
/// log line or an error message by accident; [`Secret::expose`] is the one way to read it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret text, for the one call that sends it (an HTTP login, an SMTP AUTH).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Why a secret could not be resolved or read. Messages name where it was looked for, never
/// what it contains.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// `cred:<name>` was used but the process runs without systemd credentials.
    #[error(
        "credential {name:?} needs $CREDENTIALS_DIRECTORY (set by systemd's LoadCredential=), \
         which is not set"
    )]
    NoCredentialsDirectory {
        /// The credential name.
        name: String,
    },
    /// `cred:relance_<name>` outside systemd, and `<config dir>/credentials/<name>` is absent.
    #[error(
        "credential {name:?}: $CREDENTIALS_DIRECTORY is not set (not under systemd) and {} \
         (the file LoadCredential=relance:<config dir>/credentials gives that name) does not exist",
        path.display()
    )]
    NoCredentialFile {
        /// The credential name.
        name: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The path does not name an existing file. The value is not shown: a `*_file` key that
    /// names nothing may hold a secret pasted in by mistake.
    #[error("the file this key names does not exist (the value is not shown: if it is the secret itself, put it in a file and name that file here)")]
    Missing,
    /// The file cannot be read.
    #[error("cannot read secret file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The file is not a regular file.
    #[error("secret file {} is not a regular file", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// The file's first line is empty (or it is not UTF-8).
    #[error("secret file {} is empty or not UTF-8 text, expected the secret on its first line", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The file is larger than a secret can be.
    #[error("secret file {} is larger than {MAX_SECRET_BYTES} bytes, expected a password or token", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
}

/// The file a reference points to: `$CREDENTIALS_DIRECTORY/<name>` for `cred:<name>` (with
/// `credentials_dir` the value of that variable, if set; without it, `cred:relance_<file>` is
/// `<config_dir>/credentials/<file>`), else the path, taken from `config_dir` when relative.
pub fn resolve(
    r: &SecretRef,
    config_dir: &Path,
    credentials_dir: Option<&Path>,
) -> Result<PathBuf, SecretError> {
    match r {
        SecretRef::Credential(name) => match (credentials_dir, name.strip_prefix("relance_")) {
            (Some(dir), _) => Ok(dir.join(name)),
            (None, Some(file)) => {
                let path = config_dir.join("credentials").join(file);
                if path.exists() {
                    Ok(path)
                } else {
                    Err(SecretError::NoCredentialFile {
                        name: name.clone(),
                        path,
                    })
                }
            }
            (None, None) => Err(SecretError::NoCredentialsDirectory { name: name.clone() }),
        },
        SecretRef::File(p) if p.is_absolute() => Ok(p.clone()),
        SecretRef::File(p) => Ok(config_dir.join(p)),
    }
}

/// `$CREDENTIALS_DIRECTORY`, when set and not empty.
pub fn credentials_dir_from_env() -> Option<PathBuf> {
    std::env::var_os(CREDENTIALS_DIRECTORY)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Reads a secret file: its first line, surrounding blanks trimmed.
pub fn read(path: &Path) -> Result<Secret, SecretError> {
    let read_err = |source| SecretError::Read {
        path: path.to_owned(),
        source,
    };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(SecretError::Missing),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            return Err(SecretError::Missing)
        }
        Err(e) => return Err(read_err(e)),
    };
    if !meta.is_file() {
        return Err(SecretError::NotAFile {
            path: path.to_owned(),
        });
    }
    if meta.len() > MAX_SECRET_BYTES {
        return Err(SecretError::TooLarge {
            path: path.to_owned(),
        });
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_SECRET_BYTES).read_to_end(&mut bytes))
        .map_err(read_err)?;
    let text = String::from_utf8(bytes).map_err(|_| SecretError::Empty {
        path: path.to_owned(),
    })?;
    let first = text.lines().next().unwrap_or("").trim();
    if first.is_empty() {
        return Err(SecretError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(Secret(first.to_owned()))
}

/// True when a secret file can be read by its group or by others (mode bits 077): worth a
/// warning, since a password file should be private to the service.
pub fn too_open(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o077 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_is_redacted() {
        let s = Secret("hunter2".to_owned());
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn references_resolve() {
        let cfg = Path::new("/etc/relance");
        let cred = SecretRef::parse("cred:tryton-acme").unwrap();
        assert_eq!(
            resolve(
                &cred,
                cfg,
                Some(Path::new("/run/credentials/relance.service"))
            )
            .unwrap(),
            PathBuf::from("/run/credentials/relance.service/tryton-acme")
        );
        assert!(matches!(
            resolve(&cred, cfg, None),
            Err(SecretError::NoCredentialsDirectory { .. })
        ));
        let rel = SecretRef::parse("secrets/acme.pw").unwrap();
        assert_eq!(
            resolve(&rel, cfg, None).unwrap(),
            PathBuf::from("/etc/relance/secrets/acme.pw")
        );
        // Outside systemd, the unit's credential directory under the configuration.
        let dir = tempfile::tempdir().unwrap();
        let shipped = SecretRef::parse("cred:relance_smtp-acme").unwrap();
        assert!(matches!(
            resolve(&shipped, dir.path(), None),
            Err(SecretError::NoCredentialFile { .. })
        ));
        std::fs::create_dir(dir.path().join("credentials")).unwrap();
        std::fs::write(dir.path().join("credentials/smtp-acme"), "pw\n").unwrap();
        assert_eq!(
            resolve(&shipped, dir.path(), None).unwrap(),
            dir.path().join("credentials/smtp-acme")
        );
        assert!(SecretRef::parse("cred:../x").is_err());
        assert!(SecretRef::parse("cred:").is_err());
        assert!(SecretRef::parse("").is_err());
    }

    #[test]
    fn a_value_naming_no_file_is_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let r = SecretRef::parse("S3cr3t-Pasted-By-Mistake").unwrap();
        let p = resolve(&r, dir.path(), None).unwrap();
        let e = read(&p).unwrap_err();
        assert!(matches!(e, SecretError::Missing));
        assert!(!e.to_string().contains("S3cr3t"), "{e}");
    }

    #[test]
    fn reads_first_line_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        std::fs::write(&p, "  s3cret \nsecond line\n").unwrap();
        assert_eq!(read(&p).unwrap().expose(), "s3cret");
        std::fs::write(&p, "\n").unwrap();
        assert!(matches!(read(&p), Err(SecretError::Empty { .. })));
        assert!(matches!(
            read(dir.path()),
            Err(SecretError::NotAFile { .. })
        ));
    }
}
