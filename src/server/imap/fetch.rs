//! FETCH data items rendered for one message: UID, FLAGS, INTERNALDATE, RFC822.SIZE, ENVELOPE,
//! BODY / BODYSTRUCTURE, `BODY[...]` sections of any MIME part with partial ranges, BINARY
//! sections, and the RFC822 forms. Sans I/O: bytes in, bytes out.

use std::cell::OnceCell;

use imap_codec::imap_types::core::AString;
use imap_codec::imap_types::fetch::{MessageDataItemName, Part, Section};

use super::binary::{self, BinaryError};
use super::mime::{self, Node, Sub};
use super::wire::{internal_date, push_literal, push_nstring, push_string};
use super::{bodystructure, envelope, message};
use crate::server::StoredMessage;

/// Why a message's items could not be rendered: the tagged NO's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchError(pub String);

/// Whether fetching the items marks the message \Seen (a non-PEEK body section).
pub fn sets_seen(items: &[MessageDataItemName<'_>]) -> bool {
    items.iter().any(|i| {
        matches!(
            i,
            MessageDataItemName::BodyExt { peek: false, .. }
                | MessageDataItemName::Binary { peek: false, .. }
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

fn path_of(part: Option<&Part>) -> Vec<u32> {
    part.map(|p| p.0.as_ref().iter().map(|n| n.get()).collect())
        .unwrap_or_default()
}

fn dotted(path: &[u32]) -> String {
    path.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// Why `item` (BINARY or BINARY.SIZE) of part `path` of message `seq` cannot be answered.
fn binary_error(e: BinaryError, item: &str, path: &[u32], seq: u32) -> FetchError {
    FetchError(match e {
        BinaryError::NoPart => format!("{item}[{}] names no part of message {seq}", dotted(path)),
        BinaryError::UnknownCte(cte) => {
            format!("[UNKNOWN-CTE] Unknown Content-Transfer-Encoding {cte}")
        }
    })
}

/// The section's bytes (`None`: no such part) and its name as echoed in the response.
fn section(raw: &[u8], tree: &Node, section: Option<&Section<'_>>) -> (Option<Vec<u8>>, Vec<u8>) {
    let mut spec = Vec::new();
    let Some(section) = section else {
        return (Some(raw.to_vec()), spec);
    };
    let (part, sub, word): (Option<&Part>, Sub, &str) = match section {
        Section::Part(p) => (Some(p), Sub::Body, ""),
        Section::Header(p) => (p.as_ref(), Sub::Header, "HEADER"),
        Section::Text(p) => (p.as_ref(), Sub::Text, "TEXT"),
        Section::Mime(p) => (Some(p), Sub::Mime, "MIME"),
        Section::HeaderFields(p, _) => (p.as_ref(), Sub::Header, "HEADER.FIELDS"),
        Section::HeaderFieldsNot(p, _) => (p.as_ref(), Sub::Header, "HEADER.FIELDS.NOT"),
    };
    let path = path_of(part);
    spec.extend_from_slice(dotted(&path).as_bytes());
    if !word.is_empty() {
        if !path.is_empty() {
            spec.push(b'.');
        }
        spec.extend_from_slice(word.as_bytes());
    }
    let range = tree.section(&path, sub);
    let data = match section {
        Section::HeaderFields(_, names) | Section::HeaderFieldsNot(_, names) => {
            let not = matches!(section, Section::HeaderFieldsNot(..));
            spec.push(b' ');
            push_names(&mut spec, names.as_ref());
            let list: Vec<&[u8]> = names.as_ref().iter().map(astring_bytes).collect();
            range.map(|r| message::header_fields(&raw[r], &list, not))
        }
        _ => range.map(|r| raw[r].to_vec()),
    };
    (data, spec)
}

fn partial_of(data: &[u8], partial: Option<(u32, u32)>) -> &[u8] {
    match partial {
        Some((start, len)) => {
            let s = (start as usize).min(data.len());
            let e = s.saturating_add(len as usize).min(data.len());
            &data[s..e]
        }
        None => data,
    }
}

fn push_partial(out: &mut Vec<u8>, data: Option<Vec<u8>>, partial: Option<(u32, u32)>) {
    match data {
        Some(d) => push_nstring(out, Some(partial_of(&d, partial))),
        None => push_nstring(out, None),
    }
}

/// Appends `* seq FETCH (...)\r\n` for the message; `flags` is its rendered flag list.
pub fn render(
    out: &mut Vec<u8>,
    seq: u32,
    msg: &StoredMessage,
    flags: &str,
    items: &[MessageDataItemName<'_>],
) -> Result<(), FetchError> {
    let tree: OnceCell<Node> = OnceCell::new();
    let tree = || tree.get_or_init(|| mime::parse(&msg.raw));
    let start = out.len();
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
                out.extend_from_slice(format!("FLAGS {flags}").as_bytes())
            }
            MessageDataItemName::InternalDate => out.extend_from_slice(
                format!("INTERNALDATE {}", internal_date(&msg.internal_date)).as_bytes(),
            ),
            MessageDataItemName::Rfc822Size => {
                out.extend_from_slice(format!("RFC822.SIZE {}", msg.size()).as_bytes())
            }
            MessageDataItemName::Envelope => {
                out.extend_from_slice(b"ENVELOPE ");
                envelope::push(out, message::header(&msg.raw));
            }
            MessageDataItemName::Body | MessageDataItemName::BodyStructure => {
                let extended = matches!(item, MessageDataItemName::BodyStructure);
                out.extend_from_slice(if extended {
                    b"BODYSTRUCTURE "
                } else {
                    b"BODY "
                });
                bodystructure::push(out, &msg.raw, tree(), extended);
            }
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
                let (data, spec) = section(&msg.raw, tree(), sec.as_ref());
                out.extend_from_slice(b"BODY[");
                out.extend_from_slice(&spec);
                out.push(b']');
                if let Some((start, _)) = partial {
                    out.extend_from_slice(format!("<{start}>").as_bytes());
                }
                out.push(b' ');
                push_partial(out, data, partial.map(|(s, l)| (s, l.get())));
            }
            MessageDataItemName::Binary {
                section: sec,
                partial,
                ..
            } => {
                let path: Vec<u32> = sec.iter().map(|n| n.get()).collect();
                let data = match binary::section(&msg.raw, tree(), &path) {
                    Ok(d) => d,
                    Err(e) => {
                        out.truncate(start);
                        return Err(binary_error(e, "BINARY", &path, seq));
                    }
                };
                out.extend_from_slice(format!("BINARY[{}]", dotted(&path)).as_bytes());
                if let Some((start, _)) = partial {
                    out.extend_from_slice(format!("<{start}>").as_bytes());
                }
                out.push(b' ');
                let data = partial_of(&data, partial.map(|(s, l)| (s, l.get())));
                if data.contains(&0) {
                    // RFC 3516: NUL bytes only travel in a literal8.
                    out.push(b'~');
                    push_literal(out, data);
                } else {
                    push_literal(out, data);
                }
            }
            MessageDataItemName::BinarySize { section: sec } => {
                let path: Vec<u32> = sec.iter().map(|n| n.get()).collect();
                let size = match binary::section(&msg.raw, tree(), &path) {
                    Ok(d) => d.len(),
                    Err(e) => {
                        out.truncate(start);
                        return Err(binary_error(e, "BINARY.SIZE", &path, seq));
                    }
                };
                out.extend_from_slice(format!("BINARY.SIZE[{}] {size}", dotted(&path)).as_bytes());
            }
        }
    }
    out.extend_from_slice(b")\r\n");
    Ok(())
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
        render(&mut out, 1, &msg, "(\\Seen)", &items).expect("renders");
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
