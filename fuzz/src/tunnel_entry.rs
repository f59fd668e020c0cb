//! Fuzzing entry point of the tunnel's multiplexing layer: the `mux` frame
//! decoder of `sekimori-gateway`, which parses what a tunnel's peer sends
//! after the hello. Not part of `lib.rs`; the target
//! `fuzz_targets/tunnel_mux.rs` (which includes the decoder's source by
//! path, so the fuzz build needs none of the gateway's dependencies) and
//! `crates/gateway/tests/fuzz_corpus.rs` include this file, with `mux` in
//! scope of the including module.
//!
//! Besides never panicking, the decoder must not depend on how its input is
//! split: byte 0 picks a piece size (1–256) and the events of the rest, with
//! `DATA` pieces joined, must equal those of one piece.

use super::mux::{self, OwnedEvent};

/// Joins consecutive `DATA` pieces of one stream.
fn joined(events: Vec<OwnedEvent>) -> Vec<OwnedEvent> {
    let mut out: Vec<OwnedEvent> = Vec::new();
    for e in events {
        match (out.last_mut(), e) {
            (
                Some(OwnedEvent::Data { stream: a, bytes }),
                OwnedEvent::Data { stream: b, bytes: more },
            ) if *a == b => bytes.extend(more),
            (_, e) => out.push(e),
        }
    }
    out
}

/// `mux::Decoder` over the input in two splits; both must agree.
pub fn tunnel_mux(data: &[u8]) {
    let Some((&step, rest)) = data.split_first() else { return };
    let whole = mux::decode_all(rest, rest.len().max(1));
    let split = mux::decode_all(rest, usize::from(step) + 1);
    match (whole, split) {
        (Ok(a), Ok(b)) => assert_eq!(joined(a), joined(b), "events depend on the split"),
        (Err(a), Err(b)) => assert_eq!(a, b, "errors depend on the split"),
        (a, b) => panic!("one split fails, the other not: {a:?} vs {b:?}"),
    }
}

/// An entry point.
pub type Entry = fn(&[u8]);

/// Entry points by target name.
pub const TARGETS: &[(&str, Entry)] = &[("tunnel_mux", tunnel_mux)];
