//! Text as a reader sees it, for SEARCH and SORT: RFC 2047 encoded words in header values,
//! bodies decoded by Content-Transfer-Encoding and converted from their charset to UTF-8
//! (charset tables from mail-parser). Sans I/O.

use mail_parser::decoders::charsets::map::charset_decoder;

use super::binary;
use super::mime::{self, Kind, Node};

/// Bytes in `charset` as UTF-8; unknown charsets are read as UTF-8, lossily.
pub fn to_utf8(charset: &str, bytes: &[u8]) -> String {
    let cs = charset.trim().to_ascii_lowercase();
    if cs.is_empty() || cs == "utf-8" || cs == "us-ascii" || cs == "utf8" {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    match charset_decoder(cs.as_bytes()) {
        Some(decode) => decode(bytes),
        None => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Whether SEARCH CHARSET can name this charset.
pub fn known_charset(charset: &str) -> bool {
    let cs = charset.trim().to_ascii_lowercase();
    cs == "utf-8" || cs == "us-ascii" || charset_decoder(cs.as_bytes()).is_some()
}

/// One `=?charset?enc?text?=` word, decoded; `None` when it is not a valid encoded word.
fn encoded_word(word: &str) -> Option<String> {
    let inner = word.strip_prefix("=?")?.strip_suffix("?=")?;
    let mut it = inner.splitn(3, '?');
    let charset = it.next()?;
    let enc = it.next()?;
    let text = it.next()?;
    // RFC 2231 language suffix: `utf-8*en`.
    let charset = charset.split('*').next().unwrap_or(charset);
    let bytes = match enc {
        "B" | "b" => binary::decode_base64(text.as_bytes()),
        "Q" | "q" => {
            let spaced: Vec<u8> = text
                .bytes()
                .map(|b| if b == b'_' { b' ' } else { b })
                .collect();
            binary::decode_qp(&spaced)
        }
        _ => return None,
    };
    Some(to_utf8(charset, &bytes))
}

/// Decodes the encoded words of an unstructured header value (RFC 2047); white space
/// between adjacent encoded words is dropped, as section 6.2 asks.
pub fn header_value(value: &str) -> String {
    if !value.contains("=?") {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len());
    let mut pending_space = String::new();
    let mut last_encoded = false;
    let mut rest = value;
    while !rest.is_empty() {
        let ws = rest.len() - rest.trim_start().len();
        if ws > 0 {
            pending_space.push_str(&rest[..ws]);
            rest = &rest[ws..];
            continue;
        }
        let end = rest.find([' ', '\t']).unwrap_or(rest.len());
        let word = &rest[..end];
        rest = &rest[end..];
        match encoded_word(word) {
            Some(text) => {
                if !last_encoded {
                    out.push_str(&pending_space);
                }
                out.push_str(&text);
                last_encoded = true;
            }
            None => {
                out.push_str(&pending_space);
                out.push_str(word);
                last_encoded = false;
            }
        }
        pending_space.clear();
    }
    out
}

/// The readable text of every leaf part, decoded and in UTF-8, parts separated by newlines.
pub fn body_text(raw: &[u8], tree: &Node) -> String {
    let mut out = String::new();
    collect(raw, tree, &mut out, false);
    out
}

fn collect(raw: &[u8], node: &Node, out: &mut String, in_digest: bool) {
    match &node.kind {
        Kind::Multipart(children) => {
            let (_, subtype, _) = mime::content_type(raw, node, in_digest);
            let digest = subtype.eq_ignore_ascii_case("digest");
            for c in children {
                collect(raw, c, out, digest);
            }
        }
        Kind::Message(inner) => {
            // An attached message's header counts as text of the attachment.
            out.push_str(&header_value(&String::from_utf8_lossy(
                &raw[inner.header.clone()],
            )));
            collect(raw, inner, out, false);
        }
        Kind::Leaf => {
            let (_, _, params) = mime::content_type(raw, node, in_digest);
            let bytes =
                binary::decode_body(raw, node).unwrap_or_else(|_| raw[node.body.clone()].to_vec());
            out.push_str(&to_utf8(params.get("charset").unwrap_or(""), &bytes));
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_words() {
        assert_eq!(header_value("=?UTF-8?Q?Caf=C3=A9?= ok"), "Café ok");
        assert_eq!(
            header_value("=?utf-8?B?Q2Fmw6k=?= =?utf-8?Q?_au_lait?="),
            "Café au lait"
        );
        assert_eq!(header_value("=?iso-8859-1?q?caf=E9?="), "café");
        assert_eq!(header_value("plain =?bogus"), "plain =?bogus");
    }

    #[test]
    fn bodies_are_decoded() {
        let raw = "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=E9\r\n--b\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8gd29ybGQ=\r\n--b--\r\n";
        let tree = mime::parse(raw.as_bytes());
        let text = body_text(raw.as_bytes(), &tree);
        assert!(text.contains("café"), "{text}");
        assert!(text.contains("hello world"), "{text}");
    }
}
