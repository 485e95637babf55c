//! Fuzzes one embedded-server smtp session: arbitrary client bytes in, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = mailtrip::fuzz::smtp_session(data);
});
