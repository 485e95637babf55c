//! Fuzzes the Received-header hop timeline over arbitrary messages.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mailtrip::fuzz::received(data);
});
