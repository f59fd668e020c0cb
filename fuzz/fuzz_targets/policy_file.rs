#![no_main]

#[path = "../src/policy_entry.rs"]
mod entry;

libfuzzer_sys::fuzz_target!(|data: &[u8]| entry::policy_file(data));
