//! The SMTP line framer: splits command lines off the input buffer, says "read more" for a
//! partial one, and drains an over-long line so framing recovers after it.

use std::borrow::Cow;

use bytes::{Buf, Bytes, BytesMut};

/// Longest command line accepted, CRLF included. RFC 5321 says 512, but RFC 4954 raises it
/// to 12288 for AUTH lines (XOAUTH2 initial responses carry a whole bearer token).
pub const MAX_COMMAND_LINE: usize = 12288;

/// One command line without its line ending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line(pub Bytes);

impl Line {
    /// The line as text; invalid UTF-8 becomes U+FFFD so garbage still parses (to `Unknown`).
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }

    /// The first word, upper-cased: what `smtp_hang_on` and the traces match on.
    pub fn verb(&self) -> String {
        let text = self.text();
        text.split(' ').next().unwrap_or("").to_ascii_uppercase()
    }
}

/// A line longer than the limit. The framer drained it (through its LF if one was buffered);
/// when `terminated` is false the rest of the line is still to come and must be skipped
/// with [`skip_line`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLong {
    pub terminated: bool,
}

/// Splits one line off `buf`. `Ok(None)` means "read more"; a bare `\n` ends a line too.
pub fn parse_line(buf: &mut BytesMut, max_line: usize) -> Result<Option<Line>, TooLong> {
    match buf.iter().position(|&b| b == b'\n') {
        Some(i) if i + 1 > max_line => {
            buf.advance(i + 1);
            Err(TooLong { terminated: true })
        }
        Some(i) => {
            let mut line = buf.split_to(i + 1);
            line.truncate(i);
            if line.last() == Some(&b'\r') {
                line.truncate(i - 1);
            }
            Ok(Some(Line(line.freeze())))
        }
        None if buf.len() >= max_line => {
            buf.clear();
            Err(TooLong { terminated: false })
        }
        None => Ok(None),
    }
}

/// Discards bytes through the next LF; true when the LF was found (the line is skipped).
pub fn skip_line(buf: &mut BytesMut) -> bool {
    match buf.iter().position(|&b| b == b'\n') {
        Some(i) => {
            buf.advance(i + 1);
            true
        }
        None => {
            buf.clear();
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &[u8]) -> Line {
        Line(Bytes::copy_from_slice(s))
    }

    fn all_lines(buf: &mut BytesMut) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(Some(l)) = parse_line(buf, MAX_COMMAND_LINE) {
            out.push(l.text().into_owned());
        }
        out
    }

    #[test]
    fn framer_needs_more_until_lf() {
        let mut buf = BytesMut::from(&b"EHLO x"[..]);
        assert_eq!(parse_line(&mut buf, 512), Ok(None));
        buf.extend_from_slice(b"\r");
        assert_eq!(parse_line(&mut buf, 512), Ok(None));
        buf.extend_from_slice(b"\nNOOP\n");
        assert_eq!(
            parse_line(&mut buf, 512),
            Ok(Some(line(b"EHLO x"))),
            "CRLF stripped"
        );
        assert_eq!(
            parse_line(&mut buf, 512),
            Ok(Some(line(b"NOOP"))),
            "bare LF accepted"
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn pipelined_commands_split_at_every_byte_boundary() {
        let wire = b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n";
        for cut in 0..=wire.len() {
            let mut buf = BytesMut::from(&wire[..cut]);
            let mut got = all_lines(&mut buf);
            buf.extend_from_slice(&wire[cut..]);
            got.extend(all_lines(&mut buf));
            assert_eq!(
                got,
                ["MAIL FROM:<a@b>", "RCPT TO:<c@d>", "DATA"],
                "cut at {cut}"
            );
            assert!(buf.is_empty(), "cut at {cut}");
        }
    }

    #[test]
    fn oversize_line_is_drained_and_framing_recovers() {
        let mut buf = BytesMut::from(&b"NOOP aaaaaaaaaa\r\nQUIT\r\n"[..]);
        assert_eq!(parse_line(&mut buf, 8), Err(TooLong { terminated: true }));
        assert_eq!(parse_line(&mut buf, 8), Ok(Some(line(b"QUIT"))));

        let mut buf = BytesMut::from(&b"NOOP aaaaaaaaaa"[..]);
        assert_eq!(parse_line(&mut buf, 8), Err(TooLong { terminated: false }));
        assert!(buf.is_empty());
        buf.extend_from_slice(b"aaaa");
        assert!(!skip_line(&mut buf));
        buf.extend_from_slice(b"aa\r\nQUIT\r\n");
        assert!(skip_line(&mut buf));
        assert_eq!(parse_line(&mut buf, 8), Ok(Some(line(b"QUIT"))));
    }

    #[test]
    fn a_line_of_exactly_the_limit_fits() {
        let mut buf = BytesMut::from(&b"NOOP\r\n"[..]);
        assert_eq!(parse_line(&mut buf, 6), Ok(Some(line(b"NOOP"))));
        let mut buf = BytesMut::from(&b"NOOPX\r\n"[..]);
        assert!(parse_line(&mut buf, 6).is_err());
    }
}
