//! Builds the probe: a small UTF-8 text message carrying the tag, run id, send time and a
//! digest of its canonical body, so the copy that arrives can be matched and checked.

use lettre::message::header::{ContentTransferEncoding, ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Body, Mailbox, Message, MultiPart, SinglePart};
use sha2::{Digest, Sha256};

/// Header carrying the probe's tag.
pub const TAG_HEADER: &str = "X-Mailtrip-Probe";
/// Header carrying the run id.
pub const RUN_HEADER: &str = "X-Mailtrip-Run";
/// Header carrying the send time.
pub const SENT_HEADER: &str = "X-Mailtrip-Sent";
/// Header carrying the delivery timeout of the run, in whole seconds (to tell late probes).
pub const TIMEOUT_HEADER: &str = "X-Mailtrip-Timeout";
/// Header carrying `sha256=<hex>` of the canonical body.
pub const DIGEST_HEADER: &str = "X-Mailtrip-Digest";

/// A line longer than 78 characters (RFC 5322's recommended limit), so rewrapping shows.
const LONG_LINE: &str = "This line is deliberately longer than seventy-eight characters so that any gateway which rewraps long lines changes it visibly.";

/// A built probe, ready to send.
#[derive(Debug, Clone)]
pub struct Probe {
    /// UUID v7, hyphenated.
    pub tag: String,
    pub message_id: String,
    pub subject: String,
    /// Canonical body (see [`canonical_body`]).
    pub body: String,
    /// Lowercase hex SHA-256 of the canonical body.
    pub digest: String,
    /// The HTML alternative (rich payload), as sent.
    pub html: Option<String>,
    /// The attachment (rich payload): file name and content.
    pub attachment: Option<(String, Vec<u8>)>,
    /// The bytes to submit.
    pub bytes: Vec<u8>,
    pub envelope: lettre::address::Envelope,
}

/// Why a probe could not be built (bad addresses).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the probe message: {0}")]
pub struct BuildError(String);

impl BuildError {
    /// The run's failure: the addresses are at fault, so nothing was submitted (`hint` says
    /// where to look).
    pub(crate) fn failure(&self, hint: &str) -> super::Failure {
        super::Failure {
            phase: crate::report::Phase::SmtpSubmit,
            diagnosis: crate::diagnose::Diagnosis::new(
                crate::diagnose::Code::SenderRejected,
                self.to_string(),
                hint,
            ),
        }
    }
}

/// The body as compared: CRLF → LF and trailing whitespace/newlines trimmed, so transfer
/// encoding and line endings don't matter but an appended footer does.
pub fn canonical_body(text: &str) -> String {
    text.replace("\r\n", "\n").trim_end().to_string()
}

/// Lowercase hex SHA-256 of `canonical_body(text)`.
pub fn digest(text: &str) -> String {
    let hash = Sha256::digest(canonical_body(text).as_bytes());
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// Why an extra probe header was refused (see [`crate::Check::header`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot add header {name:?} to the probe: {reason}")]
pub struct HeaderError {
    /// The header name given.
    pub name: String,
    /// Why it cannot be added.
    pub reason: &'static str,
}

/// Headers the probe sets itself; an extra header may not replace or repeat them.
const OWN_HEADERS: [&str; 12] = [
    TAG_HEADER,
    RUN_HEADER,
    SENT_HEADER,
    DIGEST_HEADER,
    "From",
    "To",
    "Subject",
    "Message-ID",
    "Date",
    "Content-Type",
    "Content-Transfer-Encoding",
    "MIME-Version",
];

/// Checks an extra header: an RFC 5322 field name (printable ASCII, no colon), a one-line
/// printable ASCII value, and not one of the probe's own headers.
pub fn check_header(name: &str, value: &str) -> Result<(), HeaderError> {
    let fail = |reason| {
        Err(HeaderError {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() || name.len() > 76 {
        return fail("the name must be 1 to 76 characters");
    }
    if !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
        return fail("the name must be printable ASCII without spaces or a colon");
    }
    if OWN_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name)) {
        return fail("the probe sets this header itself");
    }
    if value.contains(['\r', '\n']) {
        return fail("the value must be one line (no CR or LF)");
    }
    if !value
        .bytes()
        .all(|b| b == b' ' || b == b'\t' || b.is_ascii_graphic())
    {
        return fail("the value must be printable ASCII");
    }
    if name.len() + 2 + value.len() > 998 {
        return fail("the header line must fit in 998 characters");
    }
    Ok(())
}

/// What the probe carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Payload {
    /// A small UTF-8 text message.
    #[default]
    Plain,
    /// multipart/alternative text + HTML, an RFC 2047 subject, an attachment and long lines,
    /// so the verdict can name what a gateway changed.
    Rich,
}

/// The canonical text body of a probe tagged `tag`: it is fully determined by the tag, so a
/// probe that lost its digest header can still be recognised by its body.
pub fn body_for(payload: Payload, tag: &str) -> String {
    match payload {
        Payload::Plain => canonical_body(&format!(
            "Grüße, こんにちは — mailtrip round-trip probe {tag}\n\
             \n\
             This message was sent by mailtrip to check that mail is delivered.\n\
             It is deleted automatically once it has been seen.\n"
        )),
        Payload::Rich => canonical_body(&format!(
            "Grüße, こんにちは — mailtrip round-trip probe {tag}\n\
             \n\
             {LONG_LINE}\n\
             \n\
             This message was sent by mailtrip to check that mail arrives unchanged.\n"
        )),
    }
}

/// The short form of a tag that the subject carries: its first 8 hex digits.
pub fn short_tag(tag: &str) -> String {
    tag.chars().filter(|c| *c != '-').take(8).collect()
}

/// Builds the probe from `from` to `to`, tagged `tag`, for run `run_id`.
#[cfg(test)]
pub fn build(from: &str, to: &str, tag: &str, run_id: &str) -> Result<Probe, BuildError> {
    build_with(from, to, tag, run_id, Payload::Plain, None, &[])
}

/// Builds the probe with a payload, the run's delivery timeout (written to
/// `X-Mailtrip-Timeout` so a later run can tell a late probe from a kept one), and `extra`
/// headers, each checked by [`check_header`].
pub fn build_with(
    from: &str,
    to: &str,
    tag: &str,
    run_id: &str,
    payload: Payload,
    timeout: Option<std::time::Duration>,
    extra: &[(String, String)],
) -> Result<Probe, BuildError> {
    let from_mb: Mailbox = from
        .parse()
        .map_err(|e| BuildError(format!("from address {from:?}: {e}")))?;
    let to_mb: Mailbox = to
        .parse()
        .map_err(|e| BuildError(format!("to address {to:?}: {e}")))?;
    let domain = from_mb.email.domain().to_string();
    let message_id = format!("<{tag}@{domain}>");
    let short = short_tag(tag);
    let subject = match payload {
        Payload::Plain => format!("mailtrip probe {short}"),
        // Non-ASCII, so it travels RFC 2047-encoded; the prefix stays for `sweep`.
        Payload::Rich => format!("mailtrip probe {short} — Grüße, こんにちは ✓"),
    };
    let body = body_for(payload, tag);
    let html = (payload == Payload::Rich).then(|| {
        format!(
            "<!DOCTYPE html>\n<html><body>\n<p>Grüße, こんにちは — mailtrip round-trip probe \
             <b>{tag}</b></p>\n<p>{LONG_LINE}</p>\n</body></html>"
        )
    });
    let attachment = (payload == Payload::Rich).then(|| {
        (
            "mailtrip-probe.csv".to_string(),
            format!("tag,payload\n{tag},rich\n").into_bytes(),
        )
    });
    let digest = digest(&body);
    let now = chrono::Utc::now();
    let sent = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let header = |name: &'static str, value: String| {
        HeaderValue::new(HeaderName::new_from_ascii_str(name), value)
    };
    let mut builder = Message::builder();
    for (name, value) in extra {
        check_header(name, value).map_err(|e| BuildError(e.to_string()))?;
        let name = HeaderName::new_from_ascii(name.clone())
            .map_err(|_| BuildError(format!("invalid header name {name:?}")))?;
        builder = builder.raw_header(HeaderValue::new(name, value.clone()));
    }
    let message = builder
        .from(from_mb)
        .to(to_mb)
        .subject(subject.clone())
        .message_id(Some(message_id.clone()))
        .date(now.into())
        .raw_header(header(TAG_HEADER, tag.to_string()))
        .raw_header(header(RUN_HEADER, run_id.to_string()))
        .raw_header(header(SENT_HEADER, sent))
        .raw_header(header(DIGEST_HEADER, format!("sha256={digest}")));
    let message = match timeout {
        Some(t) => message.raw_header(header(TIMEOUT_HEADER, t.as_secs().max(1).to_string())),
        None => message,
    };
    let message = match (&html, &attachment) {
        (Some(html), Some((name, content))) => {
            // 8bit text and HTML with a line over 78 characters (lettre would pick
            // quoted-printable past 76), so a gateway's rewrapping shows in the decoded text.
            // Valid 8bit: UTF-8, CRLF line ends, every line far below 998 octets.
            let eight = |text: &str| -> Result<Body, BuildError> {
                let crlf = format!("{}\r\n", text.replace("\r\n", "\n").replace('\n', "\r\n"));
                Ok(Body::dangerous_pre_encoded(
                    crlf.into_bytes(),
                    ContentTransferEncoding::EightBit,
                ))
            };
            let alternative = MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(eight(&body)?),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(eight(html)?),
                );
            let csv = ContentType::parse("text/csv; charset=utf-8")
                .map_err(|e| BuildError(e.to_string()))?;
            message.multipart(
                MultiPart::mixed()
                    .multipart(alternative)
                    .singlepart(Attachment::new(name.clone()).body(content.clone(), csv)),
            )
        }
        _ => message.header(ContentType::TEXT_PLAIN).body(body.clone()),
    }
    .map_err(|e| BuildError(e.to_string()))?;
    Ok(Probe {
        tag: tag.to_string(),
        message_id,
        subject,
        body,
        digest,
        html,
        attachment,
        bytes: message.formatted(),
        envelope: message.envelope().clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_carries_tag_digest_and_ids() {
        let tag = uuid::Uuid::now_v7().to_string();
        let p = build("alice@mailtrip.test", "bob@mailtrip.test", &tag, "run-1").expect("build");
        let text = String::from_utf8_lossy(&p.bytes);
        assert!(
            text.contains(&format!("X-Mailtrip-Probe: {tag}\r\n")),
            "{text}"
        );
        assert!(text.contains("X-Mailtrip-Run: run-1\r\n"));
        assert!(text.contains(&format!("Message-ID: <{tag}@mailtrip.test>\r\n")));
        assert!(text.contains(&format!("sha256={}", p.digest)));
        assert_eq!(
            p.subject,
            format!("mailtrip probe {}", &tag.replace('-', "")[..8])
        );
        assert!(p.body.contains("こんにちは"));
    }

    #[test]
    fn extra_headers_are_added_and_checked() {
        let extra = [("X-Mailtrip-Test-Spam".to_string(), "yes".to_string())];
        let p = build_with(
            "a@x.test",
            "b@x.test",
            "t-1",
            "r",
            Payload::Plain,
            None,
            &extra,
        )
        .expect("build");
        let text = String::from_utf8_lossy(&p.bytes);
        assert!(text.contains("X-Mailtrip-Test-Spam: yes\r\n"), "{text}");

        assert!(check_header("X-Ok", "v a\tl").is_ok());
        for (name, value) in [
            ("", "v"),
            ("Bad Name", "v"),
            ("Bad:Name", "v"),
            ("Grüße", "v"),
            ("x-mailtrip-probe", "forged"),
            ("subject", "s"),
            ("X-Ok", "two\r\nX-Injected: 1"),
            ("X-Ok", "lf\nonly"),
            ("X-Ok", "ü"),
        ] {
            assert!(check_header(name, value).is_err(), "{name:?}: {value:?}");
        }
        let bad = [("X-Ok".to_string(), "a\r\nb".to_string())];
        assert!(build_with("a@x.test", "b@x.test", "t", "r", Payload::Plain, None, &bad).is_err());
    }

    #[test]
    fn rich_probe_has_html_attachment_and_encoded_subject() {
        let p = build_with(
            "a@x.test",
            "b@x.test",
            "0190-tag",
            "r",
            Payload::Rich,
            None,
            &[],
        )
        .expect("build");
        let text = String::from_utf8_lossy(&p.bytes);
        assert!(text.contains("multipart/alternative"), "{text}");
        assert!(text.contains("multipart/mixed"));
        assert!(text.contains("mailtrip-probe.csv"));
        assert!(text.contains("=?utf-8?b?"), "RFC 2047 subject: {text}");
        assert!(p.body.lines().any(|l| l.len() > 78));
        assert!(p.subject.starts_with("mailtrip probe "));
    }

    #[test]
    fn canonical_body_ignores_line_endings_but_not_footers() {
        assert_eq!(digest("a\r\nb\r\n\r\n"), digest("a\nb"));
        assert_ne!(digest("a\nb"), digest("a\nb\n--\nfooter"));
    }
}
