//! Configuration, layered: built-in defaults → `config.toml` in the data
//! directory → environment (`SEKIMORI_*`) → command-line flags. Each part
//! owns its section (`[authn]` belongs to `sekimori-authn`); unknown keys are
//! errors that name the key.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the gateway listens (web console, API, and later tunnels).
    pub listen: SocketAddr,
    /// The address people type, printed at start (defaults from `listen`).
    pub public_url: Option<String>,
    /// `sqlite://…` or `postgres://…`; SQLite in the data directory if unset.
    pub database: Option<String>,
    /// Names and addresses in the generated TLS certificate.
    pub tls_names: Vec<String>,
    pub log: LogConfig,
    pub authn: sekimori_authn::AuthnConfig,
    pub gateway: sekimori_gateway::GatewaySettings,
    /// The passive sensor (`sekimori sensor`).
    pub sensor: crate::commands::sensor::SensorSettings,
    /// Where alerts go besides the store: syslog (RFC 5424 over UDP, TCP,
    /// TLS), CEF, JSON webhooks; each with its own durable queue.
    pub forward: sekimori_forward::ForwardConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            public_url: None,
            database: None,
            tls_names: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            log: LogConfig::default(),
            authn: sekimori_authn::AuthnConfig::default(),
            gateway: sekimori_gateway::GatewaySettings::default(),
            sensor: crate::commands::sensor::SensorSettings::default(),
            forward: sekimori_forward::ForwardConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` for people, `json` for log shippers.
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `sekimori=debug,info`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { format: LogFormat::Text, level: "info".into() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// The file written on first start: every setting, commented, at its default.
pub const DEFAULT_CONFIG: &str = r#"# sekimori configuration. Every key is optional; shown values are the defaults.
# Environment variables override this file (SEKIMORI_LISTEN, SEKIMORI_DATABASE_URL),
# and command-line flags override both.

# The one port of the gateway (web console, API, tunnels). Use 0.0.0.0:8443 to
# let vendors and staff reach it from the network.
# listen = "127.0.0.1:8443"

# PostgreSQL for a hospital group or HA; SQLite in this directory if unset.
# database = "postgres://sekimori@db.example/sekimori"

# tls_names = ["localhost", "127.0.0.1", "::1"]

[log]
# format = "text"   # or "json"
# level = "info"

[authn.password]
# Argon2id, OWASP's minimum: 19 MiB, 2 passes, 1 lane.
# m_cost_kib = 19456
# t_cost = 2
# p_cost = 1

[authn.session]
# idle_timeout_secs = 3600
# absolute_lifetime_secs = 43200

[authn.throttle]
# account_lock_after = 20

[gateway]
# How often live tunnelled connections are re-authorised (ms). A revocation or
# lock made in this server closes them at once; one made elsewhere (the CLI, a
# second server) within this period.
# recheck_interval_ms = 250
# connect_timeout_secs = 10
# max_connections = 20000
# Most payload recorded per tunnelled connection (MiB); after that the
# connection goes on unrecorded and its record says so.
# recording_max_mib = 4096
# How long the records of tunnelled connections (start, end) are gathered before
# they are written together (ms, 0-100). A connection that ends within it is
# written as one row; its start is committed at most this much later.
# record_delay_ms = 2

[sensor]
# `sekimori sensor`: a capture interface (SPAN port or TAP) and/or NetFlow/IPFIX
# collectors; what it sees is written to this store every flush_secs.
# interface = "eth1"
# filter = "not port 22"
# collectors = ["0.0.0.0:2055", "0.0.0.0:4739"]
# flush_secs = 10
# max_flows = 500000
# The policy file (zones, rules, detections); `sekimori policy sample` prints one.
# policy = "/etc/sekimori/policy.toml"

# [forward]: alerts to a SIEM, each destination with its own queue on disk
# (sekimori-data/forward/…): when the SIEM is down, alerts wait there and are
# delivered in order when it returns.
# [[forward.destinations]]
# name = "siem"
# kind = "syslog"            # or "cef", "webhook"
# transport = "tls"          # "udp", "tcp" or "tls" (RFC 5425)
# address = "siem.example:6514"
# ca_file = "/etc/sekimori/siem-ca.pem"   # or fingerprint = "sha256:…"
# min_severity = "medium"
# [[forward.destinations]]
# name = "soc"
# kind = "webhook"
# url = "https://soc.example/hooks/sekimori"
# token_file = "/etc/sekimori/soc-token"
"#;

impl Config {
    /// Loads `path` over the defaults (a missing file means defaults), then
    /// applies the environment, then validates.
    pub fn load(path: &Path) -> Result<Config> {
        let mut cfg = match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str::<Config>(&text)
                .with_context(|| format!("{}: invalid configuration", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Config::default(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        if let Ok(v) = std::env::var("SEKIMORI_LISTEN") {
            cfg.listen = v
                .parse()
                .with_context(|| format!("SEKIMORI_LISTEN={v:?} is not an address:port"))?;
        }
        if let Ok(v) = std::env::var("SEKIMORI_DATABASE_URL")
            && !v.is_empty()
        {
            cfg.database = Some(v);
        }
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<()> {
        self.authn.validate().context("[authn]")?;
        self.gateway.validate().map_err(|e| anyhow::anyhow!("[gateway] {e}"))?;
        self.sensor.validate().context("[sensor]")?;
        self.forward.validate().map_err(|e| anyhow::anyhow!("[forward] {e}"))?;
        if let Some(db) = &self.database
            && !(db.starts_with("sqlite:")
                || db.starts_with("postgres://")
                || db.starts_with("postgresql://"))
        {
            anyhow::bail!("database: expected a sqlite:// or postgres:// URL");
        }
        Ok(())
    }

    /// The URL to print: `public_url`, or `https://localhost:PORT/` when
    /// listening on loopback or all addresses.
    pub fn url(&self) -> String {
        if let Some(u) = &self.public_url {
            return u.clone();
        }
        let ip = self.listen.ip();
        let host = if ip.is_loopback() || ip.is_unspecified() {
            "localhost".to_owned()
        } else if ip.is_ipv6() {
            format!("[{ip}]")
        } else {
            ip.to_string()
        };
        format!("https://{host}:{}/", self.listen.port())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_file_parses_to_defaults() {
        let c: Config = toml::from_str(DEFAULT_CONFIG).unwrap();
        assert_eq!(c.listen, Config::default().listen);
        c.validate().unwrap();
    }

    #[test]
    fn unknown_key_is_named() {
        let e = toml::from_str::<Config>("lisen = \"1.2.3.4:1\"").unwrap_err();
        assert!(e.to_string().contains("lisen"), "{e}");
    }

    #[test]
    fn gateway_settings_are_bounded() {
        let c: Config = toml::from_str("[gateway]\nrecheck_interval_ms = 5000").unwrap();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("[gateway] recheck_interval_ms"), "{e}");
        let c: Config = toml::from_str("[gateway]\nrecording_max_mib = 0").unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("recording_max_mib"));
        let c: Config = toml::from_str("[gateway]\nrecord_delay_ms = 101").unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("record_delay_ms"));
        let c: Config = toml::from_str("[gateway]\nrecord_delay_ms = 0").unwrap();
        assert!(c.validate().is_ok());
        let e = toml::from_str::<Config>("[gateway]\nrecheck_ms = 1").unwrap_err();
        assert!(e.to_string().contains("recheck_ms"), "{e}");
    }
}
