//! A fake Chorus Pro behind PISTE on 127.0.0.1:0 (axum), after connector-apis.md §4
//! (OCA `l10n_fr_chorus_account`, `antoine2116/go-choruspro`, omnibill fixtures):
//!
//! - `POST /api/oauth/token` (form, client credentials, `scope=openid`) →
//!   `{access_token, token_type, expires_in, scope}`; a wrong client 401 `{"error",
//!   "error_description"}`; [`FakeChorus::expire_tokens`] makes the next call a 401.
//! - Every call needs `Authorization: Bearer` and `cpro-account: base64(login:password)`
//!   (403 without the right account, §4.1).
//! - `POST /cpro/factures/v1/rechercher/fournisseur`: `idFournisseur`,
//!   `periodeDateHeureEtatCourantDu` (status changes at or after it), pages
//!   `rechercheFactureParFournisseur {pageResultatDemandee, nbResultatsParPage}` →
//!   `{codeRetour: 0, libelle, parametresRetour {pageCourante, pages, nbResultatsParPage,
//!   total}, listeFactures}` sorted by `dateHeureEtatCourant`; an unknown supplier answers
//!   **HTTP 200** `{"codeRetour": 20001, "libelle": "GDP_MSG_..."}` (§4.2).
//! - Faults: 429 with `Retry-After`, 503, or a `codeRetour` error in a 200.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

/// A fault the next API call gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChorusFault {
    /// That HTTP status (429 with `Retry-After: 1`).
    Status(u16),
    /// HTTP 200 with `codeRetour` 20001.
    CodeRetour,
}

#[derive(Default)]
struct CState {
    client: (String, String),
    account: String,
    supplier: i64,
    tokens: Vec<String>,
    next: u64,
    invoices: Vec<Value>,
    faults: VecDeque<ChorusFault>,
}

/// The running fake. Dropping it stops it.
pub struct FakeChorus {
    addr: SocketAddr,
    state: Arc<Mutex<CState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeChorus {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(s: &Arc<Mutex<CState>>) -> MutexGuard<'_, CState> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

fn ans(status: u16, v: &Value) -> (u16, Vec<(String, String)>, String) {
    let mut h = vec![("content-type".to_owned(), "application/json".to_owned())];
    if status == 429 {
        h.push(("retry-after".to_owned(), "1".to_owned()));
    }
    (status, h, v.to_string())
}

impl FakeChorus {
    /// Starts a fake for PISTE client `client_id`/`secret`, technical account
    /// `login:password` (`account`), supplier structure `supplier`.
    pub async fn start(
        client_id: &str,
        secret: &str,
        account: &str,
        supplier: i64,
    ) -> std::io::Result<Self> {
        let state = Arc::new(Mutex::new(CState {
            client: (client_id.to_owned(), secret.to_owned()),
            account: account.to_owned(),
            supplier,
            ..CState::default()
        }));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let (addr, task) = crate::fakehttp::serve(app).await?;
        Ok(FakeChorus { addr, state, task })
    }

    /// The API base.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The token endpoint.
    pub fn token_url(&self) -> String {
        format!("http://{}/api/oauth/token", self.addr)
    }

    /// Every token issued stops working.
    pub fn expire_tokens(&self) {
        lock(&self.state).tokens.clear();
    }

    /// Arms a fault.
    pub fn fail_next(&self, f: ChorusFault) {
        lock(&self.state).faults.push_back(f);
    }

    /// Adds (or replaces, by number) an invoice of the supplier: its status and when it was
    /// reached, its deposit date and amounts (floats, as Chorus Pro sends them).
    #[allow(clippy::too_many_arguments)]
    pub fn set_invoice(
        &self,
        number: &str,
        buyer_siret: &str,
        status: &str,
        status_at: &str,
        deposited: &str,
        ht: f64,
        ttc: f64,
        comment: &str,
    ) {
        let mut s = lock(&self.state);
        s.next += 1;
        let id = 4_321_000 + s.next;
        let v = json!({"identifiantFactureCPP": id, "typeDemandePaiement": "FACTURE",
            "codeFournisseur": "73282932000074", "typeIdentifiantFournisseur": "SIRET",
            "codeDestinataire": buyer_siret, "designationDestinataire": format!("COMMUNE {buyer_siret}"),
            "typeFacture": "FACTURE", "numeroFacture": number, "dateFacture": deposited,
            "dateDepot": deposited, "montantHT": ht, "montantTTC": ttc, "devise": "EUR",
            "statut": status, "dateHeureEtatCourant": status_at,
            "commentaireEtatCourant": comment, "rejetTraite": false});
        s.invoices.retain(|i| i["numeroFacture"] != number);
        s.invoices.push(v);
    }
}

async fn handle(
    State(state): State<Arc<Mutex<CState>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = {
        let mut s = lock(&state);
        route(&mut s, &method, &uri, &headers, &body)
    };
    crate::fakehttp::respond(answer, 1_772_438_400)
}

fn route(
    s: &mut CState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> (u16, Vec<(String, String)>, String) {
    if uri.path() == "/api/oauth/token" && method == Method::POST {
        let f: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
        let ok = f.get("client_id") == Some(&s.client.0)
            && f.get("client_secret") == Some(&s.client.1)
            && f.get("grant_type").map(String::as_str) == Some("client_credentials");
        if !ok {
            return ans(
                401,
                &json!({"error": "invalid_client", "error_description": "Client authentication failed"}),
            );
        }
        s.next += 1;
        let t = format!("piste-{}", s.next);
        s.tokens.push(t.clone());
        return ans(
            200,
            &json!({"access_token": t, "token_type": "Bearer", "expires_in": 3600, "scope": "openid"}),
        );
    }
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !s.tokens.iter().any(|t| t == bearer) {
        return ans(401, &json!({"error": "invalid_token"}));
    }
    let account = headers
        .get("cpro-account")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.decode(v).ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default();
    if account != s.account {
        return ans(
            403,
            &json!({"codeRetour": 403, "libelle": "Compte technique invalide"}),
        );
    }
    if let Some(f) = s.faults.pop_front() {
        return match f {
            ChorusFault::Status(c) => ans(c, &json!({"codeRetour": c, "libelle": "indisponible"})),
            ChorusFault::CodeRetour => ans(
                200,
                &json!({"codeRetour": 20001, "libelle": "GDP_MSG_11.022"}),
            ),
        };
    }
    if uri.path() != "/cpro/factures/v1/rechercher/fournisseur" || method != Method::POST {
        return ans(
            404,
            &json!({"codeRetour": 404, "libelle": "service inconnu"}),
        );
    }
    let Ok(q) = serde_json::from_slice::<Value>(body) else {
        return ans(400, &json!({"codeRetour": 400, "libelle": "JSON invalide"}));
    };
    if q["idFournisseur"].as_i64() != Some(s.supplier) {
        // a functional error in an HTTP 200 (§4.2)
        return ans(
            200,
            &json!({"codeRetour": 20002, "libelle": "GDP_MSG_05.001 fournisseur inconnu"}),
        );
    }
    let from = q["periodeDateHeureEtatCourantDu"]
        .as_str()
        .and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok());
    let at = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v["dateHeureEtatCourant"].as_str().unwrap_or("")).ok()
    };
    let mut hits: Vec<&Value> = s
        .invoices
        .iter()
        .filter(|v| match (from, at(v)) {
            (Some(f), Some(a)) => a >= f,
            (Some(_), None) => false,
            (None, _) => true,
        })
        .collect();
    hits.sort_by_key(|v| at(v));
    let per = q
        .pointer("/rechercheFactureParFournisseur/nbResultatsParPage")
        .and_then(Value::as_u64)
        .unwrap_or(10)
        .max(1) as usize;
    let page = q
        .pointer("/rechercheFactureParFournisseur/pageResultatDemandee")
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .max(1) as usize;
    let pages = hits.len().div_ceil(per).max(1);
    let list: Vec<Value> = hits
        .iter()
        .skip((page - 1) * per)
        .take(per)
        .map(|v| (*v).clone())
        .collect();
    ans(
        200,
        &json!({"codeRetour": 0, "libelle": "TRA_MSG_00.000",
        "parametresRetour": {"pageCourante": page, "pages": pages, "nbResultatsParPage": per, "total": hits.len()},
        "listeFactures": list}),
    )
}
