//! The `sekimori/1` tunnel protocol, sans I/O: the framing of the two
//! handshake messages, the signed proof of key possession, the refusal codes
//! with their messages in both languages, and the flow-control windows of
//! the multiplexed streams that follow (framed by the [`mux`](crate::mux)
//! module).
//!
//! A tunnel is one TLS 1.3 connection negotiated with ALPN `sekimori/1`:
//!
//! 1. The client sends a [`Hello`]: its credential ID and an Ed25519
//!    signature, made with the key generated on the vendor's machine, over
//!    keying material exported from *this* TLS session (RFC 8446 §7.5,
//!    label [`EXPORTER_LABEL`], context = the credential ID). A signature
//!    cannot be replayed on another connection.
//! 2. The gateway answers with a [`Reply`]: accepted, or a [`Refusal`]
//!    (stable code + localized message), after which it closes.
//! 3. Both sides then exchange [`mux`](crate::mux) frames over the same TLS
//!    connection. Every tunnelled TCP connection is one stream, opened by the
//!    client with an `OPEN` frame naming the request ID and port and carrying
//!    the vendor's first bytes; the gateway holds those (within the stream's
//!    credit) until it has authorised the connection and connected the
//!    device, then answers `ACCEPT`, or `REFUSE` with a [`RefusalCode`] and
//!    its message in the tunnel's language (the held bytes are dropped).
//!    `DATA` frames carry the bytes both ways, `FIN` half-closes, `RESET`
//!    ends a stream at once (the gateway resets the streams it cuts: revoked,
//!    expired, killed). A `GRANT` frame asks about a grant without
//!    connecting anything. The client never names an address: the gateway
//!    resolves the target from the grant.
//!
//! Both ends run one task per tunnel that owns the TLS connection and the
//! sockets of its streams (the crate-private `tunnel` module): a received
//! `DATA` payload goes from rustls's plaintext straight into the device's
//! (or the local) socket, and is copied into a per-stream queue only when
//! that socket would block.
//!
//! A frame is `"SKMR"`, a version byte, a big-endian `u16` length and that
//! many bytes of JSON; anything else is refused with `bad_hello`.

use serde::{Deserialize, Serialize};

use sekimori_types::{Lang, Localized, TunnelCredentialId};

/// The ALPN protocol ID of tunnels.
pub const ALPN: &[u8] = b"sekimori/1";
/// Frame magic.
pub const MAGIC: &[u8; 4] = b"SKMR";
/// The only protocol version: 2 since streams are framed by [`mux`](crate::mux)
/// (version 1 spoke HTTP/2 after the hello; such a client is refused with
/// `unsupported_version`).
pub const VERSION: u8 = 2;
/// Largest JSON body of a handshake frame.
pub const MAX_FRAME_BODY: usize = 4096;
/// Header length: magic, version, length.
pub const FRAME_HEADER: usize = 7;
/// The TLS exporter label the client signs (RFC 5705 / RFC 8446 §7.5).
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-sekimori-tunnel-v1";
/// Bytes of exported keying material signed.
pub const EXPORTER_LEN: usize = 32;

/// Flow-control window per tunnelled connection, bytes: what either end
/// may send on one stream beyond what the other has credited back.
pub const STREAM_WINDOW: u32 = 4 * 1024 * 1024;
/// Flow-control window per tunnel, bytes (all its streams together).
pub const TUNNEL_WINDOW: u32 = 32 * 1024 * 1024;

/// The client's first frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hello {
    /// The credential registered by `sekimori login`.
    pub credential: TunnelCredentialId,
    /// Ed25519 signature over [`signed_message`], hex.
    pub signature: String,
    /// The language refusals should be written in.
    #[serde(default)]
    pub lang: Option<String>,
}

/// The gateway's answer to a [`Hello`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case", deny_unknown_fields)]
pub enum Reply {
    /// The tunnel is open; multiplexed streams follow.
    Accepted {
        /// The user's name.
        username: String,
        /// When the credential expires (RFC 3339).
        credential_expires_at: String,
    },
    /// The tunnel is refused; the gateway closes the connection.
    Refused(Refusal),
}

/// Why something was refused: a stable code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Refusal {
    pub code: RefusalCode,
    pub message: String,
}

impl Refusal {
    pub fn new(code: RefusalCode, lang: Lang) -> Self {
        Self { code, message: code.localized(lang) }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code.as_str())
    }
}

macro_rules! refusal_codes {
    ($($variant:ident => $code:literal, $en:literal, $ja:literal;)*) => {
        /// Stable refusal codes. Adding one is compatible; renaming is not.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum RefusalCode {
            $($variant,)*
            /// A code this version does not know (from a newer gateway).
            #[serde(other)]
            Unknown,
        }

        impl RefusalCode {
            pub const ALL: &[RefusalCode] = &[$(RefusalCode::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(RefusalCode::$variant => $code,)*
                    RefusalCode::Unknown => "unknown",
                }
            }

            pub fn parse(s: &str) -> RefusalCode {
                match s {
                    $($code => RefusalCode::$variant,)*
                    _ => RefusalCode::Unknown,
                }
            }
        }

        impl Localized for RefusalCode {
            fn localized(&self, lang: Lang) -> String {
                let (en, ja) = match self {
                    $(RefusalCode::$variant => ($en, $ja),)*
                    RefusalCode::Unknown => (
                        "The gateway refused the connection.",
                        "ゲートウェイが接続を拒否しました。",
                    ),
                };
                lang.pick(ja, en).to_owned()
            }
        }
    };
}

refusal_codes! {
    BadHello => "bad_hello",
        "The tunnel handshake was malformed.",
        "トンネルのハンドシェイクが不正です。";
    UnsupportedVersion => "unsupported_version",
        "This client speaks a tunnel protocol version the gateway does not support.",
        "このクライアントのトンネルプロトコルのバージョンはゲートウェイが対応していません。";
    CredentialUnknown => "credential_unknown",
        "The gateway does not know this credential. Run `sekimori login` again.",
        "この資格情報はゲートウェイに登録されていません。もう一度 `sekimori login` を実行してください。";
    CredentialExpired => "credential_expired",
        "Your credential has expired. Run `sekimori login` again.",
        "資格情報の有効期限が切れています。もう一度 `sekimori login` を実行してください。";
    SignatureInvalid => "signature_invalid",
        "The proof of your client key is invalid. Run `sekimori login` again.",
        "クライアント鍵の証明が無効です。もう一度 `sekimori login` を実行してください。";
    SessionRevoked => "session_revoked",
        "Your login session has ended (logout, password change or an administrator). Run `sekimori login` again.",
        "ログインセッションが終了しています(ログアウト、パスワード変更、または管理者による取り消し)。もう一度 `sekimori login` を実行してください。";
    UserInactive => "user_inactive",
        "Your account is locked or disabled. Contact the hospital's administrator.",
        "アカウントがロックまたは無効化されています。病院の管理者に連絡してください。";
    NoGrant => "no_grant",
        "You have no access request with this ID.",
        "このIDのアクセス申請はありません。";
    GrantPending => "grant_pending",
        "This access request has not been approved yet.",
        "このアクセス申請はまだ承認されていません。";
    GrantScheduled => "grant_scheduled",
        "This access grant's window has not started yet.",
        "このアクセス許可の時間枠はまだ始まっていません。";
    GrantExpired => "grant_expired",
        "This access grant's window has ended.",
        "このアクセス許可の時間枠は終了しています。";
    GrantDenied => "grant_denied",
        "This access request was denied.",
        "このアクセス申請は却下されました。";
    GrantCancelled => "grant_cancelled",
        "This access request was cancelled.",
        "このアクセス申請は取り下げられました。";
    GrantRevoked => "grant_revoked",
        "This access grant was revoked.",
        "このアクセス許可は取り消されました。";
    PortNotGranted => "port_not_granted",
        "This port is not part of the access grant.",
        "このポートはアクセス許可に含まれていません。";
    AssetUnavailable => "asset_unavailable",
        "The device of this grant is no longer registered or has no address.",
        "この許可の機器は登録されていないか、アドレスがありません。";
    TargetUnreachable => "target_unreachable",
        "The gateway could not connect to the device.",
        "ゲートウェイから機器に接続できませんでした。";
    StoreUnavailable => "store_unavailable",
        "The gateway cannot check permissions right now, so it refuses (fail closed). Try again later.",
        "ゲートウェイが現在権限を確認できないため、接続を拒否しました(フェイルクローズ)。しばらくしてから再試行してください。";
    RecordingUnavailable => "recording_unavailable",
        "This device requires recording, and the gateway cannot record right now.",
        "この機器は記録が必須ですが、ゲートウェイが現在記録できません。";
    TooManyConnections => "too_many_connections",
        "The gateway is at its connection limit.",
        "ゲートウェイの接続数が上限に達しています。";
    BadRequest => "bad_request",
        "The tunnelled connection request was malformed.",
        "トンネル接続の要求が不正です。";
}

/// Why a frame could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame: bytes 0..4: expected magic \"SKMR\"")]
    Magic,
    #[error("frame: byte 4: version {0} is not supported (expected {VERSION})")]
    Version(u8),
    #[error("frame: bytes 5..7: body length {0} exceeds {MAX_FRAME_BODY}")]
    TooLong(usize),
    #[error("frame: body at byte 7: {0}")]
    Json(String),
}

impl FrameError {
    pub fn code(&self) -> RefusalCode {
        match self {
            FrameError::Version(_) => RefusalCode::UnsupportedVersion,
            _ => RefusalCode::BadHello,
        }
    }
}

/// Encodes a handshake frame.
pub fn encode_frame<T: Serialize>(msg: &T) -> Vec<u8> {
    // Serialising these plain structs cannot fail.
    let body = serde_json::to_vec(msg).unwrap_or_default();
    let mut out = Vec::with_capacity(FRAME_HEADER + body.len());
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&u16::try_from(body.len()).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// Checks a frame header; returns the body length that follows.
pub fn decode_header(h: &[u8; FRAME_HEADER]) -> Result<usize, FrameError> {
    if &h[..4] != MAGIC {
        return Err(FrameError::Magic);
    }
    if h[4] != VERSION {
        return Err(FrameError::Version(h[4]));
    }
    let len = usize::from(u16::from_be_bytes([h[5], h[6]]));
    if len > MAX_FRAME_BODY {
        return Err(FrameError::TooLong(len));
    }
    Ok(len)
}

/// Parses a frame body.
pub fn decode_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    serde_json::from_slice(body).map_err(|e| FrameError::Json(e.to_string()))
}

/// What the client signs: a domain-separation prefix, the credential ID and
/// the keying material exported from this TLS session.
pub fn signed_message(credential: TunnelCredentialId, exported: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(64 + exported.len());
    m.extend_from_slice(b"sekimori tunnel hello v1\0");
    m.extend_from_slice(credential.0.as_bytes());
    m.extend_from_slice(exported);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let hello = Hello {
            credential: TunnelCredentialId::new(),
            signature: "ab".into(),
            lang: Some("ja".into()),
        };
        let f = encode_frame(&hello);
        let h: [u8; FRAME_HEADER] = f[..FRAME_HEADER].try_into().unwrap();
        let len = decode_header(&h).unwrap();
        assert_eq!(len, f.len() - FRAME_HEADER);
        assert_eq!(decode_body::<Hello>(&f[FRAME_HEADER..]).unwrap(), hello);
    }

    #[test]
    fn bad_headers_are_named() {
        assert_eq!(decode_header(b"SKMQ\x01\x00\x01"), Err(FrameError::Magic));
        assert_eq!(decode_header(b"SKMR\x01\x00\x01"), Err(FrameError::Version(1)));
        assert_eq!(decode_header(b"SKMR\x02\xff\xff"), Err(FrameError::TooLong(65535)));
        assert!(decode_body::<Hello>(b"{\"credential\":1}").is_err());
    }

    #[test]
    fn every_code_has_both_languages_and_round_trips() {
        for c in RefusalCode::ALL {
            assert_eq!(RefusalCode::parse(c.as_str()), *c);
            assert_ne!(c.localized(Lang::En), c.localized(Lang::Ja));
            let json = serde_json::to_string(c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
        }
        let r: Refusal =
            serde_json::from_str(r#"{"code":"from_the_future","message":"x"}"#).unwrap();
        assert_eq!(r.code, RefusalCode::Unknown);
    }
}
