//! The commands that go through the operator API: `user`, `token`, `decide`. With a daemon
//! running they call it over its local socket; without one they open the store and call the
//! same routes in this process, as the local user. Either way the same handlers decide.

use crate::api::client::Client;
use crate::auth::web::Peer;
use crate::auth::{Grant, Role};
use crate::clock::Clock;
use crate::config::Config;
use anyhow::{bail, Context as _};
use http_body_util::BodyExt as _;
use relance_core::CompanyId;
use std::path::Path;
use std::process::ExitCode;
use tower::ServiceExt as _;

/// Who answers: the running daemon, or the API over the store opened here.
enum Api {
    Daemon(Client),
    Local(Box<(tokio::runtime::Runtime, axum::Router)>),
}

impl Api {
    fn open(config_dir: &Path) -> anyhow::Result<(Api, Config)> {
        let config = crate::config::load(config_dir)
            .map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))?;
        if let Some(c) = Client::find(&config)? {
            return Ok((Api::Daemon(c), config));
        }
        let backend = crate::store::Backend::from_settings(&config.global.store)?;
        let store = crate::store::open_backend(&backend, &config.global.state_dir)
            .context("opening the store (no daemon answers on its socket)")?;
        let state = crate::api::ApiState::new(
            store,
            Clock::System,
            std::sync::Arc::default(),
            &config.companies,
            std::sync::Arc::new(crate::pipeline::Pipeline::load(Some(config_dir))?),
            (config.dir.clone(), config.global.state_dir.clone()),
            config.global.api.session_ttl,
        );
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        Ok((
            Api::Local(Box::new((rt, crate::api::router(state)))),
            config,
        ))
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
        key: Option<&str>,
    ) -> anyhow::Result<serde_json::Value> {
        match self {
            Api::Daemon(c) => match method {
                "GET" => c.get_json(path),
                "DELETE" => c.delete(path),
                _ => c.post_json(path, body.unwrap_or(&serde_json::Value::Null), key),
            },
            Api::Local(local) => {
                let (rt, router) = &**local;
                let mut req = axum::http::Request::builder()
                    .method(method)
                    .uri(path)
                    .header("content-type", "application/json");
                if let Some(k) = key {
                    req = req.header(crate::api::IDEMPOTENCY_HEADER, k);
                }
                let mut req = req.body(axum::body::Body::from(
                    body.map(|b| b.to_string()).unwrap_or_default(),
                ))?;
                req.extensions_mut().insert(Peer::Local {
                    uid: own_uid(),
                    gid: 0,
                    pid: Some(std::process::id() as i32),
                });
                let router = router.clone();
                rt.block_on(async move {
                    let resp = router.oneshot(req).await?;
                    let status = resp.status();
                    let bytes = resp.into_body().collect().await?.to_bytes();
                    let v: serde_json::Value = if bytes.is_empty() {
                        serde_json::Value::Null
                    } else {
                        serde_json::from_slice(&bytes)?
                    };
                    if !status.is_success() {
                        bail!(
                            "refused: {status}: {}",
                            v["error"]["message"].as_str().unwrap_or("")
                        );
                    }
                    Ok(v)
                })
            }
        }
    }
}

/// The uid of this process (the owner of `/proc/self`).
fn own_uid() -> u32 {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX)
}

fn grants(role: Role, companies: &[String]) -> Vec<Grant> {
    if companies.is_empty() {
        vec![Grant {
            company: None,
            role,
        }]
    } else {
        companies
            .iter()
            .map(|c| Grant {
                company: Some(CompanyId::new(c.as_str())),
                role,
            })
            .collect()
    }
}

fn grants_text(v: &serde_json::Value) -> String {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|g| {
            format!(
                "{} on {}",
                g["role"].as_str().unwrap_or("?"),
                g["company"].as_str().unwrap_or("every company")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `relance user add NAME --role R [--company C]… [--password-file F]`.
pub fn user_add(
    config_dir: &Path,
    name: &str,
    role: Role,
    companies: &[String],
    password_file: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let (api, _) = Api::open(config_dir)?;
    if password_file.is_none() {
        eprintln!("password for {name} (one line on standard input):");
    }
    let password = crate::auth::read_password(password_file)?;
    let body =
        serde_json::json!({"name": name, "password": password, "grants": grants(role, companies)});
    let u = api.call("POST", "/api/v1/users", Some(&body), None)?;
    super::out(&format!(
        "user {} added: {}",
        u["name"].as_str().unwrap_or(name),
        grants_text(&u["grants"])
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// `relance user list`.
pub fn user_list(config_dir: &Path) -> anyhow::Result<ExitCode> {
    let (api, _) = Api::open(config_dir)?;
    for u in api
        .call("GET", "/api/v1/users", None, None)?
        .as_array()
        .into_iter()
        .flatten()
    {
        super::out(&format!(
            "{}\t{}",
            u["name"].as_str().unwrap_or("?"),
            grants_text(&u["grants"])
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `relance user remove NAME`.
pub fn user_remove(config_dir: &Path, name: &str) -> anyhow::Result<ExitCode> {
    let (api, _) = Api::open(config_dir)?;
    api.call("DELETE", &format!("/api/v1/users/{name}"), None, None)?;
    super::out(&format!(
        "user {name} removed, with their sessions and tokens"
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// `relance token add NAME --user U [--role R --company C…]`.
pub fn token_add(
    config_dir: &Path,
    name: &str,
    user: &str,
    role: Option<Role>,
    companies: &[String],
) -> anyhow::Result<ExitCode> {
    let (api, _) = Api::open(config_dir)?;
    let g = role.map(|r| grants(r, companies)).unwrap_or_default();
    let body = serde_json::json!({"name": name, "user": user, "grants": g});
    let t = api.call("POST", "/api/v1/tokens", Some(&body), None)?;
    eprintln!(
        "token {} for {} ({}): shown once, only its hash is kept",
        t["item"]["id"].as_str().unwrap_or("?"),
        user,
        grants_text(&t["item"]["grants"])
    );
    super::out(t["token"].as_str().unwrap_or(""))?;
    Ok(ExitCode::SUCCESS)
}

/// `relance token list`.
pub fn token_list(config_dir: &Path) -> anyhow::Result<ExitCode> {
    let (api, _) = Api::open(config_dir)?;
    for t in api
        .call("GET", "/api/v1/tokens", None, None)?
        .as_array()
        .into_iter()
        .flatten()
    {
        super::out(&format!(
            "{}\t{}\t{}\t{}",
            t["id"].as_str().unwrap_or("?"),
            t["name"].as_str().unwrap_or(""),
            t["owner"].as_str().unwrap_or(""),
            grants_text(&t["grants"])
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `relance token revoke ID`.
pub fn token_revoke(config_dir: &Path, id: &str) -> anyhow::Result<ExitCode> {
    let (api, _) = Api::open(config_dir)?;
    api.call("DELETE", &format!("/api/v1/tokens/{id}"), None, None)?;
    super::out(&format!("token {id} revoked"))?;
    Ok(ExitCode::SUCCESS)
}
