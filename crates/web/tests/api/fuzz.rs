//! A bounded proptest fuzz of the whole router (256 cases per backend):
//! random methods, documented and junk paths and queries, random content
//! types, `Authorization` (a real admin token, junk, raw bytes), cookies and
//! `Accept-Language`, client addresses, and bodies from random bytes
//! (invalid UTF-8 included) through random JSON, deep nesting and huge
//! numbers to mutated valid bodies. Never a 5xx (a panic would be one, via
//! the catch-panic layer), every 4xx a JSON error with a code.

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, header};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};

use crate::common::*;
use crate::malformed::{document, example, operations, tunnel_session};

const CASES: u32 = 256;

#[derive(Debug, Clone)]
enum Auth {
    None,
    Admin,
    BearerJunk(Vec<u8>),
    Raw(Vec<u8>),
}

#[derive(Debug, Clone)]
struct Case {
    method: String,
    path: String,
    content_type: Option<Vec<u8>>,
    auth: Auth,
    cookie: Option<Vec<u8>>,
    accept_language: Option<Vec<u8>>,
    ip: Option<u8>,
    body: Vec<u8>,
}

const FIELDS: &[&str] = &[
    "username",
    "password",
    "role",
    "challenge",
    "code",
    "recovery_code",
    "setup_code",
    "display_name",
    "company",
    "department",
    "name",
    "criticality",
    "max_session_minutes",
    "addresses",
    "zone",
    "maintenance_ports",
    "port",
    "protocol",
    "description",
    "critical",
    "current_password",
    "new_password",
    "record_sessions",
    "approvals_required",
    "approver_department",
    "asset",
    "ports",
    "reason",
    "start",
    "duration_minutes",
    "note",
    "public_key",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        ".{0,24}".prop_map(Value::from),
        prop::sample::select(vec![
            "admin",
            "vendor",
            "auditor",
            "approver",
            "low",
            "life_critical",
            "123456",
            "１２３４５６",
            "22/ssh",
            "10.0.0.1",
            "::1",
            "skm_c_",
            "skm_s_",
            "",
            "00000000-0000-0000-0000-000000000000",
            "correct-Horse-battery-staple-17",
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let key = prop_oneof![prop::sample::select(FIELDS).prop_map(str::to_owned), "[a-z_]{0,12}"];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key, inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Bodies for an operation whose schema example is `example`.
fn body(example: Option<Value>) -> impl Strategy<Value = Vec<u8>> {
    let example = example.unwrap_or_else(|| json!({}));
    let mutated = (prop::sample::select(FIELDS), json_value()).prop_map({
        let example = example.clone();
        move |(k, v)| {
            let mut e = example.clone();
            e[k] = v;
            e.to_string().into_bytes()
        }
    });
    prop_oneof![
        2 => Just(Vec::new()),
        2 => Just(example.to_string().into_bytes()),
        3 => mutated,
        1 => prop::collection::vec(any::<u8>(), 0..300),
        1 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => (0usize..3000, any::<bool>()).prop_map(|(n, obj)| {
            if obj {
                format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n)).into_bytes()
            } else {
                format!("{}{}", "[".repeat(n), "]".repeat(n)).into_bytes()
            }
        }),
        1 => prop::sample::select(vec![
            "1e99999", "-1e400", "123456789012345678901234567890123456789",
            "{\"max_session_minutes\": 1e400}", "{\"port\": 99999999999999999999999}",
            "{\"username\": \"\\ud800\"}", "{\"a\": \"\\u0000\"}", "\u{feff}{}", "{}garbage",
            "{\"username\":\"a\",\"username\":\"b\",\"password\":\"c\"}", "null", "[]", "\"\"",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
    ]
}

fn query() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        (0u32..2000).prop_map(|n| n.to_string()),
        "[A-Za-z0-9%._-]{0,20}",
    ];
    let key = prop_oneof![
        prop::sample::select(vec![
            "after", "limit", "user", "reason", "state", "asset", "mine", "live", "request",
        ])
        .prop_map(str::to_owned),
        "[a-z]{0,8}",
    ];
    prop_oneof![
        2 => Just(String::new()),
        2 => prop::collection::vec((key, value), 1..4).prop_map(|kv| {
            let q: Vec<String> = kv.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("?{}", q.join("&"))
        }),
        1 => "[a-z0-9=&%._-]{0,30}".prop_map(|q| format!("?{q}")),
    ]
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])
            .prop_map(str::to_owned),
        "[A-Z]{1,10}",
    ]
}

/// Every dimension mostly what a client of the API would send, sometimes
/// junk, independently: a documented operation (not logout, which would
/// turn the rest into 401s) with a real or odd ID, or a junk path; its
/// method or another; JSON or another content type; the admin's session or
/// a bad one; and any of the bodies above.
fn case(doc: &Value, ids: Vec<String>) -> impl Strategy<Value = Case> {
    let ops: Vec<(String, String, Option<Value>)> = operations(doc)
        .into_iter()
        .filter(|o| !o.path.ends_with("/logout"))
        .map(|o| {
            let example = o.body.as_ref().map(|s| example(doc, s));
            (o.method, o.path, example)
        })
        .collect();
    let id = prop_oneof![
        4 => prop::sample::select(ids),
        1 => prop::sample::select(vec!["not-a-uuid", "%FF%FE", "..", "00000000-0000-0000-0000-000000000000"])
            .prop_map(str::to_owned),
        1 => "[A-Za-z0-9._~%-]{0,24}",
    ];
    let documented = (prop::sample::select(ops), id, query()).prop_flat_map(
        |((method, path, example), id, q)| {
            (Just(method), Just(format!("{}{q}", path.replace("{id}", &id))), body(example))
        },
    );
    let junk = (
        method(),
        (prop_oneof!["/[A-Za-z0-9/._~%-]{0,40}", "/api/v1/[A-Za-z0-9/._~%-]{0,30}"], query())
            .prop_map(|(p, q)| format!("{p}{q}")),
        body(None),
    );
    let target = prop_oneof![6 => documented, 1 => junk];
    let method_override = prop_oneof![8 => Just(None), 1 => method().prop_map(Some)];
    let content_type = prop_oneof![
        6 => Just(Some(b"application/json".to_vec())),
        1 => Just(None),
        1 => prop::sample::select(vec![
            "application/json; charset=utf-8", "APPLICATION/JSON", "text/plain",
            "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
            "application/problem+json", "application/jsonx", "*/*",
        ])
        .prop_map(|s| Some(s.as_bytes().to_vec())),
        1 => prop::collection::vec(any::<u8>(), 0..40).prop_map(Some),
    ];
    let auth = prop_oneof![
        6 => Just(Auth::Admin),
        1 => Just(Auth::None),
        1 => prop::collection::vec(any::<u8>(), 0..80).prop_map(Auth::BearerJunk),
        1 => prop::collection::vec(any::<u8>(), 0..80).prop_map(Auth::Raw),
    ];
    let bytes = prop::option::weighted(0.2, prop::collection::vec(any::<u8>(), 0..60));
    let accept_language = prop::option::weighted(
        0.5,
        prop_oneof![
            prop::sample::select(vec!["ja", "en", "ja-JP;q=0.9, en;q=NaN", "*", ";;;,"])
                .prop_map(|s| s.as_bytes().to_vec()),
            prop::collection::vec(any::<u8>(), 0..60),
        ],
    );
    (
        target,
        method_override,
        content_type,
        auth,
        bytes,
        accept_language,
        prop::option::weighted(0.3, 0u8..4),
    )
        .prop_map(
            |(
                (method, path, body),
                method_override,
                content_type,
                auth,
                cookie,
                accept_language,
                ip,
            )| {
                Case {
                    method: method_override.unwrap_or(method),
                    path,
                    content_type,
                    auth,
                    cookie,
                    accept_language,
                    ip,
                    body,
                }
            },
        )
}

/// The request, or `None` when the URI is not one a client could send.
fn build(c: &Case, admin_token: &str) -> Option<Request<Body>> {
    let mut b = Request::builder()
        .method(Method::from_bytes(c.method.as_bytes()).ok()?)
        .uri(c.path.as_str());
    let mut add = |name: header::HeaderName, v: &[u8]| {
        // Bytes no HTTP/1 or HTTP/2 parser would deliver are skipped.
        if let Ok(v) = HeaderValue::from_bytes(v) {
            b = std::mem::take(&mut b).header(name, v);
        }
    };
    if let Some(ct) = &c.content_type {
        add(header::CONTENT_TYPE, ct);
    }
    match &c.auth {
        Auth::None => {}
        Auth::Admin => add(header::AUTHORIZATION, format!("Bearer {admin_token}").as_bytes()),
        Auth::BearerJunk(j) => add(header::AUTHORIZATION, &[b"Bearer ".as_slice(), j].concat()),
        Auth::Raw(r) => add(header::AUTHORIZATION, r),
    }
    if let Some(v) = &c.cookie {
        add(header::COOKIE, &[b"sekimori_session=".as_slice(), v].concat());
    }
    if let Some(v) = &c.accept_language {
        add(header::ACCEPT_LANGUAGE, v);
    }
    let mut req = b.body(Body::from(c.body.clone())).ok()?;
    if let Some(last) = c.ip {
        req.extensions_mut().insert(axum::extract::ConnectInfo(sekimori_web::server::ClientAddr(
            std::net::SocketAddr::new(ip(last), 50_000),
        )));
    }
    Some(req)
}

fn check(c: &Case, r: &Resp) -> Result<(), TestCaseError> {
    let body = String::from_utf8_lossy(&r.bytes);
    prop_assert!(!r.status.is_server_error(), "5xx {} for {c:?}: {body}", r.status);
    if r.status.is_client_error() && !(c.method == "HEAD" && r.bytes.is_empty()) {
        prop_assert_eq!(r.header(header::CONTENT_TYPE), Some("application/json"), "{:?}", c);
        let code = r.error();
        prop_assert!(
            !code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "no error code for {c:?}: {body}"
        );
        prop_assert!(r.json["message"].is_string(), "no message for {c:?}: {body}");
        for needle in ["sqlx", "sqlite", "postgres", "panicked", ".rs:", "/src/"] {
            prop_assert!(!r.message().to_lowercase().contains(needle), "leak for {c:?}: {body}");
        }
    } else if r.status.is_success()
        && !r.bytes.is_empty()
        && c.method != "HEAD"
        && (c.path.starts_with("/api/") || c.path.starts_with("/healthz"))
    {
        prop_assert!(r.json.is_object(), "non-JSON success for {c:?}: {body}");
    }
    Ok(())
}

#[test]
fn the_router_survives_random_requests() {
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let doc = document();
    for api in rt.block_on(apis()) {
        let name = api.name();
        let admin = rt.block_on(api.setup_admin());
        // Something to find behind the IDs.
        let vendor = rt.block_on(api.create_user(&admin.token, "tanaka", "vendor"));
        let z = rt.block_on(api.post("/api/v1/zones", json!({"name": "icu"}), Some(&admin.token)));
        let zone = z.json["zone"]["id"].as_str().unwrap().to_owned();
        let a = rt.block_on(api.post(
            "/api/v1/assets",
            json!({"name": "mri-1", "criticality": "high", "max_session_minutes": 60,
                   "maintenance_ports": [{"port": 22, "protocol": "ssh"}]}),
            Some(&admin.token),
        ));
        let asset = a.json["asset"]["id"].as_str().unwrap().to_owned();
        let rq = rt.block_on(api.post(
            "/api/v1/requests",
            json!({"asset": asset, "ports": [22], "reason": "INC-1", "duration_minutes": 60}),
            Some(&admin.token),
        ));
        let request = rq.json["request"]["id"].as_str().unwrap().to_owned();
        // (Not recorded: a pcap export answers JSON, 404 `not_recorded`.)
        let tunnel = rt.block_on(tunnel_session(&api, &admin, &request, &asset, false));
        // (Not the admin's own ID: an MFA reset would end the session.)
        let ids = vec![vendor, zone, asset, request, tunnel, uuid::Uuid::new_v4().to_string()];
        let strategy = case(&doc, ids);
        let (sent, statuses) = (AtomicUsize::new(0), std::sync::Mutex::new(Vec::new()));
        let mut runner = TestRunner::new(Config {
            cases: CASES,
            failure_persistence: None,
            max_shrink_iters: 200,
            ..Config::default()
        });
        let result = runner.run(&strategy, |c| {
            let Some(req) = build(&c, &admin.token) else { return Ok(()) };
            sent.fetch_add(1, Ordering::Relaxed);
            let r = rt.block_on(api.send_request(req));
            statuses.lock().unwrap().push(r.status.as_u16());
            check(&c, &r)
        });
        if let Err(e) = result {
            panic!("{name}: {e}");
        }
        let sent = sent.load(Ordering::Relaxed);
        assert!(sent >= CASES as usize * 3 / 4, "{name}: only {sent} requests were valid HTTP");
        // The fuzz reached handlers, not just the router's refusals.
        let statuses = statuses.into_inner().unwrap();
        let distinct: std::collections::BTreeSet<u16> = statuses.iter().copied().collect();
        assert!(distinct.len() >= 6, "{name}: too few kinds of answers: {distinct:?}");
        let ok = statuses.iter().filter(|s| **s < 300).count();
        // (About one in twenty succeeds; most are refused on purpose.)
        assert!(ok >= 4, "{name}: only {ok} requests succeeded: {distinct:?}");
        // The store is fine afterwards.
        let r = rt.block_on(api.get("/healthz", None));
        assert_eq!(r.status, 200, "{name}");
    }
}
