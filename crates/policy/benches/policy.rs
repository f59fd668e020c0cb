//! `zone_of` and `check_flow` over a generated policy of 50 zones and 200
//! rules, the per-flow cost the detection engine pays.
//!
//! `cargo bench -p sekimori-policy --bench policy`

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::fmt::Write as _;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use sekimori_policy::{AssetHints, Policy, Transport};
use sekimori_proto::App;

const ZONES: usize = 50;
const RULES: usize = 200;

fn policy_text() -> String {
    let mut t = String::from("[hospital]\nranges = [\"10.0.0.0/8\", \"2001:db8::/32\"]\n");
    for z in 0..ZONES {
        let critical = z % 5 == 0;
        writeln!(
            t,
            "[[zone]]\nname = \"z{z}\"\ncritical = {critical}\nranges = [\"10.{z}.0.0/16\", \"10.{z}.1.0/24\", \"10.{z}.2.7\", \"2001:db8:{z:x}::/48\"]\nassets = [\"host-{z}\"]"
        )
        .unwrap();
    }
    let protos = ["dicom", "hl7", "tls", "ssh", "rdp", "smb", "dns", "http"];
    for r in 0..RULES {
        let from = r % ZONES;
        let to = (r * 7 + 3) % ZONES;
        let p = protos[r % protos.len()];
        writeln!(
            t,
            "[[rule]]\nfrom = \"z{from}\"\nto = \"z{to}\"\nprotocols = [\"{p}\"]\nports = [\"{}/tcp\", \"{}-{}/udp\"]\naction = \"{}\"",
            1000 + r,
            2000 + r,
            2010 + r,
            if r % 9 == 0 { "deny" } else { "allow" }
        )
        .unwrap();
    }
    t
}

fn bench(c: &mut Criterion) {
    let policy = Policy::parse(&policy_text(), Path::new("bench.toml")).expect("valid policy");
    let addrs: Vec<IpAddr> = (0..1024u32)
        .map(|i| {
            let z = (i * 13) % 60; // some outside every zone (50..59): internal
            IpAddr::V4(Ipv4Addr::new(10, z as u8, (i % 4) as u8, (i % 251) as u8))
        })
        .collect();
    let apps = [Some(App::Dicom), Some(App::Smb), None, Some(App::Tls)];

    c.bench_function("zone_of (address only)", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = (i + 1) & 1023;
            black_box(policy.zone_of(black_box(addrs[i]), &AssetHints::default()))
        })
    });

    let names = vec!["PC-0042.hospital.local".to_owned(), "host-7".to_owned()];
    c.bench_function("zone_of (with names)", |b| {
        let hints = AssetHints { names: &names, role: None, tags: &[] };
        let mut i = 0usize;
        b.iter(|| {
            i = (i + 1) & 1023;
            black_box(policy.zone_of(black_box(addrs[i]), &hints))
        })
    });

    let zones: Vec<_> = addrs.iter().map(|a| policy.zone_of(*a, &AssetHints::default())).collect();
    c.bench_function("check_flow", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = (i + 1) & 1023;
            let (f, t) = (zones[i], zones[(i * 31 + 5) & 1023]);
            black_box(policy.check_flow(f, t, apps[i & 3], Transport::Tcp, 1000 + (i % 300) as u16))
        })
    });

    c.bench_function("zone_of ×2 + check_flow (one flow)", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = (i + 1) & 1023;
            let h = AssetHints::default();
            let f = policy.zone_of(black_box(addrs[i]), &h);
            let t = policy.zone_of(black_box(addrs[(i * 31 + 5) & 1023]), &h);
            black_box(policy.check_flow(f, t, apps[i & 3], Transport::Tcp, 1000 + (i % 300) as u16))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
