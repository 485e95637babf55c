//! SEARCH criteria evaluated against one message: flags (and the session's `\\Recent`), sizes,
//! INTERNALDATE and Date: days, header substrings on RFC 2047-decoded values, address
//! headers in their `name <mailbox@host>` form (comments and groups read as Dovecot does),
//! BODY / TEXT on content-transfer-decoded text converted to UTF-8, and NOT / OR / AND.
//! Matching is case-insensitive over Unicode.

use std::cell::OnceCell;

use imap_codec::imap_types::search::SearchKey;

use super::envelope::addresses;
use super::mime::{self, Node};
use super::{decode, message, sequence};
use crate::server::StoredMessage;

/// A message as SEARCH sees it: its sequence number, the mailbox's extent, and text
/// decoded on first use.
pub struct Candidate<'a> {
    pub seq: u32,
    pub msg: &'a StoredMessage,
    pub max_seq: u32,
    pub max_uid: u32,
    /// `\\Recent` in the searching session.
    pub recent: bool,
    /// The charset the client's strings are in (SEARCH CHARSET).
    pub charset: &'a str,
    tree: OnceCell<Node>,
    body: OnceCell<String>,
    header: OnceCell<String>,
}

impl<'a> Candidate<'a> {
    pub fn new(
        seq: u32,
        msg: &'a StoredMessage,
        max_seq: u32,
        max_uid: u32,
        recent: bool,
        charset: &'a str,
    ) -> Self {
        Candidate {
            seq,
            msg,
            max_seq,
            max_uid,
            recent,
            charset,
            tree: OnceCell::new(),
            body: OnceCell::new(),
            header: OnceCell::new(),
        }
    }

    fn tree(&self) -> &Node {
        self.tree.get_or_init(|| mime::parse(&self.msg.raw))
    }

    fn body_text(&self) -> &str {
        self.body
            .get_or_init(|| fold(&decode::body_text(&self.msg.raw, self.tree())))
    }

    fn header_text(&self) -> &str {
        self.header.get_or_init(|| {
            let head = String::from_utf8_lossy(message::header(&self.msg.raw));
            fold(&decode::header_value(&head))
        })
    }

    fn needle(&self, bytes: &[u8]) -> String {
        fold(&decode::to_utf8(self.charset, bytes))
    }
}

/// Case folding for substring matches (i;unicode-casemap, simplified to lower case).
pub fn fold(s: &str) -> String {
    s.to_lowercase()
}

/// Whether a (decoded) header field called `name` contains the needle.
pub fn header_contains(c: &Candidate<'_>, name: &str, needle: &[u8]) -> bool {
    let needle = c.needle(needle);
    message::values(&c.msg.raw, name)
        .iter()
        .any(|v| fold(&decode::header_value(v)).contains(&needle))
}

/// FROM / TO / CC / BCC: each address as `name <mailbox@host>`, and group names.
pub fn address_contains(c: &Candidate<'_>, name: &str, needle: &[u8]) -> bool {
    let needle = c.needle(needle);
    let head = message::header(&c.msg.raw);
    if needle.is_empty() {
        return !message::values(head, name).is_empty();
    }
    addresses(head, name).iter().any(|a| {
        let text = if a.is_group_marker() {
            a.mailbox.clone().unwrap_or_default()
        } else {
            let mut a = a.clone();
            a.name = a.name.map(|n| decode::header_value(&n));
            a.display()
        };
        fold(&text).contains(&needle)
    })
}

/// TEXT: the decoded header or the decoded body text contains the needle.
pub fn text_contains(c: &Candidate<'_>, needle: &[u8]) -> bool {
    let needle = c.needle(needle);
    c.header_text().contains(&needle) || c.body_text().contains(&needle)
}

/// The day of the `Date:` header, for SENTBEFORE / SENTON / SENTSINCE.
pub fn sent_date(msg: &StoredMessage) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    let v = message::values(&msg.raw, "Date").into_iter().next()?;
    let v = mime::strip_comments(&v);
    chrono::DateTime::parse_from_rfc2822(v.trim()).ok()
}

/// Whether the message satisfies `key`.
pub fn matches(key: &SearchKey<'_>, c: &Candidate<'_>) -> bool {
    let m = c.msg;
    let day = m.internal_date.date_naive();
    let sent_day = || sent_date(m).map(|d| d.date_naive());
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
        SearchKey::Recent => c.recent,
        SearchKey::New => c.recent && !m.has_flag("\\Seen"),
        SearchKey::Old => !c.recent,
        SearchKey::Larger(n) => m.size() > *n as usize,
        SearchKey::Smaller(n) => m.size() < *n as usize,
        SearchKey::Before(d) => day < *d.as_ref(),
        SearchKey::On(d) => day == *d.as_ref(),
        SearchKey::Since(d) => day >= *d.as_ref(),
        SearchKey::SentBefore(d) => sent_day().is_some_and(|s| s < *d.as_ref()),
        SearchKey::SentOn(d) => sent_day().is_some_and(|s| s == *d.as_ref()),
        SearchKey::SentSince(d) => sent_day().is_some_and(|s| s >= *d.as_ref()),
        SearchKey::Header(name, value) => {
            let name = String::from_utf8_lossy(name.as_ref());
            header_contains(c, &name, value.as_ref())
        }
        SearchKey::Subject(v) => header_contains(c, "Subject", v.as_ref()),
        SearchKey::From(v) => address_contains(c, "From", v.as_ref()),
        SearchKey::To(v) => address_contains(c, "To", v.as_ref()),
        SearchKey::Cc(v) => address_contains(c, "Cc", v.as_ref()),
        SearchKey::Bcc(v) => address_contains(c, "Bcc", v.as_ref()),
        SearchKey::Body(v) => c.body_text().contains(&c.needle(v.as_ref())),
        SearchKey::Text(v) => text_contains(c, v.as_ref()),
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
                    &Candidate::new(*i as u32 + 1, m, msgs.len() as u32, 3, false, "UTF-8"),
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
