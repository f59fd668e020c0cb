//! Flow records carried inside observed traffic: a capture of a switch's
//! or a probe's NetFlow v5/v9 or IPFIX export datagrams holds flows the
//! sensor never saw as packets. Datagrams of a UDP flow identified as an
//! export (`netflow-v5`, `netflow-v9`, `ipfix`) are decoded with
//! `sekimori_proto::netflow::Decoder` (templates kept per exporter address
//! and observation domain), and each record enters the analysis as an
//! external flow ([`crate::Analyzer::external_flow`]), its record marked
//! with the export format as `source`.

use std::net::SocketAddr;

use sekimori_capture::{ExternalFlow, FlowSource, Timestamp as CaptureTime};
use sekimori_proto::App;
use sekimori_proto::netflow::{self, Decoder, ExportVersion, FlowTime};

use crate::flow::Timestamp;

/// Whether a flow identified as `app` carries flow exports.
pub fn is_export(app: Option<App>) -> bool {
    matches!(app, Some(App::NetflowV5 | App::NetflowV9 | App::Ipfix))
}

/// The export format's name, as a flow record's `source`.
pub fn source_name(v: ExportVersion) -> &'static str {
    v.app().as_str()
}

/// The decoder of the export datagrams seen in one analysis.
#[derive(Debug, Default)]
pub struct Exports {
    decoder: Decoder,
    records: Vec<netflow::FlowRecord>,
    /// Datagrams that did not decode (whole or in part).
    pub errors: u64,
}

impl Exports {
    /// Decodes one datagram `exporter` sent, received at `ts`; returns its
    /// flow records as external flows with their format's name. Records
    /// without both addresses (a template without them) are skipped. A
    /// datagram that fails part-way still yields the records before the
    /// failure.
    pub fn decode(
        &mut self,
        ts: Timestamp,
        exporter: SocketAddr,
        datagram: &[u8],
    ) -> Vec<(ExternalFlow, &'static str)> {
        self.records.clear();
        if self.decoder.decode(exporter, datagram, &mut self.records).is_err() {
            self.errors += 1;
        }
        self.records.iter().filter_map(|r| external(r, ts)).collect()
    }
}

/// A decoded export record as an external flow. Times the exporter gave
/// only as uptime (no clock to convert them) fall back to the time the
/// datagram was captured.
pub fn external(
    r: &netflow::FlowRecord,
    received: Timestamp,
) -> Option<(ExternalFlow, &'static str)> {
    let (src, dst) = (r.src?, r.dst?);
    let recv = CaptureTime(i64::try_from(received.0).unwrap_or(i64::MAX));
    let time = |t: Option<FlowTime>| match t {
        Some(FlowTime::UnixMillis(ms)) => {
            CaptureTime(i64::try_from(ms).unwrap_or(i64::MAX).saturating_mul(1_000_000))
        }
        _ => recv,
    };
    let first = time(r.first);
    let last = time(r.last).max(first);
    let x = ExternalFlow {
        source: FlowSource::Netflow,
        id: None,
        src,
        dst,
        sport: r.src_port,
        dport: r.dst_port,
        protocol: r.protocol,
        packets_out: r.packets,
        packets_in: 0,
        bytes_out: r.bytes,
        bytes_in: 0,
        first,
        last,
        app_hint: None,
        src_mac: None,
        dst_mac: None,
    };
    Some((x, source_name(r.version)))
}
