//! Local delivery: what happens to a message after SMTP accepted it. Adds the `Received:`
//! header and applies the profile and the injected faults (delay, Junk rule, duplicate,
//! footer, drop) before the store sees it.

use std::net::SocketAddr;
use std::sync::Arc;

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
    if let Some(reply) = &faults.bounce {
        send_bounce(shared, env, reply);
        return;
    }
    let mut body = env.data.clone();
    if faults.strip_attachments {
        body = strip_attachments(&body);
    }
    if let Some(width) = faults.rewrap_lines {
        body = rewrap(&body, width);
    }
    if let Some(footer) = &faults.append_footer {
        body = append_footer(&body, footer);
    }
    if let Some(name) = &faults.strip_header {
        body = strip_header(&body, name);
    }
    if let Some(value) = &faults.authentication_results {
        let mut out = BytesMut::from(format!("Authentication-Results: {value}\r\n").as_bytes());
        out.extend_from_slice(&body);
        body = out.freeze();
    }
    let junk = faults
        .junk_rule
        .as_deref()
        .is_some_and(|rule| header_section_contains(&body, rule));
    let archive = !junk
        && faults
            .archive_rule
            .as_deref()
            .is_some_and(|rule| header_section_contains(&body, rule));
    let copies = if faults.deliver_twice { 2 } else { 1 };
    if let Some(style) = faults.quote {
        for rcpt in &env.rcpts {
            let quoted = quoting_message(style, rcpt, env, &body);
            let owner = owner(shared, rcpt);
            if let Err(e) = shared
                .store
                .append_to_role(&owner, None, quoted, Vec::new())
            {
                tracing::warn!(id = %env.id, %rcpt, error = %e, "quote fault failed");
            }
        }
    }
    for rcpt in &env.rcpts {
        if faults.drop_percent > 0 && rand::rng().random_range(0..100u8) < faults.drop_percent {
            tracing::debug!(id = %env.id, %rcpt, "fault: delivery dropped");
            continue;
        }
        let raw = with_received(shared, env, rcpt, &body);
        let owner = owner(shared, rcpt);
        let role = if junk {
            Some(SpecialUse::Junk)
        } else if archive {
            match shared.store.folder_with_role(&owner, SpecialUse::Archive) {
                Some(_) => Some(SpecialUse::Archive),
                None => Some(SpecialUse::All),
            }
        } else {
            None
        };
        for _ in 0..copies {
            if let Err(e) = shared
                .store
                .append_to_role(&owner, role, raw.clone(), Vec::new())
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

/// The user whose mailbox takes mail for `rcpt` (`user@` for `user+tag@`); the `Received:`
/// header keeps the address as given.
fn owner(shared: &Shared, rcpt: &str) -> String {
    shared.store.owner(rcpt).unwrap_or_else(|| rcpt.to_string())
}

/// A message from `rcpt` that quotes `original` in `style` (the `quote` fault): what an
/// auto-responder or a forwarding user would produce. Its own top-level headers carry no
/// probe tag; the original's headers appear only inside its body.
fn quoting_message(style: super::Quote, rcpt: &str, env: &Envelope, original: &[u8]) -> Bytes {
    use super::Quote;
    let text = String::from_utf8_lossy(original);
    let original_id = header_value(original, "Message-ID").unwrap_or_default();
    let date = chrono::Utc::now().to_rfc2822();
    let id = format!("<{}.quote@{}>", env.id, sanitize(&rcpt.replace('@', ".")));
    let head = |subject: &str, extra: &str| {
        format!(
            "From: <{rcpt}>\r\nTo: <{from}>\r\nSubject: {subject}\r\nDate: {date}\r\n\
             Message-ID: {id}\r\nMIME-Version: 1.0\r\n{extra}",
            from = env.from
        )
    };
    let out = match style {
        Quote::AutoReply => {
            let quoted: String = text.lines().map(|l| format!("> {l}\r\n")).collect();
            format!(
                "{}Content-Type: text/plain; charset=utf-8\r\n\r\n\
                 I am out of the office until Monday.\r\n\r\n{quoted}",
                head(
                    "Auto: out of office",
                    &format!(
                        "Auto-Submitted: auto-replied\r\nIn-Reply-To: {original_id}\r\n\
                         References: {original_id}\r\n"
                    )
                )
            )
        }
        Quote::ForwardAttached => {
            let boundary = format!("fwd-{}", env.id);
            format!(
                "{}Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n\
                 --{boundary}\r\nContent-Type: text/plain\r\n\r\nFYI, see attached.\r\n\
                 --{boundary}\r\nContent-Type: message/rfc822\r\n\
                 Content-Disposition: attachment; filename=\"forwarded.eml\"\r\n\r\n\
                 {text}\r\n--{boundary}--\r\n",
                head("Fwd: a message", "")
            )
        }
        Quote::ForwardInline => format!(
            "{}Content-Type: text/plain; charset=utf-8\r\n\r\n\
             See below.\r\n\r\n---------- Forwarded message ---------\r\n{text}",
            head("Fwd: a message", "")
        ),
    };
    Bytes::from(out)
}

/// The first value of header `name` in `raw`'s header section, unfolded.
pub(crate) fn header_value(raw: &[u8], name: &str) -> Option<String> {
    let head = String::from_utf8_lossy(header_section(raw))
        .replace("\r\n ", " ")
        .replace("\r\n\t", " ");
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
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

/// Removes every top-level header field called `name` (with its folded lines), as a gateway's
/// header filter would.
fn strip_header(raw: &Bytes, name: &str) -> Bytes {
    let head_len = header_section(raw).len();
    let mut out = BytesMut::with_capacity(raw.len());
    let mut dropping = false;
    let mut at = 0;
    while at < head_len {
        let end = raw[at..head_len]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(head_len, |i| at + i + 1);
        let line = &raw[at..end];
        let folded = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if !folded {
            dropping = line.len() > name.len()
                && line[..name.len()].eq_ignore_ascii_case(name.as_bytes())
                && line[name.len()] == b':';
        }
        if !dropping {
            out.extend_from_slice(line);
        }
        at = end;
    }
    out.extend_from_slice(&raw[head_len..]);
    out.freeze()
}

/// Appends `footer` to the body; in a MIME message, to the end of the first `text/plain`
/// part (where list managers and disclaimer gateways put it), not after the last boundary.
fn append_footer(raw: &Bytes, footer: &str) -> Bytes {
    if let Some(at) = end_of_first_text_part(raw) {
        let mut out = BytesMut::with_capacity(raw.len() + footer.len() + 2);
        out.extend_from_slice(&raw[..at]);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(footer.as_bytes());
        out.extend_from_slice(&raw[at..]);
        return out.freeze();
    }
    let mut out = BytesMut::from(&raw[..]);
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(footer.as_bytes());
    out.extend_from_slice(b"\r\n");
    out.freeze()
}

/// In a multipart message, the offset of the CRLF that ends the first `text/plain` part's
/// content (just before its closing delimiter line).
fn end_of_first_text_part(raw: &[u8]) -> Option<usize> {
    let head = header_section(raw);
    find_ci(head, b"multipart/", 0)?;
    let part = find_ci(raw, b"content-type: text/plain", head.len())?;
    let content = find_ci(raw, b"\r\n\r\n", part)? + 4;
    find_ci(raw, b"\r\n--", content)
}

fn find_ci(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
        .map(|i| i + from)
}

/// Every `boundary=` parameter in the message, quotes removed.
fn boundaries(raw: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = find_ci(raw, b"boundary=", at) {
        let rest = &raw[i + 9..];
        let value: Vec<u8> = if rest.first() == Some(&b'"') {
            rest[1..]
                .iter()
                .take_while(|b| **b != b'"')
                .copied()
                .collect()
        } else {
            rest.iter()
                .take_while(|b| !b" ;\r\n\t".contains(b))
                .copied()
                .collect()
        };
        if !value.is_empty() {
            out.push(value);
        }
        at = i + 9;
    }
    out
}

/// Drops every MIME part whose headers say `Content-Disposition: attachment`.
fn strip_attachments(raw: &Bytes) -> Bytes {
    let bounds = boundaries(raw);
    let is_delimiter = |line: &[u8]| {
        bounds.iter().any(|b| {
            line.len() >= b.len() + 2 && line.starts_with(b"--") && line[2..].starts_with(b)
        })
    };
    let lines: Vec<&[u8]> = raw.split(|b| *b == b'\n').collect();
    let mut out = BytesMut::with_capacity(raw.len());
    let mut dropping = false;
    for (i, line) in lines.iter().enumerate() {
        let bare = line.strip_suffix(b"\r").unwrap_or(line);
        if is_delimiter(bare) {
            dropping = false;
            let closing =
                bare.ends_with(b"--") && !bounds.iter().any(|b| &bare[2..] == b.as_slice());
            if !closing {
                // Look at this part's headers.
                let headers = lines[i + 1..]
                    .iter()
                    .take_while(|l| !l.strip_suffix(b"\r").unwrap_or(l).is_empty());
                for h in headers {
                    if find_ci(h, b"content-disposition:", 0).is_some()
                        && find_ci(h, b"attachment", 0).is_some()
                    {
                        dropping = true;
                    }
                }
                if dropping {
                    continue;
                }
            }
        }
        if dropping {
            continue;
        }
        out.extend_from_slice(line);
        if i + 1 < lines.len() {
            out.extend_from_slice(b"\n");
        }
    }
    out.freeze()
}

/// Hard-wraps body lines longer than `width` bytes at the last space before it; headers and
/// lines without a space (base64) stay as they are.
fn rewrap(raw: &Bytes, width: usize) -> Bytes {
    let head = header_section(raw).len();
    let mut out = BytesMut::with_capacity(raw.len() + raw.len() / width.max(1));
    out.extend_from_slice(&raw[..head]);
    let body = &raw[head..];
    let lines: Vec<&[u8]> = body.split(|b| *b == b'\n').collect();
    for (i, line) in lines.iter().enumerate() {
        let mut rest = line.strip_suffix(b"\r").unwrap_or(line);
        let had_cr = rest.len() != line.len();
        while rest.len() > width {
            match rest[..=width.min(rest.len() - 1)]
                .iter()
                .rposition(|b| *b == b' ')
            {
                Some(cut) if cut > 0 => {
                    out.extend_from_slice(&rest[..cut]);
                    out.extend_from_slice(b"\r\n");
                    rest = &rest[cut + 1..];
                }
                _ => break,
            }
        }
        out.extend_from_slice(rest);
        if had_cr {
            out.extend_from_slice(b"\r");
        }
        if i + 1 < lines.len() {
            out.extend_from_slice(b"\n");
        }
    }
    out.freeze()
}

/// Files an RFC 3464 delivery status notification in the sender's INBOX instead of
/// delivering, as Postfix's bounce daemon would: a human part, the `message/delivery-status`
/// part, and the original headers as `text/rfc822-headers`.
fn send_bounce(shared: &Shared, env: &Envelope, reply: &str) {
    let sender = env.from.as_str();
    if sender.is_empty() || !shared.store.is_user(sender) {
        tracing::debug!(id = %env.id, "fault: bounce dropped (no local sender)");
        return;
    }
    let dsn = bounce_message(&shared.config.hostname, env, reply);
    if let Err(e) = shared.store.append_to_role(sender, None, dsn, Vec::new()) {
        tracing::warn!(id = %env.id, error = %e, "bounce failed");
    }
}

/// The bytes of the DSN for `env`, each recipient failed with `reply`.
pub fn bounce_message(host: &str, env: &Envelope, reply: &str) -> Bytes {
    let reply = reply.replace(['\r', '\n'], " ");
    let status = reply
        .split_whitespace()
        .nth(1)
        .filter(|s| s.split('.').count() == 3 && s.chars().all(|c| c.is_ascii_digit() || c == '.'))
        .unwrap_or("5.0.0")
        .to_string();
    let boundary = format!("{}.bounce/{host}", env.id);
    let now = chrono::Local::now().to_rfc2822();
    let headers = String::from_utf8_lossy(header_section(&env.data)).into_owned();
    let mut m = String::new();
    m.push_str(&format!(
        "Return-Path: <>\r\n\
         From: Mail Delivery System <MAILER-DAEMON@{host}>\r\n\
         To: <{from}>\r\n\
         Subject: Undelivered Mail Returned to Sender\r\n\
         Date: {now}\r\n\
         Message-ID: <{id}.bounce@{host}>\r\n\
         Auto-Submitted: auto-replied\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status;\r\n\
         \tboundary=\"{boundary}\"\r\n\
         \r\n\
         This is a MIME-encapsulated message.\r\n\
         \r\n\
         --{boundary}\r\n\
         Content-Description: Notification\r\n\
         Content-Type: text/plain; charset=us-ascii\r\n\
         \r\n\
         This is the mail system at host {host}.\r\n\
         \r\n\
         I'm sorry to have to inform you that your message could not\r\n\
         be delivered to one or more recipients. It's attached below.\r\n\
         \r\n",
        from = env.from,
        id = env.id,
    ));
    for rcpt in &env.rcpts {
        m.push_str(&format!("<{rcpt}>: host {host} said: {reply}\r\n"));
    }
    m.push_str(&format!(
        "\r\n--{boundary}\r\n\
         Content-Description: Delivery report\r\n\
         Content-Type: message/delivery-status\r\n\
         \r\n\
         Reporting-MTA: dns; {host}\r\n\
         X-Postfix-Queue-ID: {id}\r\n\
         X-Postfix-Sender: rfc822; {from}\r\n\
         Arrival-Date: {now}\r\n",
        id = env.id,
        from = env.from,
    ));
    for rcpt in &env.rcpts {
        m.push_str(&format!(
            "\r\n\
             Final-Recipient: rfc822; {rcpt}\r\n\
             Original-Recipient: rfc822;{rcpt}\r\n\
             Action: failed\r\n\
             Status: {status}\r\n\
             Remote-MTA: dns; {host}\r\n\
             Diagnostic-Code: smtp; {reply}\r\n"
        ));
    }
    m.push_str(&format!(
        "\r\n--{boundary}\r\n\
         Content-Description: Undelivered Message Headers\r\n\
         Content-Type: text/rfc822-headers\r\n\
         \r\n\
         {headers}\r\n\
         --{boundary}--\r\n"
    ));
    Bytes::from(m)
}

/// A short random queue id.
pub fn queue_id() -> String {
    let n: u64 = rand::rng().random();
    format!("{n:016X}")
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
