//! The operator API's authorization matrix, against the real daemon on 127.0.0.1: every
//! operation of the served OpenAPI document × every role (and a global admin, a token and no
//! credentials) × the caller's own company and another one; CSRF refused; the same decision
//! posted twice recorded once.
//!
//! The operations come from the document itself, so an endpoint added later is in the matrix
//! without a change here; the least role each needs is the scope of its security requirement.

use super::api_support::{login, request, Answer, Daemon, Session};

const PASSWORD: &str = "un mot de passe assez long";
const ROLES: [&str; 4] = ["viewer", "collector", "approver", "admin"];

fn rank(role: &str) -> u8 {
    match role {
        "viewer" => 0,
        "collector" => 1,
        "approver" => 2,
        "admin" => 3,
        "global_admin" => 4,
        other => panic!("unknown scope {other}"),
    }
}

/// The operations of the document: (method, path template, least role; `None` when public).
fn operations(doc: &serde_json::Value) -> Vec<(String, String, Option<String>)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let sec = op["security"]
                .as_array()
                .expect("every operation states its security");
            let scope = sec
                .iter()
                .filter_map(|r| r.as_object())
                .flat_map(|r| r.values())
                .filter_map(|v| v.as_array())
                .flatten()
                .filter_map(|v| v.as_str())
                .next()
                .map(str::to_owned);
            out.push((method.to_uppercase(), path.clone(), scope));
        }
    }
    out
}

fn fill(path: &str, company: &str) -> String {
    format!(
        "/api/v1{}",
        path.replace("{company}", company)
            .replace("{customer}", "399123454")
            .replace("{date}", "2026-06-30")
            .replace("{user}", "nobody-here")
            .replace("{id}", "0000000000000000")
    )
}

fn body_for(method: &str, path: &str) -> Option<String> {
    if method != "POST" {
        return None;
    }
    Some(
        match path {
            p if p.ends_with("/decisions") => serde_json::json!({
                // The daemon decides on its own clock: a date no clock reaches.
                "type": "hold", "customer": "399123454", "until": "2099-07-31",
                "reason": "matrix"
            }),
            "/users" => {
                serde_json::json!({"name": "made-by-matrix", "password": PASSWORD, "grants": []})
            }
            "/tokens" => serde_json::json!({"name": "matrix"}),
            "/session" => serde_json::json!({"user": "viewer", "password": PASSWORD}),
            _ => serde_json::json!({}),
        }
        .to_string(),
    )
}

fn call(d: &Daemon, method: &str, path: &str, tpl: &str, auth: &Auth, n: usize) -> Answer {
    let key = format!("matrix-{n}");
    let body = body_for(method, tpl);
    let mut h: Vec<(&str, &str)> = Vec::new();
    let bearer;
    match auth {
        Auth::None => {}
        Auth::Session(s) => {
            h.push(("Cookie", &s.cookie));
            h.push(("X-CSRF-Token", &s.csrf));
        }
        Auth::Token(t) => {
            bearer = format!("Bearer {t}");
            h.push(("Authorization", &bearer));
        }
    }
    h.push(("Idempotency-Key", &key));
    request(&d.api, method, path, &h, body.as_deref())
}

enum Auth {
    None,
    Session(Session),
    Token(String),
}

#[test]
fn every_operation_by_every_role_on_own_and_other_company() {
    let d = Daemon::start();
    // Data in `demo` first: a cycle through the socket, as `relance sync --once` does.
    let out = d.relance(&["sync", "--once", "--company", "demo"], None);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for r in ROLES {
        d.add_user(r, r, Some("demo"), PASSWORD);
    }
    d.add_user("root", "admin", None, PASSWORD);

    let doc = request(&d.api, "GET", "/api/v1/openapi.json", &[], None);
    assert_eq!(doc.status, 200);
    let doc = doc.json();
    let ops = operations(&doc);
    assert!(ops.len() >= 25, "{ops:?}");

    let mut sessions: Vec<(&str, u8, Session)> = ROLES
        .iter()
        .map(|r| (*r, rank(r), login(&d.api, r, PASSWORD)))
        .collect();
    sessions.push(("root", 4, login(&d.api, "root", PASSWORD)));
    // A collector's token: the role of its owner.
    let made = request(
        &d.api,
        "POST",
        "/api/v1/tokens",
        &[
            ("Cookie", &sessions[1].2.cookie),
            ("X-CSRF-Token", &sessions[1].2.csrf),
        ],
        Some(r#"{"name":"script"}"#),
    );
    assert_eq!(made.status, 201, "{}", made.body);
    let token = made.json()["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("rlc_"));

    let mut n = 0;
    let mut checked = 0;
    for (method, tpl, scope) in &ops {
        // Logging out is checked last, apart: it would end the session under test.
        if method == "DELETE" && tpl == "/session" {
            continue;
        }
        let company_scoped = tpl.contains("{company}");
        let targets: &[&str] = if company_scoped {
            &["demo", "other"]
        } else {
            &["demo"]
        };
        for company in targets {
            let path = fill(tpl, company);
            n += 1;
            let anon = call(&d, method, &path, tpl, &Auth::None, n);
            match scope {
                None => assert_ne!(anon.status, 401, "{method} {path} is public"),
                Some(_) => assert_eq!(
                    anon.status, 401,
                    "{method} {path} without credentials: {}",
                    anon.body
                ),
            }
            let Some(scope) = scope else { continue };
            let need = rank(scope);
            let mut principals: Vec<(String, u8, Auth)> = sessions
                .iter()
                .map(|(name, r, s)| (name.to_string(), *r, Auth::Session(s.clone())))
                .collect();
            principals.push(("token(collector)".into(), 1, Auth::Token(token.clone())));
            for (who, r, auth) in principals {
                n += 1;
                let a = call(&d, method, &path, tpl, &auth, n);
                let global = who == "root";
                let sees = !company_scoped || *company == "demo" || global;
                let allowed = sees && if need == 4 { global } else { r >= need };
                if !sees {
                    assert_eq!(a.status, 404, "{who} {method} {path}: {}", a.body);
                } else if allowed {
                    assert!(
                        ![401, 403].contains(&a.status),
                        "{who} {method} {path} allowed, got {}: {}",
                        a.status,
                        a.body
                    );
                    if company_scoped {
                        assert!(
                            !(a.status == 404 && a.body.contains("no company")),
                            "{who} {method} {path}: {}",
                            a.body
                        );
                    }
                } else {
                    assert_eq!(a.status, 403, "{who} {method} {path} refused: {}", a.body);
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 200, "{checked}");

    // A decision a collector may not take (an approval) is refused to them.
    let c = &sessions[1].2;
    let a = request(
        &d.api,
        "POST",
        "/api/v1/companies/demo/decisions",
        &[
            ("Cookie", &c.cookie),
            ("X-CSRF-Token", &c.csrf),
            ("Idempotency-Key", "approve-1"),
        ],
        Some(r#"{"type":"approve_letter","action":"relance-dunning-x"}"#),
    );
    assert_eq!(a.status, 403, "{}", a.body);

    // Logging out ends the session.
    let v = &sessions[0].2;
    let out = request(
        &d.api,
        "DELETE",
        "/api/v1/session",
        &[("Cookie", &v.cookie), ("X-CSRF-Token", &v.csrf)],
        None,
    );
    assert_eq!(out.status, 204, "{}", out.body);
    let after = request(
        &d.api,
        "GET",
        "/api/v1/session",
        &[("Cookie", &v.cookie)],
        None,
    );
    assert_eq!(after.status, 401);
}

#[test]
fn csrf_is_required_and_a_decision_twice_is_one_event() {
    let d = Daemon::start();
    // Decisions are checked against the store: the company's data is there after a cycle.
    let synced = d.relance(&["sync", "--once"], None);
    assert!(
        synced.status.success(),
        "{}",
        String::from_utf8_lossy(&synced.stderr)
    );
    d.add_user("col", "collector", Some("demo"), PASSWORD);
    let s = login(&d.api, "col", PASSWORD);
    let path = "/api/v1/companies/demo/decisions";
    let decision =
        r#"{"type":"dispute","customer":"399123454","invoice":"FA-2026-0107","reason":"contesté"}"#;
    // No CSRF header, then a wrong one: refused, nothing recorded.
    for h in [
        vec![("Cookie", s.cookie.as_str()), ("Idempotency-Key", "k1")],
        vec![
            ("Cookie", s.cookie.as_str()),
            ("X-CSRF-Token", "0000"),
            ("Idempotency-Key", "k1"),
        ],
    ] {
        let a = request(&d.api, "POST", path, &h, Some(decision));
        assert_eq!(a.status, 403, "{}", a.body);
        assert_eq!(a.json()["error"]["code"], "csrf");
    }
    // A cross-site form post carries the cookie but cannot read the token: refused too.
    let a = request(
        &d.api,
        "POST",
        path,
        &[
            ("Cookie", &s.cookie),
            ("Idempotency-Key", "k1"),
            ("Origin", "https://evil.example"),
        ],
        Some(decision),
    );
    assert_eq!(a.status, 403);
    // Without an idempotency key: refused.
    let a = request(
        &d.api,
        "POST",
        path,
        &[("Cookie", &s.cookie), ("X-CSRF-Token", &s.csrf)],
        Some(decision),
    );
    assert_eq!(a.status, 422, "{}", a.body);
    // Twice with the same key: one event, the same id.
    let h = [
        ("Cookie", s.cookie.as_str()),
        ("X-CSRF-Token", s.csrf.as_str()),
        ("Idempotency-Key", "k1"),
    ];
    let first = request(&d.api, "POST", path, &h, Some(decision));
    assert_eq!(first.status, 201, "{}", first.body);
    let second = request(&d.api, "POST", path, &h, Some(decision));
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(first.json()["id"], second.json()["id"]);
    assert_eq!(second.json()["duplicate"], true);
    // The same key for another decision: refused.
    let other = request(
        &d.api,
        "POST",
        path,
        &h,
        Some(r#"{"type":"hold","customer":"399123454","until":"2099-12-31","reason":"attente"}"#),
    );
    assert_eq!(other.status, 409, "{}", other.body);
    // An unknown type and a body that is not an object: refused.
    let h2 = [
        ("Cookie", s.cookie.as_str()),
        ("X-CSRF-Token", s.csrf.as_str()),
        ("Idempotency-Key", "k2"),
    ];
    assert_eq!(
        request(&d.api, "POST", path, &h2, Some(r#"{"type":"pay_me"}"#)).status,
        422
    );
    assert_eq!(request(&d.api, "POST", path, &h2, Some("[1]")).status, 422);
    // One decision in the log, with who sent it.
    let list = request(
        &d.api,
        "GET",
        &format!("{path}?limit=50"),
        &[("Cookie", &s.cookie)],
        None,
    )
    .json();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["actor"], "col");
    assert_eq!(items[0]["type"], "dispute");
    assert_eq!(items[0]["key"], "k1");
    // Login throttling: five attempts a minute for one user (bursts of five); ten wrong
    // ones at once: at most five are checked, the others refused without a check.
    let addr = d.api.clone();
    let statuses: Vec<u16> = (0..10)
        .map(|_| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let a = request(
                    &addr,
                    "POST",
                    "/api/v1/session",
                    &[],
                    Some(r#"{"user":"col","password":"wrong password here"}"#),
                );
                if a.status == 429 {
                    assert_eq!(a.header("retry-after"), Some("60"));
                }
                a.status
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    assert!(throttled >= 5, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| [401, 429].contains(s)),
        "{statuses:?}"
    );
}
