#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nettool_fuzz::iface(data));
