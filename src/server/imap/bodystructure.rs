//! `BODY` and `BODYSTRUCTURE` (RFC 3501 7.4.2) over the MIME tree: media types, parameters,
//! id, description, encoding, sizes and line counts, envelopes of attached messages, and for
//! BODYSTRUCTURE the extension data (MD5, disposition, language, location). Sans I/O.

use super::envelope;
use super::mime::{self, Kind, Node, Params};
use super::wire::{push_nstring, push_string};

fn push_params(out: &mut Vec<u8>, p: &Params) {
    if p.params.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for (i, (name, value)) in p.params.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        push_string(out, name.as_bytes());
        out.push(b' ');
        push_string(out, value.as_bytes());
    }
    out.push(b')');
}

fn field(raw: &[u8], node: &Node, name: &str) -> Option<String> {
    mime::field(raw, &node.header, name).filter(|v| !v.is_empty())
}

fn push_field(out: &mut Vec<u8>, value: Option<String>) {
    push_nstring(out, value.as_deref().map(str::as_bytes));
}

/// `(disposition (params))`, language and location: the extension data both kinds share.
fn push_disposition_language_location(out: &mut Vec<u8>, raw: &[u8], node: &Node) {
    out.push(b' ');
    match field(raw, node, "Content-Disposition") {
        Some(d) => {
            let p = mime::params(&d);
            out.push(b'(');
            push_string(out, p.value.as_bytes());
            out.push(b' ');
            push_params(out, &p);
            out.push(b')');
        }
        None => out.extend_from_slice(b"NIL"),
    }
    out.push(b' ');
    let langs: Vec<String> = field(raw, node, "Content-Language")
        .map(|l| {
            mime::strip_comments(&l)
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    match langs.as_slice() {
        [] => out.extend_from_slice(b"NIL"),
        [one] => push_string(out, one.as_bytes()),
        many => {
            out.push(b'(');
            for (i, l) in many.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                push_string(out, l.as_bytes());
            }
            out.push(b')');
        }
    }
    out.push(b' ');
    push_field(out, field(raw, node, "Content-Location"));
}

/// Lines of a body: its line ends, plus a last line without one.
fn lines(body: &[u8]) -> usize {
    let n = body.iter().filter(|&&b| b == b'\n').count();
    if body.last().is_some_and(|&b| b != b'\n') {
        n + 1
    } else {
        n
    }
}

/// Appends the structure of `node` (`extended`: BODYSTRUCTURE rather than BODY).
pub fn push(out: &mut Vec<u8>, raw: &[u8], node: &Node, extended: bool) {
    push_node(out, raw, node, extended, false);
}

fn push_node(out: &mut Vec<u8>, raw: &[u8], node: &Node, extended: bool, in_digest: bool) {
    let (ty, subtype, params) = mime::content_type(raw, node, in_digest);
    out.push(b'(');
    if let Kind::Multipart(children) = &node.kind {
        let digest = subtype.eq_ignore_ascii_case("digest");
        if children.is_empty() {
            // RFC 3501 needs at least one part; show an empty text part, as Dovecot does.
            out.extend_from_slice(
                b"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)",
            );
        }
        for child in children {
            push_node(out, raw, child, extended, digest);
        }
        out.push(b' ');
        push_string(out, subtype.as_bytes());
        if extended {
            out.push(b' ');
            push_params(out, &params);
            push_disposition_language_location(out, raw, node);
        }
        out.push(b')');
        return;
    }
    push_string(out, ty.as_bytes());
    out.push(b' ');
    push_string(out, subtype.as_bytes());
    out.push(b' ');
    push_params(out, &params);
    out.push(b' ');
    push_field(out, field(raw, node, "Content-ID"));
    out.push(b' ');
    push_field(out, field(raw, node, "Content-Description"));
    out.push(b' ');
    let encoding = field(raw, node, "Content-Transfer-Encoding")
        .map(|e| mime::strip_comments(&e).trim().to_string())
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| "7bit".to_string());
    push_string(out, encoding.as_bytes());
    let body = &raw[node.body.clone()];
    out.extend_from_slice(format!(" {}", body.len()).as_bytes());
    match &node.kind {
        Kind::Message(inner)
            if ty.eq_ignore_ascii_case("message") && subtype.eq_ignore_ascii_case("rfc822") =>
        {
            out.push(b' ');
            envelope::push(out, &raw[inner.header.clone()]);
            out.push(b' ');
            push_node(out, raw, inner, extended, false);
            out.extend_from_slice(format!(" {}", lines(body)).as_bytes());
        }
        _ if ty.eq_ignore_ascii_case("text") => {
            out.extend_from_slice(format!(" {}", lines(body)).as_bytes());
        }
        _ => {}
    }
    if extended {
        out.push(b' ');
        push_field(out, field(raw, node, "Content-MD5"));
        push_disposition_language_location(out, raw, node);
    }
    out.push(b')');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn structure(raw: &str, extended: bool) -> String {
        let raw = raw.replace('\n', "\r\n");
        let tree = mime::parse(raw.as_bytes());
        let mut out = Vec::new();
        push(&mut out, raw.as_bytes(), &tree, extended);
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn imaptest_fetch_bodystructure() {
        let raw = "From: user@domain.org\nMime-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"foo\n bar\"\n\n--foo bar\nContent-Type: text/x-myown; charset=us-ascii\n\nhello\n\n--foo bar--\n";
        assert_eq!(
            structure(raw, false),
            "((\"text\" \"x-myown\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 7 1) \"mixed\")"
        );
        assert_eq!(
            structure(raw, true),
            "((\"text\" \"x-myown\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 7 1 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"foo bar\") NIL NIL NIL)"
        );
    }

    #[test]
    fn attachments_and_attached_messages() {
        let raw = "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nhi\n--b\nContent-Type: application/pdf; name=\"a.pdf\"\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"a.pdf\"\nContent-Language: en, de\n\nJVBERg==\n--b\nContent-Type: message/rfc822\n\nFrom: x@y\nSubject: s\n\nbody\n--b--\n";
        assert_eq!(
            structure(raw, true),
            "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 2 1 NIL NIL NIL NIL)(\"application\" \"pdf\" (\"name\" \"a.pdf\") NIL NIL \"base64\" 8 NIL (\"attachment\" (\"filename\" \"a.pdf\")) (\"en\" \"de\") NIL)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 29 (NIL \"s\" ((NIL NIL \"x\" \"y\")) ((NIL NIL \"x\" \"y\")) ((NIL NIL \"x\" \"y\")) NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 4 1 NIL NIL NIL NIL) 4 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"b\") NIL NIL NIL)"
        );
    }
}
