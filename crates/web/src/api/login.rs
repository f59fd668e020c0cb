//! First-admin set-up, the two-step login (password, then TOTP or a recovery
//! code — or TOTP enrolment for a new account), logout, step-up, and the
//! caller's own account.
//!
//! Unknown users and wrong passwords take the same path: a (dummy) Argon2id
//! verification, the same throttle and audit writes, the same answer.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use sekimori_audit::{Actor, AuditEvent, LoginFailure, SessionEnd};
use sekimori_authn::throttle::{self, Decision, ThrottleState, account_key, source_key};
use sekimori_authn::token::{Token, TokenKind};
use sekimori_authn::{policy, recovery, totp};
use sekimori_store::{
    AuditCtx, AuditRepo, ChallengeKind, CredentialRepo, MetaRepo, NewChallenge, NewSession,
    SessionRepo, StoreError, ThrottleRepo, UserRepo,
};
use sekimori_types::{Label, Lang, Localized, NewUser, Role, User, UserStatus, Username};

use super::auth::{Authenticated, SESSION_COOKIE};
use super::{ApiError, ApiJson, AppState, ClientIp, NoBody, rfc3339, store_error};

/// How long the step between password and code may take.
const CHALLENGE_TTL: time::Duration = time::Duration::minutes(5);
/// Code attempts per challenge.
const CHALLENGE_ATTEMPTS: u32 = 5;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    setup_code: SecretString,
    username: String,
    display_name: Option<String>,
    password: SecretString,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    username: String,
    password: SecretString,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MfaRequest {
    challenge: SecretString,
    code: Option<SecretString>,
    recovery_code: Option<SecretString>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    code: SecretString,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current_password: SecretString,
    new_password: SecretString,
}

#[derive(Serialize)]
struct SessionView<'a> {
    token: &'a str,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    user: &'a User,
    #[serde(skip_serializing_if = "Option::is_none")]
    recovery_codes: Option<Vec<String>>,
}

fn anonymous(username: &str, source: Option<std::net::IpAddr>) -> AuditCtx {
    AuditCtx { actor: Actor::Anonymous { username: Some(username.to_owned()) }, source }
}

/// The policy's refusal as an API error, explained in both languages.
fn password_rejected(r: &policy::PasswordRejection) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "password_rejected")
        .with_detail(r.localized(Lang::Ja), r.localized(Lang::En))
        .with_extra(json!({"reason": r.code()}))
}

fn too_many(until: OffsetDateTime, now: OffsetDateTime) -> ApiError {
    // Rounded up: a client that waits `retry_after` seconds is let in.
    let left = until - now;
    let secs = (left.whole_seconds() + i64::from(left.subsec_nanoseconds() > 0)).max(1);
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts")
        .with_extra(json!({"retry_after": secs}))
}

fn locked() -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "account_locked")
}

/// `POST /setup`: creates the first admin with the one-time code printed at
/// first start. Works once; afterwards (or with a wrong code) it is refused.
pub async fn setup(
    State(st): State<AppState>,
    ClientIp(source): ClientIp,
    ApiJson(req): ApiJson<SetupRequest>,
) -> Result<Response, ApiError> {
    let now = st.clock.now();
    // Setup codes are guessable only by brute force: throttle them per source.
    if let Some(ip) = source {
        gate_source(&st, ip, now).await?;
    }
    let username = Username::parse(&req.username).map_err(|e| ApiError::invalid(&e))?;
    let display_name =
        Label::parse("display_name", req.display_name.as_deref().unwrap_or(username.as_str()))
            .map_err(|e| ApiError::invalid(&e))?;
    policy::check_password(
        req.password.expose_secret(),
        &[username.as_str(), display_name.as_str()],
    )
    .map_err(|r| password_rejected(&r))?;
    let code_hash = recovery::hash_code(req.setup_code.expose_secret());
    let phc = st.hasher.hash(&req.password).await.map_err(|_| ApiError::internal())?;
    let new =
        NewUser { username, display_name, role: Role::Admin, company: None, department: None };
    let ctx =
        AuditCtx { actor: Actor::Anonymous { username: Some(new.username.to_string()) }, source };
    let created = match code_hash {
        Some(h) => match st.store.complete_setup(&ctx, &h, &new, &phc).await {
            Ok(user) => Some(user),
            Err(StoreError::Invalid(v)) if v.field == "setup_code" => None,
            Err(e) => return Err(store_error(e)),
        },
        None => None,
    };
    match created {
        Some(user) => {
            Ok((StatusCode::CREATED, Json(json!({"user": user, "next": "login"}))).into_response())
        }
        None => {
            if let Some(ip) = source {
                record_source_failure(&st, ip, now).await?;
            }
            Err(ApiError::new(StatusCode::FORBIDDEN, "setup_unavailable"))
        }
    }
}

/// Refuses a blocked source address.
async fn gate_source(
    st: &AppState,
    ip: std::net::IpAddr,
    now: OffsetDateTime,
) -> Result<(), ApiError> {
    let state = load_throttle(st, &source_key(ip)).await?;
    match throttle::check_source(&st.authn.throttle, &state, now) {
        Decision::Allow => Ok(()),
        Decision::Blocked { until } | Decision::Wait { until } => Err(too_many(until, now)),
        Decision::Locked => Err(too_many(
            now + time::Duration::seconds(st.authn.throttle.source_block_secs as i64),
            now,
        )),
    }
}

async fn record_source_failure(
    st: &AppState,
    ip: std::net::IpAddr,
    now: OffsetDateTime,
) -> Result<(), ApiError> {
    let key = source_key(ip);
    let cfg = &st.authn.throttle;
    // The store's counter only grows: when the window (or a block) has
    // passed, forget it so that this failure starts a new window.
    let stored = load_throttle(st, &key).await?;
    if stored.failures > 0 && throttle::record_source_failure(cfg, stored, now).0.failures == 1 {
        st.store.throttle_reset(&key).await.map_err(store_error)?;
    }
    let (prev, next) = count_failure(st, &key).await?;
    let (state, became_blocked) = throttle::record_source_failure(cfg, prev, now);
    if became_blocked {
        // Stored, or the block would never take effect.
        let until =
            now + time::Duration::seconds(i64::try_from(cfg.source_block_secs).unwrap_or(0));
        let row = sekimori_store::ThrottleState { blocked_until: Some(until), ..to_store(&state) };
        st.store.throttle_put(&key, &row).await.map_err(store_error)?;
        let ctx = AuditCtx { actor: Actor::System, source: Some(ip) };
        st.store
            .append(&ctx, AuditEvent::SourceBlocked { source: ip, failures: next.failures })
            .await
            .map_err(store_error)?;
        let secs = cfg.source_block_secs;
        let n = u64::from(next.failures);
        login_alert(
            st,
            Some(ip),
            format!("authentication_attack|source|{ip}"),
            format!(
                "Password guessing from {ip}: {n} failed logins; the address is blocked for {secs} s."
            ),
            format!("{ip} からのパスワード推測：ログイン失敗 {n} 回。このアドレスを {secs} 秒間遮断しました。"),
            n,
        )
        .await;
    }
    Ok(())
}

/// An attack on the login, as an alert: stored (aggregated per source or
/// account) and handed to the forwarders. A failure to raise it is logged,
/// never a reason to answer the login differently. The name typed for an
/// account that does not exist is never repeated (it may be a password
/// typed into the wrong field).
async fn login_alert(
    st: &AppState,
    source: Option<std::net::IpAddr>,
    dedup_key: String,
    summary: String,
    summary_ja: String,
    failures: u64,
) {
    use sekimori_store::AlertRepo;
    use sekimori_types::{AlertDraft, AlertKind, AlertSeverity, Evidence, EvidenceAsset};
    let now = st.clock.now();
    let mut evidence = Evidence::default();
    if let Some(ip) = source {
        evidence.assets.push(EvidenceAsset { ip, name: None, zone: None });
    }
    evidence.detail("failed_logins", failures);
    let draft = AlertDraft {
        kind: AlertKind::AuthenticationAttack,
        severity: AlertSeverity::High,
        dedup_key,
        summary,
        summary_ja,
        evidence,
        first: now,
        last: now,
        count: 1,
    };
    match st.store.raise_alerts(&[draft]).await {
        Ok(raised) => {
            for r in raised.into_iter().filter(|r| r.new || r.escalated) {
                if let Some(tx) = &st.alerts {
                    let _ = tx.send(r.alert);
                }
            }
        }
        Err(e) => tracing::error!(message = "Login alert not stored.", error = %e),
    }
}

/// Counts a failed login step against the account name (whether or not it
/// exists) and the source; locks the account when the limit is reached.
async fn record_failure(
    st: &AppState,
    typed: &str,
    user: Option<&User>,
    source: Option<std::net::IpAddr>,
    reason: LoginFailure,
    now: OffsetDateTime,
) -> Result<(), ApiError> {
    let key = account_key(typed);
    let (prev, _) = count_failure(st, &key).await?;
    let (next, became_locked) = throttle::record_account_failure(&st.authn.throttle, prev, now);
    if became_locked {
        st.store.throttle_put(&key, &to_store(&next)).await.map_err(store_error)?;
    }
    let ctx = anonymous(typed, source);
    st.store
        .append(&ctx, AuditEvent::LoginFailed { username: typed.to_owned(), source, reason })
        .await
        .map_err(store_error)?;
    if became_locked {
        let sys = AuditCtx { actor: Actor::System, source };
        let n = u64::from(next.failures);
        let from = source.map(|ip| ip.to_string()).unwrap_or_else(|| "?".into());
        let (key, en, ja) = match user {
            Some(u) => (
                format!("authentication_attack|account|{}", u.username),
                format!(
                    "Account {} locked after {n} failed logins (last from {from}).",
                    u.username
                ),
                format!(
                    "アカウント {} をロックしました：ログイン失敗 {n} 回（最後の接続元 {from}）。",
                    u.username
                ),
            ),
            None => (
                "authentication_attack|account|unknown".to_owned(),
                format!(
                    "{n} failed logins for an account name that does not exist (last from {from}); the name is not repeated here."
                ),
                format!(
                    "存在しないアカウント名でのログイン失敗が {n} 回に達しました（最後の接続元 {from}）。名前はここには表示しません。"
                ),
            ),
        };
        login_alert(st, source, key, en, ja, n).await;
        match user {
            Some(u) => {
                st.store
                    .set_user_status(&sys, u.id, UserStatus::Locked, "too many failed logins")
                    .await
                    .map_err(store_error)?;
            }
            None => {
                st.store
                    .append(
                        &sys,
                        AuditEvent::AccountLocked {
                            user: None,
                            username: typed.to_owned(),
                            reason: "too many failed logins".into(),
                        },
                    )
                    .await
                    .map_err(store_error)?;
            }
        }
    }
    if let Some(ip) = source {
        record_source_failure(st, ip, now).await?;
    }
    Ok(())
}

/// Throttle gates for an attempt: source first, then the account name.
async fn gate(
    st: &AppState,
    typed: &str,
    source: Option<std::net::IpAddr>,
    now: OffsetDateTime,
) -> Result<(), ApiError> {
    if let Some(ip) = source {
        gate_source(st, ip, now).await?;
    }
    let state = load_throttle(st, &account_key(typed)).await?;
    match throttle::check_account(&st.authn.throttle, &state, now) {
        Decision::Allow => Ok(()),
        Decision::Wait { until } | Decision::Blocked { until } => Err(too_many(until, now)),
        Decision::Locked => Err(locked()),
    }
}

/// `POST /login`: step 1, the password.
pub async fn login(
    State(st): State<AppState>,
    ClientIp(source): ClientIp,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let now = st.clock.now();
    let typed: String = req.username.chars().take(128).collect();
    if let Err(e) = gate(&st, &typed, source, now).await {
        let reason = if e.code == "account_locked" {
            LoginFailure::AccountLocked
        } else {
            LoginFailure::Throttled
        };
        st.store
            .append(
                &anonymous(&typed, source),
                AuditEvent::LoginFailed { username: typed.clone(), source, reason },
            )
            .await
            .map_err(store_error)?;
        return Err(e);
    }
    let user = match Username::parse(&typed) {
        Ok(u) => st.store.user_by_username(&u).await.map_err(store_error)?,
        Err(_) => None,
    };
    let phc = match &user {
        Some(u) => password_phc(&st, u.id).await?,
        None => None,
    };
    let ok = st.hasher.verify(&req.password, phc.as_deref()).await;
    // An account an admin locked answers exactly like a wrong password,
    // whether or not the password was right: the answer neither confirms a
    // guessed password nor that the account exists (OWASP: generic errors).
    if let Some(u) = user.as_ref().filter(|u| u.status == UserStatus::Locked) {
        if ok {
            st.store
                .append(
                    &anonymous(&typed, source),
                    AuditEvent::LoginFailed {
                        username: typed.clone(),
                        source,
                        reason: LoginFailure::AccountLocked,
                    },
                )
                .await
                .map_err(store_error)?;
        } else {
            record_failure(&st, &typed, Some(u), source, LoginFailure::BadPassword, now).await?;
        }
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid_credentials"));
    }
    let user = match (ok, user) {
        (true, Some(u)) => u,
        (_, u) => {
            let reason =
                if u.is_some() { LoginFailure::BadPassword } else { LoginFailure::UnknownUser };
            record_failure(&st, &typed, u.as_ref(), source, reason, now).await?;
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid_credentials"));
        }
    };
    match user.status {
        UserStatus::Active | UserStatus::Locked => {}
        UserStatus::Disabled => {
            record_failure(&st, &typed, Some(&user), source, LoginFailure::AccountDisabled, now)
                .await?;
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid_credentials"));
        }
    }

    let token = Token::generate(TokenKind::Challenge).map_err(|_| ApiError::internal())?;
    let expires_at = now + CHALLENGE_TTL;
    if user.mfa_enrolled {
        st.store
            .create_challenge(
                &anonymous(&typed, source),
                NewChallenge {
                    token_hash: token.hash().to_vec(),
                    user: Some(user.id),
                    kind: ChallengeKind::Mfa,
                    pending_totp_secret: None,
                    expires_at,
                },
            )
            .await
            .map_err(store_error)?;
        return Ok(Json(json!({
            "status": "mfa_required",
            "challenge": token.expose(),
            "expires_at": rfc3339(expires_at),
        }))
        .into_response());
    }
    let secret = totp::TotpSecret::generate().map_err(|_| ApiError::internal())?;
    let enrolment = totp::enrol(&secret, &st.totp_issuer, user.username.as_str())
        .map_err(|_| ApiError::internal())?;
    st.store
        .create_challenge(
            &anonymous(&typed, source),
            NewChallenge {
                token_hash: token.hash().to_vec(),
                user: Some(user.id),
                kind: ChallengeKind::Enrol,
                pending_totp_secret: Some(SecretSlice::from(secret.as_bytes().to_vec())),
                expires_at,
            },
        )
        .await
        .map_err(store_error)?;
    Ok(Json(json!({
        "status": "mfa_enrolment_required",
        "challenge": token.expose(),
        "expires_at": rfc3339(expires_at),
        "otpauth_uri": enrolment.otpauth_uri.expose_secret(),
        "secret": enrolment.secret_base32.expose_secret(),
        "qr_svg": enrolment.qr_svg,
    }))
    .into_response())
}

/// Looks up a live challenge of `kind`; counts the attempt.
async fn take_challenge(
    st: &AppState,
    presented: &SecretString,
    kind: ChallengeKind,
    now: OffsetDateTime,
) -> Result<([u8; 32], sekimori_store::Challenge), ApiError> {
    let expired = || ApiError::new(StatusCode::UNAUTHORIZED, "challenge_expired");
    let hash =
        sekimori_authn::token::parse_presented_as(TokenKind::Challenge, presented.expose_secret())
            .ok_or_else(expired)?;
    let ch = st.store.challenge(&hash).await.map_err(store_error)?.ok_or_else(expired)?;
    if ch.kind != kind
        || ch.expires_at <= now
        || ch.attempts >= CHALLENGE_ATTEMPTS
        || ch.user.is_none()
    {
        st.store.take_challenge(&hash).await.map_err(store_error)?;
        return Err(expired());
    }
    // Counted before the code is checked, so parallel guesses share the budget.
    match st.store.bump_challenge_attempts(&hash).await.map_err(store_error)? {
        Some(n) if n <= CHALLENGE_ATTEMPTS => Ok((hash, ch)),
        _ => Err(expired()),
    }
}

/// `POST /login/mfa`: step 2 for an enrolled account.
pub async fn login_mfa(
    State(st): State<AppState>,
    ClientIp(source): ClientIp,
    headers: HeaderMap,
    ApiJson(req): ApiJson<MfaRequest>,
) -> Result<Response, ApiError> {
    let now = st.clock.now();
    let (ch_hash, ch) = take_challenge(&st, &req.challenge, ChallengeKind::Mfa, now).await?;
    let user = challenge_user(&st, ch.user).await?;
    let typed = user.username.to_string();
    gate(&st, &typed, source, now).await?;
    if user.status != UserStatus::Active {
        return Err(locked());
    }
    let method = match (&req.code, &req.recovery_code) {
        (Some(code), None) => {
            let Some((secret, last_step)) = totp_of(&st, user.id).await? else {
                return Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid_mfa_code"));
            };
            let verdict = totp::verify(&secret, code.expose_secret(), now, last_step);
            let accepted = match verdict {
                Ok(step) => st.store.consume_totp_step(user.id, step).await.map_err(store_error)?,
                Err(_) => false,
            };
            if !accepted {
                let reason = if matches!(verdict, Err(totp::TotpError::Replayed)) || verdict.is_ok()
                {
                    LoginFailure::TotpReplayed
                } else {
                    LoginFailure::BadTotp
                };
                record_failure(&st, &typed, Some(&user), source, reason, now).await?;
                return Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid_mfa_code"));
            }
            "totp"
        }
        (None, Some(code)) => {
            let ctx =
                AuditCtx { actor: Actor::User { id: user.id, username: typed.clone() }, source };
            let used = match recovery::hash_code(code.expose_secret()) {
                Some(h) => {
                    st.store.consume_recovery_code(&ctx, user.id, &h).await.map_err(store_error)?
                }
                None => None,
            };
            if used.is_none() {
                record_failure(
                    &st,
                    &typed,
                    Some(&user),
                    source,
                    LoginFailure::BadRecoveryCode,
                    now,
                )
                .await?;
                return Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid_mfa_code"));
            }
            "recovery_code"
        }
        _ => {
            return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body")
                .with_detail(
                    "code と recovery_code のどちらか一方を指定してください。",
                    "Give exactly one of code and recovery_code.",
                ));
        }
    };
    // Single use: of parallel requests on one challenge, only the one that
    // takes it gets a session.
    if st.store.take_challenge(&ch_hash).await.map_err(store_error)?.is_none() {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "challenge_expired"));
    }
    finish_login(&st, user, source, &headers, method, None, now).await
}

/// `POST /login/enrol`: step 2 for an account without TOTP: the first code
/// from the app proves the secret was stored; enrolment and the session are
/// created together, with recovery codes shown once.
pub async fn login_enrol(
    State(st): State<AppState>,
    ClientIp(source): ClientIp,
    headers: HeaderMap,
    ApiJson(req): ApiJson<MfaRequest>,
) -> Result<Response, ApiError> {
    let now = st.clock.now();
    let (ch_hash, ch) = take_challenge(&st, &req.challenge, ChallengeKind::Enrol, now).await?;
    let user = challenge_user(&st, ch.user).await?;
    let typed = user.username.to_string();
    gate(&st, &typed, source, now).await?;
    if user.status != UserStatus::Active {
        return Err(locked());
    }
    let (Some(code), None, Some(secret)) = (&req.code, &req.recovery_code, &ch.pending_totp_secret)
    else {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"));
    };
    let secret_obj =
        totp::TotpSecret::from_bytes(secret.expose_secret()).map_err(|_| ApiError::internal())?;
    let Ok(step) = totp::verify(&secret_obj, code.expose_secret(), now, None) else {
        record_failure(&st, &typed, Some(&user), source, LoginFailure::BadTotp, now).await?;
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid_mfa_code"));
    };
    let (codes, hashes) =
        recovery::generate(recovery::DEFAULT_COUNT).map_err(|_| ApiError::internal())?;
    let ctx = AuditCtx { actor: Actor::User { id: user.id, username: typed.clone() }, source };
    // Single use: whoever takes the challenge first enrols.
    if st.store.take_challenge(&ch_hash).await.map_err(store_error)?.is_none() {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "challenge_expired"));
    }
    let hashes: Vec<Vec<u8>> = hashes.iter().map(|h| h.to_vec()).collect();
    match st.store.enrol_totp(&ctx, user.id, secret.expose_secret(), step, &hashes).await {
        Ok(()) => {}
        // Someone enrolled this account meanwhile: start again.
        Err(StoreError::Invalid(_)) => {
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "challenge_expired"));
        }
        Err(e) => return Err(store_error(e)),
    }
    let user = st.store.user(user.id).await.map_err(store_error)?;
    let codes: Vec<String> = codes.iter().map(|c| c.expose().to_owned()).collect();
    finish_login(&st, user, source, &headers, "totp_enrolment", Some(codes), now).await
}

async fn finish_login(
    st: &AppState,
    user: User,
    source: Option<std::net::IpAddr>,
    headers: &HeaderMap,
    method: &str,
    recovery_codes: Option<Vec<String>>,
    now: OffsetDateTime,
) -> Result<Response, ApiError> {
    st.store.throttle_reset(&account_key(user.username.as_str())).await.map_err(store_error)?;
    let token = Token::generate(TokenKind::Session).map_err(|_| ApiError::internal())?;
    let expires_at = now + time::Duration::seconds(st.authn.session.absolute_lifetime_secs as i64);
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(256).collect::<String>());
    let ctx = AuditCtx {
        actor: Actor::User { id: user.id, username: user.username.to_string() },
        source,
    };
    st.store
        .create_session(
            &ctx,
            &NewSession {
                user: user.id,
                token_hash: token.hash().to_vec(),
                expires_at,
                mfa_method: method.to_owned(),
                user_agent,
            },
        )
        .await
        .map_err(store_error)?;
    let body = SessionView { token: token.expose(), expires_at, user: &user, recovery_codes };
    let mut resp = Json(body).into_response();
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={}",
        token.expose(),
        st.authn.session.absolute_lifetime_secs
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// `POST /logout`.
pub async fn logout(
    State(st): State<AppState>,
    me: Authenticated,
    _: NoBody,
) -> Result<Response, ApiError> {
    st.store
        .revoke_session(&me.ctx, me.session.id, SessionEnd::Logout)
        .await
        .map_err(store_error)?;
    st.gateway.authz_changed();
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "sekimori_session=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    Ok(resp)
}

/// `GET /me`.
pub async fn me(
    State(st): State<AppState>,
    me: Authenticated,
    _: NoBody,
) -> Json<serde_json::Value> {
    let fresh =
        sekimori_authn::session::mfa_is_fresh(&st.authn.session, me.session.mfa_at, st.clock.now());
    Json(json!({
        "user": me.user,
        "session": {
            "id": me.session.id,
            "created_at": rfc3339(me.session.created_at),
            "expires_at": rfc3339(me.session.expires_at),
            "mfa_at": rfc3339(me.session.mfa_at),
            "mfa_fresh": fresh,
        }
    }))
}

/// Refuses unless the session passed MFA within the step-up window.
pub(crate) fn require_fresh_mfa(st: &AppState, me: &Authenticated) -> Result<(), ApiError> {
    if sekimori_authn::session::mfa_is_fresh(&st.authn.session, me.session.mfa_at, st.clock.now()) {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::FORBIDDEN, "step_up_required"))
    }
}

/// `POST /me/step-up`: a fresh TOTP code refreshes the session's MFA time.
pub async fn step_up(
    State(st): State<AppState>,
    me: Authenticated,
    ApiJson(req): ApiJson<CodeRequest>,
) -> Result<Response, ApiError> {
    let now = st.clock.now();
    let typed = me.user.username.to_string();
    gate(&st, &typed, me.ctx.source, now).await?;
    let Some((secret, last_step)) = totp_of(&st, me.user.id).await? else {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid_mfa_code"));
    };
    let accepted = match totp::verify(&secret, req.code.expose_secret(), now, last_step) {
        Ok(step) => st.store.consume_totp_step(me.user.id, step).await.map_err(store_error)?,
        Err(_) => false,
    };
    if !accepted {
        record_failure(&st, &typed, Some(&me.user), me.ctx.source, LoginFailure::BadTotp, now)
            .await?;
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid_mfa_code"));
    }
    st.store.mark_step_up(&me.ctx, me.session.id).await.map_err(store_error)?;
    Ok(Json(json!({"mfa_at": rfc3339(now)})).into_response())
}

/// `POST /me/password`: needs the current password and fresh MFA; ends the
/// user's other sessions.
pub async fn change_password(
    State(st): State<AppState>,
    me: Authenticated,
    ApiJson(req): ApiJson<PasswordChange>,
) -> Result<Response, ApiError> {
    require_fresh_mfa(&st, &me)?;
    let phc = password_phc(&st, me.user.id).await?;
    if !st.hasher.verify(&req.current_password, phc.as_deref()).await {
        let now = st.clock.now();
        record_failure(
            &st,
            me.user.username.as_str(),
            Some(&me.user),
            me.ctx.source,
            LoginFailure::BadPassword,
            now,
        )
        .await?;
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid_credentials"));
    }
    let mut context = vec![me.user.username.as_str(), me.user.display_name.as_str()];
    if let Some(c) = &me.user.company {
        context.push(c.as_str());
    }
    policy::check_password(req.new_password.expose_secret(), &context)
        .map_err(|r| password_rejected(&r))?;
    let phc = st.hasher.hash(&req.new_password).await.map_err(|_| ApiError::internal())?;
    st.store
        .set_password(&me.ctx, me.user.id, &phc, Some(me.session.id))
        .await
        .map_err(store_error)?;
    st.gateway.authz_changed();
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Throttle state as `authn` reasons about it, from the store's row.
fn to_authn(s: &sekimori_store::ThrottleState) -> ThrottleState {
    let micros = |t: Option<OffsetDateTime>| t.map_or(0, sekimori_types::to_micros);
    ThrottleState {
        failures: s.failures,
        first_failure_micros: micros(s.first_failure_at),
        last_failure_micros: micros(s.last_failure_at),
        // An account lock is recorded as a block with no end.
        locked: s.blocked_until.is_some(),
    }
}

/// The store's row for an `authn` state.
fn to_store(s: &ThrottleState) -> sekimori_store::ThrottleState {
    let at = |us: i64| (us != 0).then(|| sekimori_types::from_micros(us));
    sekimori_store::ThrottleState {
        failures: s.failures,
        first_failure_at: at(s.first_failure_micros),
        last_failure_at: at(s.last_failure_micros),
        blocked_until: s.locked.then_some(time::macros::datetime!(9999-12-31 0:00 UTC)),
    }
}

async fn load_throttle(st: &AppState, key: &str) -> Result<ThrottleState, ApiError> {
    Ok(st
        .store
        .throttle_get(key)
        .await
        .map_err(store_error)?
        .as_ref()
        .map(to_authn)
        .unwrap_or_default())
}

/// Counts one failure atomically in the store (no lost updates under
/// parallel guessing) and returns the states before and after it.
async fn count_failure(
    st: &AppState,
    key: &str,
) -> Result<(ThrottleState, ThrottleState), ApiError> {
    let after = to_authn(&st.store.throttle_record_failure(key).await.map_err(store_error)?);
    let mut before = after;
    before.failures = after.failures.saturating_sub(1);
    if before.failures == 0 {
        before = ThrottleState::default();
    }
    Ok((before, after))
}

/// The user a challenge belongs to; a vanished user ends the login.
async fn challenge_user(
    st: &AppState,
    id: Option<sekimori_types::UserId>,
) -> Result<User, ApiError> {
    let id = id.ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "challenge_expired"))?;
    match st.store.user(id).await {
        Ok(u) => Ok(u),
        Err(StoreError::NotFound { .. }) => {
            Err(ApiError::new(StatusCode::UNAUTHORIZED, "challenge_expired"))
        }
        Err(e) => Err(store_error(e)),
    }
}

/// The user's password hash, if they have one.
async fn password_phc(
    st: &AppState,
    id: sekimori_types::UserId,
) -> Result<Option<String>, ApiError> {
    match st.store.credentials(id).await {
        Ok(c) => Ok(Some(c.password_phc.expose_secret().to_owned())),
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(store_error(e)),
    }
}

/// The user's TOTP secret and last accepted step, if enrolled.
async fn totp_of(
    st: &AppState,
    id: sekimori_types::UserId,
) -> Result<Option<(totp::TotpSecret, Option<i64>)>, ApiError> {
    let creds = match st.store.credentials(id).await {
        Ok(c) => c,
        Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(store_error(e)),
    };
    match creds.totp {
        Some(t) => {
            let secret = totp::TotpSecret::from_bytes(t.secret.expose_secret())
                .map_err(|_| ApiError::internal())?;
            Ok(Some((secret, t.last_step)))
        }
        None => Ok(None),
    }
}
