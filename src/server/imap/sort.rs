//! SORT (RFC 5256) and SORT=DISPLAY (RFC 5957) keys and ordering, and the base subject of
//! RFC 5256 2.1 that SORT SUBJECT and THREAD share. Sans I/O.

use std::cmp::Ordering;

use imap_codec::imap_types::extensions::sort::{SortCriterion, SortKey};

use super::address::Address;
use super::envelope::addresses;
use super::search::sent_date;
use super::{decode, message};
use crate::server::StoredMessage;

fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

fn ends_with_ci(s: &str, suffix: &str) -> bool {
    s.len()
        .checked_sub(suffix.len())
        .and_then(|at| s.get(at..))
        .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
}

/// A leading `[blob]` and the white space after it: the rest, or `None`.
fn strip_blob(s: &str) -> Option<&str> {
    let inner = s.strip_prefix('[')?;
    let end = inner.find([']', '['])?;
    if inner.as_bytes()[end] != b']' {
        return None;
    }
    Some(inner[end + 1..].trim_start())
}

/// One `*blob ("re" / "fw" / "fwd") *WSP [blob] ":"` leader: the rest, or `None`.
fn strip_leader(s: &str) -> Option<&str> {
    let mut rest = s;
    while let Some(r) = strip_blob(rest) {
        rest = r;
    }
    let after = if starts_with_ci(rest, "re") {
        &rest[2..]
    } else if starts_with_ci(rest, "fwd") {
        &rest[3..]
    } else if starts_with_ci(rest, "fw") {
        &rest[2..]
    } else {
        return None;
    };
    let mut after = after.trim_start_matches([' ', '\t']);
    if let Some(r) = strip_blob(after) {
        after = r;
    }
    after.strip_prefix(':')
}

/// The base subject (RFC 5256 2.1): encoded words decoded, white space collapsed, `Re:`,
/// `Fwd:`, `[list]` leaders, `(fwd)` trailers and `[fwd: ...]` wrappers removed.
pub fn base_subject(subject: &str) -> String {
    let decoded = decode::header_value(subject);
    let mut s: String = decoded.split_whitespace().collect::<Vec<_>>().join(" ");
    loop {
        // (2) trailers.
        loop {
            let t = s.trim_end();
            if ends_with_ci(t, "(fwd)") {
                s = t[..t.len() - 5].to_string();
            } else {
                s = t.to_string();
                break;
            }
        }
        // (3)-(5) leaders and blobs.
        loop {
            let before = s.clone();
            let mut cur = s.trim_start();
            while let Some(r) = strip_leader(cur) {
                cur = r.trim_start();
            }
            if let Some(r) = strip_blob(cur)
                && !r.trim().is_empty()
            {
                cur = r;
            }
            s = cur.to_string();
            if s == before {
                break;
            }
        }
        // (6) `[fwd: ...]`.
        if starts_with_ci(&s, "[fwd:") && s.ends_with(']') {
            s = s[5..s.len() - 1].trim().to_string();
            continue;
        }
        return s;
    }
}

/// Whether extracting the base subject removes a reply or forward marker (`Re:`, `Fwd:`,
/// a `(fwd)` trailer or a `[fwd: ...]` wrapper), which THREAD=REFERENCES asks (RFC 5256 3).
pub fn is_reply_or_forward(subject: &str) -> bool {
    let decoded = decode::header_value(subject);
    let s = decoded.split_whitespace().collect::<Vec<_>>().join(" ");
    if ends_with_ci(&s, "(fwd)") {
        return true;
    }
    if starts_with_ci(&s, "[fwd:") && s.ends_with(']') {
        return true;
    }
    strip_leader(&s).is_some()
}

/// Comparison for strings in sort keys: i;ascii-casemap extended to Unicode (upper case).
fn casemap(s: &str) -> String {
    s.to_uppercase()
}

/// The sort keys of one message, computed once.
pub struct Keys {
    pub seq: u32,
    pub uid: u32,
    arrival: i64,
    date: i64,
    size: usize,
    subject: String,
    from: String,
    to: String,
    cc: String,
    display_from: String,
    display_to: String,
}

/// The addr-mailbox of the first address (RFC 5256: the local part, group name for a group).
fn first_mailbox(list: &[Address]) -> String {
    list.first()
        .and_then(|a| a.mailbox.clone())
        .map(|m| casemap(&m))
        .unwrap_or_default()
}

/// RFC 5957: the first address's decoded display name, else its addr-spec; a group's name.
fn first_display(list: &[Address]) -> String {
    let Some(a) = list.first() else {
        return String::new();
    };
    if a.is_group_marker() {
        return casemap(a.mailbox.as_deref().unwrap_or_default());
    }
    match &a.name {
        Some(n) if !n.trim().is_empty() => casemap(decode::header_value(n).trim()),
        _ => {
            let mut spec = a.clone();
            spec.name = None;
            casemap(&spec.display())
        }
    }
}

impl Keys {
    pub fn new(seq: u32, msg: &StoredMessage) -> Self {
        let head = message::header(&msg.raw);
        let subject = message::values(head, "Subject")
            .into_iter()
            .next()
            .unwrap_or_default();
        let from = addresses(head, "From");
        let to = addresses(head, "To");
        let arrival = msg.internal_date.timestamp();
        Keys {
            seq,
            uid: msg.uid,
            arrival,
            // RFC 5256: the Date header in UTC; without one, the internal date.
            date: sent_date(msg).map_or(arrival, |d| d.timestamp()),
            size: msg.size(),
            subject: casemap(&base_subject(&subject)),
            from: first_mailbox(&from),
            to: first_mailbox(&to),
            cc: first_mailbox(&addresses(head, "Cc")),
            display_from: first_display(&from),
            display_to: first_display(&to),
        }
    }

    fn compare(&self, other: &Keys, key: &SortKey) -> Ordering {
        match key {
            SortKey::Arrival => self.arrival.cmp(&other.arrival),
            SortKey::Date => self.date.cmp(&other.date),
            SortKey::Size => self.size.cmp(&other.size),
            SortKey::Subject => self.subject.cmp(&other.subject),
            SortKey::From => self.from.cmp(&other.from),
            SortKey::To => self.to.cmp(&other.to),
            SortKey::Cc => self.cc.cmp(&other.cc),
            SortKey::DisplayFrom => self.display_from.cmp(&other.display_from),
            SortKey::DisplayTo => self.display_to.cmp(&other.display_to),
        }
    }
}

/// Orders messages by the criteria; ties fall back to sequence order, never reversed.
pub fn order(keys: &mut [Keys], criteria: &[SortCriterion]) {
    keys.sort_by(|a, b| {
        for c in criteria {
            let o = a.compare(b, &c.key);
            let o = if c.reverse { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        a.seq.cmp(&b.seq)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_subjects_of_imaptest_sort_subject() {
        for (raw, base) in [
            ("a", "a"),
            ("[foo] Fwd: [bar] Re: fw: b (fWd)  (fwd)", "b"),
            ("b (a)", "b (a)"),
            ("Re: [FWD: c]", "c"),
            ("[xyz]", "[xyz]"),
            ("=?iso-8859-1?q?_?=", ""),
            ("Re: =?utf-8?q?b?=", "b"),
            ("=?iso-8859-1?q?RE:_C?=", "C"),
            ("=?us-ascii?b?UmU6IGM=?=", "c"),
            ("Ad: Re: Ad: Re: Ad: x", "Ad: Re: Ad: Re: Ad: x"),
            ("re: [fwd: [fwd: re: [fwd: babylon]]]", "babylon"),
        ] {
            assert_eq!(base_subject(raw), base, "{raw}");
        }
    }
}
