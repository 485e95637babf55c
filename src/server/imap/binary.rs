//! BINARY (RFC 3516): content-transfer-decoded sections for `FETCH BINARY[...]` and
//! `BINARY.SIZE[...]`, and the stored form of a message APPENDed as a literal8, whose parts
//! with NUL bytes are re-encoded as base64 so `BODY[...]` never has to send a NUL. Sans I/O.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::mime::{self, Kind, Node};

/// Why a part cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BinaryError {
    /// No such part.
    NoPart,
    /// A Content-Transfer-Encoding this server does not know (RFC 3516 `UNKNOWN-CTE`).
    UnknownCte(String),
}

fn encoding(raw: &[u8], node: &Node) -> String {
    mime::field(raw, &node.header, "Content-Transfer-Encoding")
        .map(|e| mime::strip_comments(&e).trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// Quoted-printable decoding (RFC 2045 6.7): trailing white space on a line is transport
/// padding and goes, `=` at a line end is a soft break, a malformed `=` stays as it is.
pub fn decode_qp(input: &[u8]) -> Vec<u8> {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(input.len());
    let mut rest = input;
    while !rest.is_empty() {
        let (line, newline, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                let line = rest[..i].strip_suffix(b"\r").unwrap_or(&rest[..i]);
                (line, true, &rest[i + 1..])
            }
            None => (rest, false, &rest[rest.len()..]),
        };
        rest = next;
        let line = line.trim_ascii_end();
        let (line, soft) = match line.strip_suffix(b"=") {
            Some(l) => (l, true),
            None => (line, false),
        };
        let mut i = 0;
        while i < line.len() {
            let c = line[i];
            if c == b'='
                && let (Some(&a), Some(&b)) = (line.get(i + 1), line.get(i + 2))
                && let (Some(a), Some(b)) = (hex(a), hex(b))
            {
                out.push(a << 4 | b);
                i += 3;
                continue;
            }
            out.push(c);
            i += 1;
        }
        if newline && !soft {
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

/// Base64 decoding that skips line breaks and anything outside the alphabet.
pub fn decode_base64(input: &[u8]) -> Vec<u8> {
    let clean: Vec<u8> = input
        .iter()
        .copied()
        .filter(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
        .collect();
    let mut padded = clean;
    while !padded.len().is_multiple_of(4) {
        padded.push(b'=');
    }
    if padded.ends_with(b"===") {
        padded.truncate(padded.len() - 4);
    }
    STANDARD.decode(&padded).unwrap_or_default()
}

/// A body decoded by its Content-Transfer-Encoding (identity for 7bit, 8bit, binary).
pub fn decode_body(raw: &[u8], node: &Node) -> Result<Vec<u8>, BinaryError> {
    let body = &raw[node.body.clone()];
    match encoding(raw, node).as_str() {
        "" | "7bit" | "8bit" | "binary" => Ok(body.to_vec()),
        "base64" => Ok(decode_base64(body)),
        "quoted-printable" => Ok(decode_qp(body)),
        other => Err(BinaryError::UnknownCte(other.to_string())),
    }
}

/// `BINARY[path]`: the whole message for an empty path, else the part decoded. Only leaf
/// parts are decoded; a multipart or an attached message is returned as it is.
pub fn section(raw: &[u8], tree: &Node, path: &[u32]) -> Result<Vec<u8>, BinaryError> {
    if path.is_empty() {
        return Ok(raw.to_vec());
    }
    let node = tree.find(path).ok_or(BinaryError::NoPart)?;
    match node.kind {
        Kind::Leaf => decode_body(raw, node),
        _ => Ok(raw[node.body.clone()].to_vec()),
    }
}

/// base64 in 76-column lines, CRLF between lines (RFC 2045 6.8).
fn encode_base64_lines(data: &[u8]) -> Vec<u8> {
    let text = STANDARD.encode(data);
    let mut out = Vec::with_capacity(text.len() + text.len() / 38);
    for (i, chunk) in text.as_bytes().chunks(76).enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(chunk);
    }
    out
}

/// The header block with Content-Transfer-Encoding set to base64.
fn header_with_base64(header: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(header.len() + 40);
    let mut replaced = false;
    for f in super::message::fields(header) {
        if f.name.eq_ignore_ascii_case(b"Content-Transfer-Encoding") {
            out.extend_from_slice(b"Content-Transfer-Encoding: base64\r\n");
            replaced = true;
        } else {
            out.extend_from_slice(f.bytes);
        }
    }
    if !replaced {
        out.extend_from_slice(b"Content-Transfer-Encoding: base64\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The form a literal8 APPEND is stored in: leaf parts holding NUL bytes become base64 (and
/// say so in their header), so every `BODY[...]` can be sent as an ordinary literal while
/// `BINARY[...]` still returns the original bytes. A message without NUL is kept as is.
pub fn storable(raw: &[u8]) -> Vec<u8> {
    if !raw.contains(&0) {
        return raw.to_vec();
    }
    let tree = mime::parse(raw);
    let mut edits: Vec<(std::ops::Range<usize>, Vec<u8>)> = Vec::new();
    for node in tree.walk() {
        if node.kind != Kind::Leaf || !raw[node.body.clone()].contains(&0) {
            continue;
        }
        let decoded = match decode_body(raw, node) {
            Ok(d) => d,
            Err(_) => raw[node.body.clone()].to_vec(),
        };
        let mut replacement = header_with_base64(&raw[node.header.clone()]);
        replacement.extend_from_slice(&encode_base64_lines(&decoded));
        edits.push((node.header.start..node.body.end, replacement));
    }
    edits.sort_by_key(|(r, _)| r.start);
    let mut out = Vec::with_capacity(raw.len() * 4 / 3 + 64);
    let mut at = 0;
    for (range, replacement) in edits {
        if range.start < at {
            continue;
        }
        out.extend_from_slice(&raw[at..range.start]);
        out.extend_from_slice(&replacement);
        at = range.end;
    }
    out.extend_from_slice(&raw[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qp_and_base64_decode() {
        assert_eq!(decode_qp(b"caf=C3=A9 =\r\nx=3D"), "café x=".as_bytes());
        assert_eq!(decode_qp(b"a=\nb = c=ZZ"), b"ab = c=ZZ");
        // imaptest's fetch-binary-mime-qp: padding, soft breaks after white space.
        assert_eq!(
            decode_qp(
                b"hello  \r\nbar=\r\n\r\nfoo\t=\r\nbar\r\nfoo\t \t= \r\n=62\r\nfoo = \t\r\nbar\r\n"
            ),
            b"hello\r\nbar\r\nfoo\tbar\r\nfoo\t \tb\r\nfoo bar\r\n"
        );
        assert_eq!(decode_base64(b"aGVs\r\nbG8="), b"hello");
        assert_eq!(decode_base64(b"aGVsbG8"), b"hello");
    }

    /// imaptest's append-binary: a binary part with a NUL is stored as base64 and decodes back.
    #[test]
    fn literal8_parts_with_nul_are_stored_as_base64() {
        let raw = b"From: user@domain.org\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n\x00-\xe4\r\n\r\n";
        let stored = storable(raw);
        assert!(!stored.contains(&0));
        let text = String::from_utf8_lossy(&stored);
        assert!(
            text.contains("Content-Transfer-Encoding: base64\r\n\r\nAC3kDQoNCg=="),
            "{text}"
        );
        let tree = mime::parse(&stored);
        assert_eq!(
            section(&stored, &tree, &[1]),
            Ok(b"\x00-\xe4\r\n\r\n".to_vec())
        );
        assert_eq!(storable(b"no nul"), b"no nul");
    }

    #[test]
    fn unknown_encodings_are_reported() {
        let raw = b"Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin";
        let tree = mime::parse(raw);
        assert_eq!(
            section(raw, &tree, &[1]),
            Err(BinaryError::UnknownCte("x-uuencode".into()))
        );
        assert_eq!(section(raw, &tree, &[2]), Err(BinaryError::NoPart));
    }
}
