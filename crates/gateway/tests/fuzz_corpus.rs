//! The tunnel's fuzz corpus (`fuzz/corpus/tunnel_mux/`) replayed through
//! the fuzz entry point (`fuzz/src/tunnel_entry.rs`, included here), so the
//! seeds and everything a fuzzing run kept are exercised by the normal test
//! suite, without a fuzzer. Small inputs are also replayed at every prefix.
//!
//! `write_seed_corpus` (ignored) regenerates the seeds.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic, dead_code)]

use sekimori_gateway::mux;

#[path = "../../../fuzz/src/tunnel_entry.rs"]
mod entry;
#[path = "../../../fuzz/src/replay.rs"]
mod replay;

use std::path::{Path, PathBuf};

use sekimori_types::AccessRequestId;

fn corpus_dir(target: &str) -> PathBuf {
    replay::corpus_dir(env!("CARGO_MANIFEST_DIR"), target)
}

#[test]
fn every_corpus_file_replays_through_its_entry_point() {
    replay::replay_all(env!("CARGO_MANIFEST_DIR"), entry::TARGETS, 8, 4096);
}

#[test]
fn every_entry_point_has_its_fuzz_target() {
    for (name, _) in entry::TARGETS {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../../fuzz/fuzz_targets/{name}.rs"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(text.contains(&format!("entry::{name}(data)")), "{name}");
    }
}

/// The seeds: a valid conversation in both directions, and hostile frames
/// (unknown type, oversized, truncated, zero credit, bad UTF-8, stream 0).
fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let r = AccessRequestId(uuid_from(7));
    let mut client = Vec::new();
    mux::grant(&mut client, 1, r);
    mux::open(&mut client, 3, r, 22, b"SSH-2.0-OpenSSH_9.6\r\n");
    mux::data_header(&mut client, 3, 300);
    client.extend(std::iter::repeat_n(0x5a, 300));
    mux::window(&mut client, 3, 65_536);
    mux::window(&mut client, 0, 1 << 20);
    mux::fin(&mut client, 3);
    mux::reset(&mut client, 3, mux::ResetReason::Cancel);
    let mut gateway = Vec::new();
    mux::accept(&mut gateway, 1, br#"{"request":"x","asset":"CT-1","ports":[22]}"#);
    mux::accept(&mut gateway, 3, b"");
    mux::refuse(&mut gateway, 5, "grant_revoked", "このアクセス許可は取り消されました。");
    mux::data_header(&mut gateway, 3, 40);
    gateway.extend(std::iter::repeat_n(0xa5, 40));
    mux::goaway(&mut gateway, mux::GoAwayReason::Closed);
    let frame = |kind: u8, stream: u32, payload: &[u8]| {
        let mut v = vec![kind];
        v.extend_from_slice(&stream.to_be_bytes());
        v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        v.extend_from_slice(payload);
        v
    };
    let mut huge = vec![5u8, 0, 0, 0, 1];
    huge.extend_from_slice(&u32::MAX.to_be_bytes());
    vec![
        ("client-conversation", client),
        ("gateway-conversation", gateway),
        ("unknown-type", frame(200, 1, b"x")),
        ("data-too-long", huge),
        ("empty-data", frame(5, 1, b"")),
        ("zero-window", frame(6, 1, &[0, 0, 0, 0])),
        ("short-open", frame(1, 1, &[1, 2, 3])),
        ("refuse-bad-utf8", frame(4, 1, &[2, 0xff, 0xfe, b'm'])),
        ("refuse-code-past-end", frame(4, 1, &[200, b'a'])),
        ("fin-on-stream-0", frame(7, 0, b"")),
        ("goaway-on-stream-1", frame(9, 1, &[0])),
        ("truncated-header", vec![5, 0, 0]),
    ]
}

fn uuid_from(n: u8) -> uuid::Uuid {
    uuid::Uuid::from_bytes([n; 16])
}

#[test]
fn the_seeds_are_in_the_corpus() {
    let dir = corpus_dir("tunnel_mux");
    for (name, data) in seeds() {
        let path = dir.join(name);
        let mut want = vec![7u8];
        want.extend_from_slice(&data);
        let have = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(have, want, "{name}: run write_seed_corpus");
    }
}

/// Writes the seeds (byte 0 = piece size - 1).
#[test]
#[ignore = "regenerates fuzz/corpus/tunnel_mux"]
fn write_seed_corpus() {
    let dir = corpus_dir("tunnel_mux");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, data) in seeds() {
        let mut v = vec![7u8];
        v.extend_from_slice(&data);
        std::fs::write(dir.join(name), v).unwrap();
    }
}
