//! Entry points for the fuzz targets in `fuzz/` (and the hostile-input tests): each takes
//! arbitrary bytes and must return without panicking, whatever they hold. Not a public API.

use std::sync::OnceLock;
use std::time::Duration;

use crate::server::{ListenerKind, ServerConfig, TestServer};

/// The fuzz user's login and password; seed corpora use them to reach authenticated states.
pub const USER: &str = "fuzz@mailtrip.test";
pub const PASSWORD: &str = "fuzz-pw";

struct Harness {
    runtime: tokio::runtime::Runtime,
    server: TestServer,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("fuzz runtime");
        let server = runtime
            .block_on(TestServer::start(
                ServerConfig::default()
                    .with_user(USER, PASSWORD)
                    .with_user("other@mailtrip.test", PASSWORD),
            ))
            .expect("fuzz server");
        for i in 0..3 {
            let raw = format!(
                "From: a@b.test\r\nTo: {USER}\r\nSubject: seed {i}\r\nX-Mailtrip-Probe: seed-{i}\r\n\r\nbody {i}\r\n"
            );
            let _ = server.deliver_raw(USER, "INBOX", raw.as_bytes());
        }
        // A MIME tree for BODYSTRUCTURE, BODY[n] and BINARY to walk.
        let mime = "From: a@b.test\r\nTo: g: x@y, z@w;\r\nSubject: =?UTF-8?Q?mime_=C3=A9?=\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9=\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Type: multipart/alternative; boundary=c\r\n\r\n--c\r\nContent-Transfer-Encoding: base64\r\n\r\naGk=\r\n--c--\r\n--b--\r\n";
        let _ = server.deliver_raw(USER, "INBOX", mime.as_bytes());
        Harness { runtime, server }
    })
}

fn replay(kind: ListenerKind, input: &[u8]) -> Vec<u8> {
    let h = harness();
    h.runtime
        .block_on(h.server.replay(kind, input, Duration::from_secs(2)))
}

/// Runs one SMTP session (as on the implicit-TLS port) over `input`; returns the replies.
pub fn smtp_session(input: &[u8]) -> Vec<u8> {
    replay(ListenerKind::Smtps, input)
}

/// Runs one IMAP session (as on the implicit-TLS port) over `input`; returns the responses.
pub fn imap_session(input: &[u8]) -> Vec<u8> {
    replay(ListenerKind::Imaps, input)
}

/// Parses `input` as a received message and checks it against a fixed probe, as the
/// round trip does with whatever arrives.
pub fn verify_message(input: &[u8]) {
    let _ = crate::probe::fuzz_verify(input);
}

/// Parses `input` as an `Authentication-Results` value and summarizes it.
pub fn auth_results(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    let _ = crate::analyze::auth_results::parse(&text);
    let _ = crate::analyze::auth_results::summarize(&[&text]);
}

/// Builds a hop timeline from `input` as a raw message.
pub fn received(input: &[u8]) {
    let _ = crate::analyze::hops::timeline(input, None, None);
}
