//! Gmail's IMAP extensions (X-GM-EXT-1) for the Gmail profile: `X-GM-MSGID` and
//! `X-GM-THRID` (stable 63-bit ids), `X-GM-LABELS` in FETCH and STORE (a label is a folder
//! holding a copy of the message, as Gmail presents labels over IMAP), and SEARCH
//! `X-GM-RAW` with Gmail's common operators (`from:`, `subject:`, `in:`, `label:`, `is:`,
//! `has:attachment`, `after:` / `before:`, `newer_than:`, `larger:`, `rfc822msgid:`, `-`,
//! `OR`, quoted phrases), plus `X-GM-MSGID` / `X-GM-THRID` / `X-GM-LABELS` search keys.

use chrono::{Duration, NaiveDate};
use sha2::{Digest, Sha256};

use super::args::{Arg, Token};
use super::ext::{ExtCommand, Parsed, bad, decode, join, line};
use super::search::{Candidate, address_contains, header_contains, text_contains};
use super::session::Session;
use super::wire::quoted;
use super::{message, mime, thread};
use crate::server::{FlagOp, SpecialUse, StoredMessage};

/// A FETCH item of X-GM-EXT-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GmItem {
    MsgId,
    ThrId,
    Labels,
}

/// A SEARCH key of X-GM-EXT-1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GmKey {
    Raw(String),
    MsgId(u64),
    ThrId(u64),
    Label(String),
}

fn id_of(bytes: &[u8]) -> u64 {
    let digest = Sha256::digest(bytes);
    let mut b = [0u8; 8];
    b.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(b) & 0x7fff_ffff_ffff_ffff
}

/// X-GM-MSGID: the same for every copy of a message (content and internal date).
pub fn msgid(msg: &StoredMessage) -> u64 {
    let mut h = Sha256::new();
    h.update(&msg.raw);
    h.update(msg.internal_date.to_rfc3339().as_bytes());
    let digest = h.finalize();
    id_of(&digest)
}

/// X-GM-THRID: from the thread's first Message-ID (References, else In-Reply-To, else the
/// message's own), so replies share their original's thread id.
pub fn thrid(msg: &StoredMessage) -> u64 {
    let head = message::header(&msg.raw);
    let first = |name: &str| {
        message::values(head, name)
            .into_iter()
            .next()
            .and_then(|v| thread::message_ids(&v).into_iter().next())
    };
    match first("References")
        .or_else(|| first("In-Reply-To"))
        .or_else(|| first("Message-ID"))
    {
        Some(root) => id_of(root.as_bytes()),
        None => msgid(msg),
    }
}

/// A folder's label: `\Inbox`, `\Sent`, ... for system folders, the name otherwise; All Mail
/// is no label.
fn label_of(name: &str, role: Option<SpecialUse>) -> Option<String> {
    if name.eq_ignore_ascii_case("INBOX") {
        return Some("\\Inbox".into());
    }
    Some(
        match role {
            Some(SpecialUse::All) => return None,
            Some(SpecialUse::Sent) => "\\Sent",
            Some(SpecialUse::Drafts) => "\\Draft",
            Some(SpecialUse::Flagged) => "\\Starred",
            Some(SpecialUse::Junk) => "\\Spam",
            Some(SpecialUse::Trash) => "\\Trash",
            Some(SpecialUse::Archive) | None => return Some(name.to_string()),
        }
        .to_string(),
    )
}

/// The folder a label names (system labels by role, others by name).
pub(super) fn folder_of(session: &Session, label: &str) -> Option<String> {
    let role = match label.to_ascii_lowercase().as_str() {
        "\\inbox" | "inbox" => return Some("INBOX".into()),
        "\\sent" => SpecialUse::Sent,
        "\\draft" | "\\drafts" => SpecialUse::Drafts,
        "\\starred" => SpecialUse::Flagged,
        "\\spam" => SpecialUse::Junk,
        "\\trash" => SpecialUse::Trash,
        "\\important" => return None,
        _ => return Some(label.to_string()),
    };
    session.shared.store.folder_with_role(&session.user(), role)
}

pub(super) fn same_message(a: &StoredMessage, b: &StoredMessage) -> bool {
    a.internal_date == b.internal_date && a.raw == b.raw
}

/// The labels of a message: every folder holding a copy of it.
pub fn labels(session: &Session, msg: &StoredMessage) -> Vec<String> {
    let user = session.user();
    let store = &session.shared.store;
    let Ok(folders) = store.list(&user) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for f in folders.iter().filter(|f| f.selectable) {
        let Some(label) = label_of(&f.name, f.special_use) else {
            continue;
        };
        let has = store
            .with_mailbox(&user, &f.name, |m| {
                m.messages.iter().any(|x| same_message(x, msg))
            })
            .unwrap_or(false);
        if has {
            out.push(label);
        }
    }
    out
}

/// `(\Inbox "My label")`.
pub fn label_list(labels: &[String]) -> String {
    let items: Vec<String> = labels
        .iter()
        .map(|l| {
            if l.starts_with('\\') {
                l.clone()
            } else {
                quoted(l)
            }
        })
        .collect();
    format!("({})", items.join(" "))
}

/// The X-GM-* items of one message, space-separated.
pub fn items(session: &Session, msg: &StoredMessage, items: &[GmItem]) -> String {
    items
        .iter()
        .map(|i| match i {
            GmItem::MsgId => format!("X-GM-MSGID {}", msgid(msg)),
            GmItem::ThrId => format!("X-GM-THRID {}", thrid(msg)),
            GmItem::Labels => format!("X-GM-LABELS {}", label_list(&labels(session, msg))),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Adds `extra` inside the parentheses of a `* n FETCH (...)\r\n` line that ends `out`.
pub fn append_to_fetch(out: &mut Vec<u8>, extra: &str) {
    if extra.is_empty() || !out.ends_with(b")\r\n") {
        return;
    }
    out.truncate(out.len() - 3);
    if !out.ends_with(b"(") {
        out.push(b' ');
    }
    out.extend_from_slice(extra.as_bytes());
    out.extend_from_slice(b")\r\n");
}

/// `Nd`, `Nm`, `Ny` (Gmail's newer_than / older_than).
fn age(s: &str) -> Option<Duration> {
    let (n, unit) = s.split_at(s.char_indices().last()?.0);
    let n: i64 = n.parse().ok()?;
    Some(match unit.to_ascii_lowercase().as_str() {
        "d" => Duration::days(n),
        "m" => Duration::days(30 * n),
        "y" => Duration::days(365 * n),
        _ => return None,
    })
}

/// `10M`, `2K`, `512`.
fn size(s: &str) -> Option<usize> {
    let lower = s.to_ascii_lowercase();
    let (n, mult) = if let Some(n) = lower.strip_suffix('m') {
        (n, 1024 * 1024)
    } else if let Some(n) = lower.strip_suffix('k') {
        (n, 1024)
    } else {
        (lower.as_str(), 1)
    };
    n.parse::<usize>().ok().map(|n| n * mult)
}

fn date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y/%m/%d")
        .or_else(|_| NaiveDate::parse_from_str(s, "%Y-%m-%d"))
        .or_else(|_| NaiveDate::parse_from_str(s, "%m/%d/%Y"))
        .ok()
}

fn has_attachment(c: &Candidate<'_>) -> bool {
    let raw = &c.msg.raw;
    mime::parse(raw).walk().into_iter().any(|n| {
        let header = &raw[n.header.clone()];
        let disp = message::values(header, "Content-Disposition");
        disp.iter().any(|d| {
            d.trim_start()
                .to_ascii_lowercase()
                .starts_with("attachment")
        }) || message::values(header, "Content-Type")
            .iter()
            .any(|t| t.to_ascii_lowercase().contains("name="))
    })
}

/// Splits a Gmail query into terms: quoted phrases stay whole.
fn terms(query: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for ch in query.chars() {
        match ch {
            '"' => {
                quoted = !quoted;
                cur.push(ch);
            }
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn unquote(s: &str) -> String {
    s.trim_matches('"').to_string()
}

/// One Gmail search term against a message.
fn term_matches(session: &Session, term: &str, c: &Candidate<'_>) -> bool {
    if let Some(rest) = term.strip_prefix('-')
        && !rest.is_empty()
    {
        return !term_matches(session, rest, c);
    }
    let Some((op, value)) = term.split_once(':').filter(|(op, _)| !op.contains('"')) else {
        return text_contains(c, unquote(term).as_bytes());
    };
    let value = unquote(value);
    let m = c.msg;
    let now = chrono::Local::now().fixed_offset();
    match op.to_ascii_lowercase().as_str() {
        "from" => address_contains(c, "From", value.as_bytes()),
        "to" => address_contains(c, "To", value.as_bytes()),
        "cc" => address_contains(c, "Cc", value.as_bytes()),
        "bcc" => address_contains(c, "Bcc", value.as_bytes()),
        "subject" => header_contains(c, "Subject", value.as_bytes()),
        "rfc822msgid" => {
            let want = value.trim_matches(['<', '>']);
            message::values(&m.raw, "Message-ID")
                .iter()
                .any(|v| thread::message_ids(v).iter().any(|id| id == want))
        }
        "in" | "label" => match value.to_ascii_lowercase().as_str() {
            "anywhere" | "all" => true,
            _ => {
                let want = match value.to_ascii_lowercase().as_str() {
                    "inbox" => "\\Inbox".to_string(),
                    "sent" => "\\Sent".to_string(),
                    "drafts" | "draft" => "\\Draft".to_string(),
                    "trash" => "\\Trash".to_string(),
                    "spam" => "\\Spam".to_string(),
                    "starred" => "\\Starred".to_string(),
                    _ => value.clone(),
                };
                labels(session, m)
                    .iter()
                    .any(|l| l.eq_ignore_ascii_case(&want))
            }
        },
        "is" => match value.to_ascii_lowercase().as_str() {
            "unread" => !m.has_flag("\\Seen"),
            "read" => m.has_flag("\\Seen"),
            "starred" | "flagged" => m.has_flag("\\Flagged"),
            "important" => m.has_flag("$Important") || m.has_flag("\\Important"),
            _ => false,
        },
        "has" if value.eq_ignore_ascii_case("attachment") => has_attachment(c),
        "after" | "newer" => date(&value).is_some_and(|d| m.internal_date.date_naive() >= d),
        "before" | "older" => date(&value).is_some_and(|d| m.internal_date.date_naive() < d),
        "newer_than" => age(&value).is_some_and(|a| m.internal_date > now - a),
        "older_than" => age(&value).is_some_and(|a| m.internal_date < now - a),
        "larger" | "size" => size(&value).is_some_and(|n| m.size() > n),
        "smaller" => size(&value).is_some_and(|n| m.size() < n),
        // Not an operator Gmail knows: the words themselves.
        _ => text_contains(c, unquote(term).as_bytes()),
    }
}

/// X-GM-RAW: terms are ANDed; `a OR b` ORs the terms around it.
fn raw_matches(session: &Session, query: &str, c: &Candidate<'_>) -> bool {
    let t = terms(query);
    let mut i = 0;
    while i < t.len() {
        let mut any = term_matches(session, &t[i], c);
        while i + 2 < t.len() && t[i + 1] == "OR" {
            any = any || term_matches(session, &t[i + 2], c);
            i += 2;
        }
        if !any {
            return false;
        }
        i += 1;
    }
    true
}

/// Whether the message satisfies an X-GM-EXT-1 search key.
pub fn key_matches(session: &Session, key: &GmKey, c: &Candidate<'_>) -> bool {
    match key {
        GmKey::Raw(q) => raw_matches(session, q, c),
        GmKey::MsgId(id) => msgid(c.msg) == *id,
        GmKey::ThrId(id) => thrid(c.msg) == *id,
        GmKey::Label(l) => labels(session, c.msg)
            .iter()
            .any(|x| x.eq_ignore_ascii_case(l)),
    }
}

// Parsing: imap-codec does not read X-GM items, so they are lifted out and the rest of the
// command is re-fed to imap-codec (see `ext`).

fn gm_item(t: &Token) -> Option<GmItem> {
    match t.arg.atom_upper()?.as_str() {
        "X-GM-MSGID" => Some(GmItem::MsgId),
        "X-GM-THRID" => Some(GmItem::ThrId),
        "X-GM-LABELS" => Some(GmItem::Labels),
        _ => None,
    }
}

/// FETCH with X-GM-EXT-1 items; the other items go to imap-codec.
pub(super) fn parse_fetch(
    bytes: &[u8],
    t: &[Token],
    i: usize,
    tag: &str,
    uid: bool,
) -> Option<Parsed> {
    let set = t.get(i + 1)?;
    let items = t.get(i + 2)?;
    if t.len() != i + 3 {
        return None;
    }
    let all: Vec<&Token> = match &items.arg {
        Arg::List(l) => l.iter().collect(),
        _ => vec![items],
    };
    let gmail: Vec<GmItem> = all.iter().filter_map(|x| gm_item(x)).collect();
    if gmail.is_empty() {
        return None;
    }
    let kept: Vec<&Token> = all.into_iter().filter(|x| gm_item(x).is_none()).collect();
    let drop_uid = kept.is_empty();
    let mut rest = bytes[set.span.clone()].to_vec();
    rest.extend_from_slice(b" (");
    rest.extend_from_slice(&if drop_uid {
        b"UID".to_vec()
    } else {
        join(bytes, &kept)
    });
    rest.push(b')');
    match decode(&line(tag, uid, "FETCH", &rest)) {
        Some(cmd) => Some(Parsed::Ext {
            tag: tag.to_string(),
            cmd: ExtCommand::Fetch {
                body: cmd.body,
                gmail,
                drop_uid: drop_uid && !uid,
            },
        }),
        None => bad(
            tag,
            &format!("Syntax error in {}FETCH", if uid { "UID " } else { "" }),
        ),
    }
}

/// `STORE set [+|-]X-GM-LABELS[.SILENT] (labels)`.
pub(super) fn parse_store(t: &[Token], i: usize, tag: &str, uid: bool) -> Option<Parsed> {
    let item = t.get(i + 2)?.arg.atom_upper()?;
    let (op, rest) = match item.as_bytes().first() {
        Some(b'+') => (FlagOp::Add, &item[1..]),
        Some(b'-') => (FlagOp::Remove, &item[1..]),
        _ => (FlagOp::Replace, item.as_str()),
    };
    let (name, silent) = match rest.strip_suffix(".SILENT") {
        Some(n) => (n, true),
        None => (rest, false),
    };
    if name != "X-GM-LABELS" {
        return None;
    }
    let set_text = t.get(i + 1)?.arg.atom_upper()?;
    let Ok(set) = imap_codec::imap_types::sequence::SequenceSet::try_from(set_text.as_str()) else {
        return bad(tag, "Invalid sequence set");
    };
    let value = t.get(i + 3)?;
    let values: Vec<&Token> = match &value.arg {
        Arg::List(l) => l.iter().collect(),
        _ => vec![value],
    };
    let mut labels = Vec::new();
    for v in values {
        match v.arg.string() {
            Some(l) => labels.push(String::from_utf8_lossy(l).into_owned()),
            None => return bad(tag, "Invalid X-GM-LABELS list"),
        }
    }
    Some(Parsed::Ext {
        tag: tag.to_string(),
        cmd: ExtCommand::StoreLabels {
            uid,
            set,
            op,
            silent,
            labels,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_63_bit() {
        let msg = StoredMessage {
            uid: 1,
            flags: vec![],
            internal_date: chrono::DateTime::parse_from_rfc3339("2024-03-10T12:00:00+00:00")
                .expect("date"),
            raw: bytes::Bytes::from_static(
                b"Message-ID: <b@x>\r\nReferences: <a@x> <b0@x>\r\n\r\nhi\r\n",
            ),
        };
        let copy = StoredMessage {
            uid: 9,
            ..msg.clone()
        };
        assert_eq!(msgid(&msg), msgid(&copy));
        assert!(msgid(&msg) < 1 << 63);
        assert_eq!(thrid(&msg), id_of(b"a@x"));
    }

    #[test]
    fn query_terms_sizes_and_ages() {
        assert_eq!(
            terms("from:a \"two words\" subject:\"x y\" -is:read"),
            vec!["from:a", "\"two words\"", "subject:\"x y\"", "-is:read"]
        );
        assert_eq!(size("2K"), Some(2048));
        assert_eq!(size("10m"), Some(10 * 1024 * 1024));
        assert_eq!(age("3d"), Some(Duration::days(3)));
        assert_eq!(age("x"), None);
        assert_eq!(date("2024/03/10"), NaiveDate::from_ymd_opt(2024, 3, 10));
        assert_eq!(
            label_list(&["\\Inbox".into(), "My label".into()]),
            "(\\Inbox \"My label\")"
        );
    }
}
