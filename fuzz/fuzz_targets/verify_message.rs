//! Fuzzes the round trip's verifier: whatever arrives in the mailbox is parsed (mail-parser,
//! panics contained) and checked against a probe without crashing.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mailtrip::fuzz::verify_message(data);
});
