//! The published OpenAPI document against the router, and malformed input on
//! every documented operation: malformed JSON → 400 `malformed_json`, an
//! unknown field or a wrong shape → 422 `invalid_body`, a wrong or missing
//! content type → 415, a body over 64 KiB → 413 `payload_too_large`; every
//! answer a JSON error with a stable code, never 5xx, nothing internal in
//! the message. Authenticated operations without a session → 401
//! `unauthenticated`, whatever the body.

use std::collections::{BTreeMap, BTreeSet};

use axum::http::header;
use bytes::Bytes;
use serde_json::{Map, Value, json};

use sekimori_gateway::recording::{Direction, Recorder, RecordingConfig, RecordingHeader};
use sekimori_store::{
    AlertRepo, AuditCtx, InventoryFilter, InventoryRepo, NewTunnelSession, ObservedAsset,
    TunnelRepo,
};
use sekimori_types::{SessionId, TunnelSessionId, UserId};

use crate::common::*;

/// One documented operation.
#[derive(Debug, Clone)]
pub struct Op {
    pub method: String,
    /// The full path (server URL + path), with `{id}` unsubstituted.
    pub path: String,
    /// The request body schema, `$ref` resolved.
    pub body: Option<Value>,
    /// `security: []`: callable without a session.
    pub public: bool,
}

impl Op {
    pub fn label(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// The path with `{id}` replaced.
    pub fn with_id(&self, id: &str) -> String {
        self.path.replace("{id}", id)
    }
}

pub const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

/// The document shipped in the crate.
pub fn document() -> Value {
    serde_json::from_str(include_str!("../../src/api/openapi.json")).expect("openapi.json parses")
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => doc
            .pointer(r.strip_prefix('#').expect("local $ref"))
            .unwrap_or_else(|| panic!("dangling $ref {r}")),
        None => schema,
    }
}

/// Every operation of the document, with full paths.
pub fn operations(doc: &Value) -> Vec<Op> {
    let base = doc["servers"][0]["url"].as_str().expect("servers[0].url");
    let public_by_default = doc["security"].as_array().is_some_and(Vec::is_empty);
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let base = item["servers"][0]["url"].as_str().unwrap_or(base);
        for (method, op) in item.as_object().expect("path item") {
            if !METHODS.contains(&method.as_str()) {
                continue;
            }
            let public = match op.get("security") {
                Some(s) => s.as_array().expect("security").is_empty(),
                None => public_by_default,
            };
            let body = op
                .pointer("/requestBody/content/application~1json/schema")
                .map(|s| resolve(doc, s).clone());
            out.push(Op {
                method: method.to_uppercase(),
                path: format!("{}{path}", base.trim_end_matches('/')),
                body,
                public,
            });
        }
    }
    out
}

/// A value that satisfies `schema` (required properties only): the
/// schema's own `example` when it has one.
pub fn example(doc: &Value, schema: &Value) -> Value {
    let s = resolve(doc, schema);
    if let Some(e) = s.get("example") {
        return e.clone();
    }
    if let Some(first) = s["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    match s["type"].as_str() {
        Some("object") => {
            let mut o = Map::new();
            for r in s["required"].as_array().into_iter().flatten() {
                let r = r.as_str().expect("required name");
                o.insert(r.to_owned(), example(doc, &s["properties"][r]));
            }
            Value::Object(o)
        }
        Some("string") => json!("example"),
        Some("integer") => json!(s["minimum"].as_i64().unwrap_or(1)),
        Some("boolean") => json!(false),
        Some("array") => json!([]),
        _ => Value::Null,
    }
}

/// A well-formed body for `op`: the schema's example, or none.
pub fn good_body(doc: &Value, op: &Op) -> Option<Value> {
    op.body.as_ref().map(|s| example(doc, s))
}

/// Asserts that `value` has exactly the properties the component schema
/// `name` documents, every required one, and `null` only where the schema
/// says `nullable`.
#[track_caller]
pub fn assert_fields(doc: &Value, name: &str, value: &Value, ctx: &str) {
    let schema = &doc["components"]["schemas"][name];
    let props = schema["properties"].as_object().unwrap_or_else(|| panic!("no schema {name}"));
    let served = value.as_object().unwrap_or_else(|| panic!("{ctx}: {name} is no object: {value}"));
    let documented: BTreeSet<&str> = props.keys().map(String::as_str).collect();
    let keys: BTreeSet<&str> = served.keys().map(String::as_str).collect();
    assert_eq!(keys, documented, "{ctx}: the fields of {name} served vs documented");
    for r in schema["required"].as_array().into_iter().flatten() {
        assert!(served.contains_key(r.as_str().unwrap()), "{ctx}: {name} without {r}");
    }
    for (k, v) in served {
        if v.is_null() {
            assert_eq!(props[k]["nullable"], true, "{ctx}: {name}.{k} is null, not nullable");
        }
    }
}

/// Records a tunnelled connection of `login` under their grant `request`
/// (port 22 of `asset`) directly in the store, as the gateway would when it
/// opens one: a tunnel credential for `login`'s session, then the open
/// session record. When `recorded`, also writes a finished recording of a
/// short exchange into the gateway's recordings folder, where the pcap
/// export looks for it. Returns the tunnel session's ID.
pub async fn tunnel_session(
    api: &Api,
    login: &Login,
    request: &str,
    asset: &str,
    recorded: bool,
) -> String {
    let name = api.name();
    let me = api.get("/api/v1/me", Some(&login.token)).await;
    me.expect(200, &name);
    let session: SessionId = me.json["session"]["id"].as_str().unwrap().parse().unwrap();
    let user: UserId = login.id().parse().unwrap();
    let username = login.user["username"].as_str().expect("username").to_owned();
    let ctx = AuditCtx::user(user, username.clone(), None);
    let store = &api.t.store;
    let credential = store
        .create_tunnel_credential(
            &ctx,
            user,
            session,
            &[7; 32],
            api.now() + time::Duration::hours(1),
        )
        .await
        .expect("tunnel credential");
    let new = NewTunnelSession {
        id: TunnelSessionId::new(),
        request: request.parse().unwrap(),
        user,
        credential: credential.id,
        asset: asset.parse().unwrap(),
        port: 22,
        client_addr: "203.0.113.9:50123".parse().unwrap(),
        target_addr: "10.1.2.3:22".parse().unwrap(),
        recorded,
    };
    let s = store.open_tunnel_session(&ctx, &new).await.expect("tunnel session");
    if recorded {
        let recorder = Recorder::start(RecordingConfig::new(api.gateway.recordings_dir()))
            .expect("recording writer");
        let rec = recorder
            .begin(RecordingHeader {
                session: s.id,
                request: s.request,
                user: username,
                asset: s.asset_name.to_string(),
                port: s.port,
                client: s.client_addr,
                target: s.target_addr,
                started_at: s.started_at,
            })
            .await
            .expect("recording");
        for (dir, data) in [
            (Direction::Up, &b"SSH-2.0-OpenSSH_9.6\r\n"[..]),
            (Direction::Down, &b"SSH-2.0-dropbear_2022.83\r\n"[..]),
        ] {
            rec.record(dir, api.now(), Bytes::from_static(data)).await.expect("record");
        }
        rec.finish(api.now()).await.expect("finished recording");
    }
    s.id.to_string()
}

/// The routes `router()` registers, read from its source: `(METHOD, path)`.
fn served_routes() -> BTreeSet<(String, String)> {
    let src = include_str!("../../src/api/mod.rs");
    let router = &src[src.find("pub fn router(").expect("fn router")..];
    let api_start = router.find("let api = Router::new()").expect("the api router");
    let api_end = api_start + router[api_start..].find(';').expect("end of the api router");
    let nest = &router[router.find(".nest(\"").expect(".nest") + 7..];
    let prefix = &nest[..nest.find('"').expect("nest prefix")];
    let mut out = BTreeSet::new();
    parse_routes(&router[api_start..api_end], prefix, &mut out);
    parse_routes(&router[api_end..], "", &mut out);
    // Other routers merged in: only the web console (static HTML, CSS and
    // JavaScript, not part of the JSON API) may be; anything else must be
    // listed here, and so reviewed.
    let end = router.find("\n}").expect("end of fn router");
    for (i, _) in router[..end].match_indices(".merge(") {
        let arg = &router[i + ".merge(".len()..];
        let arg = &arg[..arg.find(')').expect("merge argument")];
        assert_eq!(arg, "crate::console::routes(", "an unreviewed router is merged in");
    }
    assert_eq!(router[..end].matches(".nest(").count(), 1, "an unreviewed nested router");
    assert!(out.len() > 10, "the route parser found too little: {out:?}");
    out
}

fn parse_routes(text: &str, prefix: &str, out: &mut BTreeSet<(String, String)>) {
    let mut rest = text;
    while let Some(i) = rest.find(".route(") {
        rest = &rest[i + ".route(".len()..];
        let q = rest.find('"').expect("route path");
        let path_end = q + 1 + rest[q + 1..].find('"').expect("route path end");
        let path = format!("{prefix}{}", &rest[q + 1..path_end]);
        let mut depth = 1;
        let mut end = rest.len();
        for (j, c) in rest.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = j;
                        break;
                    }
                }
                _ => {}
            }
        }
        let args = &rest[path_end + 1..end];
        let mut methods = 0;
        for (k, _) in args.match_indices('(') {
            let ident: String = args[..k]
                .chars()
                .rev()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            let before = args[..k - ident.len()].chars().next_back();
            if !ident.is_empty() && before.is_none_or(|c| c == '.' || c == ' ' || c == '\n') {
                out.insert((ident.to_uppercase(), path.clone()));
                methods += 1;
            }
        }
        assert!(methods > 0, "no method router for {path}: {args}");
        rest = &rest[end..];
    }
}

/// The router serves exactly what the document lists: the source's routes
/// equal the document's operations, the served document is the shipped one,
/// methods the document does not list answer 405, and a valid call of every
/// listed operation (with real IDs) reaches a handler: never 404, 405 or 5xx.
#[tokio::test]
async fn openapi_lists_exactly_the_served_routes() {
    let doc = document();
    let ops = operations(&doc);
    let documented: BTreeSet<(String, String)> =
        ops.iter().map(|o| (o.method.clone(), o.path.clone())).collect();
    let served = served_routes();
    assert_eq!(
        served.difference(&documented).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "served but not in openapi.json"
    );
    assert_eq!(
        documented.difference(&served).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "in openapi.json but not served"
    );

    for api in apis().await {
        let name = api.name();
        let r = api.get("/api/v1/openapi.json", None).await;
        r.expect(200, &name);
        assert_eq!(r.json, doc, "{name}: the served document is the shipped one");

        let admin = api.setup_admin().await;
        let spare = api.login(ADMIN, ADMIN_PASSWORD, &admin.secret).await;
        let token = admin.token.as_str();
        // Real IDs, so that a 404 can only mean "no such route".
        let vendor = api.create_user(token, "vendor1", "vendor").await;
        let z = api.post("/api/v1/zones", json!({"name": "icu"}), Some(token)).await;
        z.expect(201, &name);
        let zone = z.json["zone"]["id"].as_str().unwrap().to_owned();
        let a = api
            .post(
                "/api/v1/assets",
                json!({"name": "mri-1", "criticality": "high", "max_session_minutes": 60,
                       "addresses": ["10.1.2.3"],
                       "maintenance_ports": [{"port": 22, "protocol": "ssh"}]}),
                Some(token),
            )
            .await;
        a.expect(201, &name);
        assert_fields(&doc, "Asset", &a.json["asset"], &name);
        let asset = a.json["asset"]["id"].as_str().unwrap().to_owned();
        // A device the sensor observed, for the inventory routes.
        let seen = api.now();
        api.t
            .store
            .upsert_observed(&[ObservedAsset {
                key: "ip:10.1.2.3".into(),
                mac: None,
                ips: vec!["10.1.2.3".parse().unwrap()],
                names: vec!["MRI_1".into()],
                vendor: None,
                product: None,
                version: None,
                mac_vendor: None,
                protocols_as_client: vec![],
                protocols_as_server: vec!["dicom".into()],
                protocols_link: vec![],
                role: None,
                role_basis: None,
                local: true,
                first_seen: seen,
                last_seen: seen,
            }])
            .await
            .unwrap();
        let observed =
            api.t.store.list_observed(&InventoryFilter::default()).await.unwrap()[0].id.to_string();
        // An alert, for the alert routes.
        let alert = api
            .t
            .store
            .raise_alerts(&[sekimori_types::AlertDraft {
                kind: sekimori_types::AlertKind::NewDevice,
                severity: sekimori_types::AlertSeverity::Low,
                dedup_key: "new_device|10.1.2.3".into(),
                summary: "new device 10.1.2.3".into(),
                summary_ja: "新しい機器 10.1.2.3".into(),
                evidence: sekimori_types::Evidence::default(),
                first: seen,
                last: seen,
                count: 1,
            }])
            .await
            .unwrap()[0]
            .alert
            .id
            .to_string();
        let shown = api.get(&format!("/api/v1/alerts/{alert}"), Some(token)).await;
        shown.expect(200, &name);
        assert_fields(&doc, "Alert", &shown.json["alert"], &name);
        // An access request, by the admin (admins may ask; they may not
        // approve their own, so the valid approve call answers 403
        // `own_request`).
        let rq = api
            .post(
                "/api/v1/requests",
                json!({"asset": asset, "ports": [22], "reason": "INC-4711 firmware update",
                       "duration_minutes": 60}),
                Some(token),
            )
            .await;
        rq.expect(201, &name);
        assert_fields(&doc, "AccessRequest", &rq.json["request"], &name);
        let request = rq.json["request"]["id"].as_str().unwrap().to_owned();
        // A recorded tunnelled connection under it, still open (so that
        // kill finds it live and the pcap export reads its recording).
        let tunnel = tunnel_session(&api, &admin, &request, &asset, true).await;
        let t = api.get(&format!("/api/v1/tunnel-sessions/{tunnel}"), Some(token)).await;
        t.expect(200, &name);
        assert_fields(&doc, "TunnelSession", &t.json["session"], &name);
        let doomed = api.login(ADMIN, ADMIN_PASSWORD, &admin.secret).await;
        let session = api.get("/api/v1/me", Some(&doomed.token)).await.json["session"]["id"]
            .as_str()
            .unwrap()
            .to_owned();

        // Undocumented methods on documented paths.
        let paths: BTreeMap<&str, Vec<&str>> = ops.iter().fold(BTreeMap::new(), |mut m, o| {
            m.entry(o.path.as_str()).or_default().push(o.method.as_str());
            m
        });
        for (path, methods) in &paths {
            for m in METHODS.iter().map(|m| m.to_uppercase()).chain(["OPTIONS".into()]) {
                if methods.contains(&m.as_str()) {
                    continue;
                }
                let uri = path.replace("{id}", &vendor);
                let r = api.send(Req::new(&m, &uri).bearer(Some(token))).await;
                r.expect_error(405, "method_not_allowed", &format!("{name}: {m} {path}"));
                r.expect_clean_error(&format!("{name}: {m} {path}"));
            }
        }
        // Unknown paths.
        for path in ["/api/v1/nope", "/api/v1/users/x/y", "/api/v2/users", "/api/v1/", "/healthz/x"]
        {
            let r = api.get(path, Some(token)).await;
            r.expect_error(404, "not_found", &format!("{name}: {path}"));
            r.expect_clean_error(&format!("{name}: {path}"));
        }

        // A valid call of every operation; logout last, on its own session.
        let mut ordered: Vec<&Op> = ops.iter().collect();
        ordered.sort_by_key(|o| (o.method == "DELETE", o.path.ends_with("/logout")));
        // Client errors whose message is the one for an internal error (a
        // code without a message of its own); all reported at the end.
        let mut unexplained = BTreeSet::new();
        for op in ordered {
            let id = if op.path.contains("/users/") {
                &vendor
            } else if op.path.contains("/zones/") {
                &zone
            } else if op.path.contains("/tunnel-sessions/") {
                &tunnel
            } else if op.path.contains("/sessions/") {
                &session
            } else if op.path.contains("/requests/") {
                &request
            } else if op.path.contains("/inventory/assets/") {
                &observed
            } else if op.path.contains("/alerts/") {
                &alert
            } else {
                assert!(!op.path.contains("{id}") || op.path.contains("/assets/"), "{}", op.path);
                &asset
            };
            let t = if op.path.ends_with("/logout") { &spare.token } else { token };
            let mut req = Req::new(&op.method, &op.with_id(id));
            if !op.public {
                req = req.bearer(Some(t));
            }
            if let Some(mut b) = good_body(&doc, op) {
                // The example asset does not exist; the real one does.
                if let Some(a) = b.get_mut("asset") {
                    *a = json!(asset);
                }
                req = req.json(&b);
            }
            let r = api.send(req).await;
            let ctx = format!("{name}: valid call of {}", op.label());
            assert!(
                !r.status.is_server_error() && r.status != 404 && r.status != 405,
                "{ctx}: {} {}",
                r.status,
                String::from_utf8_lossy(&r.bytes)
            );
            if r.status.is_client_error() {
                // Allowed (e.g. the schema's example password is weak), but
                // never a complaint about the shape the document promises.
                r.expect_clean_error(&ctx);
                assert_ne!(r.error(), "invalid_body", "{ctx}: the documented schema is refused");
                assert_ne!(r.error(), "unauthenticated", "{ctx}");
                if r.message() == "An internal error occurred." {
                    unexplained.insert(format!("{} ({})", r.error(), op.label()));
                }
            } else if op.path.ends_with("/pcap") {
                // The one operation that answers binary (its recording exists).
                assert_eq!(
                    r.header(header::CONTENT_TYPE),
                    Some("application/vnd.tcpdump.pcap"),
                    "{ctx}"
                );
                let magic = r.bytes.get(..4).map(|m| u32::from_le_bytes(m.try_into().unwrap()));
                assert!(matches!(magic, Some(0xa1b2_c3d4 | 0xa1b2_3c4d)), "{ctx}: not a pcap file");
            } else if r.status != 204 {
                assert!(r.json.is_object(), "{ctx}: success without a JSON object");
            }
        }
        assert!(unexplained.is_empty(), "{name}: error codes without a message: {unexplained:?}");
    }
}

/// The four ways a body can be wrong, each with its status and code.
fn bad_bodies(doc: &Value, op: &Op) -> Vec<(&'static str, Req, u16, &'static str)> {
    let uri = op.with_id(&uuid::Uuid::new_v4().to_string());
    let m = op.method.as_str();
    let mut with_unknown = good_body(doc, op).unwrap_or_else(|| json!({}));
    with_unknown["zzz_unknown_field"] = json!(1);
    let valid = good_body(doc, op).unwrap_or_else(|| json!({})).to_string();
    let huge = format!("{{\"pad\":\"{}\"}}", "a".repeat(70 * 1024));
    let json_ct = Some("application/json");
    vec![
        ("truncated JSON", Req::new(m, &uri).raw(json_ct, "{"), 400, "malformed_json"),
        ("unterminated string", Req::new(m, &uri).raw(json_ct, "{\"na"), 400, "malformed_json"),
        ("a key that is no string", Req::new(m, &uri).raw(json_ct, "{1:2}"), 400, "malformed_json"),
        ("not JSON at all", Req::new(m, &uri).raw(json_ct, "hello"), 400, "malformed_json"),
        (
            "invalid UTF-8",
            Req::new(m, &uri).raw(json_ct, vec![b'{', 0xff, 0xfe, b'}']),
            400,
            "malformed_json",
        ),
        (
            "trailing bytes",
            Req::new(m, &uri).raw(json_ct, format!("{valid} x")),
            400,
            "malformed_json",
        ),
        ("unknown field", Req::new(m, &uri).json(&with_unknown), 422, "invalid_body"),
        ("an array", Req::new(m, &uri).json(&json!([1, 2])), 422, "invalid_body"),
        ("a string", Req::new(m, &uri).json(&json!("x")), 422, "invalid_body"),
        (
            "text/plain",
            Req::new(m, &uri).raw(Some("text/plain"), valid.clone()),
            415,
            "unsupported_media_type",
        ),
        (
            "form",
            Req::new(m, &uri).raw(Some("application/x-www-form-urlencoded"), "a=b"),
            415,
            "unsupported_media_type",
        ),
        ("no content type", Req::new(m, &uri).raw(None, valid), 415, "unsupported_media_type"),
        ("over 64 KiB", Req::new(m, &uri).raw(json_ct, huge), 413, "payload_too_large"),
    ]
}

/// Malformed input on every documented operation (with a session where one
/// is needed, so the body is what gets judged).
#[tokio::test]
async fn every_operation_rejects_malformed_bodies() {
    let doc = document();
    let ops = operations(&doc);
    for api in apis().await {
        let name = api.name();
        let admin = api.setup_admin().await;
        for op in &ops {
            for (what, req, status, code) in bad_bodies(&doc, op) {
                let ctx = format!("{name}: {} with {what}", op.label());
                let req = if op.public { req } else { req.bearer(Some(&admin.token)) };
                let r = api.send(req).await;
                r.expect_error(status, code, &ctx);
                r.expect_clean_error(&ctx);
            }
        }
        // Nothing above changed anything: the admin's session still works.
        api.get("/api/v1/me", Some(&admin.token)).await.expect(200, &name);
    }
}

/// Operations that need a session answer 401 `unauthenticated` without one —
/// with no body, a well-formed body, a malformed one, or a bogus token —
/// before they look at the body.
#[tokio::test]
async fn authenticated_operations_need_a_session() {
    let doc = document();
    let ops = operations(&doc);
    for api in apis().await {
        let name = api.name();
        let admin = api.setup_admin().await;
        // A token of the right shape that no session has.
        let mut unknown_token = admin.token.clone();
        let last = unknown_token.pop().unwrap();
        unknown_token.push(if last == 'A' { 'B' } else { 'A' });
        for op in ops.iter().filter(|o| !o.public) {
            let uri = op.with_id(&uuid::Uuid::new_v4().to_string());
            let m = op.method.as_str();
            let good = good_body(&doc, op).unwrap_or_else(|| json!({}));
            let mut cases = vec![
                ("no body", Req::new(m, &uri)),
                ("a well-formed body", Req::new(m, &uri).json(&good)),
                ("a bogus bearer token", Req::new(m, &uri).bearer(Some("x")).json(&good)),
                ("an unknown session token", Req::new(m, &uri).bearer(Some(&unknown_token))),
                (
                    "a token of another kind",
                    Req::new(m, &uri).bearer(Some(&admin.token.replace("skm_s_", "skm_c_"))),
                ),
                (
                    "basic auth",
                    Req::new(m, &uri).header(header::AUTHORIZATION, "Basic YWRtaW46YWRtaW4="),
                ),
                (
                    "a bogus cookie",
                    Req::new(m, &uri).header(header::COOKIE, "sekimori_session=nope; a=b"),
                ),
            ];
            for (what, req, _, _) in bad_bodies(&doc, op) {
                cases.push((what, req));
            }
            for (what, req) in cases {
                let ctx = format!("{name}: {} without a session, {what}", op.label());
                let r = api.send(req).await;
                r.expect_error(401, "unauthenticated", &ctx);
                r.expect_clean_error(&ctx);
                assert!(r.header(header::SET_COOKIE).is_none(), "{ctx}");
            }
        }
        // The real token in the cookie works, so the cases above were real.
        let r = api
            .send(
                Req::new("GET", "/api/v1/me")
                    .header(header::COOKIE, &format!("a=b; sekimori_session={}", admin.token)),
            )
            .await;
        r.expect(200, &format!("{name}: cookie session"));
    }
}
