//! The access broker's data path: the gateway side of `sekimori/1` tunnels
//! (authorise every connection, splice it to the one device:port its grant
//! names, keep re-authorising while it lives, record it) and the client side
//! that `sekimori login` and `sekimori connect` use.

pub mod authz;
pub mod client;
pub mod live;
pub mod mux;
pub mod pcap;
pub mod protocol;
mod record;
pub mod recording;
mod records;
pub mod server;
mod tunnel;

pub use record::TrafficSecrets;
pub use server::{Gateway, GatewayConfig, GatewaySettings};
