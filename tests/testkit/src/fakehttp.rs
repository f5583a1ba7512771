//! What the HTTP fakes share: binding 127.0.0.1:0 and serving a router, and turning a
//! route's `(status, headers, body)` into an answer stamped with the fake's clock.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;

/// A route's answer: status, headers, body.
pub type Answer = (u16, Vec<(String, String)>, String);

/// Serves `app` on 127.0.0.1:0; the address and the server's task (abort it to stop).
pub async fn serve(
    app: axum::Router,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((addr, task))
}

/// The answer, its `Date` the Unix time `date` (the fake's clock).
pub fn respond(answer: Answer, date: i64) -> Response {
    let (status, headers, body) = answer;
    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body,
    )
        .into_response();
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            resp.headers_mut().insert(k, v);
        }
    }
    let text = chrono::DateTime::from_timestamp(date, 0)
        .map(|d| d.to_rfc2822().replace("+0000", "GMT"))
        .unwrap_or_default();
    if let Ok(d) = HeaderValue::from_str(&text) {
        resp.headers_mut().insert(axum::http::header::DATE, d);
    }
    resp
}

/// [`respond`] with a body of bytes (a document that is not text: a PDF).
pub fn respond_bytes(
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    date: i64,
) -> Response {
    let mut resp = respond((status, headers, String::new()), date);
    *resp.body_mut() = axum::body::Body::from(body);
    resp
}
