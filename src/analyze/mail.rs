//! The parsed message that `Wait` (over IMAP) and the embedded server's `wait_for` (from its
//! store) both return: addresses, decoded subject, headers, bodies, links with their text,
//! attachments and the authentication summary, read by mail-parser and contained against panics.

use std::sync::LazyLock;

use mail_parser::MimeHeaders;
use regex::Regex;
use serde::Serialize;

use super::auth_results::{self, AuthSummary};

/// One header as it arrived, unfolded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Header {
    /// The header name as it arrived (`Received`, `DKIM-Signature`, ...).
    pub name: String,
    /// The value unfolded (whitespace runs become one space), not decoded.
    pub value: String,
}

/// A link in the HTML body with the text a reader sees (`<a href="URL">text</a>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Anchor {
    /// The `href`, `&amp;` undone.
    pub url: String,
    /// The visible text: tags removed, entities decoded, whitespace collapsed.
    pub text: String,
}

/// One attachment (or inline part that is not the text or HTML body).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attachment {
    /// The file name from `Content-Disposition` or `Content-Type`, if any.
    pub name: Option<String>,
    /// `type/subtype`, lowercased (`application/octet-stream` when missing).
    pub content_type: String,
    /// Decoded size in bytes.
    pub size: usize,
    /// The decoded content (not serialized: JSON carries name, type and size only).
    #[serde(skip)]
    pub content: Vec<u8>,
}

/// A parsed message, as a wait returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    /// The folder it was found in.
    pub folder: String,
    /// Its UID in that folder.
    pub uid: u32,
    /// IMAP INTERNALDATE, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub internal_date: Option<String>,
    /// The Message-ID without angle brackets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// From addresses.
    pub from: Vec<String>,
    /// To and Cc addresses.
    pub to: Vec<String>,
    /// Decoded (RFC 2047) subject.
    pub subject: String,
    /// The `Date:` header, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// Every top-level header in order, unfolded, undecoded.
    pub headers: Vec<Header>,
    /// The first text/plain body (or text converted from HTML).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The first text/html body (or HTML converted from text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// Every http(s) URL in the text, then in the HTML, once each, in order.
    pub links: Vec<String>,
    /// The HTML body's http(s) links with their visible text, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub anchors: Vec<Anchor>,
    /// Attachments and inline parts other than the bodies, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    /// SPF / DKIM / DMARC / ARC from its `Authentication-Results` headers.
    pub auth: AuthSummary,
    /// Whether the wait deleted it.
    pub deleted: bool,
    /// From the start of the wait to the match, in milliseconds.
    pub waited_ms: f64,
    /// What went wrong around it without failing the wait.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Message {
    /// Parses `raw` (contained against panics in the parser); a message that cannot be read
    /// comes back empty with a warning. `folder`, `uid` and `internal_date` are the caller's.
    pub fn parse(raw: &[u8]) -> Message {
        contained(raw, parse).unwrap_or_else(|| Message {
            warnings: vec!["the message could not be parsed".into()],
            ..Message::empty()
        })
    }

    /// The first HTML link whose visible text contains `text`, ignoring case
    /// (`link_with_text("confirm")` for `<a href=...>Confirm my account</a>`).
    pub fn link_with_text(&self, text: &str) -> Option<&str> {
        let want = text.to_lowercase();
        self.anchors
            .iter()
            .find(|a| a.text.to_lowercase().contains(&want))
            .map(|a| a.url.as_str())
    }

    fn empty() -> Message {
        Message {
            folder: String::new(),
            uid: 0,
            internal_date: None,
            message_id: None,
            from: Vec::new(),
            to: Vec::new(),
            subject: String::new(),
            date: None,
            headers: Vec::new(),
            text: None,
            html: None,
            links: Vec::new(),
            anchors: Vec::new(),
            attachments: Vec::new(),
            auth: auth_results::summarize(&[]),
            deleted: false,
            waited_ms: 0.0,
            warnings: Vec::new(),
        }
    }
}

/// Runs `read` over `raw`, containing any panic in the parser: `None` when it panics or
/// cannot read the message. (A shared byte slice is unwind-safe: nothing is copied.)
pub(crate) fn contained<T>(
    raw: &[u8],
    read: impl FnOnce(&[u8]) -> Option<T> + std::panic::UnwindSafe,
) -> Option<T> {
    std::panic::catch_unwind(move || read(raw)).ok().flatten()
}

/// The addresses of a From / To / Cc header.
pub(crate) fn addresses(a: Option<&mail_parser::Address<'_>>) -> Vec<String> {
    a.map(|a| {
        a.iter()
            .filter_map(|m| m.address().map(str::to_string))
            .collect()
    })
    .unwrap_or_default()
}

/// Every top-level header, unfolded.
pub(crate) fn raw_headers(msg: &mail_parser::Message<'_>) -> Vec<Header> {
    msg.headers_raw()
        .map(|(name, value)| Header {
            name: name.to_string(),
            value: value.split_whitespace().collect::<Vec<_>>().join(" "),
        })
        .collect()
}

/// A part's `type/subtype`, lowercased (`application/octet-stream` when it names none).
pub(crate) fn content_type(part: &mail_parser::MessagePart<'_>) -> String {
    part.content_type()
        .map(|ct| match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub),
            None => ct.ctype().to_string(),
        })
        .unwrap_or_else(|| "application/octet-stream".into())
        .to_ascii_lowercase()
}

fn parse(raw: &[u8]) -> Option<Message> {
    let msg = mail_parser::MessageParser::default().parse(raw)?;
    let headers = raw_headers(&msg);
    let auth_values: Vec<&str> = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("Authentication-Results"))
        .map(|h| h.value.as_str())
        .collect();
    let auth = auth_results::summarize(&auth_values);
    let text = msg.body_text(0).map(|t| t.into_owned());
    let html = msg.body_html(0).map(|t| t.into_owned());
    let mut to = addresses(msg.to());
    to.extend(addresses(msg.cc()));
    let mut links = Vec::new();
    for t in [text.as_deref(), html.as_deref()].into_iter().flatten() {
        for l in find_links(t) {
            if !links.contains(&l) {
                links.push(l);
            }
        }
    }
    let attachments = msg
        .attachments()
        .map(|part| Attachment {
            name: part.attachment_name().map(str::to_string),
            content_type: content_type(part),
            size: part.len(),
            content: part.contents().to_vec(),
        })
        .collect();
    Some(Message {
        message_id: msg.message_id().map(str::to_string),
        from: addresses(msg.from()),
        to,
        subject: msg.subject().unwrap_or_default().to_string(),
        date: msg.date().map(|d| d.to_rfc3339()),
        headers,
        anchors: html.as_deref().map(find_anchors).unwrap_or_default(),
        text,
        html,
        links,
        attachments,
        auth,
        ..Message::empty()
    })
}

static LINK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"https?://[^\s<>"'()\[\]{}]+"#).expect("the link pattern compiles")
});

/// The http(s) URLs in `text`, trailing punctuation and HTML `&amp;` undone.
pub fn find_links(text: &str) -> Vec<String> {
    LINK.find_iter(text)
        .map(|m| {
            m.as_str()
                .trim_end_matches(['.', ',', ';', ':', '!', '?'])
                .replace("&amp;", "&")
        })
        .collect()
}

static ANCHOR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?is)<a\b[^>]*?\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))[^>]*>(.*?)</a\s*>"#)
        .expect("the anchor pattern compiles")
});
static TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?s)<[^>]*>").expect("the tag pattern compiles"));

/// The http(s) `<a href>` links in `html` with their visible text. A pattern, not an HTML
/// parser: mail HTML is simple and this must never fail, only miss an odd anchor.
pub fn find_anchors(html: &str) -> Vec<Anchor> {
    ANCHOR
        .captures_iter(html)
        .filter_map(|c| {
            let href = c.get(1).or(c.get(2)).or(c.get(3))?.as_str().trim();
            let url = decode_entities(href);
            let lower = url.to_ascii_lowercase();
            if !(lower.starts_with("http://") || lower.starts_with("https://")) {
                return None;
            }
            let inner = TAG.replace_all(c.get(4).map_or("", |m| m.as_str()), " ");
            let text = decode_entities(&inner)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            Some(Anchor { url, text })
        })
        .collect()
}

/// The HTML entities mail bodies use: the five named XML ones, `&nbsp;`, and numeric ones.
pub(crate) fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest.find(';').filter(|&e| e <= 10);
        let decoded = end.and_then(|e| {
            let name = &rest[1..e];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" | "#39" => Some('\''),
                "nbsp" => Some(' '),
                _ => name
                    .strip_prefix("#x")
                    .or_else(|| name.strip_prefix("#X"))
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            };
            c.map(|c| (c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &rest[e + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A plain-text signup mail with two links and a code, for the tests here and in `extract`.
#[cfg(test)]
pub(crate) const SIGNUP: &[u8] =
    b"From: App <noreply@app.test>\r\nTo: u@x.test\r\nSubject: Your code is 482913\r\n\
Content-Type: text/plain\r\n\r\nConfirm your account: https://app.test/confirm?token=abc123.\r\n\
Or visit (https://app.test/help).\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_come_out_of_text() {
        let m = Message::parse(SIGNUP);
        assert!(m.warnings.is_empty(), "{m:?}");
        assert_eq!(
            m.links,
            [
                "https://app.test/confirm?token=abc123",
                "https://app.test/help"
            ]
        );
        assert!(m.anchors.is_empty());
        assert!(m.attachments.is_empty());
    }

    #[test]
    fn anchors_keep_their_text_and_attachments_their_bytes() {
        let raw = b"From: noreply@app.test\r\nTo: u@x.test\r\nSubject: Welcome\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
Content-Type: text/html; charset=utf-8\r\n\r\n<p>Hi &amp; welcome.</p>\
<a class=\"btn\" href=\"https://app.test/confirm?t=1&amp;u=2\"><b>Confirm</b>\r\n my&nbsp;account</a>\
<a href='mailto:help@app.test'>Help</a> <a href=https://app.test/x>X &#8594;</a>\r\n--b\r\n\
Content-Type: application/pdf; name=\"terms.pdf\"\r\nContent-Disposition: attachment; filename=\"terms.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n";
        let m = Message::parse(raw);
        assert_eq!(
            m.anchors,
            [
                Anchor {
                    url: "https://app.test/confirm?t=1&u=2".into(),
                    text: "Confirm my account".into()
                },
                Anchor {
                    url: "https://app.test/x".into(),
                    text: "X →".into()
                }
            ]
        );
        assert_eq!(
            m.link_with_text("CONFIRM my"),
            Some("https://app.test/confirm?t=1&u=2")
        );
        assert_eq!(m.attachments.len(), 1, "{m:#?}");
        let a = &m.attachments[0];
        assert_eq!(a.name.as_deref(), Some("terms.pdf"));
        assert_eq!(a.content_type, "application/pdf");
        assert_eq!(a.content, b"%PDF-1.4\n");
        assert_eq!(a.size, 9);
        let json = serde_json::to_value(&m).expect("json");
        assert_eq!(
            json["attachments"][0],
            serde_json::json!({"name": "terms.pdf", "content_type": "application/pdf", "size": 9})
        );
    }

    #[test]
    fn unreadable_input_gives_an_empty_message_with_a_warning() {
        let m = Message::parse(b"");
        assert!(m.subject.is_empty());
        assert_eq!(m.warnings, ["the message could not be parsed"]);
    }

    #[test]
    fn entities_decode_and_stray_ampersands_stay() {
        assert_eq!(
            decode_entities("a &amp; b &lt;&#x41;&#66;&gt; & c;"),
            "a & b <AB> & c;"
        );
        assert_eq!(decode_entities("&unknown; &"), "&unknown; &");
    }
}
