//! Feeding a store from an analysis that never ends: `sekimori sensor`
//! reads an interface or a flow collector for days, and every few seconds
//! takes what changed out of its [`Analyzer`].
//!
//! [`Feed::take`] ends the flows idle at the given (wall-clock) time — on a
//! quiet interface no packet arrives to drive the sweeps — drops the
//! finished flow records (the store keeps conversations, not flows), takes
//! the conversation buckets filled so far (a bucket still filling is taken
//! in parts; the store adds them up), and lists the assets that differ from
//! what was last [`Feed::sent`]. Assets whose write failed are simply not
//! marked sent, so the next take offers them again.
//!
//! Memory: the analysis's flow records are dropped at every take; the
//! inventory's observations and the feed's copy of the sent assets grow
//! with the number of devices, not with traffic.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::flow::{EndReason, Timestamp};
use crate::{Analyzer, Asset, Conversation, Conversations, Stats};

/// What changed since the last take.
#[derive(Debug, Default)]
pub struct Delta {
    /// Assets new or different since they were last marked sent.
    pub assets: Vec<Asset>,
    /// Conversation buckets (parts of) filled since the last take, with
    /// their endpoints mapped to the current assets.
    pub conversations: Vec<Conversation>,
    /// Flow records that ended since the last take.
    pub flows_ended: u64,
}

/// Remembers what was sent, to send only changes.
#[derive(Debug, Default)]
pub struct Feed {
    sent: HashMap<String, Asset>,
}

impl Feed {
    /// A feed that has sent nothing yet.
    pub fn new() -> Feed {
        Feed::default()
    }

    /// Takes what changed (see the module doc). `now` ends the flows idle
    /// at that time first (pass the wall clock for live input, `None` for
    /// input whose own time drives the flow table).
    pub fn take(&mut self, an: &mut Analyzer, now: Option<Timestamp>) -> Delta {
        if let Some(now) = now {
            an.advance(now);
        }
        if !an.table.ended.is_empty() {
            an.drain_ended();
        }
        self.collect(an)
    }

    /// Ends every open flow (the input stopped) and takes what changed.
    pub fn take_final(&mut self, an: &mut Analyzer) -> Delta {
        an.table.drain(EndReason::End);
        an.drain_ended();
        self.collect(an)
    }

    fn collect(&mut self, an: &mut Analyzer) -> Delta {
        let flows_ended = an.flows.len() as u64;
        an.flows.clear();
        let all = an.inventory.assets();
        let mut asset_of = HashMap::new();
        for a in &all {
            for ip in &a.ips {
                asset_of.insert(*ip, a.id.clone());
            }
        }
        let bucket = Duration::from_secs(an.conversations.bucket_secs());
        let filled = std::mem::replace(&mut an.conversations, Conversations::new(bucket));
        let conversations = filled
            .into_sorted(|ip| asset_of.get(&ip).cloned().unwrap_or_else(|| format!("ip:{ip}")));
        let assets = all
            .into_iter()
            .filter(|a| !a.id.is_empty() && self.sent.get(&a.id) != Some(a))
            .collect();
        Delta { assets, conversations, flows_ended }
    }

    /// Marks `assets` as written: later takes offer them only when they
    /// change again.
    pub fn sent(&mut self, assets: &[Asset]) {
        for a in assets {
            self.sent.insert(a.id.clone(), a.clone());
        }
    }
}

impl Analyzer {
    /// One NetFlow v5/v9 or IPFIX export datagram received by a collector
    /// from `exporter` at `received`: its records enter the analysis as
    /// flows (templates are kept per exporter, as for export datagrams
    /// seen in captured packets).
    pub fn export_datagram_received(
        &mut self,
        received: Timestamp,
        exporter: SocketAddr,
        datagram: &[u8],
    ) {
        self.export_datagram(received, exporter, datagram);
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats;
        s.table = self.table.stats;
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Options;

    fn softflowd() -> Vec<(Timestamp, SocketAddr, Vec<u8>)> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../testdata/pcaps/gen_ipfix_softflowd_export.pcap"
        );
        let mut file = sekimori_capture::CaptureFile::open(path).unwrap();
        let mut out = Vec::new();
        while let Some(p) = file.next_packet().unwrap() {
            let pkt = sekimori_proto::packet::decode(p.link, p.data).unwrap();
            let sekimori_proto::packet::Layer3::Ip { ip, transport } = pkt.l3 else { continue };
            let sekimori_proto::packet::Transport::Udp { sport, payload, .. } = transport else {
                continue;
            };
            let ts = Timestamp(u64::try_from(p.ts.as_nanos()).unwrap());
            out.push((ts, SocketAddr::new(ip.src, sport), payload.to_vec()));
        }
        out
    }

    /// The export datagrams of the softflowd capture, as a collector would
    /// receive them: their 32 records become flows, assets and buckets; a
    /// second take offers nothing new; a changed asset is offered again.
    #[test]
    fn collector_datagrams_feed_changes_once() {
        let mut an = Analyzer::new(&Options::default());
        let mut feed = Feed::new();
        for (ts, exporter, bytes) in softflowd() {
            an.export_datagram_received(ts, exporter, &bytes);
        }
        let d = feed.take(&mut an, None);
        assert_eq!(d.flows_ended, 32, "tshark: 32 IPFIX data records");
        assert!(d.assets.iter().any(|a| a.id == "ip:10.0.2.15"), "{:?}", d.assets);
        let total: u64 = d.conversations.iter().map(|c| c.counts.flows).sum();
        assert_eq!(total, 32);
        assert_eq!(an.stats().imported_flows, 32);
        feed.sent(&d.assets);
        let again = feed.take(&mut an, None);
        assert!(again.assets.is_empty() && again.conversations.is_empty());
        assert_eq!(again.flows_ended, 0);
        // The same records again: the assets' last-seen times do not move
        // (same records), so nothing is offered; the buckets are.
        for (ts, exporter, bytes) in softflowd() {
            an.export_datagram_received(ts, exporter, &bytes);
        }
        let third = feed.take(&mut an, None);
        assert!(third.assets.is_empty(), "{:?}", third.assets);
        assert_eq!(third.conversations.iter().map(|c| c.counts.flows).sum::<u64>(), 32);
    }
}
