#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sekimori_fuzz::hl7_msh(data));
