//! Fuzzes the Authentication-Results (RFC 8601) parser and summary.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mailtrip::fuzz::auth_results(data);
});
