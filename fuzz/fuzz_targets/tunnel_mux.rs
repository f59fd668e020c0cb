#![no_main]

#[path = "../src/tunnel_entry.rs"]
#[allow(dead_code)]
mod entry;
#[path = "../../crates/gateway/src/mux.rs"]
#[allow(dead_code)]
mod mux;

libfuzzer_sys::fuzz_target!(|data: &[u8]| entry::tunnel_mux(data));
