//! The gateway's HTTPS side: TLS 1.3 with ALPN on one port ([`server`],
//! [`tls`]) the JSON API ([`api`]) and the web console
//! ([`console`]).

pub mod api;
pub mod console;
pub mod server;
pub mod tls;
