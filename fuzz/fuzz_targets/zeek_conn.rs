#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sekimori_fuzz::zeek_conn(data));
