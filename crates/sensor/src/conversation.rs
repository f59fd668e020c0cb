//! Conversations: traffic aggregated per endpoint pair, service and time
//! bucket (default one minute), which is what the store keeps instead of
//! packets or individual flows.
//!
//! A flow adds to the bucket its packets fall in: when a packet starts a
//! new bucket, what the flow carried since the last bucket change is added
//! to the previous one (one hash lookup per flow per bucket, not per
//! packet); the rest is added when the flow ends. A flow counts once, in
//! the bucket it started in. The service is the identified application, or
//! else the transport and server port (`tcp/443`).
//!
//! The table is keyed by IP address pair while packets are read; the
//! [`crate::Analysis`] maps each address to its inventory asset at the end.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use sekimori_proto::App;

use crate::flow::{Flow, FlowKey, Timestamp, transport_name};

/// What a conversation carried: an identified application, or a transport
/// and server port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    App(App),
    Port { transport: u8, port: u16 },
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Service::App(a) => f.write_str(a.as_str()),
            Service::Port { transport, port: 0 } => f.write_str(transport_name(*transport)),
            Service::Port { transport, port } => write!(f, "{}/{port}", transport_name(*transport)),
        }
    }
}

impl serde::Serialize for Service {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Traffic counters of one conversation bucket (`out` = client to server).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub packets_out: u64,
    pub packets_in: u64,
    pub bytes_out: u64,
    pub bytes_in: u64,
    /// Flows that started in this bucket.
    pub flows: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.packets_out += o.packets_out;
        self.packets_in += o.packets_in;
        self.bytes_out += o.bytes_out;
        self.bytes_in += o.bytes_in;
        self.flows += o.flows;
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    client: IpAddr,
    server: IpAddr,
    service: Service,
    bucket: u64,
}

/// A flow's progress through the buckets: which bucket it is in, and its
/// counters when it entered it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ConvMark {
    bucket: u64,
    /// Packets a, b and bytes a, b already added.
    base: [u64; 4],
    counted: bool,
}

impl ConvMark {
    /// The mark for a segment written by the active timeout; the flow
    /// continues with a fresh mark (counters restart at zero) and is not
    /// counted as a new flow.
    pub(crate) fn take_for_split(&mut self) -> ConvMark {
        let seg = *self;
        *self = ConvMark { bucket: seg.bucket, base: [0; 4], counted: true };
        seg
    }
}

/// One aggregated conversation bucket, as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Conversation {
    /// The client's asset (see [`crate::inventory::Asset::id`]).
    pub client_asset: String,
    /// The server's asset.
    pub server_asset: String,
    pub service: Service,
    /// Start of the bucket.
    pub start: Timestamp,
    #[serde(flatten)]
    pub counts: Counts,
}

/// Conversation buckets being filled.
#[derive(Debug)]
pub struct Conversations {
    bucket_secs: u64,
    map: HashMap<Key, Counts>,
}

impl Conversations {
    /// Buckets of `bucket` length (at least one second).
    pub fn new(bucket: Duration) -> Conversations {
        Conversations { bucket_secs: bucket.as_secs().max(1), map: HashMap::new() }
    }

    /// The bucket length in seconds.
    pub fn bucket_secs(&self) -> u64 {
        self.bucket_secs
    }

    /// Before a packet at `ts` is counted into `flow`: closes the flow's
    /// bucket if `ts` is in a later one.
    #[inline]
    pub(crate) fn before_packet(&mut self, key: &FlowKey, flow: &mut Flow, ts: Timestamp) {
        let b = ts.secs() / self.bucket_secs;
        if b == flow.conv.bucket {
            return;
        }
        if flow.packets != [0, 0] && b > flow.conv.bucket {
            self.flush(key, flow);
        }
        if flow.packets == [0, 0] || b > flow.conv.bucket {
            flow.conv.bucket = b;
        }
    }

    /// Adds what the flow carried since its last bucket change.
    pub(crate) fn flush(&mut self, key: &FlowKey, flow: &mut Flow) {
        let (c, s) = (flow.client(), flow.server());
        let now = [flow.packets[0], flow.packets[1], flow.bytes[0], flow.bytes[1]];
        let m = &mut flow.conv;
        let d: [u64; 4] = std::array::from_fn(|i| now[i].saturating_sub(m.base[i]));
        if d == [0; 4] && m.counted {
            return;
        }
        let counts = Counts {
            packets_out: d[c],
            packets_in: d[s],
            bytes_out: d[2 + c],
            bytes_in: d[2 + s],
            flows: u64::from(!m.counted),
        };
        m.base = now;
        m.counted = true;
        let service = match flow.app {
            Some(a) => Service::App(a),
            None => Service::Port { transport: key.protocol(), port: key.port(s) },
        };
        let k = Key { client: key.addr(c), server: key.addr(s), service, bucket: m.bucket };
        self.map.entry(k).or_default().add(&counts);
    }

    /// Adds a whole flow record that did not come through the flow table
    /// (an imported flow record), to the bucket of its start.
    pub fn add_record(
        &mut self,
        client: IpAddr,
        server: IpAddr,
        service: Service,
        first: Timestamp,
        counts: Counts,
    ) {
        let k = Key { client, server, service, bucket: first.secs() / self.bucket_secs };
        self.map.entry(k).or_default().add(&counts);
    }

    /// The buckets, with each address mapped to its asset by `asset_of`,
    /// merged where several addresses belong to one asset, sorted by
    /// start, then assets, then service.
    pub fn into_sorted(self, asset_of: impl Fn(IpAddr) -> String) -> Vec<Conversation> {
        let mut merged: HashMap<(String, String, Service, u64), Counts> = HashMap::new();
        for (k, c) in self.map {
            let key = (asset_of(k.client), asset_of(k.server), k.service, k.bucket);
            merged.entry(key).or_default().add(&c);
        }
        let secs = self.bucket_secs;
        let mut out: Vec<Conversation> = merged
            .into_iter()
            .map(|((client_asset, server_asset, service, bucket), counts)| Conversation {
                client_asset,
                server_asset,
                service,
                start: Timestamp::from_parts(bucket.saturating_mul(secs), 0),
                counts,
            })
            .collect();
        out.sort_by(|a, b| {
            (a.start, &a.client_asset, &a.server_asset, a.service).cmp(&(
                b.start,
                &b.client_asset,
                &b.server_asset,
                b.service,
            ))
        });
        out
    }
}
