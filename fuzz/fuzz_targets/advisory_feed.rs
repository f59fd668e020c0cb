#![no_main]

#[path = "../src/assess_entry.rs"]
mod entry;

libfuzzer_sys::fuzz_target!(|data: &[u8]| entry::advisory_feed(data));
