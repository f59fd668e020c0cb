//! The one error type of the crate. Each variant carries the facts (file,
//! offset, destination, address) rather than prose, and none can hold the
//! webhook token: tokens are only ever in a `SecretString`.

use std::io;
use std::path::PathBuf;

use sekimori_types::{Lang, Localized};

/// Everything that can go wrong while configuring, queueing or delivering.
///
/// Who is to blame: `Config*`, `ReadFile`, `FileTooLarge` are the
/// operator's; `Queue*`, `CorruptRecord` are the local disk's; `Connect`,
/// `Tls`, `PinMismatch`, `Send`, `PeerClosed`, `HttpStatus` are the
/// destination's (or the network's) and are retried.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// A configuration value is wrong. `field` is the path of the field,
    /// e.g. `destinations[1].ca_file`; `reason` is a stable snake_case code.
    #[error("invalid forwarding configuration: {field}: {reason}")]
    Config { field: String, reason: &'static str },

    /// A file named by the configuration cannot be read.
    #[error("cannot read the {what} {path}: {source}")]
    ReadFile { what: &'static str, path: PathBuf, source: io::Error },

    /// A file named by the configuration is larger than we read.
    #[error("the {what} {path} is larger than {cap} bytes")]
    FileTooLarge { what: &'static str, path: PathBuf, cap: u64 },

    /// Reading or writing the queue failed.
    #[error("queue I/O on {path}: {source}")]
    QueueIo { path: PathBuf, source: io::Error },

    /// Another forwarder (this process or another) has the queue open.
    #[error("the queue {path} is in use by another forwarder")]
    QueueLocked { path: PathBuf },

    /// A queue record failed its check (torn write after a crash, or bit
    /// rot). The record and, when its length cannot be trusted, the rest of
    /// its segment are skipped; everything else is kept.
    #[error("corrupt queue record in {file} at offset {offset}: {reason}")]
    CorruptRecord { file: PathBuf, offset: u64, reason: &'static str },

    /// The queue of a destination is at its cap: the record was refused
    /// (and counted), not dropped silently.
    #[error(
        "the queue of {destination} is full ({queued_bytes} of {cap_bytes} bytes): record refused"
    )]
    QueueFull { destination: String, queued_bytes: u64, cap_bytes: u64 },

    /// One record larger than a queue record may be.
    #[error("a record of {len} bytes is larger than the {max} bytes a queue record may hold")]
    RecordTooLarge { len: usize, max: usize },

    /// An alert could not be queued for some destinations (it was queued
    /// for the others). `first` is the first destination's error.
    #[error("alert not queued for {destinations:?}: {first}")]
    NotQueued { destinations: Vec<String>, first: Box<ForwardError> },

    /// The destination's name did not resolve.
    #[error("cannot resolve {address}: {source}")]
    Resolve { address: String, source: io::Error },

    /// No address of the destination accepted a connection.
    #[error("cannot connect to {address}: {source}")]
    Connect { address: String, source: io::Error },

    /// An operation took longer than its configured timeout.
    #[error("{op} with {address} timed out after {after_ms} ms")]
    Timeout { address: String, op: &'static str, after_ms: u64 },

    /// The TLS handshake failed (certificate not trusted, protocol, …).
    #[error("TLS with {address}: {message}")]
    Tls { address: String, message: String },

    /// The server presented a certificate other than the pinned one.
    #[error(
        "the certificate of {address} does not match the pinned fingerprint (presented {presented})"
    )]
    PinMismatch { address: String, expected: String, presented: String },

    /// Writing to the destination failed.
    #[error("sending to {address}: {source}")]
    Send { address: String, source: io::Error },

    /// The destination closed the connection; it is reopened before the
    /// next send, so nothing written after the close is counted delivered.
    #[error("{address} closed the connection")]
    PeerClosed { address: String },

    /// The webhook request failed below HTTP (connect, TLS, timeout).
    /// `origin` is scheme, host and port only: the URL's path may hold a
    /// secret and is never written.
    #[error("webhook {origin}: {message}")]
    Http { origin: String, message: String },

    /// The webhook answered with a status other than 2xx.
    #[error("webhook {origin} answered HTTP {status}")]
    HttpStatus { origin: String, status: u16 },

    /// A blocking task panicked or was cancelled.
    #[error("background task failed: {0}")]
    Task(String),
}

impl ForwardError {
    pub(crate) fn config(field: impl Into<String>, reason: &'static str) -> Self {
        ForwardError::Config { field: field.into(), reason }
    }
}

impl Localized for ForwardError {
    /// Configuration errors in the operator's language; the others are
    /// technical and stay in English with their facts.
    fn localized(&self, lang: Lang) -> String {
        match self {
            ForwardError::Config { field, reason } => {
                let (ja, en) = config_reason_text(reason);
                match lang {
                    Lang::Ja => format!("転送設定 {field}：{ja}"),
                    Lang::En => format!("forwarding {field}: {en}"),
                }
            }
            ForwardError::QueueFull { destination, cap_bytes, .. } if lang == Lang::Ja => format!(
                "転送先 {destination} のキューが上限（{cap_bytes} バイト）に達したため、アラートを受け付けませんでした"
            ),
            other => other.to_string(),
        }
    }
}

fn config_reason_text(reason: &str) -> (&'static str, &'static str) {
    match reason {
        "required" => ("必須です", "is required"),
        "name" => (
            "英小文字・数字・_ - で1〜64文字にしてください",
            "must be 1 to 64 lowercase letters, digits, _ or -",
        ),
        "duplicate" => ("同じ名前の転送先がすでにあります", "is used by another destination"),
        "only_for_syslog" => {
            ("syslog と cef の転送先でのみ使えます", "is only for syslog and cef destinations")
        }
        "only_for_webhook" => {
            ("webhook の転送先でのみ使えます", "is only for webhook destinations")
        }
        "only_for_tls" => ("tls 通信でのみ使えます", "is only for the tls transport"),
        "tls_needs_ca_file_or_fingerprint" => (
            "tls には ca_file か fingerprint が必要です（証明書の検証は省略できません）",
            "tls needs ca_file or fingerprint (the server certificate is always verified)",
        ),
        "bad_address" => (
            "「ホスト:ポート」の形式にしてください（例：siem.example.jp:6514）",
            "must be HOST:PORT, e.g. siem.example.jp:6514",
        ),
        "bad_url" => ("URL として読めません", "is not a URL"),
        "https_required" => ("https:// の URL にしてください", "must be an https:// URL"),
        "no_credentials_in_url" => (
            "URL に利用者名やパスワードを含めないでください（token_file を使ってください）",
            "must not contain a user name or password (use token_file)",
        ),
        "bad_fingerprint" => (
            "SHA-256 の指紋（64桁の16進数）にしてください",
            "must be a SHA-256 fingerprint (64 hex digits)",
        ),
        "bad_hostname" => (
            "表示可能な ASCII 文字で1〜255文字にしてください",
            "must be 1 to 255 printable ASCII characters",
        ),
        "bad_server_name" => ("サーバー名として使えません", "is not a valid server name"),
        "out_of_range" => ("値が範囲外です", "is out of range"),
        "backoff_max_below_initial" => {
            ("backoff_initial_ms 以上にしてください", "must be at least backoff_initial_ms")
        }
        "empty_token" => ("トークンファイルが空です", "the token file is empty"),
        "bad_token" => (
            "トークンに使えない文字が含まれています",
            "the token contains characters a header cannot carry",
        ),
        "no_certificates" => ("PEM 形式の証明書が見つかりません", "holds no PEM certificate"),
        _ => ("値が不正です", "is invalid"),
    }
}
