//! Plateforme agréée (PA) connector: the AFNOR XP Z12-013 flow service every PA exposes to
//! its customers' software (connector-apis.md §7), with a profile for Super PDP's public API.
//!
//! - **Source**: the lifecycle statuses of the company's issued invoices. `POST
//!   /v1/flows/search` for `CustomerInvoiceLC` flows coming in, incrementally by `updatedAt`
//!   (the service pages by a strict `updatedAfter`: relance asks from a little before its
//!   cursor, `overlap_seconds`, and skips what it already read by `(updatedAt, flowId)`, so
//!   flows stamped in the same second are neither lost nor read twice), then each flow's CDAR
//!   (`GET /v1/flows/{flowId}?docType=Original`, read by [`crate::formats::cdar`]) as
//!   [`Record::Lifecycle`] — one per invoice status, the code as the status (`"207"`), the
//!   reason code and text as the reason. A CDAR that cannot be read is quarantined with why.
//! - **Issued invoices** (`issued_invoices = true`, the platform as their source of truth):
//!   the `CustomerInvoice` flows going out, by the same rules with a position of their own in
//!   the cursor, read before the statuses; each flow's document (CII, UBL, Factur-X PDF) read
//!   by [`crate::formats::einvoice`] into customers and invoices as an inbox file is, or the
//!   flow quarantined with why (unreadable, or refused by the platform).
//! - **Write-back**: [`WriteCommand::ReportPayment`], the "212 Encaissée" the seller must send
//!   when a receipt is applied, one amount per VAT rate. The rates come from the platform's own
//!   copy of the invoice (the `CustomerInvoice` flow whose `trackingId` is its number, read by
//!   [`crate::formats::einvoice`]); the amount is split over them in proportion to each rate's
//!   amount with VAT, to the cent, the last rate taking the rounding. Profile `afnor`: a CDAR
//!   flow `POST /v1/flows` (multipart `flowInfo` + `file`) whose `trackingId` is the
//!   idempotency key, so [`WriteBack::find_applied`] is a search on it. Profile `superpdp`:
//!   `POST /v1.beta/invoice_events {invoice_id, status_code: "fr:212", details:
//!   [{reported_data: [{amount, currency_code, type_code: "MEN", value_percent, date}]}]}`
//!   (superpdp/examples `erp.go`), found again by its natural key (the invoice, the status
//!   and the amounts) since that API takes no key of ours.
//!
//! A negative amount (a returned direct debit, a reversed transfer) is sent as a 212 with
//! negative `MEN` amounts: how a platform wants an Encaissée corrected is not published
//! (connector-apis.md, corrections: "correcting through RAP is a guess"); this is the one
//! relance makes, to check on the first real platform. Receipts not lettered by the due date
//! (the period's aggregate report, `relance ereporting`) are not sent by relance.

pub mod client;

use crate::contract::{
    Cursor, IdempotencyKey, LifecycleStatus, Page, Record, RemoteRef, Source, WriteBack,
    WriteCommand,
};
use crate::error::ConnectorError;
use crate::formats::cdar::{self, CdarMessage, InvoiceStatus, Party, ReportedAmount};
use crate::http::{HttpLayer, Method};
use chrono::{DateTime, NaiveDate, Utc};
use client::{Client, PaError};
use relance_core::InvoiceId;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;

/// Which API the platform speaks for the 212.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// The AFNOR XP Z12-013 flow service only (a CDAR flow per 212).
    Afnor,
    /// Super PDP: statuses through the flow service, the 212 through `invoice_events`.
    Superpdp,
}

/// Settings of a `type = "pa"` source (`[sources.pa]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaConfig {
    /// The flow service's base URL, e.g. `https://api.example-pa.fr/flow-service`.
    pub url: String,
    /// The OAuth2 token endpoint (client credentials).
    pub token_url: String,
    /// The OAuth2 client id.
    pub client_id: String,
    /// File holding the client secret (first line).
    pub client_secret_file: PathBuf,
    /// OAuth2 scope, when the platform wants one.
    #[serde(default)]
    pub scope: Option<String>,
    /// `Organization-Id` header (an accounting firm acting for the company).
    #[serde(default)]
    pub organization_id: Option<String>,
    /// The API profile. Default `afnor`.
    #[serde(default = "default_profile")]
    pub profile: Profile,
    /// The Super PDP API base (profile `superpdp`), e.g. `https://api.superpdp.tech`.
    #[serde(default)]
    pub superpdp_url: Option<String>,
    /// The platform's name in statuses and the audit log. Default `pa`.
    #[serde(default = "default_platform")]
    pub platform: String,
    /// The company's SIREN (the seller, issuer of its 212 messages).
    #[serde(default)]
    pub seller_siren: Option<String>,
    /// Send "212 Encaissée" for the receipts relance applies. Default true; false where the
    /// platform is also the ledger and matches payments itself.
    #[serde(default = "yes")]
    pub report_payments: bool,
    /// The platform is the source of truth for the company's issued invoices: pull them too
    /// (the `CustomerInvoice` flows going out, their CII, UBL or Factur-X read like files of
    /// an e-invoice inbox), incrementally as the statuses are. Default false.
    #[serde(default)]
    pub issued_invoices: bool,
    /// Flows per search (the service's `limit`, at most 100).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Seconds re-read before the cursor at each search.
    #[serde(default = "default_overlap")]
    pub overlap_seconds: u64,
    /// Upper bound on requests per second to the host; 0: none.
    #[serde(default = "default_rps")]
    pub requests_per_second: u32,
    /// Timeout of one request, in seconds.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

fn default_profile() -> Profile {
    Profile::Afnor
}
fn default_platform() -> String {
    "pa".to_owned()
}
fn yes() -> bool {
    true
}
fn default_page_size() -> u32 {
    50
}
fn default_overlap() -> u64 {
    60
}
fn default_rps() -> u32 {
    10
}
fn default_timeout() -> u64 {
    30
}

impl PaConfig {
    /// A configuration with every optional setting at its default.
    pub fn new(
        url: impl Into<String>,
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret_file: impl Into<PathBuf>,
    ) -> Self {
        PaConfig {
            url: url.into(),
            token_url: token_url.into(),
            client_id: client_id.into(),
            client_secret_file: client_secret_file.into(),
            scope: None,
            organization_id: None,
            profile: Profile::Afnor,
            superpdp_url: None,
            platform: default_platform(),
            seller_siren: None,
            report_payments: true,
            issued_invoices: false,
            page_size: default_page_size(),
            overlap_seconds: default_overlap(),
            requests_per_second: default_rps(),
            timeout_seconds: default_timeout(),
        }
    }
}

/// The AFNOR lifecycle code (XP Z12-012) a platform's status stands for: the code itself
/// (`"207"`, `"fr:207"`), or a vendor's word (Pennylane's `e_invoicing.status`: `submitted,
/// sent, approved, accepted, rejected, refused, in_dispute, partially_collected,
/// collected`). `None` for a word with no lifecycle meaning.
pub fn afnor_code(status: &str) -> Option<u16> {
    let s = status.trim();
    let s = s.strip_prefix("fr:").unwrap_or(s);
    if let Ok(c) = s.parse::<u16>() {
        return (200..=299).contains(&c).then_some(c);
    }
    Some(match s.to_ascii_lowercase().as_str() {
        // Chorus Pro's statuses (connector-apis.md §4.3)
        "mise_a_disposition" => 203,
        "suspendue" | "a_completer" => 208,
        "rejetee" | "a_recycler" => 207,
        s if s.starts_with("refusee") => 207,
        "completee" => 209,
        "mise_en_paiement" => 211,
        "submitted" => 200,
        "sent" => 203,
        "accepted" => 204,
        "approved" => 205,
        "in_dispute" => 207,
        "refused" => 210,
        "partially_collected" | "collected" => 212,
        "rejected" => 213,
        _ => return None,
    })
}

/// Splits `amount` over the VAT rates of an invoice in proportion to each rate's amount with
/// VAT (`(rate, gross)` pairs), to the cent; the last rate takes the rounding so the parts add
/// up to `amount`. One rate, or no breakdown, gives the whole amount (at `fallback_rate`).
pub fn split_by_rate(
    amount: Decimal,
    rates: &[(Decimal, Decimal)],
    fallback_rate: Option<Decimal>,
) -> Vec<(Option<Decimal>, Decimal)> {
    let total: Decimal = rates.iter().map(|(_, g)| *g).sum();
    if rates.len() <= 1 || total.is_zero() {
        let rate = rates.first().map(|(r, _)| *r).or(fallback_rate);
        return vec![(rate, amount)];
    }
    let mut out = Vec::with_capacity(rates.len());
    let mut left = amount;
    for (i, (rate, gross)) in rates.iter().enumerate() {
        let part = if i + 1 == rates.len() {
            left
        } else {
            relance_core::money::round_cents(amount * *gross / total)
        };
        left -= part;
        out.push((Some(*rate), part));
    }
    out
}

/// Position in an incremental pass: the last flow read.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Position {
    at: DateTime<Utc>,
    flow: String,
}

/// Where each pass stands: the lifecycle statuses' and, with `issued_invoices`, the invoices'.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Positions {
    statuses: Option<Position>,
    invoices: Option<Position>,
}

fn decode_position(at: &str, flow: &str) -> Result<Option<Position>, PaError> {
    if at.is_empty() {
        return Ok(None);
    }
    let at = DateTime::parse_from_rfc3339(at)
        .map_err(|e| PaError::Cursor(e.to_string()))?
        .with_timezone(&Utc);
    Ok(Some(Position {
        at,
        flow: flow.to_owned(),
    }))
}

/// `pa1|<at>|<flow>` (the statuses only, as relance wrote it before it read invoices) or
/// `pa2|<at>|<flow>|<at>|<flow>` (statuses, then invoices; flow ids percent-encoded, an
/// empty pair for a pass not started).
fn decode_cursor(c: Option<&Cursor>) -> Result<Positions, PaError> {
    let Some(c) = c else {
        return Ok(Positions::default());
    };
    if let Some(rest) = c.0.strip_prefix("pa1|") {
        let (at, flow) = rest
            .split_once('|')
            .ok_or_else(|| PaError::Cursor("no flow id".into()))?;
        return Ok(Positions {
            statuses: decode_position(at, flow)?,
            invoices: None,
        });
    }
    let rest =
        c.0.strip_prefix("pa2|")
            .ok_or_else(|| PaError::Cursor(format!("{:?} is not a platform cursor", c.0)))?;
    let parts: Vec<&str> = rest.split('|').collect();
    let [sa, sf, ia, iflow] = parts.as_slice() else {
        return Err(PaError::Cursor(format!("{:?}: four fields expected", c.0)));
    };
    let dec = |x: &str| -> String {
        url::form_urlencoded::parse(format!("f={x}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Positions {
        statuses: decode_position(sa, &dec(sf))?,
        invoices: decode_position(ia, &dec(iflow))?,
    })
}

fn encode_cursor(p: &Positions, with_invoices: bool) -> Cursor {
    let at = |p: &Option<Position>| {
        p.as_ref()
            .map(|p| p.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default()
    };
    if !with_invoices && p.invoices.is_none() {
        if let Some(sp) = &p.statuses {
            return Cursor(format!("pa1|{}|{}", at(&p.statuses), sp.flow));
        }
    }
    let flow = |p: &Option<Position>| p.as_ref().map(|p| urlencode(&p.flow)).unwrap_or_default();
    Cursor(format!(
        "pa2|{}|{}|{}|{}",
        at(&p.statuses),
        flow(&p.statuses),
        at(&p.invoices),
        flow(&p.invoices)
    ))
}

/// One flow of a search answer.
#[derive(Clone, Debug)]
struct Flow {
    id: String,
    name: Option<String>,
    updated: DateTime<Utc>,
    ack: String,
    ack_detail: String,
}

fn flows_of(v: &Value) -> Result<Vec<Flow>, PaError> {
    let Some(results) = v.get("results") else {
        if v.is_null() {
            return Ok(Vec::new()); // 204: nothing
        }
        return Err(PaError::Protocol {
            what: "flow search".into(),
            detail: "no results in the answer".into(),
        });
    };
    let mut out = Vec::new();
    for f in results.as_array().into_iter().flatten() {
        let id = f
            .get("flowId")
            .and_then(Value::as_str)
            .ok_or_else(|| PaError::Protocol {
                what: "flow search".into(),
                detail: "a flow without flowId".into(),
            })?;
        let updated = f
            .get("updatedAt")
            .or_else(|| f.get("submittedAt"))
            .and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.with_timezone(&Utc))
            .ok_or_else(|| PaError::Protocol {
                what: "flow search".into(),
                detail: format!("flow {id}: no readable updatedAt"),
            })?;
        let ack = f.pointer("/acknowledgement/status");
        let detail = f
            .pointer("/acknowledgement/details")
            .and_then(Value::as_array)
            .map(|d| {
                d.iter()
                    .map(|x| {
                        format!(
                            "{} {}",
                            x.get("reasonCode").and_then(Value::as_str).unwrap_or(""),
                            x.get("reasonMessage").and_then(Value::as_str).unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default();
        out.push(Flow {
            id: id.to_owned(),
            name: f
                .get("name")
                .and_then(Value::as_str)
                .filter(|n| !n.trim().is_empty())
                .map(str::to_owned),
            updated,
            ack: ack.and_then(Value::as_str).unwrap_or("Ok").to_owned(),
            ack_detail: detail,
        });
    }
    out.sort_by(|a, b| (a.updated, &a.id).cmp(&(b.updated, &b.id)));
    Ok(out)
}

/// The PA connector: a [`Source`] of lifecycle statuses and a [`WriteBack`] of 212s.
#[derive(Clone, Debug)]
pub struct PaConnector {
    client: Arc<Client>,
}

impl PaConnector {
    /// A connector with its own HTTP layer.
    pub fn new(cfg: PaConfig) -> Result<Self, ConnectorError> {
        let layer = HttpLayer::new().map_err(|e| ConnectorError::Config(e.to_string()))?;
        layer.configure([(cfg.url.clone(), cfg.requests_per_second)]);
        Self::with_http(cfg, Arc::new(layer))
    }

    /// A connector over the shared HTTP layer; reads the secret file now.
    pub fn with_http(cfg: PaConfig, http: Arc<HttpLayer>) -> Result<Self, ConnectorError> {
        Ok(PaConnector {
            client: Arc::new(Client::new(cfg, http)?),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &PaConfig {
        &self.client.cfg
    }

    async fn search(&self, filter: Value, limit: u32) -> Result<Vec<Flow>, PaError> {
        let body = json!({ "limit": limit.clamp(1, 100), "where": filter });
        let v = self
            .client
            .json(Method::Post, "/v1/flows/search", Some(&body), "flow search")
            .await?;
        flows_of(&v)
    }

    /// The flow's document as it was submitted (`docType=Original`): a CDAR, or an invoice's
    /// CII, UBL or Factur-X PDF.
    async fn original(&self, flow: &str) -> Result<Vec<u8>, PaError> {
        let path = format!("/v1/flows/{}?docType=Original", urlencode(flow));
        self.client.download(&path, "flow download").await
    }

    /// The flows `filter` selects that were not read yet from `pos`, at most a page, in
    /// `(updatedAt, flowId)` order, and whether more may follow. The service pages by a strict
    /// `updatedAfter`: relance asks from `overlap_seconds` before the position and skips what
    /// it read; a whole page already read (flows stamped alike) is asked again from just
    /// before the position with the largest page.
    async fn unseen(
        &self,
        mut filter: Value,
        pos: Option<&Position>,
        what: &str,
    ) -> Result<(Vec<Flow>, bool), PaError> {
        let cfg = &self.client.cfg;
        let limit = cfg.page_size.clamp(1, 100);
        if let Some(p) = pos {
            let overlap =
                chrono::Duration::seconds(i64::try_from(cfg.overlap_seconds).unwrap_or(0));
            filter["updatedAfter"] =
                json!((p.at - overlap).to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        }
        let mut flows = self.search(filter.clone(), limit).await?;
        let seen = |f: &Flow| match pos {
            Some(p) => (f.updated, f.id.as_str()) <= (p.at, p.flow.as_str()),
            None => false,
        };
        let mut full = flows.len() as u32 >= limit;
        if full && flows.iter().all(seen) {
            if let Some(p) = pos {
                filter["updatedAfter"] = json!((p.at - chrono::Duration::milliseconds(1))
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
                flows = self.search(filter.clone(), 100).await?;
                full = flows.len() >= 100;
                if full && flows.iter().all(seen) {
                    tracing::warn!(
                        platform = %cfg.platform,
                        "more than 100 {what} flows share one timestamp: those past the first 100 cannot be reached by the flow service's search"
                    );
                    filter["updatedAfter"] =
                        json!(p.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
                    flows = self.search(filter, limit).await?;
                    full = flows.len() as u32 >= limit;
                }
            }
        }
        let mut unseen: Vec<Flow> = flows.into_iter().filter(|f| !seen(f)).collect();
        let more_here = unseen.len() > limit as usize;
        unseen.truncate(limit as usize);
        Ok((unseen, full || more_here))
    }

    /// The lifecycle statuses of the flows after `pos`: records and the last flow read.
    async fn statuses_after(
        &self,
        pos: Option<&Position>,
        records: &mut Vec<Record>,
    ) -> Result<(Option<Position>, bool), PaError> {
        let cfg = &self.client.cfg;
        let filter = json!({
            "flowType": ["CustomerInvoiceLC"],
            "flowDirection": ["In"],
        });
        let (flows, full) = self.unseen(filter, pos, "lifecycle").await?;
        let mut last = pos.cloned();
        for f in flows {
            if f.ack == "Pending" {
                // not processed yet: read it (and what follows) at the next pass
                break;
            }
            let xml = self.original(&f.id).await?;
            let parsed = cdar::parse(&xml);
            match &parsed.message {
                Some(m) => {
                    for s in &m.statuses {
                        records.push(Record::Lifecycle(lifecycle(&cfg.platform, s, f.updated)));
                    }
                    if m.statuses.is_empty() {
                        records.push(quarantine(&f.id, &parsed.diagnostics));
                    }
                }
                None => records.push(quarantine(&f.id, &parsed.diagnostics)),
            }
            last = Some(Position {
                at: f.updated,
                flow: f.id,
            });
        }
        let moved = last.as_ref() != pos;
        Ok((last, full && moved))
    }

    /// The company's issued invoices in the flows after `pos` (`CustomerInvoice` going out),
    /// each read by [`crate::formats::einvoice`] as a file of an e-invoice inbox is: its
    /// customers and invoices, or the flow quarantined with why (unreadable, not an invoice,
    /// refused by the platform).
    async fn invoices_after(
        &self,
        pos: Option<&Position>,
        records: &mut Vec<Record>,
    ) -> Result<(Option<Position>, bool), PaError> {
        let filter = json!({
            "flowType": ["CustomerInvoice"],
            "flowDirection": ["Out"],
        });
        let (flows, full) = self.unseen(filter, pos, "invoice").await?;
        let mut last = pos.cloned();
        for f in flows {
            let file = format!("flow {}", f.id);
            match f.ack.as_str() {
                // not processed yet: read at the next pass
                "Pending" => break,
                "Error" => records.push(Record::Quarantined {
                    file,
                    reason: format!(
                        "the platform refused this invoice flow ({}): not a receivable",
                        if f.ack_detail.trim().is_empty() {
                            "no detail given"
                        } else {
                            f.ack_detail.trim()
                        }
                    ),
                }),
                _ => {
                    let bytes = self.original(&f.id).await?;
                    let name = f.name.clone().unwrap_or_else(|| f.id.clone());
                    let parsed = crate::formats::einvoice::parse(&name, &bytes);
                    if crate::formats::einvoice::is_usable(&parsed) {
                        for doc in &parsed.documents {
                            let (inv, cust) = crate::formats::einvoice::to_core(doc);
                            records.push(Record::Customer(cust));
                            records.push(Record::Invoice(inv));
                        }
                    } else {
                        records.push(Record::Quarantined {
                            file: file.clone(),
                            reason: super::folder::unusable_reason(&file, &parsed.diagnostics),
                        });
                    }
                }
            }
            last = Some(Position {
                at: f.updated,
                flow: f.id,
            });
        }
        let moved = last.as_ref() != pos;
        Ok((last, full && moved))
    }

    async fn pull_page(&self, from: Option<&Cursor>) -> Result<Page, PaError> {
        let with_invoices = self.client.cfg.issued_invoices;
        let pos = decode_cursor(from)?;
        let mut records = Vec::new();
        let mut next = pos.clone();
        if with_invoices {
            // the invoices first: the statuses that follow name them
            let (last, more) = self
                .invoices_after(pos.invoices.as_ref(), &mut records)
                .await?;
            next.invoices = last;
            if more {
                return Ok(Page::new(records, Some(encode_cursor(&next, true)), true));
            }
        }
        let (last, more) = self
            .statuses_after(pos.statuses.as_ref(), &mut records)
            .await?;
        next.statuses = last;
        let cursor = (next != Positions::default()).then(|| encode_cursor(&next, with_invoices));
        Ok(Page::new(records, cursor, more))
    }

    /// The `(rate, gross)` VAT breakdown of the invoice numbered `number` from the platform's
    /// copy (the `CustomerInvoice` flow tracked under its number).
    async fn vat_rates(&self, number: &str) -> Result<Vec<(Decimal, Decimal)>, PaError> {
        let flows = self
            .search(
                json!({"trackingId": number, "flowType": ["CustomerInvoice"]}),
                10,
            )
            .await?;
        let Some(f) = flows.last() else {
            return Err(PaError::Refused(format!(
                "the platform has no invoice {number:?} (no CustomerInvoice flow tracked under it): 212 not sent"
            )));
        };
        let body = self.original(&f.id).await?;
        let name = f.name.clone().unwrap_or_else(|| format!("{number}.xml"));
        let parsed = crate::formats::einvoice::parse(&name, &body);
        let Some(doc) = parsed.documents.first() else {
            return Err(PaError::Refused(format!(
                "the platform's copy of invoice {number:?} cannot be read: 212 not sent"
            )));
        };
        Ok(doc
            .vat
            .iter()
            .filter_map(|b| {
                let rate = b.rate?;
                let gross = b.taxable.unwrap_or_default() + b.tax.unwrap_or_default();
                Some((rate, gross))
            })
            .collect())
    }

    async fn report_afnor(
        &self,
        key: &IdempotencyKey,
        msg: &CdarMessage,
    ) -> Result<RemoteRef, PaError> {
        let xml = cdar::write(msg);
        let info = json!({
            "trackingId": key.as_str(),
            "name": format!("{}.xml", key.as_str()),
            "flowSyntax": "CDAR",
            "flowType": "CustomerInvoiceLC",
            "processingRule": "B2B",
        });
        let boundary = format!(
            "relance-{}",
            &key.as_str()[key.as_str().len().saturating_sub(16)..]
        );
        let mut body = Vec::new();
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"flowInfo\"\r\nContent-Type: application/json\r\n\r\n{info}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{}.xml\"\r\nContent-Type: application/xml\r\n\r\n",
                key.as_str()
            )
            .as_bytes(),
        );
        body.extend_from_slice(xml.as_bytes());
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let ct = format!("multipart/form-data; boundary={boundary}");
        let r = self
            .client
            .call(
                Method::Post,
                "/v1/flows",
                None,
                Some((&ct, body)),
                "212 submission",
            )
            .await;
        match r {
            Ok(r) => {
                let v: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
                Ok(RemoteRef(
                    v.get("flowId")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .unwrap_or_else(|| format!("tracking:{}", key.as_str())),
                ))
            }
            // submitted before (a crash after the platform took it): found by its key
            Err(PaError::Rejected { code, .. }) if code == "AlreadyExistingFlow" => {
                match self.find_afnor(key).await? {
                    Some(r) => Ok(r),
                    None => Ok(RemoteRef(format!("tracking:{}", key.as_str()))),
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn find_afnor(&self, key: &IdempotencyKey) -> Result<Option<RemoteRef>, PaError> {
        let flows = self.search(json!({"trackingId": key.as_str()}), 10).await?;
        match flows.into_iter().next() {
            None => Ok(None),
            Some(f) if f.ack == "Error" => Err(PaError::Refused(format!(
                "the platform refused the 212 flow {}: {}",
                f.id, f.ack_detail
            ))),
            Some(f) => Ok(Some(RemoteRef(f.id))),
        }
    }

    fn superpdp(&self, path: &str) -> Result<String, PaError> {
        let base = self
            .client
            .cfg
            .superpdp_url
            .as_deref()
            .ok_or_else(|| PaError::Refused("profile superpdp needs superpdp_url".into()))?;
        Ok(format!("{}{path}", base.trim_end_matches('/')))
    }

    /// The Super PDP invoice id of the invoice numbered `number` (its `/v1.beta/invoices`
    /// list, paged by `starting_after_id`).
    async fn superpdp_invoice(&self, number: &str) -> Result<i64, PaError> {
        let mut after: Option<i64> = None;
        for _ in 0..10_000 {
            let mut path = "/v1.beta/invoices".to_owned();
            if let Some(a) = after {
                path.push_str(&format!("?starting_after_id={a}"));
            }
            let v = self
                .superpdp_json(Method::Get, &path, None, "invoice list")
                .await?;
            let data = v
                .get("data")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for inv in &data {
                let n = inv
                    .pointer("/en_invoice/number")
                    .or_else(|| inv.get("number"))
                    .and_then(Value::as_str);
                if n == Some(number) {
                    if let Some(id) = inv.get("id").and_then(Value::as_i64) {
                        return Ok(id);
                    }
                }
            }
            let more = v.get("has_after").and_then(Value::as_bool).unwrap_or(false);
            after = data
                .last()
                .and_then(|i| i.get("id"))
                .and_then(Value::as_i64);
            if !more || after.is_none() {
                break;
            }
        }
        Err(PaError::Refused(format!(
            "Super PDP has no invoice numbered {number:?}: 212 not sent"
        )))
    }

    async fn superpdp_json(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Value, PaError> {
        // the same token and error handling as the flow service, on the vendor's base URL
        let url = self.superpdp(path)?;
        let r = self.client.call_url(method, &url, body, None, what).await?;
        if r.status == 204 || r.body.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&r.body).map_err(|e| PaError::Protocol {
            what: what.into(),
            detail: e.to_string(),
        })
    }

    fn reported_data(
        parts: &[(Option<Decimal>, Decimal)],
        currency: &str,
        date: NaiveDate,
    ) -> Value {
        Value::Array(
            parts
                .iter()
                .map(|(rate, amount)| {
                    json!({
                        "amount": amount.to_string(),
                        "currency_code": currency,
                        "type_code": "MEN",
                        "value_percent": rate.map(|r| r.to_string()),
                        "date": date.to_string(),
                    })
                })
                .collect(),
        )
    }

    async fn find_superpdp(
        &self,
        invoice_id: i64,
        reported: &Value,
    ) -> Result<Option<RemoteRef>, PaError> {
        let v = self
            .superpdp_json(
                Method::Get,
                &format!("/v1.beta/invoice_events?invoice_id={invoice_id}"),
                None,
                "invoice events",
            )
            .await?;
        for e in v
            .get("data")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let same_status = e.get("status_code").and_then(Value::as_str) == Some("fr:212");
            let data = e.pointer("/details/0/reported_data");
            if same_status && data.map(|d| same_amounts(d, reported)).unwrap_or(false) {
                let id = e.get("id").map(|i| i.to_string()).unwrap_or_default();
                return Ok(Some(RemoteRef(format!("invoice_event:{id}"))));
            }
        }
        Ok(None)
    }

    async fn payment_parts(
        &self,
        number: &str,
        amount: Decimal,
    ) -> Result<Vec<(Option<Decimal>, Decimal)>, PaError> {
        let rates = self.vat_rates(number).await?;
        Ok(split_by_rate(amount, &rates, None))
    }

    fn message(
        &self,
        key: &IdempotencyKey,
        cmd: &PaymentReport<'_>,
        parts: &[(Option<Decimal>, Decimal)],
    ) -> CdarMessage {
        let cfg = &self.client.cfg;
        CdarMessage {
            id: key.as_str().to_owned(),
            profile: None,
            issued_at: cmd.date.and_hms_opt(0, 0, 0),
            issuer: Party {
                global_id: cfg.seller_siren.clone().map(|s| ("0002".to_owned(), s)),
                role: Some("SE".into()),
                ..Party::default()
            },
            recipients: vec![Party {
                role: Some("DFH".into()),
                ..Party::default()
            }],
            statuses: vec![InvoiceStatus {
                invoice_number: cmd.number.to_owned(),
                invoice_type: Some(cmd.type_code),
                invoice_date: Some(cmd.issue_date),
                code: 212,
                label: None,
                at: cmd.date.and_hms_opt(0, 0, 0),
                reason_code: None,
                reason: None,
                action_code: None,
                amounts: parts
                    .iter()
                    .map(|(rate, a)| ReportedAmount {
                        type_code: "MEN".into(),
                        amount: *a,
                        currency: Some(cmd.currency.to_owned()),
                        vat_rate: *rate,
                    })
                    .collect(),
            }],
        }
    }
}

/// The fields of a [`WriteCommand::ReportPayment`].
struct PaymentReport<'a> {
    number: &'a str,
    type_code: u16,
    issue_date: NaiveDate,
    amount: Decimal,
    currency: &'a str,
    date: NaiveDate,
}

fn payment_report(cmd: &WriteCommand) -> Result<PaymentReport<'_>, PaError> {
    match cmd {
        WriteCommand::ReportPayment {
            number,
            type_code,
            issue_date,
            amount,
            currency,
            date,
            ..
        } => Ok(PaymentReport {
            number,
            type_code: *type_code,
            issue_date: *issue_date,
            amount: *amount,
            currency,
            date: *date,
        }),
        _ => Err(PaError::Refused(
            "an e-invoicing platform only takes payment reports (212 Encaissée); dunning actions go to the system of record".into(),
        )),
    }
}

fn same_amounts(a: &Value, b: &Value) -> bool {
    let norm = |v: &Value| -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = v
            .as_array()
            .into_iter()
            .flatten()
            .map(|x| {
                let num = |k: &str| {
                    x.get(k)
                        .and_then(crate::wire::decimal)
                        .map(|d| d.normalize().to_string())
                        .unwrap_or_default()
                };
                (num("amount"), num("value_percent"))
            })
            .collect();
        out.sort();
        out
    };
    norm(a) == norm(b)
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn lifecycle(platform: &str, s: &InvoiceStatus, flow_at: DateTime<Utc>) -> LifecycleStatus {
    let reason = match (&s.reason_code, &s.reason) {
        (Some(c), Some(r)) => Some(format!("{c}: {r}")),
        (Some(c), None) => Some(c.clone()),
        (None, Some(r)) => Some(r.clone()),
        (None, None) => None,
    };
    let amount = (!s.amounts.is_empty()).then(|| s.amounts.iter().map(|a| a.amount).sum());
    LifecycleStatus {
        invoice: InvoiceId::new(s.invoice_number.as_str()),
        platform: platform.to_owned(),
        status: s.code.to_string(),
        reason,
        at: Some(s.at.map(|d| d.and_utc()).unwrap_or(flow_at)),
        amount,
    }
}

fn quarantine(flow: &str, diags: &[crate::formats::diag::Diagnostic]) -> Record {
    let why = diags
        .iter()
        .filter(|d| d.severity >= crate::formats::diag::Severity::Error)
        .map(|d| format!("{} at {}: {}", d.rule, d.path, d.message))
        .collect::<Vec<_>>()
        .join("; ");
    Record::Quarantined {
        file: format!("flow {flow}"),
        reason: if why.is_empty() {
            "the lifecycle message reports no status".into()
        } else {
            why
        },
    }
}

impl Source for PaConnector {
    async fn check(&self) -> Result<(), ConnectorError> {
        self.client
            .call(Method::Get, "/v1/healthcheck", None, None, "healthcheck")
            .await?;
        // an authenticated search: the credentials and the flow rights
        self.search(json!({"flowType": ["CustomerInvoiceLC"]}), 1)
            .await?;
        Ok(())
    }

    async fn pull(&mut self, from: Option<&Cursor>) -> Result<Page, ConnectorError> {
        Ok(self.pull_page(from).await?)
    }
}

impl WriteBack for PaConnector {
    async fn find_applied(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<RemoteRef>, ConnectorError> {
        match self.client.cfg.profile {
            Profile::Afnor => Ok(self.find_afnor(key).await?),
            // found by its natural key in apply (the command is needed for it)
            Profile::Superpdp => Ok(None),
        }
    }

    async fn apply(
        &self,
        key: &IdempotencyKey,
        cmd: &WriteCommand,
    ) -> Result<RemoteRef, ConnectorError> {
        let p = payment_report(cmd)?;
        match self.client.cfg.profile {
            Profile::Afnor => {
                if let Some(r) = self.find_afnor(key).await? {
                    return Ok(r);
                }
                let parts = self.payment_parts(p.number, p.amount).await?;
                let msg = self.message(key, &p, &parts);
                Ok(self.report_afnor(key, &msg).await?)
            }
            Profile::Superpdp => {
                let id = self.superpdp_invoice(p.number).await?;
                let parts = self.payment_parts(p.number, p.amount).await?;
                let reported = Self::reported_data(&parts, p.currency, p.date);
                if let Some(r) = self.find_superpdp(id, &reported).await? {
                    return Ok(r);
                }
                let body = json!({
                    "invoice_id": id,
                    "status_code": "fr:212",
                    "details": [{ "reported_data": reported }],
                });
                let v = self
                    .superpdp_json(
                        Method::Post,
                        "/v1.beta/invoice_events",
                        Some(&body),
                        "212 event",
                    )
                    .await?;
                let eid = v.get("id").map(|i| i.to_string()).unwrap_or_default();
                Ok(RemoteRef(format!("invoice_event:{eid}")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn codes_and_vendor_words() {
        assert_eq!(afnor_code("207"), Some(207));
        assert_eq!(afnor_code("fr:212"), Some(212));
        assert_eq!(afnor_code("refused"), Some(210));
        assert_eq!(afnor_code("in_dispute"), Some(207));
        assert_eq!(afnor_code("collected"), Some(212));
        assert_eq!(afnor_code("draft"), None);
        assert_eq!(afnor_code("SUSPENDUE"), Some(208));
        assert_eq!(afnor_code("REJETEE"), Some(207));
        assert_eq!(afnor_code("MISE_EN_PAIEMENT"), Some(211));
        assert_eq!(afnor_code("MANDATEE"), None);
        assert_eq!(afnor_code("404"), None);
    }

    #[test]
    fn split_adds_up_to_the_cent() {
        let parts = split_by_rate(
            dec!(1000.00),
            &[(dec!(20), dec!(960.00)), (dec!(5.5), dec!(211.00))],
            None,
        );
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], (Some(dec!(20)), dec!(819.81)));
        assert_eq!(parts[0].1 + parts[1].1, dec!(1000.00));
        assert_eq!(
            split_by_rate(dec!(5), &[], Some(dec!(20))),
            vec![(Some(dec!(20)), dec!(5))]
        );
        let neg = split_by_rate(
            dec!(-1171.00),
            &[(dec!(20), dec!(960.00)), (dec!(5.5), dec!(211.00))],
            None,
        );
        assert_eq!(neg[0].1 + neg[1].1, dec!(-1171.00));
        assert_eq!(neg[1].1, dec!(-211.00));
    }

    #[test]
    fn cursors_round_trip_and_refuse_others() {
        let p = Position {
            at: DateTime::parse_from_rfc3339("2026-11-02T10:00:00.250Z")
                .unwrap()
                .with_timezone(&Utc),
            flow: "f|1".into(),
        };
        let only = Positions {
            statuses: Some(p.clone()),
            invoices: None,
        };
        let c = encode_cursor(&only, false);
        assert!(c.0.starts_with("pa1|"), "{c:?}");
        assert_eq!(decode_cursor(Some(&c)).unwrap(), only);
        let both = Positions {
            statuses: None,
            invoices: Some(p),
        };
        let c = encode_cursor(&both, true);
        assert!(c.0.starts_with("pa2|"), "{c:?}");
        assert_eq!(decode_cursor(Some(&c)).unwrap(), both);
        // a cursor written before invoices were read: statuses kept, invoices from the start
        let old = Cursor("pa1|2026-11-02T10:00:00.250Z|f-1".into());
        let read = decode_cursor(Some(&old)).unwrap();
        assert!(read.statuses.is_some() && read.invoices.is_none());
        assert!(decode_cursor(Some(&Cursor("x".into()))).is_err());
        assert!(decode_cursor(Some(&Cursor("pa2|a|b".into()))).is_err());
    }
}
