//! `[forward]` configuration: where alerts go and how.
//!
//! ```toml
//! [[destinations]]
//! name = "siem"
//! kind = "syslog"          # syslog | cef | webhook
//! transport = "tls"        # udp | tcp | tls (syslog and cef)
//! address = "siem.example.jp:6514"
//! ca_file = "/etc/sekimori/siem-ca.pem"   # or fingerprint = "SHA256:AB:…"
//! min_severity = "medium"
//! facility = "local4"
//!
//! [[destinations]]
//! name = "soc-webhook"
//! kind = "webhook"
//! url = "https://soc.example.jp/hooks/sekimori"
//! token_file = "/etc/sekimori/soc-token"
//! ```

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use sekimori_types::AlertSeverity;

use crate::error::ForwardError;
use crate::tls::normalise_fingerprint;

/// Default per-destination queue cap: 64 MiB of undelivered records.
pub const DEFAULT_QUEUE_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// Default segment file size before the queue starts a new one.
pub const DEFAULT_SEGMENT_BYTES: u64 = 4 * 1024 * 1024;
/// Default largest syslog/CEF message (RFC 5424 receivers must take 480;
/// common SIEMs take 8 KiB and more).
pub const DEFAULT_SYSLOG_MAX_BYTES: usize = 8 * 1024;
/// Default largest webhook body.
pub const DEFAULT_WEBHOOK_MAX_BYTES: usize = 64 * 1024;

/// All destinations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardConfig {
    #[serde(default)]
    pub destinations: Vec<DestinationConfig>,
    /// The HOSTNAME of syslog messages and `hostname` of webhook bodies;
    /// the machine's host name when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Size at which a queue segment file is closed and a new one started.
    #[serde(default = "default_segment_bytes")]
    pub segment_bytes: u64,
}

impl Default for ForwardConfig {
    fn default() -> Self {
        ForwardConfig {
            destinations: Vec::new(),
            hostname: None,
            segment_bytes: DEFAULT_SEGMENT_BYTES,
        }
    }
}

/// What a destination receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DestinationKind {
    /// RFC 5424 with the alert in structured data.
    Syslog,
    /// ArcSight CEF carried in an RFC 5424 message.
    Cef,
    /// The alert as JSON, POSTed over HTTPS.
    Webhook,
}

impl DestinationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DestinationKind::Syslog => "syslog",
            DestinationKind::Cef => "cef",
            DestinationKind::Webhook => "webhook",
        }
    }
}

/// How syslog and CEF messages travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// RFC 5426: one datagram per message, no delivery guarantee past the
    /// local send.
    Udp,
    /// RFC 6587 octet counting.
    Tcp,
    /// RFC 5425: octet counting over TLS 1.2+.
    Tls,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }
}

/// Syslog facility (RFC 5424 section 6.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Facility {
    Kern,
    User,
    Mail,
    Daemon,
    Auth,
    Syslog,
    Lpr,
    News,
    Uucp,
    Cron,
    Authpriv,
    Ftp,
    Ntp,
    Audit,
    Alert,
    Clock,
    Local0,
    Local1,
    Local2,
    Local3,
    #[default]
    Local4,
    Local5,
    Local6,
    Local7,
}

impl Facility {
    /// The facility's number (0–23).
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// One SIEM or webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationConfig {
    /// Names the queue directory and the status line: 1–64 of `a-z0-9_-`.
    pub name: String,
    pub kind: DestinationKind,
    /// For `syslog` and `cef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<Transport>,
    /// `host:port` (`[v6]:port`) for `syslog` and `cef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The name the TLS certificate must carry, when it is not the host of
    /// `address`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// PEM file of the CA(s) that sign the server's certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// SHA-256 of the server's certificate (`SHA256:AB:CD:…`, case and
    /// separators free). With `ca_file`, both must hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// `https://…` for `webhook`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// File holding the webhook's bearer token (never the token itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// Alerts below this severity are not sent here.
    #[serde(default = "default_min_severity")]
    pub min_severity: AlertSeverity,
    #[serde(default)]
    pub facility: Facility,
    #[serde(default = "default_timeout_ms")]
    pub connect_timeout_ms: u64,
    #[serde(default = "default_timeout_ms")]
    pub write_timeout_ms: u64,
    /// First wait after a failed delivery; doubles up to `backoff_max_ms`.
    #[serde(default = "default_backoff_initial_ms")]
    pub backoff_initial_ms: u64,
    #[serde(default = "default_backoff_max_ms")]
    pub backoff_max_ms: u64,
    /// Largest message (syslog/CEF) or body (webhook); longer alerts are
    /// shortened (evidence first, then summaries), never split inside a
    /// UTF-8 character. Default 8 KiB for syslog/CEF, 64 KiB for webhooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_message_bytes: Option<usize>,
    /// Cap on undelivered bytes on disk; when reached, new alerts for this
    /// destination are refused with an error and counted.
    #[serde(default = "default_queue_max_bytes")]
    pub queue_max_bytes: u64,
}

fn default_segment_bytes() -> u64 {
    DEFAULT_SEGMENT_BYTES
}
fn default_min_severity() -> AlertSeverity {
    AlertSeverity::Low
}
fn default_timeout_ms() -> u64 {
    5_000
}
fn default_backoff_initial_ms() -> u64 {
    500
}
fn default_backoff_max_ms() -> u64 {
    60_000
}
fn default_queue_max_bytes() -> u64 {
    DEFAULT_QUEUE_MAX_BYTES
}

impl DestinationConfig {
    /// A destination of `kind` with every optional field at its default.
    pub fn new(name: &str, kind: DestinationKind) -> Self {
        DestinationConfig {
            name: name.to_owned(),
            kind,
            transport: None,
            address: None,
            server_name: None,
            ca_file: None,
            fingerprint: None,
            url: None,
            token_file: None,
            min_severity: default_min_severity(),
            facility: Facility::default(),
            connect_timeout_ms: default_timeout_ms(),
            write_timeout_ms: default_timeout_ms(),
            backoff_initial_ms: default_backoff_initial_ms(),
            backoff_max_ms: default_backoff_max_ms(),
            max_message_bytes: None,
            queue_max_bytes: default_queue_max_bytes(),
        }
    }

    /// The message cap in force.
    pub fn message_cap(&self) -> usize {
        self.max_message_bytes.unwrap_or(match self.kind {
            DestinationKind::Webhook => DEFAULT_WEBHOOK_MAX_BYTES,
            _ => DEFAULT_SYSLOG_MAX_BYTES,
        })
    }

    fn validate(&self, i: usize) -> Result<(), ForwardError> {
        let f = |name: &str| format!("destinations[{i}].{name}");
        if !valid_name(&self.name) {
            return Err(ForwardError::config(f("name"), "name"));
        }
        match self.kind {
            DestinationKind::Syslog | DestinationKind::Cef => {
                let Some(transport) = self.transport else {
                    return Err(ForwardError::config(f("transport"), "required"));
                };
                let Some(address) = &self.address else {
                    return Err(ForwardError::config(f("address"), "required"));
                };
                if split_address(address).is_none() {
                    return Err(ForwardError::config(f("address"), "bad_address"));
                }
                if self.url.is_some() {
                    return Err(ForwardError::config(f("url"), "only_for_webhook"));
                }
                if self.token_file.is_some() {
                    return Err(ForwardError::config(f("token_file"), "only_for_webhook"));
                }
                if transport == Transport::Tls {
                    if self.ca_file.is_none() && self.fingerprint.is_none() {
                        return Err(ForwardError::config(
                            f("ca_file"),
                            "tls_needs_ca_file_or_fingerprint",
                        ));
                    }
                } else {
                    for (name, set) in [
                        ("ca_file", self.ca_file.is_some()),
                        ("fingerprint", self.fingerprint.is_some()),
                        ("server_name", self.server_name.is_some()),
                    ] {
                        if set {
                            return Err(ForwardError::config(f(name), "only_for_tls"));
                        }
                    }
                }
                if let Some(cap) = self.max_message_bytes
                    && !(1024..=65_000).contains(&cap)
                {
                    return Err(ForwardError::config(f("max_message_bytes"), "out_of_range"));
                }
            }
            DestinationKind::Webhook => {
                if self.transport.is_some() {
                    return Err(ForwardError::config(f("transport"), "only_for_syslog"));
                }
                if self.address.is_some() {
                    return Err(ForwardError::config(f("address"), "only_for_syslog"));
                }
                let Some(url) = &self.url else {
                    return Err(ForwardError::config(f("url"), "required"));
                };
                let parsed = reqwest::Url::parse(url)
                    .map_err(|_| ForwardError::config(f("url"), "bad_url"))?;
                if parsed.scheme() != "https" || parsed.host_str().is_none() {
                    return Err(ForwardError::config(f("url"), "https_required"));
                }
                if !parsed.username().is_empty() || parsed.password().is_some() {
                    return Err(ForwardError::config(f("url"), "no_credentials_in_url"));
                }
                if let Some(cap) = self.max_message_bytes
                    && !(1024..=1024 * 1024).contains(&cap)
                {
                    return Err(ForwardError::config(f("max_message_bytes"), "out_of_range"));
                }
            }
        }
        if let Some(fp) = &self.fingerprint
            && normalise_fingerprint(fp).is_none()
        {
            return Err(ForwardError::config(f("fingerprint"), "bad_fingerprint"));
        }
        if let Some(name) = &self.server_name
            && rustls_pki_types::ServerName::try_from(name.as_str()).is_err()
        {
            return Err(ForwardError::config(f("server_name"), "bad_server_name"));
        }
        for (name, v) in [
            ("connect_timeout_ms", self.connect_timeout_ms),
            ("write_timeout_ms", self.write_timeout_ms),
            ("backoff_initial_ms", self.backoff_initial_ms),
            ("backoff_max_ms", self.backoff_max_ms),
        ] {
            if !(1..=3_600_000).contains(&v) {
                return Err(ForwardError::config(f(name), "out_of_range"));
            }
        }
        if self.backoff_max_ms < self.backoff_initial_ms {
            return Err(ForwardError::config(f("backoff_max_ms"), "backoff_max_below_initial"));
        }
        if !(4096..=1 << 40).contains(&self.queue_max_bytes) {
            return Err(ForwardError::config(f("queue_max_bytes"), "out_of_range"));
        }
        Ok(())
    }
}

impl ForwardConfig {
    /// Checks every field; the error names the first wrong one
    /// (`destinations[2].ca_file`).
    pub fn validate(&self) -> Result<(), ForwardError> {
        let mut names = BTreeSet::new();
        for (i, d) in self.destinations.iter().enumerate() {
            d.validate(i)?;
            if !names.insert(d.name.as_str()) {
                return Err(ForwardError::config(format!("destinations[{i}].name"), "duplicate"));
            }
        }
        if let Some(h) = &self.hostname
            && (h.is_empty() || h.len() > 255 || !h.bytes().all(|b| (33..=126).contains(&b)))
        {
            return Err(ForwardError::config("hostname", "bad_hostname"));
        }
        if !(4096..=1 << 32).contains(&self.segment_bytes) {
            return Err(ForwardError::config("segment_bytes", "out_of_range"));
        }
        Ok(())
    }
}

fn valid_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Splits `host:port` / `[v6]:port` into host (without brackets) and port.
pub(crate) fn split_address(address: &str) -> Option<(&str, u16)> {
    let (host, port) = address.rsplit_once(':')?;
    let port: u16 = port.parse().ok().filter(|p| *p != 0)?;
    let host = match host.strip_prefix('[') {
        Some(rest) => rest.strip_suffix(']')?,
        None if host.contains(':') => return None,
        None => host,
    };
    if host.is_empty() || host.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
        return None;
    }
    Some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<ForwardConfig, String> {
        toml::from_str(toml_text).map_err(|e| e.to_string())
    }

    #[test]
    fn a_full_configuration_reads_and_validates() {
        let c = parse(
            r#"
            hostname = "sekimori-1"
            [[destinations]]
            name = "siem"
            kind = "syslog"
            transport = "tls"
            address = "siem.example.jp:6514"
            fingerprint = "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
            min_severity = "medium"
            facility = "local6"
            [[destinations]]
            name = "arcsight"
            kind = "cef"
            transport = "udp"
            address = "[2001:db8::1]:514"
            [[destinations]]
            name = "soc"
            kind = "webhook"
            url = "https://soc.example.jp/hooks/x"
            token_file = "/etc/sekimori/soc-token"
            "#,
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.destinations[0].facility.code(), 22);
        assert_eq!(c.destinations[1].facility.code(), 20, "local4 by default");
        assert_eq!(c.destinations[2].message_cap(), DEFAULT_WEBHOOK_MAX_BYTES);
        assert_eq!(c.segment_bytes, DEFAULT_SEGMENT_BYTES);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let e = parse("[[destinations]]\nname='a'\nkind='syslog'\ntransprot='tcp'\n").unwrap_err();
        assert!(e.contains("transprot"), "{e}");
        assert!(parse("destinatons = []").is_err());
    }

    fn field_of(c: &ForwardConfig) -> (String, &'static str) {
        match c.validate() {
            Err(ForwardError::Config { field, reason }) => (field, reason),
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn validation_names_the_field() {
        let tcp = || {
            let mut d = DestinationConfig::new("siem", DestinationKind::Syslog);
            d.transport = Some(Transport::Tcp);
            d.address = Some("127.0.0.1:514".into());
            d
        };
        let one = |d: DestinationConfig| ForwardConfig {
            destinations: vec![d],
            ..ForwardConfig::default()
        };
        one(tcp()).validate().unwrap();

        let mut d = tcp();
        d.transport = Some(Transport::Tls);
        assert_eq!(
            field_of(&one(d)),
            ("destinations[0].ca_file".into(), "tls_needs_ca_file_or_fingerprint")
        );
        let mut d = tcp();
        d.name = "Bad Name".into();
        assert_eq!(field_of(&one(d)), ("destinations[0].name".into(), "name"));
        let mut d = tcp();
        d.address = Some("no-port".into());
        assert_eq!(field_of(&one(d)), ("destinations[0].address".into(), "bad_address"));
        let mut d = tcp();
        d.fingerprint = Some("SHA256:AB".into());
        assert_eq!(field_of(&one(d)).1, "only_for_tls");
        let mut d = tcp();
        d.backoff_max_ms = 1;
        assert_eq!(
            field_of(&one(d)),
            ("destinations[0].backoff_max_ms".into(), "backoff_max_below_initial")
        );
        let mut w = DestinationConfig::new("hook", DestinationKind::Webhook);
        w.url = Some("http://soc.example.jp/".into());
        assert_eq!(field_of(&one(w.clone())), ("destinations[0].url".into(), "https_required"));
        w.url = Some("https://user:pw@soc.example.jp/".into());
        assert_eq!(field_of(&one(w)).1, "no_credentials_in_url");
        let two = ForwardConfig { destinations: vec![tcp(), tcp()], ..ForwardConfig::default() };
        assert_eq!(field_of(&two), ("destinations[1].name".into(), "duplicate"));
    }

    #[test]
    fn addresses_split_into_host_and_port() {
        assert_eq!(split_address("siem:514"), Some(("siem", 514)));
        assert_eq!(split_address("[::1]:6514"), Some(("::1", 6514)));
        assert_eq!(split_address("::1:6514"), None);
        assert_eq!(split_address("siem:0"), None);
        assert_eq!(split_address(":514"), None);
    }

    #[test]
    fn config_errors_read_in_japanese() {
        use sekimori_types::{Lang, Localized};
        let e = ForwardError::config("destinations[0].ca_file", "tls_needs_ca_file_or_fingerprint");
        assert!(e.localized(Lang::Ja).contains("証明書"));
        assert!(e.localized(Lang::En).contains("destinations[0].ca_file"));
    }
}
