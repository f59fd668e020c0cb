#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sekimori_fuzz::packet_linux_sll2(data));
