//! A message's MIME tree with byte offsets (from mail-parser), and the RFC 3501 6.4.5 section
//! numbering over it: `BODY[2.1]`, `[2.MIME]`, `[1.HEADER]`, with message/rfc822 parts
//! numbered through their embedded message as Dovecot does. Sans I/O.

use std::ops::Range;

use mail_parser::{MessageParser, PartType};

use super::message;

/// One MIME entity: the root message, a part of a multipart, or an embedded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The header block, blank line included: the message header for a message, the MIME
    /// header for a part of a multipart.
    pub header: Range<usize>,
    pub body: Range<usize>,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Leaf,
    Multipart(Vec<Node>),
    /// A message/rfc822 part: the embedded message (its own header and body).
    Message(Box<Node>),
}

/// Parses the structure; a message mail-parser cannot read is one leaf.
pub fn parse(raw: &[u8]) -> Node {
    let split = message::header_len(raw);
    let fallback = Node {
        header: 0..split,
        body: split..raw.len(),
        kind: Kind::Leaf,
    };
    let Some(msg) = MessageParser::new().parse(raw) else {
        return fallback;
    };
    if msg.parts.is_empty() {
        return fallback;
    }
    let mut root = build(&msg, 0, raw.len(), 0);
    // The root's header is everything up to the blank line, whatever mail-parser made of it.
    root.header = 0..split;
    root.body = split..raw.len();
    root
}

/// Nesting deeper than this is shown as a leaf (mail-parser stops earlier anyway).
const MAX_DEPTH: usize = 64;

fn build(msg: &mail_parser::Message<'_>, id: usize, end: usize, depth: usize) -> Node {
    let part = &msg.parts[id];
    let header = part.offset_header as usize..part.offset_body as usize;
    let body_end = (part.offset_end as usize).max(part.offset_body as usize);
    let body = part.offset_body as usize..body_end.min(end.max(part.offset_body as usize));
    let kind = if depth > MAX_DEPTH {
        Kind::Leaf
    } else {
        match &part.body {
            PartType::Multipart(ids) => Kind::Multipart(
                ids.iter()
                    .filter(|&&c| (c as usize) < msg.parts.len() && c as usize != id)
                    .map(|&c| build(msg, c as usize, body.end, depth + 1))
                    .collect(),
            ),
            PartType::Message(inner) if !inner.parts.is_empty() => {
                let mut node = build(inner, 0, body.end, depth + 1);
                // The embedded message runs to the end of the part, epilogue included.
                node.header.start = body.start;
                node.body.end = body.end;
                node.body.start = node.body.start.clamp(body.start, body.end);
                node.header.end = node.body.start;
                Kind::Message(Box::new(node))
            }
            _ => Kind::Leaf,
        }
    };
    Node { header, body, kind }
}

/// What a section names within a part (RFC 3501 6.4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sub {
    /// `[1.2]`: the part's body.
    Body,
    /// `[1.2.MIME]`: the part's own (MIME) header.
    Mime,
    /// `[1.HEADER]`: the header of the message (embedded for message/rfc822 parts).
    Header,
    /// `[1.TEXT]`: the body of that message.
    Text,
}

impl Node {
    /// The node a part path names, or `None` when there is no such part.
    ///
    /// Numbers pick a part of a multipart; a non-multipart entity has only part 1, itself.
    /// When more numbers follow a message/rfc822 part, they number the embedded message's
    /// parts (so `[2.1]` is the first part of the message attached as part 2).
    pub fn find(&self, path: &[u32]) -> Option<&Node> {
        let mut part = self;
        for (i, &n) in path.iter().enumerate() {
            match &part.kind {
                Kind::Multipart(children) => part = children.get((n as usize).checked_sub(1)?)?,
                _ if n == 1 => {}
                _ => return None,
            }
            if i + 1 < path.len()
                && let Kind::Message(inner) = &part.kind
            {
                part = inner;
            }
        }
        Some(part)
    }

    /// The byte range a section names, or `None` when the part does not exist.
    pub fn section(&self, path: &[u32], sub: Sub) -> Option<Range<usize>> {
        let part = self.find(path)?;
        // HEADER / TEXT of a message/rfc822 part mean its embedded message's.
        let message = match &part.kind {
            Kind::Message(inner) if !path.is_empty() => inner,
            _ => part,
        };
        Some(match sub {
            Sub::Body => part.body.clone(),
            Sub::Mime => part.header.clone(),
            Sub::Header => message.header.clone(),
            Sub::Text => message.body.clone(),
        })
    }

    /// The leaf and multipart nodes in depth-first order (embedded messages included).
    pub fn walk(&self) -> Vec<&Node> {
        let mut out = vec![self];
        match &self.kind {
            Kind::Leaf => {}
            Kind::Multipart(children) => {
                for c in children {
                    out.extend(c.walk());
                }
            }
            Kind::Message(inner) => out.extend(inner.walk()),
        }
        out
    }
}

/// A structured header field value split into its first token (`text/plain`, `attachment`)
/// and its `; name=value` parameters, quotes removed (RFC 2045 5.1, RFC 2183).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    pub value: String,
    pub params: Vec<(String, String)>,
}

/// Parses `text/plain; charset="us-ascii"; format=flowed` (comments dropped).
pub fn params(field: &str) -> Params {
    let text = strip_comments(field);
    let mut out = Params::default();
    let mut rest = text.as_str();
    let (value, tail) = split_unquoted(rest, ';');
    out.value = value.trim().to_string();
    rest = tail;
    while !rest.is_empty() {
        let (item, tail) = split_unquoted(rest, ';');
        rest = tail;
        let Some((name, value)) = item.split_once('=') else {
            continue;
        };
        let name = name.trim();
        if name.is_empty() {
            continue;
        }
        out.params.push((name.to_string(), unquote(value.trim())));
    }
    out
}

impl Params {
    /// A parameter by name, case-insensitively.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Splits at the first `sep` outside a quoted string; the separator is dropped.
fn split_unquoted(s: &str, sep: char) -> (&str, &str) {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' && quoted {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            return (&s[..i], &s[i + 1..]);
        }
    }
    (s, "")
}

fn unquote(s: &str) -> String {
    let Some(inner) = s.strip_prefix('"') else {
        return s.to_string();
    };
    let inner = inner.strip_suffix('"').unwrap_or(inner);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Removes RFC 5322 comments (nested parentheses outside quoted strings).
pub fn strip_comments(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut depth = 0usize;
    let mut quoted = false;
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            escaped = false;
            if depth == 0 {
                out.push(c);
            }
            continue;
        }
        match c {
            '\\' if quoted || depth > 0 => {
                escaped = true;
                if depth == 0 {
                    out.push(c);
                }
            }
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push(c);
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => depth -= 1,
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// The first value of a header field within a header block, unfolded.
pub fn field(raw: &[u8], header: &Range<usize>, name: &str) -> Option<String> {
    message::values(&raw[header.clone()], name)
        .into_iter()
        .next()
}

/// `Content-Type` of a node as (type, subtype, params), lower-cased type names, with the
/// RFC 2045 default (`text/plain; charset=us-ascii`, or `message/rfc822` in a digest).
pub fn content_type(raw: &[u8], node: &Node, in_digest: bool) -> (String, String, Params) {
    let parsed = field(raw, &node.header, "Content-Type").map(|v| params(&v));
    if let Some(p) = parsed
        && let Some((t, s)) = p.value.split_once('/')
        && !t.trim().is_empty()
        && !s.trim().is_empty()
    {
        return (t.trim().to_string(), s.trim().to_string(), p);
    }
    if in_digest {
        return ("message".into(), "rfc822".into(), Params::default());
    }
    let mut p = Params::default();
    p.params.push(("charset".into(), "us-ascii".into()));
    ("text".into(), "plain".into(), p)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// imaptest's fetch-body-mime message, CRLF line ends.
    fn nested() -> Vec<u8> {
        let text = "From: user@domain.org\nContent-Type: multipart/mixed; boundary=\"foo\n bar\"\n\nRoot MIME prologue\n\n--foo bar\nContent-Type: text/x-myown; charset=us-ascii\n\nhello\n\n--foo bar\nContent-Type: message/rfc822\n\nFrom: sub@domain.org\nSubject: submsg\nContent-Type: multipart/alternative; boundary=\"sub1\"\n\nSub MIME prologue\n--sub1\nContent-Type: text/html\n\n<p>Hello world</p>\n\n--sub1\nContent-Type: text/plain\n\nHello another world\n\n--sub1--\nSub MIME epilogue\n\n--foo bar--\nRoot MIME epilogue\n";
        text.replace('\n', "\r\n").into_bytes()
    }

    fn get(raw: &[u8], path: &[u32], sub: Sub) -> String {
        let tree = parse(raw);
        let r = tree.section(path, sub).expect("section exists");
        String::from_utf8_lossy(&raw[r]).into_owned()
    }

    #[test]
    fn parts_of_nested_multiparts_and_messages() {
        let raw = nested();
        assert_eq!(get(&raw, &[1], Sub::Body), "hello\r\n");
        assert_eq!(
            get(&raw, &[1], Sub::Mime),
            "Content-Type: text/x-myown; charset=us-ascii\r\n\r\n"
        );
        assert!(get(&raw, &[2], Sub::Body).starts_with("From: sub@domain.org\r\n"));
        assert!(get(&raw, &[2], Sub::Body).ends_with("Sub MIME epilogue\r\n"));
        assert_eq!(
            get(&raw, &[2], Sub::Mime),
            "Content-Type: message/rfc822\r\n\r\n"
        );
        assert!(get(&raw, &[2], Sub::Header).ends_with("boundary=\"sub1\"\r\n\r\n"));
        assert!(get(&raw, &[2], Sub::Text).starts_with("Sub MIME prologue\r\n"));
        assert_eq!(get(&raw, &[2, 1], Sub::Body), "<p>Hello world</p>\r\n");
        assert_eq!(get(&raw, &[2, 2, 1], Sub::Body), "Hello another world\r\n");
        assert_eq!(
            get(&raw, &[2, 2], Sub::Mime),
            "Content-Type: text/plain\r\n\r\n"
        );
        let tree = parse(&raw);
        assert_eq!(tree.find(&[3]), None);
        assert_eq!(tree.find(&[1, 2]), None);
    }

    #[test]
    fn message_rfc822_body_numbers_through_the_embedded_message() {
        let raw = b"From: a@x\r\nContent-Type: message/rfc822\r\n\r\nFrom: b@y\r\nSubject: s\r\n\r\nHello\r\n";
        assert_eq!(
            get(raw, &[1], Sub::Body),
            "From: b@y\r\nSubject: s\r\n\r\nHello\r\n"
        );
        assert_eq!(get(raw, &[1, 1], Sub::Body), "Hello\r\n");
        assert_eq!(
            get(raw, &[1], Sub::Header),
            "From: b@y\r\nSubject: s\r\n\r\n"
        );
        assert_eq!(get(raw, &[1], Sub::Text), "Hello\r\n");
        assert_eq!(
            get(raw, &[], Sub::Text),
            "From: b@y\r\nSubject: s\r\n\r\nHello\r\n"
        );
    }

    #[test]
    fn deep_nesting_is_cut_not_a_stack_overflow() {
        let mut raw = String::new();
        for _ in 0..3000 {
            raw.push_str("Content-Type: message/rfc822\r\n\r\n");
        }
        raw.push_str("Subject: deep\r\n\r\nbody\r\n");
        let tree = parse(raw.as_bytes());
        assert!(tree.walk().len() <= MAX_DEPTH + 3);
        let mut raw = String::new();
        for i in 0..3000 {
            raw.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n"
            ));
        }
        raw.push_str("\r\nleaf\r\n");
        let tree = parse(raw.as_bytes());
        assert!(tree.walk().len() <= MAX_DEPTH + 3);
    }

    #[test]
    fn parameters() {
        let p = params("text/plain; charset=\"us-ascii\" (comment); format=flowed");
        assert_eq!(p.value, "text/plain");
        assert_eq!(p.get("CHARSET"), Some("us-ascii"));
        assert_eq!(p.get("format"), Some("flowed"));
        let p = params("multipart/mixed; boundary=\"a;b\\\"c\"");
        assert_eq!(p.get("boundary"), Some("a;b\"c"));
    }
}
