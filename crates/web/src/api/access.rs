//! The access broker's API: access requests and their decisions
//! (`/requests`), tunnel credentials (`/tunnel-credentials`) and the records
//! of tunnelled connections, live or past (`/tunnel-sessions`), with kill and
//! pcap export.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use sekimori_audit::AuditEvent;
use sekimori_gateway::recording::{FILE_EXTENSION, read_recording};
use sekimori_store::{
    AccessRepo, AssetRepo, AuditRepo, RequestFilter, StoreError, TunnelRepo, TunnelSessionFilter,
};
use sekimori_types::{
    AccessRequest, AccessRequestId, CloseReason, NewAccessRequest, RequestState, Role,
    TunnelSession, TunnelSessionId, maintained_by_company_of, may_approve,
};

use super::auth::Authenticated;
use super::login::require_fresh_mfa;
use super::{ApiError, ApiJson, AppState, NoBody, OptionalJson, rfc3339, store_error};

/// Longest a tunnel credential lives (also capped by the login session).
pub const MAX_CREDENTIAL_LIFETIME: time::Duration = time::Duration::hours(12);

fn parse_request_id(s: &str) -> Result<AccessRequestId, ApiError> {
    s.parse().map_err(|e| ApiError::invalid(&e))
}

fn view(r: &AccessRequest, now: time::OffsetDateTime) -> serde_json::Value {
    let mut v = serde_json::to_value(r).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("status".into(), json!(r.status_at(now)));
    }
    v
}

/// Staff see every request; a vendor only their own (others answer as
/// missing, so IDs are no oracle).
fn may_see(me: &Authenticated, r: &AccessRequest) -> bool {
    r.requester == me.user.id
        || matches!(me.user.role, Role::Admin | Role::Approver | Role::Auditor)
}

async fn visible(
    st: &AppState,
    me: &Authenticated,
    id: AccessRequestId,
) -> Result<AccessRequest, ApiError> {
    let r = st.store.request(id).await.map_err(store_error)?;
    if may_see(me, &r) { Ok(r) } else { Err(ApiError::not_found()) }
}

/// Maps the store's state-machine refusals to stable API codes.
fn transition_error(e: StoreError) -> ApiError {
    match &e {
        StoreError::Invalid(v) if v.reason == "own_request" => {
            ApiError::new(StatusCode::FORBIDDEN, "own_request")
        }
        StoreError::Invalid(v) if v.field == "state" => {
            ApiError::conflict("wrong_state").with_extra(json!({"reason": v.reason}))
        }
        StoreError::Conflict { .. } => ApiError::conflict("already_approved"),
        _ => store_error(e),
    }
}

/// `POST /requests`: a vendor (or staff) asks for access to one asset.
pub async fn create(
    State(st): State<AppState>,
    me: Authenticated,
    ApiJson(new): ApiJson<NewAccessRequest>,
) -> Result<Response, ApiError> {
    me.require(&[Role::Vendor, Role::Admin, Role::Approver])?;
    if me.user.role == Role::Vendor {
        // A vendor asks only for devices their company maintains; any other
        // answers as missing (no oracle for asset IDs).
        let asset = st.store.asset(new.asset).await.map_err(store_error)?;
        if !maintained_by_company_of(&asset, &me.user) {
            return Err(ApiError::not_found());
        }
    }
    let r = st.store.create_request(&me.ctx, &me.user, &new).await.map_err(store_error)?;
    Ok((StatusCode::CREATED, Json(json!({"request": view(&r, st.clock.now())}))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Comma-separated stored states.
    state: Option<String>,
    asset: Option<String>,
    /// Only the caller's own.
    mine: Option<bool>,
    limit: Option<u32>,
}

/// `GET /requests`: newest first.
pub async fn list(
    State(st): State<AppState>,
    me: Authenticated,
    Query(q): Query<ListQuery>,
    _: NoBody,
) -> Result<Response, ApiError> {
    let staff = matches!(me.user.role, Role::Admin | Role::Approver | Role::Auditor);
    let mut filter = RequestFilter { limit: q.limit.unwrap_or(0).min(1000), ..Default::default() };
    if !staff || q.mine.unwrap_or(false) {
        filter.requester = Some(me.user.id);
    }
    if let Some(a) = q.asset {
        filter.asset = Some(a.parse().map_err(|e| ApiError::invalid(&e))?);
    }
    if let Some(s) = q.state {
        for part in s.split(',').filter(|p| !p.is_empty()) {
            filter.states.push(part.parse::<RequestState>().map_err(|e| ApiError::invalid(&e))?);
        }
    }
    let rs = st.store.list_requests(&filter).await.map_err(store_error)?;
    let now = st.clock.now();
    let out: Vec<_> = rs.iter().map(|r| view(r, now)).collect();
    Ok(Json(json!({"requests": out})).into_response())
}

/// `GET /requests/{id}`.
pub async fn show(
    State(st): State<AppState>,
    me: Authenticated,
    Path(id): Path<String>,
    _: NoBody,
) -> Result<Response, ApiError> {
    let r = visible(&st, &me, parse_request_id(&id)?).await?;
    Ok(Json(json!({"request": view(&r, st.clock.now())})).into_response())
}

/// The asset of a request, and whether `me` approves for it.
async fn check_approver(
    st: &AppState,
    me: &Authenticated,
    r: &AccessRequest,
) -> Result<(), ApiError> {
    me.require(&[Role::Admin, Role::Approver])?;
    let asset = match st.store.asset(r.asset).await {
        Ok(a) => a,
        // A request for a deleted asset can still be denied or revoked by
        // an admin, never approved.
        Err(StoreError::NotFound { .. }) if me.user.role == Role::Admin => return Ok(()),
        Err(e) => return Err(store_error(e)),
    };
    if may_approve(&me.user, &asset) {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::FORBIDDEN, "not_an_approver_for_asset"))
    }
}

/// `POST /requests/{id}/approve`: needs a second factor proven in the last
/// five minutes (step-up).
pub async fn approve(
    State(st): State<AppState>,
    me: Authenticated,
    Path(id): Path<String>,
    _: NoBody,
) -> Result<Response, ApiError> {
    let r = visible(&st, &me, parse_request_id(&id)?).await?;
    check_approver(&st, &me, &r).await?;
    // Never approve access to a device that is no longer registered.
    st.store.asset(r.asset).await.map_err(store_error)?;
    require_fresh_mfa(&st, &me)?;
    let r = st.store.approve_request(&me.ctx, r.id, me.user.id).await.map_err(transition_error)?;
    Ok(Json(json!({"request": view(&r, st.clock.now())})).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Note {
    #[serde(default)]
    note: Option<String>,
}

/// The note of an optional `{"note": "…"}` body, cleaned.
fn clean_note(body: Option<Note>) -> Option<String> {
    body.and_then(|b| b.note)
        .map(|s| s.chars().filter(|c| !c.is_control() || *c == '\n').take(500).collect::<String>())
        .filter(|s| !s.trim().is_empty())
}

/// `POST /requests/{id}/deny`.
pub async fn deny(
    State(st): State<AppState>,
    me: Authenticated,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<Note>,
) -> Result<Response, ApiError> {
    let note = clean_note(body);
    let r = visible(&st, &me, parse_request_id(&id)?).await?;
    check_approver(&st, &me, &r).await?;
    let r = st
        .store
        .deny_request(&me.ctx, r.id, me.user.id, note.as_deref())
        .await
        .map_err(transition_error)?;
    Ok(Json(json!({"request": view(&r, st.clock.now())})).into_response())
}

/// `POST /requests/{id}/cancel`: the requester withdraws; live connections
/// of the grant close at once.
pub async fn cancel(
    State(st): State<AppState>,
    me: Authenticated,
    Path(id): Path<String>,
    _: NoBody,
) -> Result<Response, ApiError> {
    let r = visible(&st, &me, parse_request_id(&id)?).await?;
    if r.requester != me.user.id {
        return Err(ApiError::forbidden());
    }
    let r = st.store.cancel_request(&me.ctx, r.id, me.user.id).await.map_err(transition_error)?;
    st.gateway.close_request(r.id, CloseReason::Revoked);
    Ok(Json(json!({"request": view(&r, st.clock.now())})).into_response())
}

/// `POST /requests/{id}/revoke`: an approver or admin withdraws a grant;
/// its live connections close at once.
pub async fn revoke(
    State(st): State<AppState>,
    me: Authenticated,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<Note>,
) -> Result<Response, ApiError> {
    let note = clean_note(body);
    let r = visible(&st, &me, parse_request_id(&id)?).await?;
    check_approver(&st, &me, &r).await?;
    let r = st
        .store
        .revoke_request(&me.ctx, r.id, me.user.id, note.as_deref())
        .await
        .map_err(transition_error)?;
    let closed = st.gateway.close_request(r.id, CloseReason::Revoked);
    Ok(Json(json!({"request": view(&r, st.clock.now()), "connections_closed": closed}))
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCredential {
    /// Ed25519 public key, hex (64 characters).
    public_key: String,
}

/// `POST /tunnel-credentials`: registers the public key generated on the
/// caller's machine. Needs a fresh second factor: a stolen session cookie
/// alone cannot mint tunnel access.
pub async fn create_credential(
    State(st): State<AppState>,
    me: Authenticated,
    ApiJson(req): ApiJson<NewCredential>,
) -> Result<Response, ApiError> {
    require_fresh_mfa(&st, &me)?;
    let key =
        hex::decode(req.public_key.trim()).ok().filter(|k| k.len() == 32).ok_or_else(|| {
            ApiError::invalid(&sekimori_types::InvalidValue::new(
                "public_key",
                "not_an_ed25519_key",
            ))
        })?;
    let expires_at = (st.clock.now() + MAX_CREDENTIAL_LIFETIME).min(me.session.expires_at);
    let c = st
        .store
        .create_tunnel_credential(&me.ctx, me.user.id, me.session.id, &key, expires_at)
        .await
        .map_err(store_error)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"credential": {"id": c.id, "expires_at": rfc3339(c.expires_at)}})),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionQuery {
    live: Option<bool>,
    request: Option<String>,
    user: Option<String>,
    limit: Option<u32>,
}

fn session_view(s: &TunnelSession, live: Option<(u64, u64)>) -> serde_json::Value {
    let mut v = serde_json::to_value(s).unwrap_or_default();
    if let (Some(o), Some((up, down))) = (v.as_object_mut(), live) {
        o.insert("bytes_up".into(), json!(up));
        o.insert("bytes_down".into(), json!(down));
        o.insert("live".into(), json!(true));
    } else if let Some(o) = v.as_object_mut() {
        o.insert("live".into(), json!(s.ended_at.is_none()));
    }
    v
}

fn staff(me: &Authenticated) -> bool {
    matches!(me.user.role, Role::Admin | Role::Approver | Role::Auditor)
}

/// `GET /tunnel-sessions`: records of tunnelled connections, newest first,
/// with live byte counts for those still open. Vendors see their own.
pub async fn list_sessions(
    State(st): State<AppState>,
    me: Authenticated,
    Query(q): Query<SessionQuery>,
    _: NoBody,
) -> Result<Response, ApiError> {
    let mut f = TunnelSessionFilter {
        live_only: q.live.unwrap_or(false),
        limit: q.limit.unwrap_or(0).min(1000),
        ..Default::default()
    };
    if let Some(r) = q.request {
        f.request = Some(parse_request_id(&r)?);
    }
    if let Some(u) = q.user {
        f.user = Some(u.parse().map_err(|e| ApiError::invalid(&e))?);
    }
    if !staff(&me) {
        f.user = Some(me.user.id);
    }
    let rows = st.store.list_tunnel_sessions(&f).await.map_err(store_error)?;
    let out: Vec<_> = rows.iter().map(|s| session_view(s, st.gateway.live_bytes(s.id))).collect();
    Ok(Json(json!({"sessions": out})).into_response())
}

async fn visible_session(
    st: &AppState,
    me: &Authenticated,
    id: &str,
) -> Result<TunnelSession, ApiError> {
    let id: TunnelSessionId = id.parse().map_err(|e| ApiError::invalid(&e))?;
    let s = st.store.tunnel_session(id).await.map_err(store_error)?;
    if s.user == me.user.id || staff(me) { Ok(s) } else { Err(ApiError::not_found()) }
}

/// `GET /tunnel-sessions/{id}`.
pub async fn show_session(
    State(st): State<AppState>,
    me: Authenticated,
    Path(id): Path<String>,
    _: NoBody,
) -> Result<Response, ApiError> {
    let s = visible_session(&st, &me, &id).await?;
    Ok(Json(json!({"session": session_view(&s, st.gateway.live_bytes(s.id))})).into_response())
}

/// `POST /tunnel-sessions/{id}/kill`: closes a live connection at once
/// (admins and approvers; a vendor may end their own).
pub async fn kill_session(
    State(st): State<AppState>,
    me: Authenticated,
    Path(id): Path<String>,
    _: NoBody,
) -> Result<Response, ApiError> {
    let s = visible_session(&st, &me, &id).await?;
    if !(s.user == me.user.id || matches!(me.user.role, Role::Admin | Role::Approver)) {
        return Err(ApiError::forbidden());
    }
    if s.ended_at.is_some() {
        return Err(ApiError::conflict("not_live"));
    }
    st.store
        .append(&me.ctx, AuditEvent::TunnelKilled { tunnel_session: s.id, request: s.request })
        .await
        .map_err(store_error)?;
    let here = st.gateway.kill_connection(s.id);
    Ok(Json(json!({"killed": here})).into_response())
}

/// `GET /tunnel-sessions/{id}/pcap`: the recording as a pcap file that
/// Wireshark follows as one TCP stream. Admins and auditors only: it holds
/// what the vendor saw and typed.
pub async fn export_pcap(
    State(st): State<AppState>,
    me: Authenticated,
    Path(id): Path<String>,
    _: NoBody,
) -> Result<Response, ApiError> {
    me.require(&[Role::Admin, Role::Auditor])?;
    let s = visible_session(&st, &me, &id).await?;
    let file = match &s.recording {
        Some(r) => r.file.clone(),
        None if s.recorded => format!("{}.{FILE_EXTENSION}", s.id),
        None => return Err(ApiError::new(StatusCode::NOT_FOUND, "not_recorded")),
    };
    // The file name comes from our own record; still, never leave the folder.
    if file.contains('/') || file.contains("..") {
        return Err(ApiError::internal());
    }
    let path = st.gateway.recordings_dir().join(&file);
    let reader = tokio::task::spawn_blocking(move || read_recording(&path))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(|error| {
            tracing::warn!(message = "Recording unreadable.", session = %s.id, %error);
            ApiError::new(StatusCode::NOT_FOUND, "recording_unavailable")
        })?;
    st.store
        .append(
            &me.ctx,
            AuditEvent::RecordingExported { tunnel_session: s.id, format: "pcap".into() },
        )
        .await
        .map_err(store_error)?;
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(8);
    tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter { tx, buf: Vec::with_capacity(CHUNK) };
        let result = sekimori_gateway::pcap::export_pcap(reader, &mut out);
        match result {
            Ok(_) => {
                let _ = std::io::Write::flush(&mut out);
            }
            Err(error) => {
                tracing::warn!(message = "pcap export failed.", %error);
                let _ = out.tx.blocking_send(Err(std::io::Error::other(error.to_string())));
            }
        }
    });
    let stream =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    let mut resp = Body::from_stream(stream).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/vnd.tcpdump.pcap"),
    );
    if let Ok(v) = header::HeaderValue::from_str(&format!("attachment; filename=\"{}.pcap\"", s.id))
    {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

const CHUNK: usize = 256 * 1024;

/// A `Write` that hands full chunks to the response body.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<std::io::Result<bytes::Bytes>>,
    buf: Vec<u8>,
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = bytes::Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))
    }
}
