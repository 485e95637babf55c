//! Fuzzes one embedded-server imap session: arbitrary client bytes in, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = mailtrip::fuzz::imap_session(data);
});
