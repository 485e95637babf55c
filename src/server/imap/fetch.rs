//! FETCH data items rendered for one message: UID, FLAGS, INTERNALDATE, RFC822.SIZE, ENVELOPE,
//! `BODY[...]` sections with partial ranges, and the RFC822 forms. Sans I/O: bytes in, bytes out.

use imap_codec::imap_types::core::AString;
use imap_codec::imap_types::fetch::{MessageDataItemName, Section};

use super::message;
use super::wire::{flag_list, internal_date, push_nstring, push_string};
use crate::server::StoredMessage;

/// Why a FETCH item list is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported(pub &'static str);

/// Checks the items before anything is sent, so an unsupported item yields a clean BAD.
pub fn check(items: &[MessageDataItemName<'_>]) -> Result<(), Unsupported> {
    for item in items {
        match item {
            MessageDataItemName::Body | MessageDataItemName::BodyStructure => {
                return Err(Unsupported("BODYSTRUCTURE is not supported"));
            }
            MessageDataItemName::Binary { .. } | MessageDataItemName::BinarySize { .. } => {
                return Err(Unsupported("BINARY is not supported"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether fetching the items marks the message \Seen (a non-PEEK body section).
pub fn sets_seen(items: &[MessageDataItemName<'_>]) -> bool {
    items.iter().any(|i| {
        matches!(
            i,
            MessageDataItemName::BodyExt { peek: false, .. }
                | MessageDataItemName::Rfc822
                | MessageDataItemName::Rfc822Text
        )
    })
}

fn astring_bytes<'a>(s: &'a AString<'_>) -> &'a [u8] {
    s.as_ref()
}

/// Writes a header-field name list as the client sent it, e.g. `(X-Mailtrip-Probe MESSAGE-ID)`.
fn push_names(out: &mut Vec<u8>, names: &[AString<'_>]) {
    out.push(b'(');
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        let b = astring_bytes(n);
        let atom = !b.is_empty()
            && b.iter()
                .all(|&c| c.is_ascii_graphic() && !b"(){%*\"\\]".contains(&c));
        if atom {
            out.extend_from_slice(b);
        } else {
            push_string(out, b);
        }
    }
    out.push(b')');
}

/// The section's bytes and its name as echoed in the response (`HEADER.FIELDS (..)` etc.).
fn section(raw: &[u8], section: Option<&Section<'_>>) -> (Option<Vec<u8>>, Vec<u8>) {
    let mut spec = Vec::new();
    let data = match section {
        None => Some(raw.to_vec()),
        Some(Section::Header(None)) => {
            spec.extend_from_slice(b"HEADER");
            Some(message::header(raw).to_vec())
        }
        Some(Section::Text(None)) => {
            spec.extend_from_slice(b"TEXT");
            Some(message::text(raw).to_vec())
        }
        Some(Section::HeaderFields(None, names)) | Some(Section::HeaderFieldsNot(None, names)) => {
            let not = matches!(section, Some(Section::HeaderFieldsNot(..)));
            spec.extend_from_slice(if not {
                b"HEADER.FIELDS.NOT "
            } else {
                b"HEADER.FIELDS "
            });
            push_names(&mut spec, names.as_ref());
            let list: Vec<&[u8]> = names.as_ref().iter().map(astring_bytes).collect();
            Some(message::header_fields(raw, &list, not))
        }
        Some(other) => {
            // Parts: a single-part message has exactly part 1, its text; MIME parsing of
            // multipart bodies is out of scope, so other parts are NIL.
            let part = match other {
                Section::Part(p) => Some(p),
                Section::Header(Some(p))
                | Section::Text(Some(p))
                | Section::Mime(p)
                | Section::HeaderFields(Some(p), _)
                | Section::HeaderFieldsNot(Some(p), _) => Some(p),
                _ => None,
            };
            let path: Vec<String> = part
                .map(|p| p.0.as_ref().iter().map(|n| n.to_string()).collect())
                .unwrap_or_default();
            spec.extend_from_slice(path.join(".").as_bytes());
            let multipart = message::values(raw, "Content-Type")
                .first()
                .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/"));
            match other {
                Section::Part(p) if p.0.as_ref().len() == 1 && p.0.as_ref()[0].get() == 1 => {
                    (!multipart).then(|| message::text(raw).to_vec())
                }
                _ => None,
            }
        }
    };
    (data, spec)
}

fn push_partial(out: &mut Vec<u8>, data: Option<Vec<u8>>, partial: Option<(u32, u32)>) {
    match (data, partial) {
        (Some(d), Some((start, len))) => {
            let s = (start as usize).min(d.len());
            let e = s.saturating_add(len as usize).min(d.len());
            push_nstring(out, Some(&d[s..e]));
        }
        (d, _) => push_nstring(out, d.as_deref()),
    }
}

/// Appends `ENVELOPE (...)` built from the header (RFC 3501 7.4.2).
fn push_envelope(out: &mut Vec<u8>, raw: &[u8]) {
    let first = |name: &str| message::values(raw, name).into_iter().next();
    let nstr =
        |out: &mut Vec<u8>, v: Option<String>| push_nstring(out, v.as_deref().map(str::as_bytes));
    let parsed = mail_parser::MessageParser::new().parse_headers(raw);
    let addrs = |out: &mut Vec<u8>, name: &str| {
        let list = parsed.as_ref().and_then(|m| match name {
            "From" => m.from(),
            "Sender" => m.sender(),
            "Reply-To" => m.reply_to(),
            "To" => m.to(),
            "Cc" => m.cc(),
            _ => m.bcc(),
        });
        let addrs: Vec<_> = list.map(|l| l.iter().collect()).unwrap_or_default();
        if addrs.is_empty() {
            out.extend_from_slice(b"NIL");
            return false;
        }
        out.push(b'(');
        for a in addrs {
            let address = a.address.as_deref().unwrap_or_default();
            let (mailbox, host) = address.rsplit_once('@').unwrap_or((address, ""));
            out.push(b'(');
            push_nstring(out, a.name.as_deref().map(str::as_bytes));
            out.extend_from_slice(b" NIL ");
            push_nstring(out, Some(mailbox.as_bytes()));
            out.push(b' ');
            push_nstring(out, (!host.is_empty()).then_some(host.as_bytes()));
            out.push(b')');
        }
        out.push(b')');
        true
    };
    out.extend_from_slice(b"ENVELOPE (");
    nstr(out, first("Date"));
    out.push(b' ');
    nstr(out, first("Subject"));
    out.push(b' ');
    let mut from = Vec::new();
    let has_from = addrs(&mut from, "From");
    out.extend_from_slice(&from);
    for name in ["Sender", "Reply-To"] {
        out.push(b' ');
        // Sender and Reply-To default to From when absent.
        let mut v = Vec::new();
        if !addrs(&mut v, name) && has_from {
            v = from.clone();
        }
        out.extend_from_slice(&v);
    }
    for name in ["To", "Cc", "Bcc"] {
        out.push(b' ');
        addrs(out, name);
    }
    out.push(b' ');
    nstr(out, first("In-Reply-To"));
    out.push(b' ');
    nstr(out, first("Message-ID"));
    out.push(b')');
}

/// Appends `* seq FETCH (...)\r\n` for the message.
pub fn render(out: &mut Vec<u8>, seq: u32, msg: &StoredMessage, items: &[MessageDataItemName<'_>]) {
    out.extend_from_slice(format!("* {seq} FETCH (").as_bytes());
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        match item {
            MessageDataItemName::Uid => {
                out.extend_from_slice(format!("UID {}", msg.uid).as_bytes())
            }
            MessageDataItemName::Flags => {
                out.extend_from_slice(format!("FLAGS {}", flag_list(&msg.flags)).as_bytes())
            }
            MessageDataItemName::InternalDate => out.extend_from_slice(
                format!("INTERNALDATE {}", internal_date(&msg.internal_date)).as_bytes(),
            ),
            MessageDataItemName::Rfc822Size => {
                out.extend_from_slice(format!("RFC822.SIZE {}", msg.size()).as_bytes())
            }
            MessageDataItemName::Envelope => push_envelope(out, &msg.raw),
            MessageDataItemName::Rfc822 => {
                out.extend_from_slice(b"RFC822 ");
                push_nstring(out, Some(&msg.raw));
            }
            MessageDataItemName::Rfc822Header => {
                out.extend_from_slice(b"RFC822.HEADER ");
                push_nstring(out, Some(message::header(&msg.raw)));
            }
            MessageDataItemName::Rfc822Text => {
                out.extend_from_slice(b"RFC822.TEXT ");
                push_nstring(out, Some(message::text(&msg.raw)));
            }
            MessageDataItemName::BodyExt {
                section: sec,
                partial,
                ..
            } => {
                let (data, spec) = section(&msg.raw, sec.as_ref());
                out.extend_from_slice(b"BODY[");
                out.extend_from_slice(&spec);
                out.push(b']');
                if let Some((start, _)) = partial {
                    out.extend_from_slice(format!("<{start}>").as_bytes());
                }
                out.push(b' ');
                push_partial(out, data, partial.map(|(s, l)| (s, l.get())));
            }
            // Refused by `check` before rendering starts.
            _ => out.extend_from_slice(b"NIL"),
        }
    }
    out.extend_from_slice(b")\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use imap_codec::CommandCodec;
    use imap_codec::decode::Decoder;
    use imap_codec::imap_types::command::CommandBody;
    use imap_codec::imap_types::fetch::MacroOrMessageDataItemNames;

    const RAW: &[u8] = b"From: Alice <alice@x.test>\r\nTo: bob@y.test\r\nSubject: Hi\r\nX-Mailtrip-Probe: t1\r\nMessage-ID: <m1@x>\r\n\r\nHello\r\n";

    fn fetch(items: &str) -> String {
        let line = format!("a FETCH 1 {items}\r\n");
        let (_, cmd) = CommandCodec::default()
            .decode(line.as_bytes())
            .expect("parses");
        let CommandBody::Fetch {
            macro_or_item_names: MacroOrMessageDataItemNames::MessageDataItemNames(items),
            ..
        } = cmd.body
        else {
            panic!("not a fetch with items")
        };
        let msg = StoredMessage {
            uid: 7,
            flags: vec!["\\Seen".into()],
            internal_date: chrono::DateTime::parse_from_rfc3339("2024-03-10T12:00:00+01:00")
                .expect("date"),
            raw: Bytes::from_static(RAW),
        };
        let mut out = Vec::new();
        render(&mut out, 1, &msg, &items);
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn known_answers() {
        assert_eq!(
            fetch("(UID FLAGS INTERNALDATE RFC822.SIZE)"),
            "* 1 FETCH (UID 7 FLAGS (\\Seen) INTERNALDATE \"10-Mar-2024 12:00:00 +0100\" RFC822.SIZE 108)\r\n"
        );
        assert_eq!(
            fetch("(BODY.PEEK[HEADER.FIELDS (X-Mailtrip-Probe MESSAGE-ID)])"),
            "* 1 FETCH (BODY[HEADER.FIELDS (X-Mailtrip-Probe MESSAGE-ID)] {44}\r\nX-Mailtrip-Probe: t1\r\nMessage-ID: <m1@x>\r\n\r\n)\r\n"
        );
        assert_eq!(
            fetch("BODY[TEXT]<1.3>"),
            "* 1 FETCH (BODY[TEXT]<1> \"ell\")\r\n"
        );
        assert_eq!(fetch("BODY[1]"), "* 1 FETCH (BODY[1] {7}\r\nHello\r\n)\r\n");
        assert_eq!(
            fetch("ENVELOPE"),
            "* 1 FETCH (ENVELOPE (NIL \"Hi\" ((\"Alice\" NIL \"alice\" \"x.test\")) ((\"Alice\" NIL \"alice\" \"x.test\")) ((\"Alice\" NIL \"alice\" \"x.test\")) ((NIL NIL \"bob\" \"y.test\")) NIL NIL NIL \"<m1@x>\"))\r\n"
        );
    }
}
