//! Parses what arrived and checks it is our probe, unchanged: the top-level tag and Message-ID
//! must match and the canonical body digest must equal the one sent. Parsing runs under
//! `catch_unwind` so hostile input cannot crash the check.

use super::message::{self, Probe, TAG_HEADER};

/// What the received copy says about itself, parsed from its top-level headers and text body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    pub tag: Option<String>,
    /// Without angle brackets.
    pub message_id: Option<String>,
    /// Canonical text body, if there was one.
    pub body: Option<String>,
    /// The decoded subject.
    pub subject: Option<String>,
    pub received: usize,
    pub authentication_results: Vec<String>,
}

/// The result of checking a received copy against the probe.
#[derive(Debug, Clone, PartialEq)]
pub struct Verification {
    /// The top-level `X-Mailtrip-Probe` holds the tag.
    pub tag_ok: bool,
    pub message_id_ok: bool,
    pub digest_ok: bool,
    /// Which carriers of the tag arrived intact (a missing one is a warning, not a mismatch).
    pub carriers: crate::report::Carriers,
    pub received_hops: usize,
    pub authentication_results: Vec<String>,
    /// What is wrong, in a few words; `None` when everything matched.
    pub problem: Option<String>,
}

/// Unfolds a raw header value: folded lines joined, runs of whitespace made one space.
fn unfold(raw: &str) -> String {
    raw.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Parses a message with mail-parser, containing any panic.
pub fn parse(raw: &[u8]) -> Option<Parsed> {
    crate::analyze::mail::contained(raw, parse_inner)
}

fn parse_inner(raw: &[u8]) -> Option<Parsed> {
    let msg = mail_parser::MessageParser::default().parse(raw)?;
    let mut parsed = Parsed {
        message_id: msg.message_id().map(str::to_string),
        body: msg.body_text(0).map(|b| message::canonical_body(&b)),
        subject: msg.subject().map(str::to_string),
        ..Parsed::default()
    };
    for (name, value) in msg.headers_raw() {
        if name.eq_ignore_ascii_case(TAG_HEADER) && parsed.tag.is_none() {
            parsed.tag = Some(unfold(value));
        } else if name.eq_ignore_ascii_case("Received") {
            parsed.received += 1;
        } else if name.eq_ignore_ascii_case("Authentication-Results") {
            parsed.authentication_results.push(unfold(value));
        }
    }
    Some(parsed)
}

/// Checks the received `raw` message against `probe`.
pub fn verify(raw: &[u8], probe: &Probe) -> Verification {
    let Some(parsed) = parse(raw) else {
        return Verification {
            tag_ok: false,
            message_id_ok: false,
            digest_ok: false,
            carriers: crate::report::Carriers::default(),
            received_hops: 0,
            authentication_results: Vec::new(),
            problem: Some("the message could not be parsed".into()),
        };
    };
    let want_id = probe.message_id.trim_matches(|c| c == '<' || c == '>');
    let tag_ok = parsed.tag.as_deref() == Some(probe.tag.as_str());
    let message_id_ok = parsed.message_id.as_deref() == Some(want_id);
    let digest_ok = parsed
        .body
        .as_deref()
        .is_some_and(|b| message::digest(b) == probe.digest);
    let carriers = crate::report::Carriers {
        header: tag_ok,
        message_id: message_id_ok,
        subject: parsed.subject.as_deref().is_some_and(|s| {
            s.contains(&format!(
                "mailtrip probe {}",
                message::short_tag(&probe.tag)
            ))
        }),
    };
    // A carrier that vanished is reported as such; one that names another tag, or no carrier
    // left at all, means this is not (only) our probe.
    let problem = if parsed.tag.is_some() && !tag_ok {
        Some(format!(
            "top-level {TAG_HEADER} is {:?}, not {:?}",
            parsed.tag.as_deref().unwrap_or_default(),
            probe.tag
        ))
    } else if !tag_ok && !message_id_ok {
        Some(format!(
            "neither {TAG_HEADER} nor the Message-ID carries the tag (Message-ID is {:?}, not \
             {:?})",
            parsed.message_id.as_deref().unwrap_or("(missing)"),
            want_id
        ))
    } else if !digest_ok {
        Some(match parsed.body.as_deref() {
            None => "the message has no text body".to_string(),
            Some(got) => describe_change(&probe.body, got),
        })
    } else {
        None
    };
    Verification {
        tag_ok,
        message_id_ok,
        digest_ok,
        carriers,
        received_hops: parsed.received,
        authentication_results: parsed.authentication_results,
        problem,
    }
}

impl Verification {
    /// The message names another tag, or has lost every carrier of ours: not a content
    /// change but a question of identity, reported before any other difference.
    pub fn identity_wrong(&self) -> bool {
        !(self.carriers.header || self.carriers.message_id)
            || self
                .problem
                .as_deref()
                .is_some_and(|p| p.starts_with("top-level"))
    }
}

/// Names each thing that changed between `probe` and the received `raw`: subject altered,
/// charset changed, footer added, lines rewrapped, HTML changed, attachment stripped. Empty
/// when nothing did (or the message cannot be parsed; `verify` reports that).
pub fn changes(raw: &[u8], probe: &Probe) -> Vec<String> {
    crate::analyze::mail::contained(raw, |raw| Some(changes_inner(raw, probe))).unwrap_or_default()
}

fn changes_inner(raw: &[u8], probe: &Probe) -> Vec<String> {
    use mail_parser::MimeHeaders;
    let mut out = Vec::new();
    let Some(msg) = mail_parser::MessageParser::default().parse(raw) else {
        return out;
    };
    let subject = msg.subject().unwrap_or_default();
    if subject != probe.subject {
        out.push(format!("subject altered: {:?}", snippet(subject)));
    }
    let text_part = msg.text_part(0).filter(|p| !p.is_text_html());
    if let Some(charset) = text_part
        .and_then(|p| p.content_type())
        .and_then(|c| c.attribute("charset"))
        && !charset.eq_ignore_ascii_case("utf-8")
    {
        out.push(format!("charset changed from utf-8 to {charset}"));
    }
    match text_part.and_then(|p| p.text_contents()) {
        None => out.push("the text part is gone".into()),
        Some(got) => {
            if let Some(c) = compare("text", &probe.body, &message::canonical_body(got)) {
                out.push(c);
            }
        }
    }
    if let Some(html) = &probe.html {
        match msg
            .html_part(0)
            .filter(|p| p.is_text_html())
            .and_then(|p| p.text_contents())
        {
            None => out.push("the HTML part is gone".into()),
            Some(got) => {
                if let Some(c) = compare("HTML", html, &message::canonical_body(got)) {
                    out.push(c);
                }
            }
        }
    }
    if let Some((name, content)) = &probe.attachment {
        let found = msg
            .attachments()
            .find(|a| a.attachment_name() == Some(name.as_str()));
        match found {
            None => out.push(format!("attachment stripped: {name}")),
            // Line endings are the transport's business (CRLF on the wire).
            Some(a)
                if message::canonical_body(&String::from_utf8_lossy(a.contents()))
                    != message::canonical_body(&String::from_utf8_lossy(content)) =>
            {
                out.push(format!("attachment altered: {name}"))
            }
            Some(_) => {}
        }
    }
    out
}

/// One change in a part, or `None` when `got` equals `sent` (both canonical).
fn compare(part: &str, sent: &str, got: &str) -> Option<String> {
    if sent == got {
        return None;
    }
    if let Some(extra) = got.strip_prefix(sent) {
        let lines = extra.trim_start_matches('\n').lines().count().max(1);
        return Some(format!(
            "footer added to the {part} part ({lines} extra trailing line{}): {:?}",
            if lines == 1 { "" } else { "s" },
            snippet(extra.trim())
        ));
    }
    let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    if words(sent) == words(got) {
        return Some(format!("lines rewrapped in the {part} part"));
    }
    if let Some(missing) = sent.strip_prefix(got) {
        return Some(format!(
            "the {part} part was truncated; missing {:?}",
            snippet(missing.trim())
        ));
    }
    Some(format!(
        "the {part} part changed ({})",
        describe_change(sent, got)
    ))
}

/// Says in a few words how `got` differs from `sent` (both canonical bodies).
pub fn describe_change(sent: &str, got: &str) -> String {
    if let Some(extra) = got.strip_prefix(sent) {
        let lines = extra.trim_start_matches('\n').lines().count().max(1);
        let s = if lines == 1 { "" } else { "s" };
        return format!(
            "body has {lines} extra trailing line{s}: {:?}",
            snippet(extra.trim())
        );
    }
    if let Some(missing) = sent.strip_prefix(got) {
        return format!("body was truncated; missing {:?}", snippet(missing.trim()));
    }
    let line = sent
        .lines()
        .zip(got.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| sent.lines().count().min(got.lines().count()))
        + 1;
    format!("body differs from line {line}")
}

fn snippet(s: &str) -> String {
    const MAX: usize = 60;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Finds header `name` (case-insensitive) in a raw header block, unfolding it. Used on the
/// `BODY.PEEK[HEADER.FIELDS (...)]` answer, which holds only top-level headers.
pub fn header_field(block: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(block);
    let mut current: Option<String> = None;
    for line in text.split('\n') {
        let line = line.trim_end_matches('\r');
        if line.starts_with([' ', '\t']) {
            if let Some(value) = current.as_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some(value) = current.take() {
            return Some(unfold(&value));
        }
        if line.is_empty() {
            break;
        }
        if let Some((n, v)) = line.split_once(':')
            && n.trim().eq_ignore_ascii_case(name)
        {
            current = Some(v.trim().to_string());
        }
    }
    current.map(|v| unfold(&v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe() -> Probe {
        message::build("a@x.test", "b@x.test", "0190-tag", "run").expect("build")
    }

    #[test]
    fn the_sent_bytes_verify() {
        let p = probe();
        let v = verify(&p.bytes, &p);
        assert_eq!(v.problem, None);
        assert!(v.tag_ok && v.message_id_ok && v.digest_ok);
    }

    #[test]
    fn an_appended_footer_is_a_mismatch_named_as_such() {
        let p = probe();
        let mut raw = String::from_utf8(p.bytes.clone()).expect("ascii");
        // Re-send the body as 8bit plain text with a footer.
        let (head, _) = raw.split_once("\r\n\r\n").expect("header");
        let head = head
            .lines()
            .filter(|l| !l.starts_with("Content-Transfer-Encoding"))
            .collect::<Vec<_>>()
            .join("\r\n");
        raw = format!(
            "{head}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{}\r\n--\r\nSent by a list\r\n",
            p.body
        );
        let v = verify(raw.as_bytes(), &p);
        assert!(v.tag_ok && !v.digest_ok);
        let problem = v.problem.expect("problem");
        assert!(problem.contains("2 extra trailing lines"), "{problem}");
    }

    #[test]
    fn a_stripped_tag_header_is_a_missing_carrier_not_a_mismatch() {
        let p = probe();
        let raw = String::from_utf8(p.bytes.clone()).expect("utf-8");
        let raw: String = raw
            .split_inclusive("\r\n")
            .filter(|l| !l.starts_with("X-Mailtrip-Probe:"))
            .collect();
        let v = verify(raw.as_bytes(), &p);
        assert_eq!(v.problem, None);
        assert!(!v.carriers.header && v.carriers.message_id && v.carriers.subject);
        assert!(!v.identity_wrong());
        let forged = raw.replace("Message-ID:", "X-Mailtrip-Probe: other\r\nMessage-ID:");
        assert!(verify(forged.as_bytes(), &p).identity_wrong());
    }

    #[test]
    fn a_bounce_quoting_the_tag_is_not_a_match() {
        let p = probe();
        let bounce = format!(
            "From: MAILER-DAEMON@x.test\r\nSubject: Undelivered\r\nMessage-ID: <b@x>\r\n\
             Content-Type: message/rfc822\r\n\r\n{}",
            String::from_utf8_lossy(&p.bytes)
        );
        let v = verify(bounce.as_bytes(), &p);
        assert!(!v.tag_ok);
        assert!(!v.message_id_ok);
    }

    #[test]
    fn a_tagged_subject_and_another_charset_are_named() {
        let p = message::build_with(
            "a@x.test",
            "b@x.test",
            "0190-tag",
            "r",
            message::Payload::Plain,
            None,
            &[],
        )
        .expect("build");
        let raw = String::from_utf8(p.bytes.clone()).expect("utf-8");
        let raw = raw
            .replace(
                &format!("Subject: {}", p.subject),
                &format!("Subject: [EXTERNAL] {}", p.subject),
            )
            .replace("charset=utf-8", "charset=iso-8859-1");
        let c = changes(raw.as_bytes(), &p);
        assert!(
            c.iter()
                .any(|c| c.starts_with("subject altered: \"[EXTERNAL]")),
            "{c:?}"
        );
        assert!(
            c.iter()
                .any(|c| c == "charset changed from utf-8 to iso-8859-1"),
            "{c:?}"
        );
        assert!(changes(&p.bytes, &p).is_empty());
    }

    #[test]
    fn hostile_input_does_not_panic() {
        for raw in [
            &b""[..],
            b"\xff\xfe\x00",
            b"Subject: =?utf-8?b?////?=\r\n\r\n",
            b":\r\n:",
        ] {
            let _ = parse(raw);
        }
    }

    #[test]
    fn header_field_unfolds_and_ignores_case() {
        let block = b"Message-ID: <a@b>\r\nx-mailtrip-probe:\r\n  tag-1\r\n\r\n";
        assert_eq!(
            header_field(block, "X-Mailtrip-Probe").as_deref(),
            Some("tag-1")
        );
        assert_eq!(header_field(block, "message-id").as_deref(), Some("<a@b>"));
        assert_eq!(header_field(block, "Subject"), None);
    }
}
