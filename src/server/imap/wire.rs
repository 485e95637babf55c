//! The server's wire forms, sans I/O: quoting strings and literals, mailbox names (the
//! delimiter, INBOX in any case), flag lists, dates, UID sets, and the `>>` / `<<` trace lines
//! with credentials replaced by `****`.

use chrono::{DateTime, FixedOffset};

/// The hierarchy delimiter, as LIST announces it.
pub const DELIMITER: u8 = b'/';

/// A mailbox name from the wire: `INBOX` in any case becomes `INBOX`; a trailing delimiter
/// (`CREATE a/`, "will have inferiors") is dropped.
pub fn name_of(bytes: &[u8]) -> String {
    let name = String::from_utf8_lossy(bytes);
    let name = name.trim_end_matches(DELIMITER as char);
    if name.eq_ignore_ascii_case("INBOX") {
        "INBOX".to_string()
    } else if name.len() > 6
        && name
            .get(..6)
            .is_some_and(|p| p.eq_ignore_ascii_case("INBOX/"))
    {
        format!("INBOX{}", &name[5..])
    } else {
        name.to_string()
    }
}

/// A name as an IMAP string (quoted, or a literal when it must be).
pub fn quoted(name: &str) -> String {
    let mut v = Vec::new();
    push_string(&mut v, name.as_bytes());
    String::from_utf8_lossy(&v).into_owned()
}

/// Appends `s` as an IMAP string: quoted when it can be, a literal otherwise.
pub fn push_string(out: &mut Vec<u8>, s: &[u8]) {
    let quotable = s.len() < 1024 && s.iter().all(|&b| (0x20..0x7f).contains(&b));
    if quotable {
        out.push(b'"');
        for &b in s {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        push_literal(out, s);
    }
}

/// Appends `s` as a synchronizing-form literal (`{n}\r\n` then the bytes).
pub fn push_literal(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(format!("{{{}}}\r\n", s.len()).as_bytes());
    out.extend_from_slice(s);
}

/// `NIL` or the string.
pub fn push_nstring(out: &mut Vec<u8>, s: Option<&[u8]>) {
    match s {
        Some(s) => push_string(out, s),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// INTERNALDATE form: `"17-Jul-1996 02:44:25 -0700"`.
pub fn internal_date(d: &DateTime<FixedOffset>) -> String {
    d.format("\"%d-%b-%Y %H:%M:%S %z\"").to_string()
}

/// Compresses ascending UIDs into a set: `1:3,5,7:8` (for COPYUID).
pub fn uid_set(uids: &[u32]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end.wrapping_add(1) {
            i += 1;
            end = uids[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}:{end}")
        });
        i += 1;
    }
    parts.join(",")
}

/// How much of a message to show in a trace line.
const TRACE_MAX: usize = 300;

/// A client message for the debug trace: CRLF escaped, LOGIN / AUTHENTICATE arguments replaced
/// by `****`, long payloads cut.
pub fn trace_client(bytes: &[u8]) -> String {
    let line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    // Look past odd spacing and a stray word: a malformed LOGIN still carries a password.
    let words: Vec<&[u8]> = line
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .take(3)
        .collect();
    for (i, w) in words.iter().enumerate() {
        let verb = String::from_utf8_lossy(w).to_ascii_uppercase();
        if verb == "LOGIN" || verb == "AUTHENTICATE" {
            let tag = if i > 0 { escape(words[0]) } else { "*".into() };
            return format!("{tag} {verb} ****");
        }
    }
    escape(&bytes[..bytes.len().min(TRACE_MAX)])
}

/// CR, LF and other control bytes escaped so one trace line stays one line.
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\r' => s.push_str("\\r"),
                '\n' => s.push_str("\\n"),
                c if c.is_control() => s.push_str(&format!("\\x{:02x}", c as u32)),
                c => s.push(c),
            }
        }
        for b in chunk.invalid() {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s
}

/// A server write for the debug trace, cut to a readable length.
pub fn trace_server(bytes: &[u8]) -> String {
    let mut s = escape(&bytes[..bytes.len().min(TRACE_MAX)]);
    if bytes.len() > TRACE_MAX {
        s.push_str(&format!("... ({} bytes)", bytes.len()));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_patterns() {
        assert_eq!(name_of(b"inbox"), "INBOX");
        assert_eq!(name_of(b"a/b/"), "a/b");
        assert_eq!(name_of(b"Inbox/x"), "INBOX/x");
    }

    #[test]
    fn strings_quote_or_become_literals() {
        let mut out = Vec::new();
        push_string(&mut out, b"[Gmail]/All \"Mail\\");
        assert_eq!(out, b"\"[Gmail]/All \\\"Mail\\\\\"");
        out.clear();
        push_string(&mut out, b"a\r\nb");
        assert_eq!(out, b"{4}\r\na\r\nb");
    }

    #[test]
    fn uid_sets_compress_runs() {
        assert_eq!(uid_set(&[1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
        assert_eq!(uid_set(&[4]), "4");
        assert_eq!(uid_set(&[]), "");
    }

    #[test]
    fn traces_hide_credentials() {
        assert_eq!(
            trace_client(b"a1 login alice \"secret\"\r\n"),
            "a1 LOGIN ****"
        );
        assert_eq!(
            trace_client(b"a2 AUTHENTICATE PLAIN AGFAYg==\r\n"),
            "a2 AUTHENTICATE ****"
        );
        assert_eq!(trace_client(b"a3 NOOP\r\n"), "a3 NOOP\\r\\n");
        assert_eq!(trace_client(b"a4  LOGIN  u p\r\n"), "a4 LOGIN ****");
        assert_eq!(trace_client(b"LOGIN u p\r\n"), "* LOGIN ****");
        assert_eq!(escape(b"\x00\xff"), "\\x00\\xff");
    }

    #[test]
    fn internal_date_has_rfc3501_form() {
        let d = DateTime::parse_from_rfc3339("1996-07-17T02:44:25-07:00").expect("date");
        assert_eq!(internal_date(&d), "\"17-Jul-1996 02:44:25 -0700\"");
    }
}
