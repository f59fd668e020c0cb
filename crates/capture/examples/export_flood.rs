//! Load for `bench/collector.sh`: replays the flow-export datagrams of a
//! capture (NetFlow v5/v9, IPFIX) to a UDP collector at a set rate.
//!
//! ```text
//! export_flood CAPTURE ADDR RATE SECS   # RATE datagrams/s (0 = as fast as possible)
//! ```
//! Prints one JSON line: datagrams sent, the flow records they carry (as
//! our decoder counts them), and the achieved rate. Every datagram that
//! defines templates is sent first, once, so that data records decode.

#![allow(clippy::print_stdout, reason = "a benchmark tool prints")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark tool fails loudly")]
#![allow(clippy::disallowed_methods, reason = "a load generator paces itself on wall time")]

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use sekimori_capture::CaptureFile;
use sekimori_proto::packet::{self, Layer3, Transport};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).expect("CAPTURE");
    let to: SocketAddr = args.get(2).expect("ADDR").parse().expect("ADDR");
    let rate: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(0);
    let secs: u64 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(5);

    let mut cap = CaptureFile::open(path).expect("open capture");
    let mut datagrams: Vec<Vec<u8>> = Vec::new();
    while let Some(p) = cap.next_packet().expect("read capture") {
        if let Ok(d) = packet::decode(p.link, p.data)
            && let Layer3::Ip { transport: Transport::Udp { payload, .. }, .. } = d.l3
        {
            datagrams.push(payload.to_vec());
        }
    }
    assert!(!datagrams.is_empty(), "no UDP datagrams in {path}");
    // Records per datagram, as the collector's decoder will count them once
    // the templates are known.
    let exporter: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let mut dec = sekimori_proto::netflow::Decoder::new();
    let mut out = Vec::new();
    for d in &datagrams {
        let _ = dec.decode(exporter, d, &mut out);
    }
    let per: Vec<u64> = datagrams
        .iter()
        .map(|d| {
            out.clear();
            dec.decode(exporter, d, &mut out).map(|_| out.len() as u64).unwrap_or(0)
        })
        .collect();

    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.connect(to).expect("connect");
    // Templates first (the first round), then the steady flood.
    for d in &datagrams {
        let _ = sock.send(d);
    }
    std::thread::sleep(Duration::from_millis(200));
    let start = Instant::now();
    let end = start + Duration::from_secs(secs);
    let (mut sent, mut records) = (0u64, 0u64);
    let mut i = 0usize;
    while Instant::now() < end {
        // Pace in batches of 64 datagrams.
        for _ in 0..64 {
            let k = i % datagrams.len();
            if sock.send(&datagrams[k]).is_ok() {
                sent += 1;
                records += per[k];
            }
            i += 1;
        }
        if rate > 0 {
            let due = start + Duration::from_secs_f64(sent as f64 / rate as f64);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
    }
    let el = start.elapsed().as_secs_f64();
    println!(
        "{{\"datagrams\":{sent},\"records\":{records},\"secs\":{el:.3},\"datagrams_per_s\":{:.0},\"records_per_s\":{:.0}}}",
        sent as f64 / el,
        records as f64 / el
    );
}
