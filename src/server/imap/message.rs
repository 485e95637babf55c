//! Just enough RFC 5322 for FETCH sections and SEARCH: splitting a raw message into header
//! and text, walking header fields, and unfolding header values. Bytes stay byte-exact.

/// Length of the header section including the blank line that ends it (the whole message when
/// there is no blank line).
pub fn header_len(raw: &[u8]) -> usize {
    if raw.starts_with(b"\r\n") {
        return 2;
    }
    if raw.starts_with(b"\n") {
        return 1;
    }
    let mut i = 0;
    while let Some(off) = raw[i..].iter().position(|&b| b == b'\n') {
        let next = i + off + 1;
        if raw[next..].starts_with(b"\r\n") {
            return next + 2;
        }
        if raw[next..].starts_with(b"\n") {
            return next + 1;
        }
        i = next;
    }
    raw.len()
}

/// `BODY[HEADER]`: the header section with its blank line.
pub fn header(raw: &[u8]) -> &[u8] {
    &raw[..header_len(raw)]
}

/// `BODY[TEXT]`: everything after the blank line.
pub fn text(raw: &[u8]) -> &[u8] {
    &raw[header_len(raw)..]
}

/// One header field: its name and its bytes as stored, continuation lines and line end included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    pub name: &'a [u8],
    pub bytes: &'a [u8],
}

impl Field<'_> {
    /// The value with folding removed and surrounding white space trimmed.
    pub fn value(&self) -> String {
        let colon = self.bytes.iter().position(|&b| b == b':').unwrap_or(0);
        let raw = &self.bytes[(colon + 1).min(self.bytes.len())..];
        let unfolded: Vec<u8> = raw
            .iter()
            .copied()
            .filter(|&b| b != b'\r' && b != b'\n')
            .collect();
        String::from_utf8_lossy(&unfolded).trim().to_string()
    }
}

/// The header fields in order (lines that are neither a field nor a continuation are skipped).
pub fn fields<'a>(raw: &'a [u8]) -> Vec<Field<'a>> {
    let head: &'a [u8] = header(raw);
    let mut out: Vec<Field<'a>> = Vec::new();
    let mut start: Option<usize> = None;
    let mut i = 0;
    let close = |out: &mut Vec<Field<'a>>, from: usize, to: usize| {
        let bytes: &'a [u8] = &head[from..to];
        if let Some(colon) = bytes.iter().position(|&b| b == b':') {
            let name = bytes[..colon].trim_ascii();
            out.push(Field { name, bytes });
        }
    };
    while i < head.len() {
        let end = head[i..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(head.len(), |p| i + p + 1);
        let line = &head[i..end];
        let blank = line == b"\r\n" || line == b"\n";
        let continuation = matches!(line.first(), Some(b' ' | b'\t'));
        if !continuation {
            if let Some(s) = start.take() {
                close(&mut out, s, i);
            }
            if !blank {
                start = Some(i);
            }
        }
        i = end;
    }
    if let Some(s) = start {
        close(&mut out, s, head.len());
    }
    out
}

/// `BODY[HEADER.FIELDS (..)]` (or `.NOT` when `not`): the matching fields as stored, then the
/// blank line, as RFC 3501 6.4.5 requires.
pub fn header_fields(raw: &[u8], names: &[&[u8]], not: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for f in fields(raw) {
        let named = names.iter().any(|n| n.eq_ignore_ascii_case(f.name));
        if named != not {
            out.extend_from_slice(f.bytes);
            if !f.bytes.ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Unfolded values of every field called `name` (case-insensitive).
pub fn values(raw: &[u8], name: &str) -> Vec<String> {
    fields(raw)
        .into_iter()
        .filter(|f| f.name.eq_ignore_ascii_case(name.as_bytes()))
        .map(|f| f.value())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] =
        b"Subject: hi\r\n there\r\nX-Mailtrip-Probe: abc\r\nMessage-ID: <1@x>\r\n\r\nbody\r\n";

    #[test]
    fn splits_header_and_text() {
        assert_eq!(text(MSG), b"body\r\n");
        assert!(header(MSG).ends_with(b"<1@x>\r\n\r\n"));
        assert_eq!(header_len(b"no blank line"), 13);
        assert_eq!(text(b"\r\nonly body"), b"only body");
        assert_eq!(text(b"A: b\n\nlf body"), b"lf body");
    }

    #[test]
    fn header_fields_keep_bytes_and_end_with_blank_line() {
        assert_eq!(
            header_fields(MSG, &[b"message-id", b"X-MAILTRIP-PROBE"], false),
            b"X-Mailtrip-Probe: abc\r\nMessage-ID: <1@x>\r\n\r\n"
        );
        assert_eq!(
            header_fields(MSG, &[b"subject"], false),
            b"Subject: hi\r\n there\r\n\r\n"
        );
        assert_eq!(
            header_fields(MSG, &[b"subject", b"message-id"], true),
            b"X-Mailtrip-Probe: abc\r\n\r\n"
        );
    }

    #[test]
    fn values_are_unfolded() {
        assert_eq!(values(MSG, "SUBJECT"), vec!["hi there".to_string()]);
        assert!(values(MSG, "To").is_empty());
    }
}
