//! Local delivery: what happens to a message after SMTP accepted it. Adds the `Received:`
//! header and applies the profile and the injected faults (delay, Junk rule, duplicate,
//! footer, drop) before the store sees it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rand::Rng;

use super::{Profile, Shared, SpecialUse};

/// A message SMTP has accepted.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// Reverse path (may be empty for bounces).
    pub from: String,
    /// Accepted local recipients.
    pub rcpts: Vec<String>,
    /// The message as received, dot-unstuffed, CRLF line endings.
    pub data: Bytes,
    /// The user that authenticated the session, if any.
    pub authenticated: Option<String>,
    pub peer: SocketAddr,
    /// The EHLO/HELO name the client gave.
    pub helo: String,
    pub tls: bool,
    /// Queue id, reported in the 250 reply and the Received header.
    pub id: String,
}

/// Hands the message to every recipient's mailbox, now or after the configured delay.
pub fn deliver(shared: &Arc<Shared>, env: Envelope) {
    let faults = shared.faults();
    let delay = faults.delivery_delay.map(|(min, max)| {
        if max > min {
            rand::rng().random_range(min..=max)
        } else {
            min
        }
    });
    match delay {
        Some(d) if !d.is_zero() => {
            let shared = shared.clone();
            let mut shutdown = shared.shutdown();
            tokio::spawn(async move {
                tokio::select! {
                    _ = tokio::time::sleep(d) => deliver_now(&shared, &env),
                    _ = super::until_shutdown(&mut shutdown) => {}
                }
            });
        }
        _ => deliver_now(shared, &env),
    }
}

fn deliver_now(shared: &Shared, env: &Envelope) {
    let faults = shared.faults();
    let body = match &faults.append_footer {
        Some(footer) => append_footer(&env.data, footer),
        None => env.data.clone(),
    };
    let junk = faults
        .junk_rule
        .as_deref()
        .is_some_and(|rule| header_section_contains(&body, rule));
    let copies = if faults.deliver_twice { 2 } else { 1 };
    for rcpt in &env.rcpts {
        if faults.drop_percent > 0 && rand::rng().random_range(0..100u8) < faults.drop_percent {
            tracing::debug!(id = %env.id, %rcpt, "fault: delivery dropped");
            continue;
        }
        let raw = with_received(shared, env, rcpt, &body);
        let role = junk.then_some(SpecialUse::Junk);
        for _ in 0..copies {
            if let Err(e) = shared
                .store
                .append_to_role(rcpt, role, raw.clone(), Vec::new())
            {
                tracing::warn!(id = %env.id, %rcpt, error = %e, "delivery failed");
            }
        }
    }
    // Gmail files a copy of everything its users submit in Sent Mail.
    if shared.config.profile == Profile::Gmail
        && let Some(user) = &env.authenticated
    {
        let raw = with_received(shared, env, user, &env.data);
        let _ =
            shared
                .store
                .append_to_role(user, Some(SpecialUse::Sent), raw, vec!["\\Seen".into()]);
    }
}

/// Prepends `Received:` (RFC 5321 4.4) with an RFC 5322 date.
fn with_received(shared: &Shared, env: &Envelope, rcpt: &str, body: &Bytes) -> Bytes {
    let with = match (env.tls, env.authenticated.is_some()) {
        (true, true) => "ESMTPSA",
        (true, false) => "ESMTPS",
        (false, true) => "ESMTPA",
        (false, false) => "ESMTP",
    };
    let header = format!(
        "Received: from {helo} ([{ip}])\r\n\tby {host} (mailtrip) with {with} id {id}\r\n\tfor <{rcpt}>; {date}\r\n",
        helo = sanitize(&env.helo),
        ip = env.peer.ip(),
        host = shared.config.hostname,
        id = env.id,
        date = chrono::Local::now().to_rfc2822(),
    );
    let mut out = BytesMut::with_capacity(header.len() + body.len());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(body);
    out.freeze()
}

fn sanitize(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(255)
        .collect()
}

/// The bytes before the first empty line.
pub fn header_section(raw: &[u8]) -> &[u8] {
    raw.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| &raw[..i + 2])
        .unwrap_or(raw)
}

fn header_section_contains(raw: &[u8], needle: &str) -> bool {
    let hay = String::from_utf8_lossy(header_section(raw)).to_ascii_lowercase();
    // Unfold so a rule matches a header value that was wrapped.
    let hay = hay.replace("\r\n\t", " ").replace("\r\n ", " ");
    hay.contains(&needle.to_ascii_lowercase())
}

fn append_footer(raw: &Bytes, footer: &str) -> Bytes {
    let mut out = BytesMut::from(&raw[..]);
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(footer.as_bytes());
    out.extend_from_slice(b"\r\n");
    out.freeze()
}

/// A short random queue id.
pub fn queue_id() -> String {
    let n: u64 = rand::rng().random();
    format!("{n:016X}")
}

/// Used by tests that need to know how long a delayed delivery may take.
pub fn max_delay(faults: &super::Faults) -> Duration {
    faults
        .delivery_delay
        .map(|(_, max)| max)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junk_rule_matches_folded_headers_only() {
        let raw = b"Subject: hello\r\n [spam-test]\r\n\r\nbody [other]\r\n";
        assert!(header_section_contains(raw, "hello [spam-test]"));
        assert!(!header_section_contains(raw, "[other]"));
    }

    #[test]
    fn footer_goes_at_the_end() {
        let out = append_footer(&Bytes::from_static(b"A: b\r\n\r\nbody"), "-- footer");
        assert_eq!(&out[..], b"A: b\r\n\r\nbody\r\n-- footer\r\n");
    }
}
