//! API errors: a stable machine code (`{"error":"mfa_required"}`) and a
//! message in the caller's language. Internal detail is logged with the
//! request id, never sent.

use axum::Json;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::json;

use sekimori_types::Lang;

/// An error the API returns. `code` is part of the API contract.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    /// A specific explanation (e.g. why a password was rejected), both languages.
    pub detail: Option<(String, String)>,
    /// Extra machine-readable fields (`field`, `retry_after`, …).
    pub extra: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str) -> Self {
        Self { status, code, detail: None, extra: None }
    }

    /// With a specific message in Japanese and English.
    pub fn with_detail(mut self, ja: impl Into<String>, en: impl Into<String>) -> Self {
        self.detail = Some((ja.into(), en.into()));
        self
    }

    pub fn with_extra(mut self, extra: serde_json::Value) -> Self {
        self.extra = Some(extra);
        self
    }

    pub fn bad_request(code: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code)
    }
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated")
    }
    pub fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden")
    }
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found")
    }
    pub fn conflict(code: &'static str) -> Self {
        Self::new(StatusCode::CONFLICT, code)
    }
    /// The store could not be reached: fail closed, say so without detail.
    pub fn unavailable() -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    }
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal")
    }

    /// The invalid-input error for a value that failed validation.
    pub fn invalid(v: &sekimori_types::InvalidValue) -> Self {
        use sekimori_types::Localized;
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_value")
            .with_detail(v.localized(Lang::Ja), v.localized(Lang::En))
            .with_extra(json!({"field": v.field, "reason": v.reason}))
    }

    /// The generic message for a code, when no detail was given.
    fn message(&self, lang: Lang) -> String {
        if let Some((ja, en)) = &self.detail {
            return lang.pick(ja, en).to_owned();
        }
        let (ja, en) = generic_message(self.code);
        lang.pick(ja, en).to_owned()
    }

    fn body(&self, lang: Lang) -> serde_json::Value {
        let mut body = json!({"error": self.code, "message": self.message(lang)});
        if let (Some(extra), Some(obj)) = (&self.extra, body.as_object_mut())
            && let Some(e) = extra.as_object()
        {
            for (k, v) in e {
                obj.insert(k.clone(), v.clone());
            }
        }
        body
    }
}

fn generic_message(code: &str) -> (&'static str, &'static str) {
    match code {
        "unauthenticated" => ("ログインが必要です。", "You need to log in."),
        "forbidden" => ("この操作を行う権限がありません。", "You are not allowed to do this."),
        "not_found" => ("見つかりません。", "Not found."),
        "method_not_allowed" => ("このメソッドは使えません。", "Method not allowed."),
        "invalid_credentials" => (
            "ユーザー名またはパスワードが正しくありません。",
            "The user name or password is not correct.",
        ),
        "invalid_mfa_code" => (
            "確認コードが正しくないか、既に使われています。",
            "The verification code is wrong or has already been used.",
        ),
        "mfa_required" => ("多要素認証が必要です。", "Multi-factor authentication is required."),
        "step_up_required" => (
            "この操作の前に、もう一度確認コードを入力してください。",
            "Enter a verification code again before doing this.",
        ),
        "challenge_expired" => (
            "ログインの有効期限が切れました。最初からやり直してください。",
            "The login attempt expired. Please start again.",
        ),
        "too_many_attempts" => (
            "試行回数が多すぎます。しばらく待ってから再度お試しください。",
            "Too many attempts. Wait a while and try again.",
        ),
        "account_locked" => (
            "アカウントはロックされています。管理者に連絡してください。",
            "The account is locked. Contact your administrator.",
        ),
        "session_expired" => ("セッションの有効期限が切れました。", "Your session has expired."),
        "malformed_json" => ("JSON の形式が正しくありません。", "The JSON body is malformed."),
        "unsupported_media_type" => (
            "Content-Type は application/json にしてください。",
            "Content-Type must be application/json.",
        ),
        "payload_too_large" => ("リクエストが大きすぎます。", "The request body is too large."),
        "invalid_value" => ("入力値が正しくありません。", "A value is not valid."),
        "password_rejected" => ("このパスワードは使えません。", "This password cannot be used."),
        "already_exists" => {
            ("同じ名前のものが既にあります。", "Something with this name already exists.")
        }
        "setup_unavailable" => (
            "初期設定は完了しているか、設定コードが正しくありません。",
            "Setup is already done, or the setup code is wrong.",
        ),
        "conflict" => {
            ("現在の状態ではこの操作はできません。", "This cannot be done in the current state.")
        }
        "unavailable" => (
            "データベースに接続できません。安全のため操作を拒否しました。",
            "The database is unavailable; the request was refused to stay safe.",
        ),
        "timeout" => ("処理が時間内に終わりませんでした。", "The request timed out."),
        "bad_request" => ("リクエストが正しくありません。", "The request is not valid."),
        "invalid_body" => {
            ("リクエストの内容が正しくありません。", "The request body is not valid.")
        }
        "own_request" => {
            ("自分のアクセス申請は承認できません。", "You cannot approve your own access request.")
        }
        "wrong_state" => (
            "このアクセス申請は現在の状態ではこの操作ができません。",
            "This access request is not in a state that allows this.",
        ),
        "already_approved" => {
            ("この申請は既にあなたが承認しています。", "You have already approved this request.")
        }
        "not_an_approver_for_asset" => (
            "この機器のアクセス申請を承認する権限がありません。",
            "You do not approve access requests for this device.",
        ),
        "not_live" => ("この接続は既に終了しています。", "This connection has already ended."),
        "not_recorded" => ("この接続は記録されていません。", "This connection was not recorded."),
        "recording_unavailable" => {
            ("この接続の記録を読み取れません。", "The recording of this connection cannot be read.")
        }
        _ => ("内部エラーが発生しました。", "An internal error occurred."),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // The body is written by `localize`, which knows the caller's
        // language; this default (English) is used only outside the router.
        let mut resp = (self.status, Json(self.body(Lang::En))).into_response();
        if let Some(secs) =
            self.extra.as_ref().and_then(|e| e.get("retry_after")).and_then(|v| v.as_u64())
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp.extensions_mut().insert(self);
        resp
    }
}

/// Middleware: rewrites error bodies in the caller's language and turns the
/// framework's own plain-text errors (404, 405, 413, 408) into API errors.
pub async fn localize(req: Request, next: Next) -> Response {
    let lang = super::lang_of(req.headers());
    let resp = next.run(req).await;
    let err = match resp.extensions().get::<ApiError>() {
        Some(e) => e.clone(),
        None => match resp.status() {
            StatusCode::NOT_FOUND => ApiError::not_found(),
            StatusCode::BAD_REQUEST => ApiError::bad_request("bad_request"),
            StatusCode::UNPROCESSABLE_ENTITY => ApiError::new(resp.status(), "invalid_body"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                ApiError::new(resp.status(), "unsupported_media_type")
            }
            StatusCode::METHOD_NOT_ALLOWED => ApiError::new(resp.status(), "method_not_allowed"),
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(resp.status(), "payload_too_large"),
            StatusCode::REQUEST_TIMEOUT => ApiError::new(resp.status(), "timeout"),
            _ => return resp,
        },
    };
    let (mut parts, _) = resp.into_parts();
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    if lang == Lang::Ja {
        parts.headers.insert(header::CONTENT_LANGUAGE, HeaderValue::from_static("ja"));
    } else {
        parts.headers.insert(header::CONTENT_LANGUAGE, HeaderValue::from_static("en"));
    }
    Response::from_parts(parts, axum::body::Body::from(err.body(lang).to_string()))
}

/// A JSON body extractor whose rejections are API errors: malformed JSON,
/// unknown fields (the request types use `deny_unknown_fields`), a missing
/// content type, or a body over the limit each get their own code.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        use axum::extract::rejection::JsonRejection;
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => {
                Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"))
            }
            Err(JsonRejection::JsonDataError(e)) => {
                // Unknown or missing fields, wrong types: name the problem,
                // which is about the caller's own input.
                Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").with_detail(
                    format!("リクエストの内容が正しくありません: {}", e.body_text()),
                    format!("The request body is not valid: {}", e.body_text()),
                ))
            }
            Err(JsonRejection::BytesRejection(e))
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"))
            }
            Err(_) => Err(ApiError::bad_request("malformed_json")),
        }
    }
}

/// An optional JSON body: none at all gives `None`; anything else is judged
/// exactly as [`ApiJson`] judges it (content type, malformed JSON, unknown
/// fields, size).
#[derive(Debug, Clone, Copy, Default)]
pub struct OptionalJson<T>(pub Option<T>);

impl<S, T> FromRequest<S> for OptionalJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req.headers().get(header::CONTENT_TYPE).cloned();
        let bytes = match axum::body::Bytes::from_request(req, state).await {
            Ok(b) => b,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"));
            }
            Err(_) => return Err(ApiError::bad_request("malformed_json")),
        };
        if bytes.is_empty() {
            return Ok(OptionalJson(None));
        }
        let mut again = Request::new(axum::body::Body::from(bytes));
        if let Some(ct) = content_type {
            again.headers_mut().insert(header::CONTENT_TYPE, ct);
        }
        let ApiJson(v) = ApiJson::<T>::from_request(again, state).await?;
        Ok(OptionalJson(Some(v)))
    }
}

/// The extractor for endpoints that take no body: no body (or an empty JSON
/// object) passes; anything else is refused as [`ApiJson`] would refuse it
/// (malformed JSON, unknown fields, a wrong content type, over the limit),
/// so no endpoint silently ignores what it was sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoBody;

impl<S: Send + Sync> FromRequest<S> for NoBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req.headers().get(header::CONTENT_TYPE).cloned();
        let bytes = match axum::body::Bytes::from_request(req, state).await {
            Ok(b) => b,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"));
            }
            Err(_) => return Err(ApiError::bad_request("malformed_json")),
        };
        if bytes.is_empty() {
            return Ok(NoBody);
        }
        let mut again = Request::new(axum::body::Body::from(bytes));
        if let Some(ct) = content_type {
            again.headers_mut().insert(header::CONTENT_TYPE, ct);
        }
        let ApiJson(fields) =
            ApiJson::<serde_json::Map<String, serde_json::Value>>::from_request(again, state)
                .await?;
        match fields.keys().next() {
            None => Ok(NoBody),
            Some(k) => {
                let k: String = k.chars().take(64).collect();
                Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").with_detail(
                    format!("リクエストの内容が正しくありません: 不明なフィールド `{k}`"),
                    format!("The request body is not valid: unknown field `{k}`"),
                ))
            }
        }
    }
}
