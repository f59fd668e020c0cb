//! Forwarding alerts to a SIEM with nothing lost.
//!
//! Destinations (see [`ForwardConfig`]): syslog (RFC 5424) or CEF carried
//! in syslog, over UDP, TCP (RFC 6587 octet counting) or TLS (RFC 5425,
//! rustls with aws-lc-rs, the server certificate verified against a CA file
//! and/or a pinned SHA-256 fingerprint), and JSON webhooks over HTTPS with
//! an optional bearer token read from a file.
//!
//! Every destination has its own durable [`queue`] on disk: an alert is
//! synced there before [`ForwarderHandle::submit`] returns, and delivered
//! in order, at least once, when the destination can take it — across
//! outages of the SIEM and restarts of sekimori alike. The wire forms are
//! written here ([`mod@format`]), small and sans I/O.
//!
//! What "delivered" means, per transport: TCP and TLS — the frames were
//! written and flushed into a connection the receiver had not closed (it is
//! checked before each write, and reopened if closed); webhook — a 2xx
//! answer; UDP — the datagram was sent (UDP itself promises no more). Plain
//! syslog has no application-level acknowledgement (RFC 6587 and 5425 have
//! none): a receiver that crashes after its kernel took our bytes but
//! before its program read them loses those; a SIEM that must not lose
//! even these should take the webhook.

mod config;
mod error;
pub mod format;
mod forwarder;
pub mod queue;
mod tls;
mod transport;

pub use config::{
    DEFAULT_QUEUE_MAX_BYTES, DEFAULT_SEGMENT_BYTES, DEFAULT_SYSLOG_MAX_BYTES,
    DEFAULT_WEBHOOK_MAX_BYTES, DestinationConfig, DestinationKind, Facility, ForwardConfig,
    Transport,
};
pub use error::ForwardError;
pub use forwarder::{
    DestinationStatus, Forwarder, ForwarderHandle, SubmitReport, destination_queue_dir,
};
pub use tls::{fingerprint, normalise_fingerprint};
