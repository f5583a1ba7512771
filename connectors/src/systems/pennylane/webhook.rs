//! Pennylane webhooks (beta, connector-apis.md corrections of December 2026): events are
//! verified, deduplicated on their id, and the invoices they name are queued for the company's
//! source, which fetches them at its next pull; the changelogs stay the safety net (an event
//! lost by a restart or never sent is read there).
//!
//! Envelope `{id, event, retry_count, created, data{context{company_id, firm_id}, object,
//! previous_attributes}}`, signed in `X-Pennylane-Signature`. The signature is taken to be the
//! hex HMAC-SHA256 of the raw body under the subscription's secret (optionally prefixed
//! `sha256=`), compared in constant time [verify the scheme on the first real subscription].
//!
//! [`router`] is the route the daemon's listener mounts (`POST /webhooks/pennylane`); each
//! Pennylane source with a `webhook_secret_file` registers its company's inbox in the shared
//! [`WebhookHub`]. Answers: 200 for an event accepted or already seen, 401 for a bad or
//! missing signature, 400 for a body that is not an event, 404 for a company relance does not
//! serve, 413 for a body over 256 KiB. Memory is bounded: at most [`MAX_PENDING`] invoices
//! wait per company (the oldest are dropped, the changelog has them) and [`MAX_SEEN`] event
//! ids are remembered.

use crate::wire::Secret;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, RwLock};

/// The route's path.
pub const PATH: &str = "/webhooks/pennylane";
/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-pennylane-signature";
/// Largest body accepted.
pub const MAX_BODY: usize = 256 * 1024;
/// Most invoices waiting per company.
pub const MAX_PENDING: usize = 10_000;
/// Most event ids remembered per company for deduplication.
pub const MAX_SEEN: usize = 50_000;

#[derive(Debug, Default)]
struct InboxState {
    pending: VecDeque<(String, i64)>,
    seen: HashSet<String>,
    order: VecDeque<String>,
    dropped: u64,
}

/// The invoices named by verified events, waiting for the company's next pull.
#[derive(Debug, Default)]
pub struct WebhookInbox {
    state: Mutex<InboxState>,
}

/// What became of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offer {
    /// New: its invoice is queued.
    Queued,
    /// New, but about nothing relance reads (another resource).
    Ignored,
    /// Already seen (a retry): nothing queued.
    Duplicate,
}

impl WebhookInbox {
    /// An empty inbox.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, InboxState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Offers event `event_id` naming `invoice` (if it names one).
    pub fn offer(&self, event_id: &str, invoice: Option<i64>) -> Offer {
        let mut s = self.lock();
        if s.seen.contains(event_id) {
            return Offer::Duplicate;
        }
        s.seen.insert(event_id.to_owned());
        s.order.push_back(event_id.to_owned());
        while s.order.len() > MAX_SEEN {
            if let Some(old) = s.order.pop_front() {
                s.seen.remove(&old);
            }
        }
        let Some(id) = invoice else {
            return Offer::Ignored;
        };
        if !s.pending.iter().any(|(_, i)| *i == id) {
            s.pending.push_back((event_id.to_owned(), id));
        }
        while s.pending.len() > MAX_PENDING {
            s.pending.pop_front();
            s.dropped += 1;
        }
        Offer::Queued
    }

    /// Up to `n` waiting `(event id, invoice id)`, oldest first, left in place.
    pub fn peek(&self, n: usize) -> Vec<(String, i64)> {
        self.lock().pending.iter().take(n).cloned().collect()
    }

    /// Removes the events whose invoices were committed.
    pub fn ack(&self, events: &[String]) {
        let mut s = self.lock();
        s.pending.retain(|(e, _)| !events.contains(e));
    }

    /// Invoices waiting.
    pub fn len(&self) -> usize {
        self.lock().pending.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Invoices dropped because too many waited (read by the changelog instead).
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }
}

/// One company's subscription: its secret and inbox.
#[derive(Debug)]
struct Registration {
    secret: Secret,
    inbox: Arc<WebhookInbox>,
}

/// Every Pennylane company's subscription, by Pennylane company id.
#[derive(Debug, Default)]
pub struct WebhookHub {
    companies: RwLock<HashMap<i64, Registration>>,
}

/// Why an event was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// Over [`MAX_BODY`].
    #[error("body larger than {MAX_BODY} bytes")]
    TooLarge,
    /// Not a Pennylane event.
    #[error("not a Pennylane event: {0}")]
    Malformed(String),
    /// For a company relance does not serve.
    #[error("no subscription for Pennylane company {0}")]
    UnknownCompany(i64),
    /// Signature missing or wrong.
    #[error("bad or missing signature")]
    Signature,
}

impl WebhookError {
    fn status(&self) -> StatusCode {
        match self {
            WebhookError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            WebhookError::Malformed(_) => StatusCode::BAD_REQUEST,
            WebhookError::UnknownCompany(_) => StatusCode::NOT_FOUND,
            WebhookError::Signature => StatusCode::UNAUTHORIZED,
        }
    }
}

/// The signature of `body` under `secret`, as Pennylane sends it (hex HMAC-SHA256).
pub fn sign(secret: &str, body: &[u8]) -> String {
    match mac(secret) {
        Some(mut m) => {
            m.update(body);
            hex::encode(m.finalize().into_bytes())
        }
        None => String::new(),
    }
}

/// HMAC takes keys of any length: `None` cannot happen, and would refuse every event.
fn mac(secret: &str) -> Option<Hmac<Sha256>> {
    <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).ok()
}

fn verify(secret: &Secret, body: &[u8], signature: &str) -> bool {
    let sig = signature.trim();
    let sig = sig.strip_prefix("sha256=").unwrap_or(sig);
    let (Ok(bytes), Some(mut m)) = (hex::decode(sig), mac(secret.expose())) else {
        return false;
    };
    m.update(body);
    m.verify_slice(&bytes).is_ok()
}

impl WebhookHub {
    /// An empty hub.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the subscription of Pennylane company `company_id` (its secret replaces an
    /// earlier one) and returns its inbox: the same inbox for every connector of that company
    /// (a source rebuilt after an error keeps the events queued before).
    pub fn register(&self, company_id: i64, secret: Secret) -> Arc<WebhookInbox> {
        let mut m = self.companies.write().unwrap_or_else(|p| p.into_inner());
        match m.get_mut(&company_id) {
            Some(r) => {
                r.secret = secret;
                r.inbox.clone()
            }
            None => {
                let inbox = Arc::new(WebhookInbox::new());
                m.insert(
                    company_id,
                    Registration {
                        secret,
                        inbox: inbox.clone(),
                    },
                );
                inbox
            }
        }
    }

    /// Verifies, deduplicates and queues one delivery.
    pub fn receive(&self, signature: Option<&str>, body: &[u8]) -> Result<Offer, WebhookError> {
        if body.len() > MAX_BODY {
            return Err(WebhookError::TooLarge);
        }
        let v: Value =
            serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
        let event_id = match v.get("id") {
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => return Err(WebhookError::Malformed("no event id".into())),
        };
        let company = v["data"]["context"]["company_id"]
            .as_i64()
            .ok_or_else(|| WebhookError::Malformed("no data.context.company_id".into()))?;
        let m = self.companies.read().unwrap_or_else(|p| p.into_inner());
        let reg = m
            .get(&company)
            .ok_or(WebhookError::UnknownCompany(company))?;
        if !signature.is_some_and(|s| verify(&reg.secret, body, s)) {
            return Err(WebhookError::Signature);
        }
        let event = v.get("event").and_then(Value::as_str).unwrap_or("");
        let invoice = event
            .starts_with("customer_invoice.")
            .then(|| v["data"]["object"]["id"].as_i64())
            .flatten();
        let offer = reg.inbox.offer(&event_id, invoice);
        tracing::debug!(company, event, event_id = %event_id, ?offer, "Pennylane webhook");
        Ok(offer)
    }
}

/// The route the daemon's HTTP listener mounts: `POST /webhooks/pennylane`.
pub fn router(hub: Arc<WebhookHub>) -> axum::Router {
    axum::Router::new()
        .route(PATH, post(receive))
        .with_state(hub)
}

async fn receive(
    State(hub): State<Arc<WebhookHub>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> (StatusCode, String) {
    let sig = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    match hub.receive(sig, &body) {
        Ok(Offer::Duplicate) => (StatusCode::OK, "duplicate\n".to_owned()),
        Ok(_) => (StatusCode::OK, "ok\n".to_owned()),
        Err(e) => {
            tracing::warn!("Pennylane webhook refused: {e}");
            (e.status(), format!("{e}\n"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: u64, company: i64, invoice: i64) -> Vec<u8> {
        serde_json::json!({"id": id, "event": "customer_invoice.e_invoicing_status_updated",
            "retry_count": 0, "created": 1_657_875_952,
            "data": {"context": {"company_id": company, "firm_id": 678},
                     "object": {"id": invoice, "e_invoicing": {"status": "accepted"}},
                     "previous_attributes": {"e_invoicing": {"status": "submitted"}}}})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn verified_deduplicated_and_bounded() {
        let hub = WebhookHub::new();
        let inbox = hub.register(12345, Secret::new("whsec-test"));
        assert!(Arc::ptr_eq(
            &inbox,
            &hub.register(12345, Secret::new("whsec-test"))
        ));
        let body = event(987654, 12345, 555001);
        let good = sign("whsec-test", &body);
        assert_eq!(hub.receive(Some(&good), &body), Ok(Offer::Queued));
        assert_eq!(
            hub.receive(Some(&format!("sha256={good}")), &body),
            Ok(Offer::Duplicate)
        );
        assert_eq!(inbox.peek(10), vec![("987654".to_owned(), 555001)]);
        assert_eq!(
            hub.receive(Some(&sign("other", &body)), &body),
            Err(WebhookError::Signature)
        );
        assert_eq!(hub.receive(None, &body), Err(WebhookError::Signature));
        let mut tampered = body.clone();
        tampered[10] ^= 1;
        assert!(hub.receive(Some(&good), &tampered).is_err());
        let other = event(1, 999, 2);
        assert_eq!(
            hub.receive(Some(&sign("whsec-test", &other)), &other),
            Err(WebhookError::UnknownCompany(999))
        );
        assert!(matches!(
            hub.receive(Some(&good), b"nope"),
            Err(WebhookError::Malformed(_))
        ));
        inbox.ack(&["987654".to_owned()]);
        assert!(inbox.is_empty());
        for i in 0..(MAX_PENDING as u64 + 5) {
            inbox.offer(&format!("e{i}"), Some(i as i64));
        }
        assert_eq!((inbox.len(), inbox.dropped()), (MAX_PENDING, 5));
    }
}
