//! Events per second through `Engine::flow` for a realistic mix over the
//! sample policy: mostly allowed internal traffic (HL7, DICOM, DNS, TLS to
//! the EHR), some internet TLS, a few violations, flows living a few
//! updates each, with silence watches and learning over.
//!
//! `cargo bench -p sekimori-policy --bench detect`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sekimori_policy::detect::{Engine, FlowEvent};
use sekimori_policy::{AssetHints, Policy, Transport};
use sekimori_proto::App;
use time::OffsetDateTime;

struct Template {
    src: IpAddr,
    dst: IpAddr,
    dport: u16,
    transport: Transport,
    app: Option<App>,
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn mix() -> Vec<Template> {
    let mut m = Vec::new();
    for i in 0..4096u32 {
        let h = (i % 200) as u8;
        let t = match i % 20 {
            // EHR clients over TLS.
            0..=5 => (
                v4(10, 100, (i % 7) as u8, h),
                v4(10, 40, 0, (i % 5) as u8),
                443,
                Transport::Tcp,
                Some(App::Tls),
            ),
            // Modalities to PACS.
            6..=8 => (v4(10, 31, 0, h), v4(10, 30, 0, 2), 104, Transport::Tcp, Some(App::Dicom)),
            // HL7 from the EHR to nurse-call and imaging.
            9..=10 => (
                v4(10, 40, 0, 3),
                v4(10, 20, 0, 11 + (i % 3) as u8),
                2575,
                Transport::Tcp,
                Some(App::Hl7),
            ),
            // DNS.
            11..=14 => (
                v4(10, 100, (i % 7) as u8, h),
                v4(10, 0, 0, 53),
                53,
                Transport::Udp,
                Some(App::Dns),
            ),
            // Office to the internet.
            15..=18 => (
                v4(10, 100, (i % 7) as u8, h),
                v4(203, 0, (i % 100) as u8, h),
                443,
                Transport::Tcp,
                Some(App::Tls),
            ),
            // Something the policy denies: office to a monitor.
            _ => (v4(10, 100, 0, h), v4(10, 50, 0, (i % 30) as u8), 8080, Transport::Tcp, None),
        };
        m.push(Template { src: t.0, dst: t.1, dport: t.2, transport: t.3, app: t.4 });
    }
    m
}

fn bench(c: &mut Criterion) {
    let policy = Arc::new(Policy::parse(Policy::sample_text(), Path::new("sample.toml")).unwrap());
    let t0 = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
    let mix = mix();
    let names: Vec<String> = vec!["nursecall-srv-01".into()];
    let sni: Vec<String> = vec!["updates.example.com".into()];

    let mut g = c.benchmark_group("detect");
    g.throughput(Throughput::Elements(1));
    g.bench_function("Engine::flow (mixed traffic)", |b| {
        // Past the 7-day learning period.
        let start = t0 - time::Duration::days(8);
        let mut e = Engine::new(policy.clone(), start);
        let mut n: u64 = 0;
        b.iter(|| {
            n += 1;
            // Each flow lives 8 updates; 1 in 8 events is a new flow.
            let flow = n / 8;
            let tpl = &mix[(flow as usize * 2654435761) % mix.len()];
            let at = t0 + time::Duration::milliseconds((n * 50) as i64);
            let ev = FlowEvent {
                flow,
                src: tpl.src,
                dst: tpl.dst,
                sport: 40_000 + (flow % 20_000) as u16,
                dport: tpl.dport,
                transport: tpl.transport,
                app: tpl.app,
                bytes_out: 1200,
                bytes_in: 8000,
                packets_out: 3,
                packets_in: 6,
                first: at,
                at,
                ended: n % 8 == 7,
                src_hints: AssetHints::default(),
                dst_hints: if tpl.dport == 2575 {
                    AssetHints { names: &names, ..AssetHints::default() }
                } else {
                    AssetHints::default()
                },
                server_names: if tpl.dport == 443 { &sni } else { &[] },
            };
            e.flow(black_box(&ev));
            if n.is_multiple_of(20_000) {
                e.tick(at);
                black_box(e.take());
            }
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
