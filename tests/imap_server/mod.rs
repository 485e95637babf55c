//! The embedded IMAP server against real clients over real sockets, one file per topic:
//! independent clients (async-imap with verified TLS, Python's imaplib, curl), raw byte-level
//! sessions (STARTTLS, framing and literals, AUTHENTICATE, untagged updates), and faults.

mod clients;
mod faults;
mod wire;

use mailtrip::server::TestServer;

use crate::imap_raw::ALICE;

/// Probe `n`, tagged `tag` in `X-Mailtrip-Probe` and `Message-ID`, with a dot-stuffing line.
fn probe(tag: &str, n: usize) -> Vec<u8> {
    format!(
        "From: Mailtrip <probe@sender.test>\r\nTo: {ALICE}\r\nSubject: probe {n}\r\n\
         Date: Sun, 10 Mar 2024 12:00:00 +0000\r\nMessage-ID: <{tag}@sender.test>\r\n\
         X-Mailtrip-Probe: {tag}\r\n\r\nBody {n}\r\n..leading dot and trailing spaces  \r\n"
    )
    .into_bytes()
}

/// Delivers probes 1 to `count`, tagged `{prefix}{n}`, to alice's INBOX; returns them.
fn seed(server: &TestServer, prefix: &str, count: usize) -> Vec<Vec<u8>> {
    (1..=count)
        .map(|n| {
            let raw = probe(&format!("{prefix}{n}"), n);
            server.deliver_raw(ALICE, "INBOX", &raw).expect("seed");
            raw
        })
        .collect()
}
