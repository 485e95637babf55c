//! Finds mailtrip's own probes left in a mailbox by earlier runs: the tag header AND the
//! subject prefix AND the configured sender must all match. A `check` reports the ones that
//! arrived after their run gave up (late); `sweep` lists and deletes them.

use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use futures::TryStreamExt;
use serde::Serialize;

use super::imap::{Session, within};
use super::message::{SENT_HEADER, TAG_HEADER, TIMEOUT_HEADER};
use super::verify::header_field;

/// Every probe's subject starts with this.
pub const SUBJECT_PREFIX: &str = "mailtrip probe ";

/// One probe of an earlier run, found in a folder.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Leftover {
    pub folder: String,
    pub uid: u32,
    /// Its `X-Mailtrip-Probe` tag.
    pub tag: String,
    pub subject: String,
    pub from: String,
    /// `X-Mailtrip-Sent`, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent: Option<String>,
    /// IMAP INTERNALDATE, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arrived: Option<String>,
    /// Arrival minus sending, in whole seconds, when both are known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub took_s: Option<i64>,
    /// The delivery timeout its run used (`X-Mailtrip-Timeout`), in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<u64>,
    /// It arrived after its run's timeout: that run reported it as not delivered.
    pub late: bool,
}

impl Leftover {
    /// The warning a later `check` gives about it.
    pub fn late_warning(&self) -> String {
        format!(
            "late: probe {} of an earlier run (sent {}) arrived in {} {} s after sending, past \
             that run's {} s timeout, so that run reported it not delivered; `mailtrip sweep` \
             removes leftover probes",
            self.tag,
            self.sent.as_deref().unwrap_or("?"),
            self.folder,
            self.took_s.map_or("?".to_string(), |s| s.to_string()),
            self.timeout_s.map_or("?".to_string(), |s| s.to_string()),
        )
    }

    /// How long ago it was sent (or arrived), if known.
    pub fn age(&self, now: DateTime<FixedOffset>) -> Option<chrono::TimeDelta> {
        let at = self.sent.as_deref().or(self.arrived.as_deref())?;
        DateTime::parse_from_rfc3339(at).ok().map(|t| now - t)
    }
}

/// Looks in each of `folders` (skipping any that fail) and returns the leftovers sent by
/// `from`, each probe once (Gmail shows INBOX mail in All Mail too).
pub async fn find(
    session: &mut Session,
    folders: &[String],
    from: &str,
    step: Duration,
) -> Vec<Leftover> {
    let mut out: Vec<Leftover> = Vec::new();
    for folder in folders {
        match find_in(session, folder, from, step).await {
            Ok(found) => {
                for l in found {
                    if !out.iter().any(|o| o.tag == l.tag) {
                        out.push(l);
                    }
                }
            }
            Err(e) => tracing::debug!(%folder, error = %e, "looking for leftover probes failed"),
        }
    }
    out
}

/// The leftovers in one folder (EXAMINEd, so nothing changes): server-side SEARCH for the
/// tag header, then every criterion checked locally on the fetched headers.
pub async fn find_in(
    session: &mut Session,
    folder: &str,
    from: &str,
    step: Duration,
) -> async_imap::error::Result<Vec<Leftover>> {
    within(step, session.examine(folder)).await?;
    let uids = within(
        step,
        session.uid_search(format!("HEADER {TAG_HEADER} \"\"")),
    )
    .await?;
    if uids.is_empty() {
        return Ok(Vec::new());
    }
    let mut uids: Vec<u32> = uids.into_iter().collect();
    uids.sort_unstable();
    let mut out = Vec::new();
    for chunk in uids.chunks(500) {
        let set = chunk
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let fetches: Vec<_> = within(step, async {
            session
                .uid_fetch(
                    set,
                    "(UID INTERNALDATE BODY.PEEK[HEADER.FIELDS (X-MAILTRIP-PROBE X-MAILTRIP-SENT \
                     X-MAILTRIP-TIMEOUT FROM SUBJECT)])",
                )
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
        for f in &fetches {
            let (Some(uid), Some(header)) = (f.uid, f.header()) else {
                continue;
            };
            if let Some(l) = judge(folder, uid, header, f.internal_date(), from) {
                out.push(l);
            }
        }
    }
    Ok(out)
}

/// Applies the three criteria to one header block.
fn judge(
    folder: &str,
    uid: u32,
    header: &[u8],
    arrived: Option<DateTime<FixedOffset>>,
    from: &str,
) -> Option<Leftover> {
    let tag = header_field(header, TAG_HEADER).filter(|t| !t.is_empty())?;
    let (subject, sender) = subject_and_from(header)?;
    if !subject.starts_with(SUBJECT_PREFIX) || !sender.eq_ignore_ascii_case(from) {
        return None;
    }
    let sent =
        header_field(header, SENT_HEADER).and_then(|v| DateTime::parse_from_rfc3339(v.trim()).ok());
    let timeout_s = header_field(header, TIMEOUT_HEADER).and_then(|v| v.trim().parse::<u64>().ok());
    let took = match (sent, arrived) {
        (Some(s), Some(a)) => Some(a - s),
        _ => None,
    };
    let late = match (took, timeout_s) {
        // INTERNALDATE is truncated to the second, so this never overstates the delay.
        (Some(t), Some(limit)) => t.num_milliseconds() > (limit as i64).saturating_mul(1000),
        _ => false,
    };
    Some(Leftover {
        folder: folder.to_string(),
        uid,
        tag,
        subject,
        from: sender,
        sent: sent.map(|d| d.to_rfc3339()),
        arrived: arrived.map(|d| d.to_rfc3339()),
        took_s: took.map(|t| t.num_seconds()),
        timeout_s,
        late,
    })
}

/// The decoded subject (RFC 2047) and the From address, via mail-parser, contained.
fn subject_and_from(header: &[u8]) -> Option<(String, String)> {
    let mut block = header.to_vec();
    block.extend_from_slice(b"\r\n");
    std::panic::catch_unwind(move || {
        let msg = mail_parser::MessageParser::default().parse_headers(&block)?;
        let subject = msg.subject()?.to_string();
        let from = msg.from()?.first()?.address()?.to_string();
        Some((subject, from))
    })
    .ok()
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(from: &str, subject: &str) -> Vec<u8> {
        format!(
            "X-Mailtrip-Probe: t-1\r\nX-Mailtrip-Sent: 2025-03-14T15:00:00.000Z\r\n\
             X-Mailtrip-Timeout: 60\r\nFrom: {from}\r\nSubject: {subject}\r\n\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn all_three_criteria_must_match() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).ok();
        let h = header("Alice <alice@x.test>", "mailtrip probe 0190abcd");
        let l = judge("INBOX", 4, &h, at("2025-03-14T15:02:00Z"), "ALICE@x.test").expect("match");
        assert!(l.late);
        assert_eq!(l.took_s, Some(120));
        let on_time = judge("INBOX", 4, &h, at("2025-03-14T15:00:59Z"), "alice@x.test");
        assert!(!on_time.expect("match").late);
        let other = header("mallory@x.test", "mailtrip probe 0190abcd");
        assert!(judge("INBOX", 4, &other, None, "alice@x.test").is_none());
        let lookalike = header("alice@x.test", "Re: mailtrip probes are great");
        assert!(judge("INBOX", 4, &lookalike, None, "alice@x.test").is_none());
        let encoded = header(
            "alice@x.test",
            "=?utf-8?b?bWFpbHRyaXAgcHJvYmUgMDE5MGFiY2Qg4oCUIEdyw7zDn2U=?=",
        );
        assert!(judge("INBOX", 4, &encoded, None, "alice@x.test").is_some());
    }
}
