//! The API's listeners: TCP (plain HTTP on loopback, or HTTPS with rustls) and the local Unix
//! socket, each request tagged with its [`Peer`] (the client address, or the socket peer's
//! credentials from SO_PEERCRED).
//!
//! Bounded like the health endpoint: at most [`MAX_CONNECTIONS`] connections at once (one more
//! is accepted and closed at once), the request head within [`HEADER_TIMEOUT`], no connection
//! older than [`CONNECTION_TIMEOUT`] (keep-alive is on: a browser or a script reuses its
//! connection), TLS handshakes within [`HEADER_TIMEOUT`].

use crate::auth::web::Peer;
use anyhow::Context as _;
use axum::Router;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt as _;

/// Connections served at once, per listener.
pub const MAX_CONNECTIONS: usize = 1024;
/// Time allowed for a request head (and a TLS handshake).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest life of one connection.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(300);

/// A TLS acceptor from PEM files: the certificate chain and the private key.
pub fn tls_acceptor(cert: &Path, key: &Path) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading the certificate file {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading the certificate file {}", cert.display()))?;
    if certs.is_empty() {
        anyhow::bail!("{} holds no certificate", cert.display());
    }
    // The key's content never appears in an error: only its file's name.
    let key = PrivateKeyDer::from_pem_file(key).map_err(|_| {
        anyhow::anyhow!(
            "{} holds no usable private key (PEM: PKCS#8, PKCS#1 or SEC1)",
            key.display()
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the certificate and the key do not go together")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

async fn serve_conn<IO>(io: IO, app: Router, peer: Peer)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(peer.clone());
            app.clone().oneshot(req.map(axum::body::Body::new))
        });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .keep_alive(true);
    let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(io), service);
    let _ = tokio::time::timeout(CONNECTION_TIMEOUT, conn).await;
}

/// Serves `app` on a TCP listener (HTTPS when `tls` is given) until `shutdown` completes.
pub async fn serve_tcp(
    listener: tokio::net::TcpListener,
    app: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = &mut shutdown => return,
        };
        let (stream, addr) = match accepted {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "api: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!("api: too many connections, one refused");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (app, tls) = (app.clone(), tls.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let peer = Peer::Tcp(addr.ip());
            match tls {
                None => serve_conn(stream, app, peer).await,
                Some(acceptor) => {
                    match tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => serve_conn(s, app, peer).await,
                        Ok(Err(e)) => tracing::debug!(error = %e, "api: TLS handshake failed"),
                        Err(_) => tracing::debug!("api: TLS handshake timed out"),
                    }
                }
            }
        });
    }
}

/// Binds the local socket at `path` with `mode` (a socket file left by a daemon that died is
/// replaced; any other file there is an error).
pub fn bind_socket(path: &Path, mode: u32) -> anyhow::Result<tokio::net::UnixListener> {
    use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the socket's directory {}", dir.display()))?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                anyhow::bail!("{} is served by another running daemon", path.display());
            }
            std::fs::remove_file(path)
                .with_context(|| format!("removing the stale socket {}", path.display()))?;
        }
        Ok(_) => anyhow::bail!("{} exists and is not a socket", path.display()),
        Err(_) => {}
    }
    let listener = tokio::net::UnixListener::bind(path)
        .with_context(|| format!("binding the socket {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", path.display()))?;
    Ok(listener)
}

/// Serves `app` on the local socket until `shutdown` completes, then removes the socket file.
pub async fn serve_unix(
    listener: tokio::net::UnixListener,
    path: PathBuf,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!(error = %e, "api socket: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            continue;
        };
        let Ok(cred) = stream.peer_cred() else {
            tracing::warn!("api socket: no peer credentials, connection closed");
            continue;
        };
        let peer = Peer::Local {
            uid: cred.uid(),
            gid: cred.gid(),
            pid: cred.pid(),
        };
        let app = app.clone();
        tokio::spawn(async move {
            let _slot = slot;
            serve_conn(stream, app, peer).await;
        });
    }
    let _ = std::fs::remove_file(&path);
}
