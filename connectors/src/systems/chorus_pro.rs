//! Chorus Pro (B2G invoices through PISTE) as a source, for suppliers of public bodies
//! (connector-apis.md §4): the supplier's invoices and their statuses.
//!
//! - Auth: PISTE OAuth2 client credentials (scope `openid`) and, on every call, the technical
//!   account header `cpro-account: base64(login:password)` (the same token handling as the PA
//!   client: kept until a minute before expiry, fetched again on a 401).
//! - `POST /cpro/factures/v1/rechercher/fournisseur` with `idFournisseur`,
//!   `periodeDateHeureEtatCourantDu` (the status-change window: the incremental cursor, with
//!   an overlap) and `rechercheFactureParFournisseur {pageResultatDemandee,
//!   nbResultatsParPage, triColonne, triSens}`; `parametresRetour.pages` says when to stop.
//! - **An HTTP 200 whose `codeRetour` is not 0 is an error** (`libelle` says which), like the
//!   same body on a 400.
//!
//! Each invoice gives its public buyer (`codeDestinataire`, a public entity: intérêts
//! moratoires and the 40 € indemnity, CCP L2192-13, D2192-35), the invoice, and its status
//! as a [`Record::Lifecycle`] of platform `chorus_pro`. The payment period (délai global de
//! paiement, R2192-10: `public_payment_days`, 30 by default; 50 for public hospitals) runs
//! from the reception date — for Chorus Pro the notification of its mise à disposition
//! (R2192-12): the date of its `MISE_A_DISPOSITION` status when that is the current one, else
//! its deposit date — so the invoice's due date is that date plus the period, and the
//! dunning computes the intérêts moratoires from it with its rate-table row. The statuses are
//! mapped by [`super::pa::afnor_code`]: `MISE_EN_PAIEMENT` a payment announced (211),
//! `SUSPENDUE`/`A_COMPLETER` a suspension (208), `REJETEE`/`REFUSEE`/`A_RECYCLER` a dispute
//! (207), `COMPLETEE` resumes (209), the others (processing by the buyer) change nothing.
//! Nothing is written back: Chorus Pro has no reminder concept.

use super::pa::client::{Client, PaError};
use super::pa::PaConfig;
use crate::contract::{Cursor, LifecycleStatus, Page, Record, Source};
use crate::error::ConnectorError;
use crate::http::{HttpLayer, Method};
use crate::wire::{self, Secret};
use base64::Engine as _;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use relance_core::{
    Currency, Customer, CustomerId, CustomerKind, Invoice, InvoiceId, InvoiceKind, InvoiceStatus,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;

/// Settings of a `type = "chorus_pro"` source (`[sources.chorus_pro]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChorusProConfig {
    /// PISTE API base, e.g. `https://api.piste.gouv.fr` (sandbox `https://sandbox-api.piste.gouv.fr`).
    pub url: String,
    /// PISTE token endpoint, e.g. `https://oauth.piste.gouv.fr/api/oauth/token`.
    pub token_url: String,
    /// The PISTE application's client id.
    pub client_id: String,
    /// File holding its client secret.
    pub client_secret_file: PathBuf,
    /// File holding the Chorus Pro technical account as `login:password` (first line).
    pub account_file: PathBuf,
    /// The supplier's structure id in Chorus Pro (`idFournisseur`).
    pub supplier_id: i64,
    /// The délai global de paiement of the company's public buyers, in days (R2192-10: 30;
    /// R2192-11: 50 for public hospitals, 60 for entreprises publiques).
    #[serde(default = "default_days")]
    pub public_payment_days: u32,
    /// Invoices per page (`nbResultatsParPage`).
    #[serde(default = "default_page")]
    pub page_size: u32,
    /// Seconds of status changes read again before the cursor.
    #[serde(default = "default_overlap")]
    pub overlap_seconds: u64,
    /// Upper bound on requests per second to the host; 0: none.
    #[serde(default = "default_rps")]
    pub requests_per_second: u32,
    /// Timeout of one request, in seconds.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

fn default_days() -> u32 {
    30
}
fn default_page() -> u32 {
    50
}
fn default_overlap() -> u64 {
    300
}
fn default_rps() -> u32 {
    5
}
fn default_timeout() -> u64 {
    30
}

impl ChorusProConfig {
    /// A configuration with every optional setting at its default.
    pub fn new(
        url: impl Into<String>,
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret_file: impl Into<PathBuf>,
        account_file: impl Into<PathBuf>,
        supplier_id: i64,
    ) -> Self {
        ChorusProConfig {
            url: url.into(),
            token_url: token_url.into(),
            client_id: client_id.into(),
            client_secret_file: client_secret_file.into(),
            account_file: account_file.into(),
            supplier_id,
            public_payment_days: default_days(),
            page_size: default_page(),
            overlap_seconds: default_overlap(),
            requests_per_second: default_rps(),
            timeout_seconds: default_timeout(),
        }
    }
}

/// The Chorus Pro source.
#[derive(Clone, Debug)]
pub struct ChorusProConnector {
    client: Arc<Client>,
    cfg: ChorusProConfig,
}

/// Cursor: the status-change time to search from, and the page within that search.
fn decode(c: Option<&Cursor>) -> Result<(Option<DateTime<Utc>>, u32), PaError> {
    let Some(c) = c else { return Ok((None, 1)) };
    let bad = || PaError::Cursor(format!("{:?} is not a Chorus Pro cursor", c.0));
    let rest = c.0.strip_prefix("cpro1|").ok_or_else(bad)?;
    let (at, page) = rest.split_once('|').ok_or_else(bad)?;
    let at = if at.is_empty() {
        None
    } else {
        Some(
            DateTime::parse_from_rfc3339(at)
                .map_err(|_| bad())?
                .with_timezone(&Utc),
        )
    };
    Ok((at, page.parse().map_err(|_| bad())?))
}

fn encode(at: Option<DateTime<Utc>>, page: u32) -> Cursor {
    Cursor(format!(
        "cpro1|{}|{page}",
        at.map(|a| a.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default()
    ))
}

fn date(v: &Value) -> Option<NaiveDate> {
    let s = v.as_str()?;
    NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok()
}

fn time(v: &Value) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v.as_str()?)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

impl ChorusProConnector {
    /// A connector with its own HTTP layer.
    pub fn new(cfg: ChorusProConfig) -> Result<Self, ConnectorError> {
        let layer = HttpLayer::new().map_err(|e| ConnectorError::Config(e.to_string()))?;
        layer.configure([(cfg.url.clone(), cfg.requests_per_second)]);
        Self::with_http(cfg, Arc::new(layer))
    }

    /// A connector over the shared HTTP layer; reads both secret files now.
    pub fn with_http(cfg: ChorusProConfig, http: Arc<HttpLayer>) -> Result<Self, ConnectorError> {
        let account = wire::read_secret(&cfg.account_file)
            .map_err(|e| ConnectorError::Config(format!("Chorus Pro technical account: {e}")))?;
        if !account.expose().contains(':') {
            return Err(ConnectorError::Config(format!(
                "Chorus Pro technical account in {}: expected login:password on its first line",
                cfg.account_file.display()
            )));
        }
        let header = base64::engine::general_purpose::STANDARD.encode(account.expose());
        let mut oauth = PaConfig::new(
            cfg.url.clone(),
            cfg.token_url.clone(),
            cfg.client_id.clone(),
            cfg.client_secret_file.clone(),
        );
        oauth.scope = Some("openid".into());
        oauth.timeout_seconds = cfg.timeout_seconds;
        let client = Client::new(oauth, http)?.with_header("cpro-account", Secret::new(header));
        client.http().add_secret(account.expose());
        Ok(ChorusProConnector {
            client: Arc::new(client),
            cfg,
        })
    }

    /// One service call; a `codeRetour` other than 0 is an error whatever the HTTP status.
    async fn rpc(&self, path: &str, body: &Value, what: &str) -> Result<Value, PaError> {
        let v = self
            .client
            .json(Method::Post, path, Some(body), what)
            .await?;
        match v.get("codeRetour").and_then(Value::as_i64) {
            Some(0) | None => Ok(v),
            Some(code) => Err(PaError::Rejected {
                status: 200,
                what: what.into(),
                code: code.to_string(),
                detail: v
                    .get("libelle")
                    .and_then(Value::as_str)
                    .unwrap_or("no libelle")
                    .to_owned(),
            }),
        }
    }

    fn records(&self, f: &Value, out: &mut Vec<Record>) -> Result<(), PaError> {
        let bad = |what: &str| PaError::Protocol {
            what: "invoice search".into(),
            detail: format!("an invoice without {what}"),
        };
        let number = f
            .get("numeroFacture")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("numeroFacture"))?;
        let buyer = f
            .get("codeDestinataire")
            .and_then(Value::as_str)
            .unwrap_or("inconnu");
        let status = f.get("statut").and_then(Value::as_str).unwrap_or("");
        let at = time(&f["dateHeureEtatCourant"]);
        let deposited = date(&f["dateDepot"]);
        let issued = date(&f["dateFacture"])
            .or(deposited)
            .ok_or_else(|| bad("dateFacture"))?;
        // R2192-12: the period runs from the notification of the mise à disposition
        let received = match (status, at) {
            ("MISE_A_DISPOSITION", Some(a)) => Some(a.date_naive()),
            _ => deposited,
        };
        let ttc = f
            .get("montantTTC")
            .and_then(wire::decimal)
            .ok_or_else(|| bad("montantTTC"))?;
        let ht = f.get("montantHT").and_then(wire::decimal).unwrap_or(ttc);
        let due_amount = f
            .get("montantAPayer")
            .and_then(wire::decimal)
            .unwrap_or(ttc);
        let currency = Currency::parse(f.get("devise").and_then(Value::as_str).unwrap_or("EUR"))
            .map_err(|e| bad(&format!("a known currency ({e})")))?;
        let mut c = Customer::new(
            CustomerId::new(format!("cpro:{buyer}")),
            f.get("designationDestinataire")
                .and_then(Value::as_str)
                .unwrap_or(buyer),
        );
        c.kind = CustomerKind::PublicEntity;
        if buyer.len() == 14 && buyer.bytes().all(|b| b.is_ascii_digit()) {
            c.siret = Some(buyer.to_owned());
            c.siren = relance_core::siren::Siren::parse(&buyer[..9]).ok();
        }
        let credit = f.get("typeFacture").and_then(Value::as_str) == Some("AVOIR");
        let cancelled = matches!(status, "ABANDONNEE" | "SUPPRIMEE" | "ANNULEE");
        // one record per buyer per page
        if !out
            .iter()
            .any(|r| matches!(r, Record::Customer(x) if x.id == c.id))
        {
            out.push(Record::Customer(c.clone()));
        }
        out.push(Record::Invoice(Invoice {
            id: InvoiceId::new(number),
            number: number.to_owned(),
            kind: if credit {
                InvoiceKind::CreditNote
            } else {
                InvoiceKind::Invoice
            },
            type_code: if credit { 381 } else { 380 },
            issue_date: issued,
            due_date: received.map(|r| r + Duration::days(i64::from(self.cfg.public_payment_days))),
            instalments: vec![],
            currency,
            total_without_vat: ht,
            total_vat: ttc - ht,
            total_with_vat: ttc,
            amount_due: due_amount,
            customer: c.id,
            buyer_reference: f
                .get("codeServiceExecutant")
                .and_then(Value::as_str)
                .map(str::to_owned),
            order_reference: f
                .get("numeroBonCommande")
                .and_then(Value::as_str)
                .map(str::to_owned),
            remittance_reference: None,
            payment_iban: None,
            mandate_id: None,
            status: if cancelled {
                InvoiceStatus::Cancelled
            } else {
                InvoiceStatus::Open
            },
        }));
        if !status.is_empty() {
            let comment = f
                .get("commentaireEtatCourant")
                .and_then(Value::as_str)
                .filter(|c| !c.trim().is_empty());
            out.push(Record::Lifecycle(LifecycleStatus {
                invoice: InvoiceId::new(number),
                platform: "chorus_pro".into(),
                status: status.to_owned(),
                reason: Some(match comment {
                    Some(c) => format!("{status}: {c}"),
                    None => status.to_owned(),
                }),
                at,
                amount: None,
            }));
        }
        Ok(())
    }

    async fn pull_page(&self, from: Option<&Cursor>) -> Result<Page, PaError> {
        let (since, page) = decode(from)?;
        let mut body = json!({
            "idFournisseur": self.cfg.supplier_id,
            "rechercheFactureParFournisseur": {
                "pageResultatDemandee": page,
                "nbResultatsParPage": self.cfg.page_size.clamp(1, 500),
                "triColonne": "DateHeureEtatCourant",
                "triSens": "Ascendant",
            },
        });
        if let Some(s) = since {
            let from = s - Duration::seconds(i64::try_from(self.cfg.overlap_seconds).unwrap_or(0));
            body["periodeDateHeureEtatCourantDu"] =
                json!(from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        }
        let v = self
            .rpc(
                "/cpro/factures/v1/rechercher/fournisseur",
                &body,
                "invoice search",
            )
            .await?;
        let list = v
            .get("listeFactures")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let pages = v
            .pointer("/parametresRetour/pages")
            .and_then(Value::as_u64)
            .unwrap_or(1);
        let mut records = Vec::new();
        let mut latest = since;
        for f in &list {
            self.records(f, &mut records)?;
            if let Some(t) = time(&f["dateHeureEtatCourant"]) {
                latest = Some(latest.map_or(t, |l| l.max(t)));
            }
        }
        let more = u64::from(page) < pages && !list.is_empty();
        // within a search, the next page; after its last page, a new search from the latest
        // status change seen (the overlap re-reads what changed meanwhile)
        let next = if more {
            encode(since, page + 1)
        } else {
            encode(latest, 1)
        };
        Ok(Page::new(records, Some(next), more))
    }
}

impl ChorusProConnector {
    /// What a failed check means, in the words of the setting to fix: the PISTE application
    /// (token refused), the technical account (`cpro-account` refused: HTTP 403), the supplier
    /// structure (`codeRetour` not 0), or the service (unreachable, unavailable).
    fn explain(&self, e: PaError) -> ConnectorError {
        let cfg = &self.cfg;
        match e {
            PaError::Unauthorized(detail) => ConnectorError::Config(format!(
                "PISTE refused the application's credentials (client_id {:?}, secret in {}): {}",
                cfg.client_id,
                cfg.client_secret_file.display(),
                detail.trim()
            )),
            PaError::Forbidden { detail, .. } => ConnectorError::Config(format!(
                "Chorus Pro refused the technical account in {} (cpro-account, HTTP 403: {}); technical passwords expire: renew it in Chorus Pro",
                cfg.account_file.display(),
                detail.trim()
            )),
            PaError::Rejected {
                status: 200,
                code,
                detail,
                ..
            } => ConnectorError::Config(format!(
                "Chorus Pro refused the invoice search for supplier structure {} (codeRetour {code}: {detail}): check supplier_id",
                cfg.supplier_id
            )),
            PaError::Secret(detail) => ConnectorError::Config(format!(
                "PISTE client secret in {}: {detail}",
                cfg.client_secret_file.display()
            )),
            other => {
                let classified = ConnectorError::from(other);
                match classified {
                    ConnectorError::Config(m) => ConnectorError::Config(format!("Chorus Pro: {m}")),
                    ConnectorError::Permanent(m) => {
                        ConnectorError::Permanent(format!("Chorus Pro: {m}"))
                    }
                    ConnectorError::Transient {
                        message,
                        retry_after,
                    } => ConnectorError::Transient {
                        message: format!("Chorus Pro at {}: {message}", cfg.url),
                        retry_after,
                    },
                }
            }
        }
    }
}

impl Source for ChorusProConnector {
    /// One authenticated search of one invoice: the PISTE token, the technical account and
    /// the supplier structure are all used; a failure names the one refused.
    async fn check(&self) -> Result<(), ConnectorError> {
        let body = json!({
            "idFournisseur": self.cfg.supplier_id,
            "rechercheFactureParFournisseur": {"pageResultatDemandee": 1, "nbResultatsParPage": 1},
        });
        self.rpc(
            "/cpro/factures/v1/rechercher/fournisseur",
            &body,
            "invoice search",
        )
        .await
        .map_err(|e| self.explain(e))?;
        Ok(())
    }

    async fn pull(&mut self, from: Option<&Cursor>) -> Result<Page, ConnectorError> {
        Ok(self.pull_page(from).await?)
    }
}
