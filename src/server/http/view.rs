//! A stored message as the API shows it: parsed once with mail-parser into plain data —
//! addresses, subject, dates, headers, text and HTML bodies, the links they contain, and the
//! attachments — which the search filters read and the JSON renders.

use std::sync::LazyLock;

use mail_parser::{MessageParser, MimeHeaders};
use regex::Regex;
use serde::Serialize;

use crate::analyze::mail;

/// A name and an address, as in `"App" <app@example.com>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Addr {
    pub name: Option<String>,
    pub address: String,
}

/// One attachment (or inline part that is not a body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attachment {
    /// Position among the message's attachments (the `/attachments/N` of its URL).
    pub index: usize,
    pub filename: Option<String>,
    pub content_type: String,
    /// Decoded size in bytes.
    pub size: usize,
    /// `Content-Disposition: inline` (an image the HTML shows, say).
    pub inline: bool,
    pub content_id: Option<String>,
}

pub use crate::analyze::Header;

/// What the API needs from a message, owned.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    pub message_id: Option<String>,
    pub from: Vec<Addr>,
    pub to: Vec<Addr>,
    pub cc: Vec<Addr>,
    pub bcc: Vec<Addr>,
    pub reply_to: Vec<Addr>,
    pub subject: String,
    /// The `Date:` header, RFC 3339.
    pub date: Option<String>,
    pub headers: Vec<Header>,
    /// The text body (mail-parser renders it from the HTML when there is no text part).
    pub text: String,
    /// The HTML body, when the message has one.
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
    /// The envelope recipient: `for <...>` of the topmost `Received:` (the server's own).
    pub delivered_to: Option<String>,
}

impl Parsed {
    /// Parses `raw`; a message mail-parser cannot read (or panics on) yields empty fields.
    pub fn new(raw: &[u8]) -> Parsed {
        mail::contained(raw, parse).unwrap_or_default()
    }

    /// Every recipient: To, Cc, Bcc and the envelope recipient.
    pub fn recipients(&self) -> impl Iterator<Item = &str> {
        self.to
            .iter()
            .chain(&self.cc)
            .chain(&self.bcc)
            .map(|a| a.address.as_str())
            .chain(self.delivered_to.as_deref())
    }

    /// The first `len` characters of the text, whitespace collapsed.
    pub fn snippet(&self, len: usize) -> String {
        let words: Vec<&str> = self.text.split_whitespace().collect();
        let mut out: String = words.join(" ").chars().take(len).collect();
        if out.chars().count() == len {
            out.push('…');
        }
        out
    }

    /// The http(s) and mailto links of the HTML (`href`, `src`) and the text, in order of
    /// appearance, each once.
    pub fn links(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut add = |l: String| {
            if !out.contains(&l) {
                out.push(l);
            }
        };
        if let Some(html) = &self.html {
            for l in attribute_links(html) {
                add(l);
            }
        }
        for l in mail::find_links(&self.text) {
            add(l);
        }
        out
    }
}

fn parse(raw: &[u8]) -> Option<Parsed> {
    let msg = MessageParser::default().parse(raw)?;
    let addrs = |a: Option<&mail_parser::Address<'_>>| -> Vec<Addr> {
        a.map(|a| {
            a.iter()
                .filter_map(|m| {
                    Some(Addr {
                        name: m.name().map(str::to_string).filter(|n| !n.is_empty()),
                        address: m.address()?.to_string(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
    };
    let headers = mail::raw_headers(&msg);
    let delivered_to = headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("Received"))
        .and_then(|h| {
            let at = h.value.find(" for <")? + 6;
            let end = h.value[at..].find('>')? + at;
            Some(h.value[at..end].to_string())
        });
    let has_html = msg.html_bodies().any(|p| p.is_text_html());
    let attachments = msg
        .attachments()
        .enumerate()
        .map(|(index, part)| Attachment {
            index,
            filename: part.attachment_name().map(str::to_string),
            content_type: mail::content_type(part),
            size: part.contents().len(),
            inline: part
                .content_disposition()
                .is_some_and(|d| d.ctype().eq_ignore_ascii_case("inline")),
            content_id: part.content_id().map(str::to_string),
        })
        .collect();
    Some(Parsed {
        message_id: msg.message_id().map(str::to_string),
        from: addrs(msg.from()),
        to: addrs(msg.to()),
        cc: addrs(msg.cc()),
        bcc: addrs(msg.bcc()),
        reply_to: addrs(msg.reply_to()),
        subject: msg.subject().unwrap_or_default().to_string(),
        date: msg.date().map(|d| d.to_rfc3339()),
        headers,
        text: msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
        html: has_html
            .then(|| msg.body_html(0).map(|t| t.into_owned()))
            .flatten(),
        attachments,
        delivered_to,
    })
}

/// The decoded bytes of attachment `index` of `raw`, with its description.
pub fn attachment(raw: &[u8], index: usize) -> Option<(Attachment, Vec<u8>)> {
    mail::contained(raw, |raw| {
        let described = parse(raw)?.attachments.into_iter().nth(index)?;
        let msg = MessageParser::default().parse(raw)?;
        let part = msg.attachments().nth(index)?;
        Some((described, part.contents().to_vec()))
    })
}

static ATTRIBUTE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)\b(?:href|src)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))"#)
        .expect("the attribute pattern compiles")
});

/// `href="..."` and `src="..."` values that are http(s) or mailto URLs, entities undone.
fn attribute_links(html: &str) -> Vec<String> {
    ATTRIBUTE
        .captures_iter(html)
        .filter_map(|c| c.get(1).or(c.get(2)).or(c.get(3)))
        .map(|m| mail::decode_entities(m.as_str().trim()))
        .filter(|l| {
            let lower = l.to_ascii_lowercase();
            lower.starts_with("http://")
                || lower.starts_with("https://")
                || lower.starts_with("mailto:")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIXED: &str = "Received: from app ([127.0.0.1])\r\n\tby localhost (mailtrip) with ESMTP id X\r\n\tfor <someone+x@example.com>; Mon, 1 Jan 2024 00:00:00 +0000\r\n\
From: \"Signup Bot\" <bot@app.test>\r\nTo: someone+x@example.com\r\nCc: audit@app.test\r\n\
Subject: =?utf-8?q?Willkommen_gr=C3=BC=C3=9Fe?=\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\
Message-ID: <m1@app.test>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
--b1\r\nContent-Type: multipart/alternative; boundary=\"b2\"\r\n\r\n\
--b2\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nConfirm: https://app.test/confirm?t=1&u=2.\r\n\
--b2\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Hi <a href=\"https://app.test/confirm?t=1&amp;u=2\">confirm</a> <img src=\"https://tracker.test/p.gif\"></p>\r\n\
--b2--\r\n\
--b1\r\nContent-Type: application/pdf; name=\"invoice.pdf\"\r\nContent-Disposition: attachment; filename=\"invoice.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n\
--b1--\r\n";

    #[test]
    fn a_mixed_message_with_html_and_an_attachment() {
        let p = Parsed::new(MIXED.as_bytes());
        assert_eq!(p.subject, "Willkommen grüße");
        assert_eq!(
            p.from,
            [Addr {
                name: Some("Signup Bot".into()),
                address: "bot@app.test".into()
            }]
        );
        assert_eq!(p.delivered_to.as_deref(), Some("someone+x@example.com"));
        assert_eq!(
            p.recipients().collect::<Vec<_>>(),
            [
                "someone+x@example.com",
                "audit@app.test",
                "someone+x@example.com"
            ]
        );
        assert!(
            p.text.starts_with("Confirm: https://app.test/confirm"),
            "{}",
            p.text
        );
        assert!(p.html.as_deref().is_some_and(|h| h.contains("<a href")));
        assert_eq!(
            p.links(),
            [
                "https://app.test/confirm?t=1&u=2",
                "https://tracker.test/p.gif"
            ]
        );
        assert_eq!(p.attachments.len(), 1);
        let a = &p.attachments[0];
        assert_eq!(a.filename.as_deref(), Some("invoice.pdf"));
        assert_eq!(a.content_type, "application/pdf");
        assert!(!a.inline);
        let (_, bytes) = attachment(MIXED.as_bytes(), 0).expect("attachment 0");
        assert_eq!(bytes, b"%PDF-1.4\n");
        assert!(attachment(MIXED.as_bytes(), 1).is_none());
        assert_eq!(p.date.as_deref(), Some("2024-01-01T00:00:00Z"));
    }

    #[test]
    fn plain_text_has_no_html_and_garbage_does_not_panic() {
        let p =
            Parsed::new(b"Subject: hi\r\n\r\nsee http://x.test/a, then (https://y.test/b).\r\n");
        assert!(p.html.is_none());
        assert_eq!(p.links(), ["http://x.test/a", "https://y.test/b"]);
        assert_eq!(p.snippet(3), "see…");
        let junk = Parsed::new(b"\xff\xfe\x00--\r\n\r\n");
        assert!(junk.attachments.is_empty());
    }
}
