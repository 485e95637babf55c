//! Finds mailtrip's own probes left in a mailbox by earlier runs. A message counts only when it
//! is provably a probe: a UUID tag (in `X-Mailtrip-Probe`, or the Message-ID when a gateway
//! stripped the header), the subject carrying that tag, exactly one From with exactly one
//! mailbox that is the configured sender, and a body that matches its digest (or, without
//! the digest header, the probe body for that tag). A `check` reports the ones that arrived
//! after their run gave up (late); `sweep` lists and deletes them.

use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use serde::Serialize;

use super::imap::{Session, uid_fetch, within};
use super::message::{self, DIGEST_HEADER, Payload, SENT_HEADER, TAG_HEADER, TIMEOUT_HEADER};
use super::verify::{self, header_field};
use super::watch::tags::message_id_tag;

/// Every probe's subject starts with this.
pub const SUBJECT_PREFIX: &str = "mailtrip probe ";

/// One probe of an earlier run, found in a folder.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Leftover {
    /// The folder it is in.
    pub folder: String,
    /// Its UID in that folder.
    pub uid: u32,
    /// Its tag (from `X-Mailtrip-Probe`, or its Message-ID when the header was stripped).
    pub tag: String,
    /// The `X-Mailtrip-Probe` header was gone: it was recognised by its Message-ID.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub header_stripped: bool,
    /// Its `Subject:`.
    pub subject: String,
    /// Its `From:`.
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
/// `from`, each probe once (Gmail shows INBOX mail in All Mail too). The folder the session
/// has selected (`selected` at first, then each one EXAMINEd here) is searched where it is;
/// any other is EXAMINEd only when STATUS says it holds messages.
pub async fn find(
    session: &mut Session,
    folders: &[String],
    from: &str,
    step: Duration,
    selected: Option<&str>,
) -> Vec<Leftover> {
    let mut out: Vec<Leftover> = Vec::new();
    let mut selected = selected.map(str::to_string);
    for folder in folders {
        let found = if selected.as_deref() == Some(folder.as_str()) {
            search_selected(session, folder, from, step).await
        } else {
            match messages(session, folder, step).await {
                Ok(0) => continue,
                _ => {
                    // EXAMINE leaves `folder` selected, or (when it failed) nothing known.
                    let found = find_in(session, folder, from, step).await;
                    selected = found.is_ok().then(|| folder.clone());
                    found
                }
            }
        };
        match found {
            Ok(found) => merge(&mut out, found),
            Err(e) => tracing::debug!(%folder, error = %e, "looking for leftover probes failed"),
        }
    }
    out
}

/// Adds `found` to `out`, each probe once.
pub fn merge(out: &mut Vec<Leftover>, found: Vec<Leftover>) {
    for l in found {
        if !out.iter().any(|o| o.tag == l.tag) {
            out.push(l);
        }
    }
}

/// How many messages `folder` holds (STATUS, so the selected folder stays selected).
async fn messages(
    session: &mut Session,
    folder: &str,
    step: Duration,
) -> async_imap::error::Result<u32> {
    let mbox = within(step, session.status(folder, "(MESSAGES)")).await?;
    super::imap::alive(session)?;
    Ok(mbox.exists)
}

/// The leftovers in one folder (EXAMINEd, so nothing changes): server-side SEARCH for the tag
/// header or the subject prefix, then every criterion checked locally, on the fetched headers
/// and then on the bodies of the messages that pass.
pub async fn find_in(
    session: &mut Session,
    folder: &str,
    from: &str,
    step: Duration,
) -> async_imap::error::Result<Vec<Leftover>> {
    within(step, session.examine(folder)).await?;
    super::imap::alive(session)?;
    search_selected(session, folder, from, step).await
}

/// [`find_in`] on the folder the session has selected: SEARCH and FETCH (`BODY.PEEK`) only,
/// which change nothing.
async fn search_selected(
    session: &mut Session,
    folder: &str,
    from: &str,
    step: Duration,
) -> async_imap::error::Result<Vec<Leftover>> {
    let uids = within(
        step,
        session.uid_search(format!(
            "OR HEADER {TAG_HEADER} \"\" SUBJECT \"{}\"",
            SUBJECT_PREFIX.trim()
        )),
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
        let items = "(UID INTERNALDATE BODY.PEEK[HEADER.FIELDS (X-MAILTRIP-PROBE \
                     X-MAILTRIP-SENT X-MAILTRIP-TIMEOUT X-MAILTRIP-DIGEST FROM SUBJECT MESSAGE-ID)])";
        let fetches = uid_fetch(session, &set, items, step).await?;
        let mut candidates: Vec<(Leftover, Option<String>)> = Vec::new();
        for f in &fetches {
            let (Some(uid), Some(header)) = (f.uid, f.header()) else {
                continue;
            };
            if let Some(l) = judge(folder, uid, header, f.internal_date(), from) {
                let digest = header_field(header, DIGEST_HEADER);
                candidates.push((l, digest));
            }
        }
        out.extend(check_bodies(session, candidates, step).await?);
    }
    Ok(out)
}

/// The body criterion, for the candidates that passed the header criteria: the whole message
/// is fetched and its text must match the digest header (or, without one, the probe body for
/// its tag). A footer, a rewrap or a forged body disqualify it.
async fn check_bodies(
    session: &mut Session,
    candidates: Vec<(Leftover, Option<String>)>,
    step: Duration,
) -> async_imap::error::Result<Vec<Leftover>> {
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let set = candidates
        .iter()
        .map(|(l, _)| l.uid.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let fetches = uid_fetch(session, &set, "(UID BODY.PEEK[])", step).await?;
    let mut out = Vec::new();
    for (l, digest) in candidates {
        let raw = fetches
            .iter()
            .filter(|f| f.uid == Some(l.uid))
            .find_map(|f| f.body());
        if raw.is_some_and(|raw| body_matches(raw, &l.tag, digest.as_deref())) {
            out.push(l);
        }
    }
    Ok(out)
}

/// Whether the text body of `raw` is the probe's: its digest equals `digest` (`sha256=<hex>`),
/// or with no digest header, it is the plain or rich probe body for `tag`.
fn body_matches(raw: &[u8], tag: &str, digest: Option<&str>) -> bool {
    let Some(body) = verify::parse(raw).and_then(|p| p.body) else {
        return false;
    };
    match digest {
        Some(d) => d
            .trim()
            .strip_prefix("sha256=")
            .is_some_and(|hex| hex.eq_ignore_ascii_case(&message::digest(&body))),
        None => [Payload::Plain, Payload::Rich]
            .into_iter()
            .any(|p| message::body_for(p, tag) == body),
    }
}

/// The tag a header block carries, and whether it came from the Message-ID because the tag
/// header is gone. It must be a UUID, as every tag mailtrip makes is.
fn tag_of(header: &[u8]) -> Option<(String, bool)> {
    let uuid = |v: &str| {
        uuid::Uuid::try_parse(v.trim())
            .ok()
            .map(|u| u.hyphenated().to_string())
    };
    match header_field(header, TAG_HEADER) {
        // A tag header that is there must be a tag: never fall back past a bad one.
        Some(v) => uuid(&v)
            .filter(|u| u.eq_ignore_ascii_case(v.trim()))
            .map(|t| (t, false)),
        None => {
            let id = header_field(header, "Message-ID")?;
            let local = message_id_tag(&id)?;
            uuid(local)
                .filter(|u| u.eq_ignore_ascii_case(local))
                .map(|t| (t, true))
        }
    }
}

/// Applies the header criteria to one header block: a UUID tag, the subject carrying it, and
/// exactly one From header with exactly one mailbox, the sender's.
fn judge(
    folder: &str,
    uid: u32,
    header: &[u8],
    arrived: Option<DateTime<FixedOffset>>,
    from: &str,
) -> Option<Leftover> {
    let (tag, header_stripped) = tag_of(header)?;
    let (subject, sender) = subject_and_from(header)?;
    let carried = format!("{SUBJECT_PREFIX}{}", message::short_tag(&tag));
    if !subject.contains(&carried) || !sender.eq_ignore_ascii_case(from) {
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
        header_stripped,
        subject,
        from: sender,
        sent: sent.map(|d| d.to_rfc3339()),
        arrived: arrived.map(|d| d.to_rfc3339()),
        took_s: took.map(|t| t.num_seconds()),
        timeout_s,
        late,
    })
}

/// The decoded subject (RFC 2047) and the From address, via mail-parser, contained. `None`
/// unless there is exactly one From header holding exactly one mailbox (two From headers, a
/// list or a group could put the sender's address next to someone else's).
fn subject_and_from(header: &[u8]) -> Option<(String, String)> {
    let froms = String::from_utf8_lossy(header)
        .split('\n')
        .filter(|l| {
            l.split_once(':')
                .is_some_and(|(name, _)| name.trim_end().eq_ignore_ascii_case("From"))
        })
        .count();
    if froms != 1 {
        return None;
    }
    let mut block = header.to_vec();
    block.extend_from_slice(b"\r\n");
    std::panic::catch_unwind(move || {
        let msg = mail_parser::MessageParser::default().parse_headers(&block)?;
        let subject = msg.subject()?.to_string();
        let mailbox = match msg.from()? {
            mail_parser::Address::List(list) if list.len() == 1 => list.first()?,
            _ => return None,
        };
        let from = mailbox.address()?.to_string();
        Some((subject, from))
    })
    .ok()
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAG: &str = "0190abcd-0000-7000-8000-000000000001";

    fn header(from: &str, subject: &str) -> Vec<u8> {
        format!(
            "X-Mailtrip-Probe: {TAG}\r\nX-Mailtrip-Sent: 2025-03-14T15:00:00.000Z\r\n\
             X-Mailtrip-Timeout: 60\r\nFrom: {from}\r\nSubject: {subject}\r\n\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn lookalikes_fail_the_header_criteria() {
        let ok = header("alice@x.test", "mailtrip probe 0190abcd");
        assert!(judge("INBOX", 1, &ok, None, "alice@x.test").is_some());
        for from in [
            "mallory@evil.test\r\nFrom: alice@x.test",
            "alice@x.test, mallory@evil.test",
            "friends: alice@x.test;",
        ] {
            let h = header(from, "mailtrip probe 0190abcd");
            assert!(
                judge("INBOX", 1, &h, None, "alice@x.test").is_none(),
                "{from}"
            );
        }
        let not_uuid = String::from_utf8(ok.clone())
            .expect("utf-8")
            .replace(TAG, "hello-not-a-uuid");
        assert!(judge("INBOX", 1, not_uuid.as_bytes(), None, "alice@x.test").is_none());
        let other_short = header("alice@x.test", "mailtrip probe 0190ffff");
        assert!(judge("INBOX", 1, &other_short, None, "alice@x.test").is_none());
        // A stripped tag header: the Message-ID carries the tag.
        let stripped = format!(
            "From: alice@x.test\r\nSubject: [EXT] mailtrip probe 0190abcd\r\n\
             Message-ID: <{TAG}@x.test>\r\n\r\n"
        );
        let l = judge("INBOX", 1, stripped.as_bytes(), None, "alice@x.test").expect("stripped");
        assert!(l.header_stripped && l.tag == TAG);
    }

    #[test]
    fn bodies_must_match_their_digest_or_the_probe_body() {
        let p = message::build("alice@x.test", "bob@x.test", TAG, "r").expect("build");
        let digest = format!("sha256={}", p.digest);
        assert!(body_matches(&p.bytes, TAG, Some(&digest)));
        assert!(body_matches(&p.bytes, TAG, None));
        assert!(!body_matches(&p.bytes, TAG, Some("sha256=00")));
        assert!(!body_matches(b"Subject: x\r\n\r\nforged\r\n", TAG, None));
    }

    /// Regression: a search on a connection that has Archive selected EXAMINEs INBOX first
    /// (it holds mail), so Archive is no longer selected and must be EXAMINEd in turn; it was
    /// searched "in place", in INBOX's view, and its late probe went unreported.
    #[tokio::test]
    async fn issue21_a_folder_is_searched_where_it_is_only_while_it_is_selected() {
        use crate::config::Account;
        use crate::server::{ServerConfig, TestServer};
        let (me, pw) = ("bob@x.test", "pw");
        let server = TestServer::start(ServerConfig::default().with_user(me, pw))
            .await
            .expect("server");
        server
            .deliver_raw(
                me,
                "INBOX",
                b"From: carol@x.test\r\nSubject: hi\r\n\r\nhello\r\n",
            )
            .expect("seed INBOX");
        let earlier = message::build("alice@x.test", me, TAG, "r").expect("build");
        server
            .deliver_raw(me, "Archive", &earlier.bytes)
            .expect("seed Archive");
        let step = Duration::from_secs(5);
        let account = Account::embedded(&server, me, pw);
        let (mut session, _, _) = crate::probe::watch::open_folder(&account, "Archive", step)
            .await
            .expect("open Archive");
        let folders = ["INBOX".to_string(), "Archive".to_string()];
        let found = find(
            &mut session,
            &folders,
            "alice@x.test",
            step,
            Some("Archive"),
        )
        .await;
        let places: Vec<&str> = found.iter().map(|l| l.folder.as_str()).collect();
        assert_eq!(places, ["Archive"], "{found:#?}");
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
