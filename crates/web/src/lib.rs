//! The gateway's HTTPS side: TLS 1.3 with ALPN on one port ([`server`],
//! [`tls`]) and the JSON API ([`api`]).

pub mod api;
pub mod server;
pub mod tls;
