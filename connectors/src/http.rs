//! The HTTP client layer every HTTP connector goes through: one `reqwest` client (gzip,
//! connect and request timeouts), a rate limit **per request and per remote host** shared by
//! every company that talks to that host, `429`/`503` answers with `Retry-After` honoured for
//! the whole host, and errors that never carry a secret.
//!
//! - **Hosts** are keyed from parsed URLs ([`host_key`]): `host:port` with the scheme's default
//!   port made explicit, the host lower-cased, so `https://ERP.example.com/rpc` and
//!   `https://erp.example.com:443` share one limiter, whichever form the configuration and
//!   the request use.
//! - **Rate limits** ([`HttpLayer::configure`]) are `governor` quotas (requests per second,
//!   bursts of one second's worth); every request waits for its host's quota before it is sent.
//!   The lowest non-zero rate configured for a host wins (the host's owner gave one limit).
//! - **Retry-After**: an answer `429` or `503` with `Retry-After` (seconds or an HTTP date)
//!   holds every request to that host until then (at most [`MAX_HOLD`]); the answer goes back
//!   to the connector, which classifies it as `Transient { retry_after }`.
//! - **Buckets** ([`HttpClient::with_bucket`]): a vendor's quota per credential (Pennylane: 25
//!   requests per 5 s per token) is a second limiter, shared by every client of the layer with
//!   the same bucket name, tuned so that no window of the vendor's length ever holds more than
//!   its quota (a burst of a fifth, then an even pace). A client with a bucket is held on its
//!   bucket, not its host, by a `429`: the quota that ran out is the credential's.
//! - **Quota headers**: an answer with `ratelimit-remaining: 0` and `ratelimit-reset` (a Unix
//!   time, as Pennylane sends on every answer) holds the same key until the reset.
//! - **Secrets**: a connector registers its secrets ([`HttpClient::add_secret`]); every error
//!   and every excerpt of a response body that this layer produces has them replaced by
//!   `<redacted>`, and `reqwest` errors are shown without their URL.
//!
//! ```
//! let key = relance_connectors::http::host_key("https://ERP.example.com/rpc").unwrap();
//! assert_eq!(key, "erp.example.com:443");
//! assert_eq!(relance_connectors::http::host_key("https://erp.example.com:443/x").unwrap(), key);
//! ```

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// Longest a `Retry-After` holds a host.
pub const MAX_HOLD: Duration = Duration::from_secs(300);
/// Connect timeout of every request.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a URL cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not a URL.
    #[error("not a URL: {0}")]
    Parse(String),
    /// Another scheme than http or https.
    #[error("scheme {0:?} is not http or https")]
    Scheme(String),
    /// No host.
    #[error("no host in the URL")]
    NoHost,
    /// `user:password@` in the URL: a secret in the configuration.
    #[error("the URL carries credentials (user:password@): put the password in a *_file key")]
    Credentials,
}

/// The rate-limit key of a URL: `host:port`, default port explicit, host lower-cased (IPv6 in
/// brackets).
pub fn host_key(url: &str) -> Result<String, UrlError> {
    let u = url::Url::parse(url).map_err(|e| UrlError::Parse(e.to_string()))?;
    if u.scheme() != "http" && u.scheme() != "https" {
        return Err(UrlError::Scheme(u.scheme().to_owned()));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(UrlError::Credentials);
    }
    let host = match u.host() {
        Some(url::Host::Domain(d)) if !d.is_empty() => d.to_ascii_lowercase(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
        _ => return Err(UrlError::NoHost),
    };
    let port = u.port_or_known_default().ok_or(UrlError::NoHost)?;
    Ok(format!("{host}:{port}"))
}

/// True when the URL's host is a loopback address or `localhost`.
pub fn is_loopback(url: &str) -> bool {
    let Ok(u) = url::Url::parse(url) else {
        return false;
    };
    match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// What went wrong sending a request. The text never holds a URL or a registered secret.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HttpError {
    /// The URL cannot be used.
    #[error("{0}")]
    Url(#[from] UrlError),
    /// No answer in time.
    #[error("timeout talking to {host}: {detail}")]
    Timeout {
        /// `host:port`.
        host: String,
        /// reqwest's description, redacted.
        detail: String,
    },
    /// Connection refused, reset, TLS failure, body not readable.
    #[error("network error talking to {host}: {detail}")]
    Network {
        /// `host:port`.
        host: String,
        /// reqwest's description, redacted.
        detail: String,
    },
    /// The client could not be built.
    #[error("HTTP client: {0}")]
    Client(String),
    /// The delivery's write gate refused the call (its lease is lost): nothing was sent.
    #[error("call to {host} not made: {reason}")]
    Gated {
        /// `host:port`.
        host: String,
        /// The gate's reason.
        reason: String,
    },
}

/// An answer, read whole.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The answer's headers (quota headers, content type).
    pub headers: reqwest::header::HeaderMap,
    /// HTTP status.
    pub status: u16,
    /// `Retry-After`, when given (seconds or HTTP date, relative to the answer's `Date`).
    pub retry_after: Option<Duration>,
    /// The server's clock (`Date`), when given.
    pub date: Option<chrono::DateTime<chrono::Utc>>,
    /// The body (decompressed).
    pub body: String,
    /// The body's bytes, for a download ([`HttpClient::get_bytes`]: a PDF); `None` otherwise.
    pub raw: Option<Vec<u8>>,
}

/// The shared layer: one client, the per-host limiters and holds. Cheap to share (`Arc`).
pub struct HttpLayer {
    client: reqwest::Client,
    limits: RwLock<HashMap<String, (u32, Arc<DefaultDirectRateLimiter>)>>,
    buckets: Mutex<HashMap<String, Bucket>>,
    holds: Mutex<HashMap<String, tokio::time::Instant>>,
}

/// A quota of `n` requests per `window`, and its limiter.
#[derive(Clone)]
struct Bucket {
    n: u32,
    window: Duration,
    limiter: Arc<DefaultDirectRateLimiter>,
}

/// The `governor` quota that never lets more than `n` requests into any window of `window`:
/// a burst of `b = max(1, n / 5)`, then one request every `window / (n - b)` (in any window,
/// at most `b + (n - b)`).
pub fn window_quota(n: u32, window: Duration) -> Option<Quota> {
    let n = n.max(1);
    let burst = (n / 5).max(1);
    let pace = window.checked_div(n.saturating_sub(burst).max(1))?;
    Quota::with_period(pace)
        .map(|q| q.allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN)))
}

impl std::fmt::Debug for HttpLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hosts: Vec<(String, u32)> = self
            .limits
            .read()
            .map(|m| m.iter().map(|(h, (r, _))| (h.clone(), *r)).collect())
            .unwrap_or_default();
        f.debug_struct("HttpLayer")
            .field("limits", &hosts)
            .finish_non_exhaustive()
    }
}

impl HttpLayer {
    /// A layer with no host bounded.
    pub fn new() -> Result<Self, HttpError> {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .gzip(true)
            .build()
            .map_err(|e| HttpError::Client(e.without_url().to_string()))?;
        Ok(HttpLayer {
            client,
            limits: RwLock::new(HashMap::new()),
            buckets: Mutex::new(HashMap::new()),
            holds: Mutex::new(HashMap::new()),
        })
    }

    /// Sets the rate of each host from `(host key or URL, requests per second)` pairs, the
    /// lowest non-zero rate per host winning; hosts not listed (or only with 0) are unbounded.
    /// A host whose rate is unchanged keeps its limiter (and the tokens it has spent).
    pub fn configure(&self, hosts: impl IntoIterator<Item = (String, u32)>) {
        let mut rates: HashMap<String, u32> = HashMap::new();
        for (h, rps) in hosts {
            let key = host_key(&h).unwrap_or(h);
            let e = rates.entry(key).or_insert(0);
            if rps > 0 && (*e == 0 || rps < *e) {
                *e = rps;
            }
        }
        let mut limits = self.limits.write().unwrap_or_else(|p| p.into_inner());
        limits.retain(|h, (r, _)| rates.get(h) == Some(r));
        for (host, rate) in rates {
            let Some(n) = NonZeroU32::new(rate) else {
                continue;
            };
            limits
                .entry(host)
                .or_insert_with(|| (rate, Arc::new(RateLimiter::direct(Quota::per_second(n)))));
        }
    }

    /// The configured rate of the host of `url` (requests per second), if bounded.
    pub fn rate(&self, url: &str) -> Option<u32> {
        let key = host_key(url).ok()?;
        let limits = self.limits.read().unwrap_or_else(|p| p.into_inner());
        limits.get(&key).map(|(r, _)| *r)
    }

    /// The limiter of bucket `name` (`n` per `window`), created on first use; a bucket asked
    /// with another quota gets a new limiter.
    fn bucket(
        &self,
        name: &str,
        n: u32,
        window: Duration,
    ) -> Option<Arc<DefaultDirectRateLimiter>> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = buckets.get(name) {
            if b.n == n && b.window == window {
                return Some(b.limiter.clone());
            }
        }
        let limiter = Arc::new(RateLimiter::direct(window_quota(n, window)?));
        buckets.insert(
            name.to_owned(),
            Bucket {
                n,
                window,
                limiter: limiter.clone(),
            },
        );
        Some(limiter)
    }

    /// Waits until a request to `host` (in `bucket`, if any) may go: the hold of its hold key
    /// (Retry-After, quota reset), then the host's quota, then the bucket's.
    async fn admit(&self, host: &str, bucket: Option<&BucketSpec>) {
        let key = bucket.map(|b| b.name.as_str()).unwrap_or(host);
        let hold = {
            let holds = self.holds.lock().unwrap_or_else(|p| p.into_inner());
            holds.get(key).copied()
        };
        if let Some(t) = hold {
            if t > tokio::time::Instant::now() {
                tracing::debug!(host, "holding requests as the server asked (Retry-After)");
                tokio::time::sleep_until(t).await;
            }
        }
        let limiter = {
            let limits = self.limits.read().unwrap_or_else(|p| p.into_inner());
            limits.get(host).map(|(_, l)| l.clone())
        };
        if let Some(l) = limiter {
            l.until_ready().await;
        }
        if let Some(b) = bucket {
            if let Some(l) = self.bucket(&b.name, b.n, b.window) {
                l.until_ready().await;
            }
        }
    }

    fn hold(&self, host: &str, d: Duration) {
        let until = tokio::time::Instant::now() + d.min(MAX_HOLD);
        let mut holds = self.holds.lock().unwrap_or_else(|p| p.into_inner());
        let e = holds.entry(host.to_owned()).or_insert(until);
        if *e < until {
            *e = until;
        }
    }
}

/// A bucket a client draws from: its name in the layer and its quota.
#[derive(Clone, Debug, PartialEq, Eq)]
struct BucketSpec {
    name: String,
    n: u32,
    window: Duration,
}

/// One connector's handle on the layer: its request timeout, its bucket and the secrets to
/// redact.
#[derive(Clone)]
pub struct HttpClient {
    layer: Arc<HttpLayer>,
    timeout: Duration,
    bucket: Option<BucketSpec>,
    secrets: Arc<RwLock<Vec<String>>>,
    last_date: Arc<Mutex<Option<chrono::DateTime<chrono::Utc>>>>,
}

/// A request body: JSON, or bytes with their content type (empty: set by a header).
enum Body<'a> {
    Json(&'a serde_json::Value),
    Bytes(&'static str, Vec<u8>),
}

/// The HTTP methods the connectors use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// DELETE.
    Delete,
}

impl Method {
    fn reqwest(self) -> reqwest::Method {
        match self {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Delete => reqwest::Method::DELETE,
        }
    }
}

/// `url` with `query` appended (percent-encoded), for GETs with parameters.
pub fn with_query(url: &str, query: &[(&str, String)]) -> Result<String, UrlError> {
    let mut u = url::Url::parse(url).map_err(|e| UrlError::Parse(e.to_string()))?;
    if !query.is_empty() {
        let mut q = u.query_pairs_mut();
        for (k, v) in query {
            q.append_pair(k, v);
        }
    }
    Ok(u.to_string())
}

/// A short, stable name for a credential (a bucket name, a log field): the first 8 bytes of
/// its SHA-256, never the credential itself.
pub fn fingerprint(secret: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(secret.as_bytes())[..8])
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Parses `Retry-After`: delay-seconds or an HTTP date (taken relative to `now`).
pub fn parse_retry_after(v: &str, now: Option<chrono::DateTime<chrono::Utc>>) -> Option<Duration> {
    let v = v.trim();
    if let Ok(s) = v.parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let now = now?;
    (at.with_timezone(&chrono::Utc) - now).to_std().ok()
}

impl HttpClient {
    /// A handle with `timeout` per request.
    pub fn new(layer: Arc<HttpLayer>, timeout: Duration) -> Self {
        HttpClient {
            layer,
            timeout,
            bucket: None,
            secrets: Arc::default(),
            last_date: Arc::default(),
        }
    }

    /// The server's clock as of the last answer this client (or a clone) received (its
    /// `Date`), for cursors placed in the server's time.
    pub fn server_time(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        *self.last_date.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// This client also draws from bucket `name` of the layer: at most `n` requests in any
    /// `window`, shared with every client using the same name (name it after the credential,
    /// e.g. with [`fingerprint`]); `n = 0` leaves the client unbounded by a bucket.
    pub fn with_bucket(mut self, name: &str, n: u32, window: Duration) -> Self {
        self.bucket = (n > 0 && !window.is_zero()).then(|| BucketSpec {
            name: format!("bucket:{name}"),
            n,
            window,
        });
        self
    }

    /// The shared layer.
    pub fn layer(&self) -> &Arc<HttpLayer> {
        &self.layer
    }

    /// Registers a secret (password, token, session header) to redact from errors and excerpts.
    pub fn add_secret(&self, s: &str) {
        if s.len() < 4 {
            return; // too short to redact without mangling ordinary text
        }
        let mut v = self.secrets.write().unwrap_or_else(|p| p.into_inner());
        if !v.iter().any(|x| x == s) {
            v.push(s.to_owned());
        }
    }

    /// `text` with every registered secret replaced by `<redacted>`.
    pub fn redact(&self, text: &str) -> String {
        let v = self.secrets.read().unwrap_or_else(|p| p.into_inner());
        let mut out = text.to_owned();
        for s in v.iter() {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "<redacted>");
            }
        }
        out
    }

    /// At most `max` characters of a body, on one line, redacted (for error messages).
    pub fn excerpt(&self, body: &str, max: usize) -> String {
        let flat: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
        let redacted = self.redact(&flat);
        redacted.chars().take(max).collect()
    }

    /// POSTs `body` as JSON to `url` with `headers`, after the host's hold and quota; reads the
    /// whole answer. A `429`/`503` with `Retry-After` holds the host for everyone.
    pub async fn post_json(
        &self,
        url: &str,
        body: &serde_json::Value,
        headers: &[(&str, &str)],
    ) -> Result<HttpResponse, HttpError> {
        self.send(Method::Post, url, Some(body), headers).await
    }

    /// GETs `url` (build its query with [`with_query`]).
    pub async fn get(
        &self,
        url: &str,
        headers: &[(&str, &str)],
    ) -> Result<HttpResponse, HttpError> {
        self.send(Method::Get, url, None, headers).await
    }

    /// Sends one request (`body` as JSON when given) after the holds and quotas of its host and
    /// bucket; reads the whole answer. A `429`/`503` with `Retry-After`, or an answer saying
    /// the quota is spent (`ratelimit-remaining: 0` with `ratelimit-reset`), holds the bucket
    /// (else the host) for every client until then.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> Result<HttpResponse, HttpError> {
        self.send_body(method, url, body.map(Body::Json), headers, false)
            .await
    }

    /// GETs `url` for its bytes (a document that may not be text: a Factur-X PDF), in
    /// [`HttpResponse::raw`]; `body` is their lossy text, for error messages.
    pub async fn get_bytes(
        &self,
        url: &str,
        headers: &[(&str, &str)],
    ) -> Result<HttpResponse, HttpError> {
        self.send_body(Method::Get, url, None, headers, true).await
    }

    /// POSTs an HTML form (`application/x-www-form-urlencoded`: an OAuth2 token request),
    /// under the same holds and quotas as [`HttpClient::send`].
    pub async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Result<HttpResponse, HttpError> {
        let bytes = {
            let mut enc = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in form {
                enc.append_pair(k, v);
            }
            enc.finish().into_bytes()
        };
        self.send_body(
            Method::Post,
            url,
            Some(Body::Bytes("application/x-www-form-urlencoded", bytes)),
            headers,
            false,
        )
        .await
    }

    /// Sends `bytes` as the body with `content_type` (a multipart upload), under the same
    /// holds and quotas as [`HttpClient::send`].
    pub async fn send_bytes(
        &self,
        method: Method,
        url: &str,
        content_type: &str,
        bytes: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> Result<HttpResponse, HttpError> {
        let mut h: Vec<(&str, &str)> = headers.to_vec();
        h.push(("content-type", content_type));
        self.send_body(method, url, Some(Body::Bytes("", bytes)), &h, false)
            .await
    }

    async fn send_body(
        &self,
        method: Method,
        url: &str,
        body: Option<Body<'_>>,
        headers: &[(&str, &str)],
        keep_raw: bool,
    ) -> Result<HttpResponse, HttpError> {
        let host = host_key(url)?;
        self.layer.admit(&host, self.bucket.as_ref()).await;
        // After every wait, with no await before the request leaves: a delivery whose lease
        // was lost meanwhile (the process paused) sends nothing.
        crate::gate::check().map_err(|reason| HttpError::Gated {
            host: host.clone(),
            reason,
        })?;
        let mut req = self
            .layer
            .client
            .request(method.reqwest(), url)
            .timeout(self.timeout);
        match body {
            Some(Body::Json(b)) => req = req.json(b),
            Some(Body::Bytes(ct, bytes)) => {
                if !ct.is_empty() {
                    req = req.header(reqwest::header::CONTENT_TYPE, ct);
                }
                req = req.body(bytes);
            }
            None => {}
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let net = |e: reqwest::Error, host: &str| {
            let timeout = e.is_timeout();
            let detail = self.redact(&e.without_url().to_string());
            if timeout {
                HttpError::Timeout {
                    host: host.to_owned(),
                    detail,
                }
            } else {
                HttpError::Network {
                    host: host.to_owned(),
                    detail,
                }
            }
        };
        let resp = req.send().await.map_err(|e| net(e, &host))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let date = headers
            .get(reqwest::header::DATE)
            .and_then(|d| d.to_str().ok())
            .and_then(|d| chrono::DateTime::parse_from_rfc2822(d).ok())
            .map(|d| d.with_timezone(&chrono::Utc));
        if let Some(d) = date {
            *self.last_date.lock().unwrap_or_else(|p| p.into_inner()) = Some(d);
        }
        let retry_after = headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, date));
        let hold_key = self
            .bucket
            .as_ref()
            .map(|b| b.name.as_str())
            .unwrap_or(&host);
        if matches!(status, 429 | 503) {
            if let Some(d) = retry_after {
                self.layer.hold(hold_key, d);
            }
        }
        if let Some(d) = quota_reset(&headers, date) {
            self.layer.hold(hold_key, d);
        }
        let (body, raw) = if keep_raw {
            let bytes = resp.bytes().await.map_err(|e| net(e, &host))?.to_vec();
            (String::from_utf8_lossy(&bytes).into_owned(), Some(bytes))
        } else {
            (resp.text().await.map_err(|e| net(e, &host))?, None)
        };
        Ok(HttpResponse {
            headers,
            status,
            retry_after,
            date,
            body,
            raw,
        })
    }
}

/// How long until a spent quota resets: `ratelimit-remaining: 0` and `ratelimit-reset` as a
/// Unix time (relative to the answer's `Date`) or as seconds from now (small values).
fn quota_reset(
    headers: &reqwest::header::HeaderMap,
    date: Option<chrono::DateTime<chrono::Utc>>,
) -> Option<Duration> {
    let num = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok())
    };
    if num("ratelimit-remaining")? != 0 {
        return None;
    }
    let reset = num("ratelimit-reset")?;
    // RFC drafts say seconds; Pennylane sends a Unix time: tell them apart by size
    if reset < 1_000_000_000 {
        return u64::try_from(reset).ok().map(Duration::from_secs);
    }
    let now = date?.timestamp();
    u64::try_from(reset - now).ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_keyed_with_the_default_port_on_both_sides() {
        assert_eq!(host_key("http://127.0.0.1:8000").unwrap(), "127.0.0.1:8000");
        assert_eq!(
            host_key("https://ERP.example.com/").unwrap(),
            "erp.example.com:443"
        );
        assert_eq!(
            host_key("http://erp.example.com").unwrap(),
            "erp.example.com:80"
        );
        assert_eq!(host_key("http://[::1]:8000/x").unwrap(), "[::1]:8000");
        assert!(matches!(host_key("ftp://x"), Err(UrlError::Scheme(_))));
        assert_eq!(host_key("http://user:pw@host"), Err(UrlError::Credentials));
        assert!(host_key("http://host:notaport").is_err());
        assert!(is_loopback("http://[::1]:8000"));
        assert!(is_loopback("http://localhost:8000"));
        assert!(!is_loopback("http://erp.example.com"));
        // A limit configured with the explicit port is found from a URL without it, and back.
        let l = HttpLayer::new().unwrap();
        l.configure([("erp.example.com:443".to_owned(), 5)]);
        assert_eq!(l.rate("https://erp.example.com/db/rpc/"), Some(5));
        l.configure([("https://erp.example.com".to_owned(), 7)]);
        assert_eq!(l.rate("https://erp.example.com:443/"), Some(7));
        assert_eq!(l.rate("http://erp.example.com/"), None);
    }

    #[test]
    fn lowest_rate_wins_and_zero_is_unbounded() {
        let l = HttpLayer::new().unwrap();
        l.configure([
            ("http://h:1".to_owned(), 0),
            ("http://h:1".to_owned(), 9),
            ("http://h:1/x".to_owned(), 4),
            ("http://free:1".to_owned(), 0),
        ]);
        assert_eq!(l.rate("http://h:1"), Some(4));
        assert_eq!(l.rate("http://free:1"), None);
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(parse_retry_after("7", None), Some(Duration::from_secs(7)));
        let now = chrono::DateTime::parse_from_rfc2822("Wed, 21 Oct 2026 07:28:00 GMT")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2026 07:28:30 GMT", Some(now)),
            Some(Duration::from_secs(30))
        );
        assert_eq!(parse_retry_after("soon", Some(now)), None);
    }

    #[test]
    fn window_quotas_never_exceed_the_window() {
        // GCRA: a full bucket of `burst`, then one token per period; count the most requests
        // any window can admit when requests come as fast as allowed.
        for (n, w) in [(25u32, 5u64), (1, 1), (5, 1), (100, 10), (2, 60)] {
            let window = Duration::from_secs(w);
            let q = window_quota(n, window).unwrap();
            let burst = q.burst_size().get();
            let period = q.replenish_interval();
            let mut times: Vec<Duration> = (0..burst).map(|_| Duration::ZERO).collect();
            let mut t = Duration::ZERO;
            while times.len() < 4 * n as usize {
                t += period;
                times.push(t);
            }
            for (i, s) in times.iter().enumerate() {
                let inside = times[i..].iter().take_while(|u| **u - *s < window).count();
                assert!(inside <= n as usize, "{n}/{w}s: {inside} in a window");
            }
        }
    }

    #[test]
    fn spent_quotas_hold_until_their_reset() {
        let mut h = reqwest::header::HeaderMap::new();
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        h.insert("ratelimit-remaining", "0".parse().unwrap());
        h.insert("ratelimit-reset", "1800000004".parse().unwrap());
        assert_eq!(quota_reset(&h, Some(now)), Some(Duration::from_secs(4)));
        h.insert("ratelimit-reset", "3".parse().unwrap());
        assert_eq!(quota_reset(&h, Some(now)), Some(Duration::from_secs(3)));
        h.insert("ratelimit-remaining", "7".parse().unwrap());
        assert_eq!(quota_reset(&h, Some(now)), None);
        assert_eq!(
            with_query("http://h:1/x", &[("filter", "[{\"a\":1}]".into())]).unwrap(),
            "http://h:1/x?filter=%5B%7B%22a%22%3A1%7D%5D"
        );
        assert_eq!(fingerprint("token").len(), 16);
    }

    #[test]
    fn secrets_are_redacted() {
        let c = HttpClient::new(Arc::new(HttpLayer::new().unwrap()), Duration::from_secs(1));
        c.add_secret("hunter22");
        assert_eq!(
            c.excerpt("bad  password\nhunter22 refused", 100),
            "bad password <redacted> refused"
        );
    }

    #[tokio::test]
    async fn a_closed_gate_sends_nothing() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/x", listener.local_addr().unwrap());
        let c = HttpClient::new(Arc::new(HttpLayer::new().unwrap()), Duration::from_secs(2));
        let shut: crate::gate::Gate = Arc::new(|| Err("lease lost".to_owned()));
        let r = crate::gate::gated(shut, c.get(&url, &[])).await;
        assert!(
            matches!(&r, Err(HttpError::Gated { reason, .. }) if reason == "lease lost"),
            "{r:?}"
        );
        // No connection was even opened.
        let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
        assert!(accepted.is_err(), "a connection reached the server");
    }
}
