//! SEARCH criteria evaluated against one message: flags, sizes, INTERNALDATE and Date: days,
//! header substrings (case-insensitive, on unfolded values), and NOT / OR / AND.

use chrono::NaiveDate;
use imap_codec::imap_types::search::SearchKey;

use super::message;
use super::sequence;
use crate::server::StoredMessage;

/// A message as SEARCH sees it: its sequence number and the mailbox's extent.
pub struct Candidate<'a> {
    pub seq: u32,
    pub msg: &'a StoredMessage,
    pub max_seq: u32,
    pub max_uid: u32,
}

fn contains_ci(haystack: &str, needle: &[u8]) -> bool {
    let needle = String::from_utf8_lossy(needle).to_lowercase();
    haystack.to_lowercase().contains(&needle)
}

fn header_matches(msg: &StoredMessage, name: &str, needle: &[u8]) -> bool {
    message::values(&msg.raw, name)
        .iter()
        .any(|v| contains_ci(v, needle))
}

fn bytes_contain_ci(haystack: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return true;
    }
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// The day of the `Date:` header, for SENTBEFORE / SENTON / SENTSINCE.
fn sent_date(msg: &StoredMessage) -> Option<NaiveDate> {
    let v = message::values(&msg.raw, "Date").into_iter().next()?;
    chrono::DateTime::parse_from_rfc2822(&v)
        .ok()
        .map(|d| d.date_naive())
}

/// Whether the message satisfies `key`.
pub fn matches(key: &SearchKey<'_>, c: &Candidate<'_>) -> bool {
    let m = c.msg;
    let day = m.internal_date.date_naive();
    match key {
        SearchKey::And(keys) => keys.as_ref().iter().all(|k| matches(k, c)),
        SearchKey::Or(a, b) => matches(a, c) || matches(b, c),
        SearchKey::Not(k) => !matches(k, c),
        SearchKey::All => true,
        SearchKey::SequenceSet(set) => sequence::contains(set, c.max_seq, c.seq),
        SearchKey::Uid(set) => sequence::contains(set, c.max_uid, m.uid),
        SearchKey::Answered => m.has_flag("\\Answered"),
        SearchKey::Unanswered => !m.has_flag("\\Answered"),
        SearchKey::Deleted => m.has_flag("\\Deleted"),
        SearchKey::Undeleted => !m.has_flag("\\Deleted"),
        SearchKey::Draft => m.has_flag("\\Draft"),
        SearchKey::Undraft => !m.has_flag("\\Draft"),
        SearchKey::Flagged => m.has_flag("\\Flagged"),
        SearchKey::Unflagged => !m.has_flag("\\Flagged"),
        SearchKey::Seen => m.has_flag("\\Seen"),
        SearchKey::Unseen => !m.has_flag("\\Seen"),
        SearchKey::Keyword(k) => m.has_flag(k.as_ref()),
        SearchKey::Unkeyword(k) => !m.has_flag(k.as_ref()),
        // No message is ever \Recent here (RFC 9051 dropped it; we always report 0).
        SearchKey::Recent | SearchKey::New => false,
        SearchKey::Old => true,
        SearchKey::Larger(n) => m.size() > *n as usize,
        SearchKey::Smaller(n) => m.size() < *n as usize,
        SearchKey::Before(d) => day < *d.as_ref(),
        SearchKey::On(d) => day == *d.as_ref(),
        SearchKey::Since(d) => day >= *d.as_ref(),
        SearchKey::SentBefore(d) => sent_date(m).is_some_and(|s| s < *d.as_ref()),
        SearchKey::SentOn(d) => sent_date(m).is_some_and(|s| s == *d.as_ref()),
        SearchKey::SentSince(d) => sent_date(m).is_some_and(|s| s >= *d.as_ref()),
        SearchKey::Header(name, value) => {
            let name = String::from_utf8_lossy(name.as_ref());
            header_matches(m, &name, value.as_ref())
        }
        SearchKey::Subject(v) => header_matches(m, "Subject", v.as_ref()),
        SearchKey::From(v) => header_matches(m, "From", v.as_ref()),
        SearchKey::To(v) => header_matches(m, "To", v.as_ref()),
        SearchKey::Cc(v) => header_matches(m, "Cc", v.as_ref()),
        SearchKey::Bcc(v) => header_matches(m, "Bcc", v.as_ref()),
        SearchKey::Body(v) => bytes_contain_ci(message::text(&m.raw), v.as_ref()),
        SearchKey::Text(v) => bytes_contain_ci(&m.raw, v.as_ref()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use imap_codec::CommandCodec;
    use imap_codec::decode::Decoder;
    use imap_codec::imap_types::command::CommandBody;

    fn msg(uid: u32, raw: &'static [u8], flags: &[&str]) -> StoredMessage {
        StoredMessage {
            uid,
            flags: flags.iter().map(|f| f.to_string()).collect(),
            internal_date: chrono::DateTime::parse_from_rfc3339("2024-03-10T12:00:00+00:00")
                .expect("date"),
            raw: Bytes::from_static(raw),
        }
    }

    /// Runs `criteria` (as written after `SEARCH`) over the messages; returns matching UIDs.
    fn search(criteria: &str, msgs: &[StoredMessage]) -> Vec<u32> {
        let line = format!("a UID SEARCH {criteria}\r\n");
        let (_, cmd) = CommandCodec::default()
            .decode(line.as_bytes())
            .expect("parses");
        let CommandBody::Search { criteria, .. } = cmd.body else {
            panic!("not a search")
        };
        let key = SearchKey::And(criteria);
        msgs.iter()
            .enumerate()
            .filter(|(i, m)| {
                matches(
                    &key,
                    &Candidate {
                        seq: *i as u32 + 1,
                        msg: m,
                        max_seq: msgs.len() as u32,
                        max_uid: 3,
                    },
                )
            })
            .map(|(_, m)| m.uid)
            .collect()
    }

    #[test]
    fn header_or_not_and_dates() {
        let msgs = [
            msg(
                1,
                b"X-Mailtrip-Probe: tag-1\r\nSubject: One\r\n\r\nx",
                &["\\Seen"],
            ),
            msg(
                2,
                b"X-Mailtrip-Probe:\r\n  TAG-2\r\nSubject: Two\r\n\r\nbody",
                &[],
            ),
            msg(3, b"Subject: three\r\n\r\n", &["\\Deleted"]),
        ];
        assert_eq!(search("HEADER X-Mailtrip-Probe tag-2", &msgs), vec![2]);
        assert_eq!(search("HEADER x-mailtrip-probe \"\"", &msgs), vec![1, 2]);
        assert_eq!(search("OR SUBJECT one SUBJECT THREE", &msgs), vec![1, 3]);
        assert_eq!(search("NOT DELETED UNSEEN", &msgs), vec![2]);
        assert_eq!(search("SINCE 10-Mar-2024", &msgs), vec![1, 2, 3]);
        assert_eq!(search("BEFORE 10-Mar-2024", &msgs), Vec::<u32>::new());
        assert_eq!(search("ON 10-Mar-2024 UID 2:*", &msgs), vec![2, 3]);
        assert_eq!(search("2:3 LARGER 20", &msgs), vec![2]);
        assert_eq!(search("BODY BODY", &msgs), vec![2]);
    }
}
