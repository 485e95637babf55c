//! CATENATE (RFC 4469): an APPENDed message assembled from literal text and IMAP URLs
//! (RFC 5092, the server-relative form `/mailbox;UIDVALIDITY=n/;UID=n/;SECTION=x/;PARTIAL=a.b`)
//! naming messages or parts of them in the user's own mailboxes.

use super::mime::{self, Sub};
use super::session::Session;
use super::wire::name_of;

/// One piece of a CATENATE list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatPart {
    Text(Vec<u8>),
    Url(String),
}

/// A parsed server-relative IMAP URL.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ImapUrl {
    mailbox: String,
    uid_validity: Option<u32>,
    uid: u32,
    section: Option<String>,
    partial: Option<(usize, Option<usize>)>,
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Parses `/INBOX;UIDVALIDITY=7/;UID=3/;SECTION=1.2/;PARTIAL=0.100` (RFC 5092 `imessagepart`
/// without server part). Names are case-insensitive.
fn parse_url(url: &str) -> Option<ImapUrl> {
    let rest = url.strip_prefix('/')?;
    let mut pieces = rest.split("/;");
    let mbox = pieces.next()?;
    let (name, validity) = match mbox.split_once(';') {
        Some((n, v)) => {
            let (key, value) = v.split_once('=')?;
            if !key.eq_ignore_ascii_case("UIDVALIDITY") {
                return None;
            }
            (n, Some(value.parse().ok()?))
        }
        None => (mbox, None),
    };
    let mut url = ImapUrl {
        mailbox: name_of(percent_decode(name.trim_end_matches('/'))?.as_bytes()),
        uid_validity: validity,
        uid: 0,
        section: None,
        partial: None,
    };
    for piece in pieces {
        let piece = piece.trim_end_matches('/');
        let (key, value) = piece.split_once('=')?;
        match key.to_ascii_uppercase().as_str() {
            "UID" => url.uid = value.parse().ok()?,
            "SECTION" => url.section = Some(percent_decode(value)?),
            "PARTIAL" => {
                url.partial = Some(match value.split_once('.') {
                    Some((a, b)) => (a.parse().ok()?, Some(b.parse().ok()?)),
                    None => (value.parse().ok()?, None),
                })
            }
            _ => return None,
        }
    }
    (url.uid > 0).then_some(url)
}

/// `1.2.MIME` → ([1, 2], Mime); `HEADER` → ([], Header); `TEXT`, `1`, ...
fn section(spec: &str) -> Option<(Vec<u32>, Sub)> {
    let mut path = Vec::new();
    let mut sub = Sub::Body;
    for word in spec.split('.') {
        if let Ok(n) = word.parse::<u32>() {
            if n == 0 || sub != Sub::Body {
                return None;
            }
            path.push(n);
            continue;
        }
        sub = match word.to_ascii_uppercase().as_str() {
            "HEADER" => Sub::Header,
            "TEXT" => Sub::Text,
            "MIME" if !path.is_empty() => Sub::Mime,
            _ => return None,
        };
    }
    Some((path, sub))
}

impl Session {
    /// The bytes an IMAP URL names, or the reason it names nothing.
    fn url_bytes(&self, url: &str) -> Result<Vec<u8>, String> {
        let bad = || format!("NO [BADURL {url}] Invalid or unknown URL");
        let u = parse_url(url).ok_or_else(bad)?;
        let msg = self
            .shared
            .store
            .with_mailbox(&self.user(), &u.mailbox, |m| {
                if u.uid_validity.is_some_and(|v| v != m.uid_validity) {
                    return None;
                }
                m.position(u.uid).map(|p| m.messages[p].clone())
            })
            .ok()
            .flatten()
            .ok_or_else(bad)?;
        let raw = &msg.raw;
        let data = match &u.section {
            None => raw.to_vec(),
            Some(spec) => {
                let (path, sub) = section(spec).ok_or_else(bad)?;
                let tree = mime::parse(raw);
                let range = tree.section(&path, sub).ok_or_else(bad)?;
                raw[range].to_vec()
            }
        };
        Ok(match u.partial {
            None => data,
            Some((start, len)) => {
                let s = start.min(data.len());
                let e = len.map_or(data.len(), |l| s.saturating_add(l).min(data.len()));
                data[s..e].to_vec()
            }
        })
    }

    /// Assembles a CATENATE list; `Err` is the tagged NO.
    pub(super) fn catenate(&self, parts: &[CatPart]) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        for p in parts {
            match p {
                CatPart::Text(t) => out.extend_from_slice(t),
                CatPart::Url(u) => out.extend_from_slice(&self.url_bytes(u)?),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_urls() {
        assert_eq!(
            parse_url("/INBOX;UIDVALIDITY=7/;UID=3/;SECTION=1.HEADER/;PARTIAL=2.10"),
            Some(ImapUrl {
                mailbox: "INBOX".into(),
                uid_validity: Some(7),
                uid: 3,
                section: Some("1.HEADER".into()),
                partial: Some((2, Some(10))),
            })
        );
        let u = parse_url("/a%20b/;uid=4").expect("parses");
        assert_eq!((u.mailbox.as_str(), u.uid), ("a b", 4));
        assert_eq!(parse_url("imap://host/INBOX/;UID=1"), None);
        assert_eq!(parse_url("/INBOX/;UID=x"), None);
        assert_eq!(section("1.2.MIME"), Some((vec![1, 2], Sub::Mime)));
        assert_eq!(section("header"), Some((vec![], Sub::Header)));
        assert_eq!(section("MIME"), None);
    }
}
