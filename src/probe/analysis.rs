//! Glue between a fetched copy and the pure analyzers: the hop timeline from its `Received:`
//! headers (submission = its `X-Mailtrip-Sent`, arrival = INTERNALDATE) and the SPF / DKIM /
//! DMARC / ARC summary of its `Authentication-Results`, both contained against panics.

use chrono::{DateTime, FixedOffset};

use super::message::SENT_HEADER;
use super::verify::header_field;
use crate::analyze::auth_results::{self, AuthSummary};
use crate::analyze::hops::{self, Timeline};
use crate::diagnose::{self, Code, Diagnosis, Stage};
use crate::report::Bounce;

/// The `X-Mailtrip-Sent` time written into a probe, if it carries a readable one.
pub fn sent_at(raw: &[u8]) -> Option<DateTime<FixedOffset>> {
    header_field(raw, SENT_HEADER).and_then(|v| DateTime::parse_from_rfc3339(v.trim()).ok())
}

/// The hop timeline of `raw`, or `None` if the analyzer failed on hostile input.
pub fn timeline(raw: &[u8], arrived: Option<DateTime<FixedOffset>>) -> Option<Timeline> {
    let submitted = sent_at(raw);
    std::panic::catch_unwind(|| hops::timeline(raw, submitted, arrived)).ok()
}

/// The authentication summary; every method `none` when there is no header.
pub fn auth(values: &[String]) -> AuthSummary {
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    std::panic::catch_unwind(|| auth_results::summarize(&refs))
        .unwrap_or_else(|_| auth_results::summarize(&[]))
}

/// Reads the `message/delivery-status` part of a DSN: the first recipient's status and
/// diagnostic, the reporting MTA. Text-level, so a malformed DSN yields empty fields.
pub fn bounce(raw: &[u8], mailbox: &str, uid: u32) -> Bounce {
    let text = String::from_utf8_lossy(raw);
    let lower = text.to_ascii_lowercase();
    let start = lower
        .find("message/delivery-status")
        .and_then(|i| {
            lower[i..]
                .find("\r\n\r\n")
                .or(lower[i..].find("\n\n"))
                .map(|j| i + j)
        })
        .unwrap_or(0);
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text[start..].lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with("--") {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = fields.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            fields.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    Bounce {
        mailbox: mailbox.to_string(),
        uid,
        status: field("status"),
        diagnostic: field("diagnostic-code"),
        reporting_mta: field("reporting-mta"),
        recipient: field("final-recipient"),
    }
}

/// The diagnosis of a bounce: the SMTP reply in its `Diagnostic-Code`, classified like a
/// reply mailtrip got itself, or the bare status code when there is none.
pub fn bounce_diagnosis(b: &Bounce) -> Diagnosis {
    let reply = b.diagnostic.as_deref().map(|d| match d.split_once(';') {
        Some((kind, rest)) if kind.trim().eq_ignore_ascii_case("smtp") => rest.trim(),
        _ => d.trim(),
    });
    let code = reply
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse::<u16>().ok())
        .filter(|c| (200..600).contains(c));
    let mut d = match (reply, code) {
        (Some(r), Some(c)) => diagnose::classify_smtp(Stage::RcptTo, c, r),
        _ => Diagnosis::new(
            if b.status.as_deref().is_some_and(|s| s.starts_with("5.1")) {
                Code::RecipientRejected
            } else {
                Code::MessageRejected
            },
            format!(
                "delivery failed with status {}",
                b.status.as_deref().unwrap_or("(none)")
            ),
            "read the bounce in the sender's mailbox; the receiving side refused the probe",
        ),
    };
    if d.server_text.is_none() {
        d.server_text = reply.map(str::to_string);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::auth_results::Outcome;

    #[test]
    fn timeline_uses_the_sent_header_as_submission() {
        let raw = b"Received: from a ([127.0.0.1]) by b with ESMTPSA id Q1; Fri, 14 Mar 2025 15:09:27 +0000\r\n\
X-Mailtrip-Sent: 2025-03-14T15:09:26.535Z\r\nSubject: x\r\n\r\nbody\r\n";
        let arrived = DateTime::parse_from_rfc3339("2025-03-14T15:09:28+00:00").ok();
        let t = timeline(raw, arrived).expect("timeline");
        assert_eq!(t.hops.len(), 1);
        assert_eq!(t.hops[0].delay_ms, Some(1000));
        assert_eq!(t.final_delay_ms, Some(1000));
        assert!(t.warnings.is_empty(), "{:?}", t.warnings);
    }

    #[test]
    fn a_postfix_dsn_reads_status_and_diagnostic() {
        let env = crate::server::deliver::Envelope {
            from: "alice@x.test".into(),
            rcpts: vec!["bob@x.test".into()],
            data: bytes::Bytes::from_static(
                b"Message-ID: <p@x.test>\r\nSubject: s\r\n\r\nbody\r\n",
            ),
            authenticated: None,
            peer: "127.0.0.1:1".parse().expect("addr"),
            helo: "h".into(),
            tls: false,
            id: "Q1".into(),
        };
        let raw = crate::server::deliver::bounce_message(
            "mx.x.test",
            &env,
            "550 5.1.1 <bob@x.test>: Recipient address rejected: User unknown",
        );
        let b = bounce(&raw, "INBOX", 3);
        assert_eq!(b.status.as_deref(), Some("5.1.1"));
        assert_eq!(
            b.diagnostic.as_deref(),
            Some("smtp; 550 5.1.1 <bob@x.test>: Recipient address rejected: User unknown")
        );
        assert_eq!(b.reporting_mta.as_deref(), Some("dns; mx.x.test"));
        assert_eq!(b.recipient.as_deref(), Some("rfc822; bob@x.test"));
        let d = bounce_diagnosis(&b);
        assert_eq!(d.code, Code::RecipientRejected, "{d:?}");
    }

    #[test]
    fn no_header_is_none_everywhere() {
        let a = auth(&[]);
        assert_eq!(
            (a.spf, a.dkim, a.dmarc, a.arc),
            (Outcome::None, Outcome::None, Outcome::None, Outcome::None)
        );
    }
}
