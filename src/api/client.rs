//! The command line's side of the local socket: finds the running daemon's socket and calls
//! the operator API over it (HTTP/1.1, hyper), so that a command that reads or changes a
//! configured company goes through the daemon, which owns the store, while it runs.
//!
//! The daemon knows the caller by the socket's peer credentials; who may connect is decided by
//! the socket's file mode and group (README: "Operator API").

use crate::config::Config;
use anyhow::{anyhow, bail, Context as _};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use std::path::{Path, PathBuf};

/// A connection to the running daemon's API socket.
#[derive(Clone, Debug)]
pub struct Client {
    path: PathBuf,
}

impl Client {
    /// The running daemon of `config`, when one answers on its socket; `None` when no
    /// daemon runs (no socket, or a socket left by a daemon that died). A socket that exists
    /// but refuses this user is an error: opening the store instead would only say it is
    /// locked.
    pub fn find(config: &Config) -> anyhow::Result<Option<Client>> {
        let g = &config.global;
        let mut refused = None;
        for path in g.api.socket_candidates(&g.state_dir, g.shard.as_deref()) {
            match Self::at(&path) {
                Ok(Some(c)) => {
                    // The daemon there must run this configuration, not another one.
                    let who = c.get_json("/api/v1/session")?;
                    let theirs = who["config_dir"].as_str().map(PathBuf::from);
                    let same = theirs.as_ref().is_some_and(|t| {
                        std::fs::canonicalize(t).ok() == std::fs::canonicalize(&config.dir).ok()
                    });
                    if same {
                        return Ok(Some(c));
                    }
                }
                Ok(None) => {}
                Err(e) => refused = Some(e),
            }
        }
        match refused {
            Some(e) => Err(e),
            None => Ok(None),
        }
    }

    /// The daemon listening on `path`, if one does.
    pub fn at(path: &Path) -> anyhow::Result<Option<Client>> {
        match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => Ok(Some(Client {
                path: path.to_owned(),
            })),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                ) =>
            {
                Ok(None)
            }
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => bail!(
                "the daemon's socket {} refuses this user ({e}): run the command as a member of the service's group (relance) or as root",
                path.display()
            ),
            Err(e) => bail!("cannot reach the daemon's socket {}: {e}", path.display()),
        }
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// GET `path`, JSON back.
    pub fn get_json(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        let (_, body) = self.call("GET", path, None, None)?;
        serde_json::from_slice(&body).context("reading the daemon's answer")
    }

    /// GET `path`, bytes back with the file name of `Content-Disposition` when there is one.
    pub fn get_bytes(&self, path: &str) -> anyhow::Result<(Option<String>, Vec<u8>)> {
        let (name, body) = self.call("GET", path, None, None)?;
        Ok((name, body))
    }

    /// POST JSON to `path` (with an idempotency key when given), JSON back.
    pub fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
        key: Option<&str>,
    ) -> anyhow::Result<serde_json::Value> {
        let (_, out) = self.call("POST", path, Some(serde_json::to_vec(body)?), key)?;
        serde_json::from_slice(&out).context("reading the daemon's answer")
    }

    /// DELETE `path`, JSON back.
    pub fn delete(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        let (_, out) = self.call("DELETE", path, None, None)?;
        serde_json::from_slice(&out).context("reading the daemon's answer")
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        key: Option<&str>,
    ) -> anyhow::Result<(Option<String>, Vec<u8>)> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let socket = self.path.clone();
        rt.block_on(async move {
            let stream = tokio::net::UnixStream::connect(&socket)
                .await
                .with_context(|| format!("connecting to {}", socket.display()))?;
            let (mut send, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .context("talking to the daemon")?;
            tokio::spawn(conn);
            let mut req = hyper::Request::builder()
                .method(method)
                .uri(path)
                .header(hyper::header::HOST, "relance");
            if body.is_some() {
                req = req.header(hyper::header::CONTENT_TYPE, "application/json");
            }
            if let Some(k) = key {
                req = req.header(super::IDEMPOTENCY_HEADER, k);
            }
            let req = req.body(Full::new(Bytes::from(body.unwrap_or_default())))?;
            let resp = send
                .send_request(req)
                .await
                .context("the daemon did not answer")?;
            let status = resp.status();
            let name = resp
                .headers()
                .get(hyper::header::CONTENT_DISPOSITION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split("filename=\"").nth(1))
                .and_then(|v| v.split('"').next())
                .map(str::to_owned);
            let bytes = resp
                .into_body()
                .collect()
                .await
                .context("reading the daemon's answer")?
                .to_bytes()
                .to_vec();
            if !status.is_success() {
                let message = serde_json::from_slice::<serde_json::Value>(&bytes)
                    .ok()
                    .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
                return Err(anyhow!("the daemon refused: {status}: {message}"));
            }
            Ok((name, bytes))
        })
    }
}
