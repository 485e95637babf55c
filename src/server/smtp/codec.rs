//! Sans-I/O SMTP wire format: a line framer, one [`Command`] per verb, the [`Reply`] writer and
//! the DATA reader (dot-unstuffing and size limit). Nothing here touches a socket, so every
//! byte-boundary case is unit-tested with known-answer strings.

use std::borrow::Cow;
use std::fmt;

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

/// An ESMTP parameter: `KEY` or `KEY=VALUE` (key as sent; compare case-insensitively).
pub type Param = (String, Option<String>);

/// One SMTP command (RFC 5321 4.1, RFC 3207, RFC 4954).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Ehlo(String),
    Helo(String),
    StartTls,
    Auth {
        mechanism: String,
        initial: Option<String>,
    },
    /// `address` is the path without brackets; empty for the null reverse-path `<>`.
    MailFrom {
        address: String,
        params: Vec<Param>,
    },
    RcptTo {
        address: String,
        params: Vec<Param>,
    },
    Data,
    Rset,
    Noop,
    Quit,
    Vrfy(String),
    Help,
    /// A verb this server does not know.
    Unknown(String),
    /// A known verb with bad arguments; the text says what is wrong.
    Invalid(String),
}

impl Command {
    /// Parses one command line (verbs are case-insensitive).
    pub fn parse(line: &Line) -> Command {
        let text = line.text();
        if text.contains(|c: char| c.is_control() && c != '\t') {
            let verb = line.verb();
            return if known_verb(&verb) {
                Command::Invalid("Control characters in command".into())
            } else {
                Command::Unknown(verb)
            };
        }
        let (verb, rest) = match text.split_once(' ') {
            Some((v, r)) => (v, r.trim()),
            None => (text.as_ref(), ""),
        };
        let verb = verb.to_ascii_uppercase();
        let no_args = |cmd: Command| {
            if rest.is_empty() {
                cmd
            } else {
                Command::Invalid(format!("Syntax: {verb} takes no arguments"))
            }
        };
        match verb.as_str() {
            "EHLO" | "HELO" if rest.is_empty() || rest.contains(' ') => {
                Command::Invalid(format!("Syntax: {verb} hostname"))
            }
            "EHLO" => Command::Ehlo(rest.to_string()),
            "HELO" => Command::Helo(rest.to_string()),
            "STARTTLS" => no_args(Command::StartTls),
            "AUTH" => {
                let mut words = rest.split_ascii_whitespace();
                match (words.next(), words.next(), words.next()) {
                    (Some(mechanism), initial, None) => Command::Auth {
                        mechanism: mechanism.to_ascii_uppercase(),
                        initial: initial.map(str::to_string),
                    },
                    _ => Command::Invalid("Syntax: AUTH mechanism [initial-response]".into()),
                }
            }
            "MAIL" => match path_arg(rest, "FROM:") {
                Some((address, params)) => Command::MailFrom { address, params },
                None => Command::Invalid("Syntax: MAIL FROM:<address>".into()),
            },
            "RCPT" => match path_arg(rest, "TO:") {
                Some((address, params)) if !address.is_empty() => {
                    Command::RcptTo { address, params }
                }
                _ => Command::Invalid("Syntax: RCPT TO:<address>".into()),
            },
            "DATA" => no_args(Command::Data),
            "RSET" => no_args(Command::Rset),
            "QUIT" => no_args(Command::Quit),
            // RFC 5321 4.1.1.9: NOOP may carry a string, to be ignored; HELP may name a topic.
            "NOOP" => Command::Noop,
            "HELP" => Command::Help,
            "VRFY" if rest.is_empty() => Command::Invalid("Syntax: VRFY address".into()),
            "VRFY" => Command::Vrfy(rest.to_string()),
            _ => Command::Unknown(verb),
        }
    }
}

fn known_verb(verb: &str) -> bool {
    matches!(
        verb,
        "EHLO"
            | "HELO"
            | "STARTTLS"
            | "AUTH"
            | "MAIL"
            | "RCPT"
            | "DATA"
            | "RSET"
            | "NOOP"
            | "QUIT"
            | "VRFY"
            | "HELP"
    )
}

/// Parses `FROM:<path> PARAMS` / `TO:<path> PARAMS`. A space after the colon is tolerated
/// (several clients send one); the brackets are required.
fn path_arg(rest: &str, prefix: &str) -> Option<(String, Vec<Param>)> {
    let head = rest.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = rest[prefix.len()..].trim_start();
    let inner = rest.strip_prefix('<')?;
    // Find the closing bracket outside a quoted local part (`<"a>b"@example.com>`).
    let mut quoted = false;
    let mut escaped = false;
    let mut end = None;
    for (i, c) in inner.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '>' if !quoted => {
                end = Some(i);
                break;
            }
            _ => {}
        }
    }
    let end = end?;
    let mut address = &inner[..end];
    // Drop an RFC 5321 source route: `<@relay1,@relay2:user@host>`.
    if address.starts_with('@') {
        address = address.split_once(':')?.1;
    }
    if address.contains([' ', '<']) && !address.starts_with('"') {
        return None;
    }
    let after = &inner[end + 1..];
    if !after.is_empty() && !after.starts_with(' ') {
        return None;
    }
    let params = after
        .split_ascii_whitespace()
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (p.to_string(), None),
        })
        .collect::<Vec<_>>();
    if params.iter().any(|(k, _)| k.is_empty()) {
        return None;
    }
    Some((address.to_string(), params))
}

/// A reply: `code`, an optional RFC 3463 enhanced status code, and one or more text lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub enhanced: Option<Cow<'static, str>>,
    pub lines: Vec<String>,
}

impl Reply {
    /// A one-line reply with an enhanced status code.
    pub fn new(code: u16, enhanced: &'static str, text: impl Into<String>) -> Reply {
        Reply {
            code,
            enhanced: Some(Cow::Borrowed(enhanced)),
            lines: vec![text.into()],
        }
    }

    /// A reply without an enhanced code (greeting, EHLO, AUTH challenges).
    pub fn plain(code: u16, lines: Vec<String>) -> Reply {
        Reply {
            code,
            enhanced: None,
            lines,
        }
    }

    /// The wire form: `250-first\r\n250 last\r\n`.
    pub fn encode(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let last = self.lines.len().saturating_sub(1);
        let empty = [String::new()];
        let lines = if self.lines.is_empty() {
            &empty[..]
        } else {
            &self.lines[..]
        };
        for (i, line) in lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            write!(f, "{}{sep}", self.code)?;
            if let Some(enhanced) = &self.enhanced {
                write!(f, "{enhanced} ")?;
            }
            // A CR or LF inside a line would forge a reply; never let one through.
            for c in line.chars() {
                let c = if c == '\r' || c == '\n' { ' ' } else { c };
                write!(f, "{c}")?;
            }
            f.write_str("\r\n")?;
        }
        Ok(())
    }
}

/// A reply given verbatim as `\n`-separated lines that already carry their codes (the
/// `smtp_auth_reject` fault), in wire form with CRLF.
pub fn encode_verbatim(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 8);
    for line in text.split('\n') {
        out.extend_from_slice(line.trim_end_matches('\r').as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Progress of [`DataReader::feed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataStatus {
    NeedMore,
    /// The message, dot-unstuffed, with CRLF line endings.
    Done(Bytes),
    /// The terminator arrived but the message exceeded the limit (reply 552 5.3.4).
    TooBig,
}

/// Reads a DATA section up to `<CRLF>.<CRLF>`. It consumes partial lines as they arrive
/// (so one huge line cannot grow the buffer without bound) and, past the size limit, keeps
/// consuming to the terminator while storing nothing.
#[derive(Debug)]
pub struct DataReader {
    max: usize,
    body: BytesMut,
    at_line_start: bool,
    overflow: bool,
}

impl DataReader {
    pub fn new(max: usize) -> DataReader {
        DataReader {
            max,
            body: BytesMut::new(),
            at_line_start: true,
            overflow: false,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.overflow {
            return;
        }
        if self.body.len() + bytes.len() > self.max {
            self.overflow = true;
            self.body = BytesMut::new();
            return;
        }
        self.body.extend_from_slice(bytes);
    }

    /// Consumes what it can from `buf`; bytes after the terminator stay in `buf`.
    pub fn feed(&mut self, buf: &mut BytesMut) -> DataStatus {
        loop {
            if self.at_line_start {
                match buf.first() {
                    None => return DataStatus::NeedMore,
                    Some(b'.') => match (buf.get(1), buf.get(2)) {
                        (None, _) | (Some(b'\r'), None) => return DataStatus::NeedMore,
                        (Some(b'\n'), _) | (Some(b'\r'), Some(b'\n')) => {
                            let n = if buf[1] == b'\n' { 2 } else { 3 };
                            buf.advance(n);
                            return self.finish();
                        }
                        // Dot-stuffing (RFC 5321 4.5.2): drop the leading dot.
                        _ => buf.advance(1),
                    },
                    Some(_) => {}
                }
                self.at_line_start = false;
            }
            match buf.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    let line = buf.split_to(i + 1);
                    let content = match line[..i].last() {
                        Some(b'\r') => &line[..i - 1],
                        _ => &line[..i],
                    };
                    self.push(content);
                    self.push(b"\r\n");
                    self.at_line_start = true;
                }
                None => {
                    // Keep a trailing CR: it may be half of the CRLF that ends the line.
                    let keep = usize::from(buf.last() == Some(&b'\r'));
                    let part = buf.split_to(buf.len() - keep);
                    self.push(&part);
                    return DataStatus::NeedMore;
                }
            }
        }
    }

    fn finish(&mut self) -> DataStatus {
        if self.overflow {
            DataStatus::TooBig
        } else {
            DataStatus::Done(std::mem::take(&mut self.body).freeze())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &[u8]) -> Line {
        Line(Bytes::copy_from_slice(s))
    }

    fn cmd(s: &str) -> Command {
        Command::parse(&line(s.as_bytes()))
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

    #[test]
    fn verbs_are_case_insensitive() {
        assert_eq!(
            cmd("ehlo client.example"),
            Command::Ehlo("client.example".into())
        );
        assert_eq!(cmd("HeLo client"), Command::Helo("client".into()));
        assert_eq!(cmd("starttls"), Command::StartTls);
        assert_eq!(cmd("data"), Command::Data);
        assert_eq!(cmd("Rset"), Command::Rset);
        assert_eq!(cmd("quit"), Command::Quit);
        assert_eq!(cmd("noop whatever"), Command::Noop);
        assert_eq!(cmd("help me"), Command::Help);
        assert_eq!(cmd("vrfy bob"), Command::Vrfy("bob".into()));
        assert_eq!(
            cmd("mail from:<a@b> size=10"),
            Command::MailFrom {
                address: "a@b".into(),
                params: vec![("size".into(), Some("10".into()))]
            }
        );
    }

    #[test]
    fn address_forms() {
        assert_eq!(
            cmd("MAIL FROM:<a@b>"),
            Command::MailFrom {
                address: "a@b".into(),
                params: vec![]
            }
        );
        assert_eq!(
            cmd("MAIL FROM:<>"),
            Command::MailFrom {
                address: "".into(),
                params: vec![]
            }
        );
        assert_eq!(
            cmd("MAIL FROM:<a@b> SIZE=123 BODY=8BITMIME SMTPUTF8"),
            Command::MailFrom {
                address: "a@b".into(),
                params: vec![
                    ("SIZE".into(), Some("123".into())),
                    ("BODY".into(), Some("8BITMIME".into())),
                    ("SMTPUTF8".into(), None),
                ]
            }
        );
        assert_eq!(
            cmd("MAIL FROM: <a@b>"),
            Command::MailFrom {
                address: "a@b".into(),
                params: vec![]
            },
            "space after the colon is tolerated"
        );
        assert_eq!(
            cmd("RCPT TO:<@relay.example:c@d>"),
            Command::RcptTo {
                address: "c@d".into(),
                params: vec![]
            },
            "source route dropped"
        );
        assert_eq!(
            cmd("RCPT TO:<\"odd>name\"@d>"),
            Command::RcptTo {
                address: "\"odd>name\"@d".into(),
                params: vec![]
            }
        );
        assert!(matches!(cmd("RCPT TO:<>"), Command::Invalid(_)));
        assert!(matches!(cmd("MAIL FROM:a@b"), Command::Invalid(_)));
        assert!(matches!(cmd("MAIL FROM:<a@b"), Command::Invalid(_)));
        assert!(matches!(cmd("MAIL TO:<a@b>"), Command::Invalid(_)));
        assert!(matches!(cmd("MAIL FROM:<a@b>SIZE=1"), Command::Invalid(_)));
        assert!(matches!(cmd("MAIL FROM:<a b@c>"), Command::Invalid(_)));
        assert!(matches!(cmd("MAIL"), Command::Invalid(_)));
    }

    #[test]
    fn auth_and_arguments() {
        assert_eq!(
            cmd("AUTH plain AGFAYg=="),
            Command::Auth {
                mechanism: "PLAIN".into(),
                initial: Some("AGFAYg==".into())
            }
        );
        assert_eq!(
            cmd("AUTH LOGIN"),
            Command::Auth {
                mechanism: "LOGIN".into(),
                initial: None
            }
        );
        assert!(matches!(cmd("AUTH"), Command::Invalid(_)));
        assert!(matches!(cmd("AUTH PLAIN a b"), Command::Invalid(_)));
        assert!(matches!(cmd("EHLO"), Command::Invalid(_)));
        assert!(matches!(cmd("DATA now"), Command::Invalid(_)));
        assert!(matches!(cmd("STARTTLS x"), Command::Invalid(_)));
    }

    #[test]
    fn garbage_is_unknown_never_a_panic() {
        assert_eq!(cmd("XYZZY"), Command::Unknown("XYZZY".into()));
        assert_eq!(cmd(""), Command::Unknown("".into()));
        assert!(matches!(
            Command::parse(&line(b"\0\xff\xfe GET / HTTP/1.1")),
            Command::Unknown(_)
        ));
        assert!(matches!(
            Command::parse(&line(b"NOOP \0")),
            Command::Invalid(_)
        ));
        // Every single byte and a few multi-byte sequences parse to something.
        for b in 0..=255u8 {
            let _ = Command::parse(&line(&[b]));
            let _ = Command::parse(&line(&[b'M', b'A', b'I', b'L', b' ', b]));
            let _ = Command::parse(&line(&[b'R', b'C', b'P', b'T', b' ', b'T', b'O', b':', b]));
        }
        let _ = Command::parse(&line("MAIL FROM:<é".as_bytes()));
        let _ = Command::parse(&line("MAIL FROMé:<a>".as_bytes()));
    }

    #[test]
    fn reply_wire_form() {
        assert_eq!(
            Reply::new(250, "2.1.0", "Ok").to_string(),
            "250 2.1.0 Ok\r\n"
        );
        assert_eq!(
            Reply::plain(
                250,
                vec!["localhost".into(), "PIPELINING".into(), "8BITMIME".into()]
            )
            .to_string(),
            "250-localhost\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
        );
        assert_eq!(
            Reply::plain(334, vec![String::new()]).to_string(),
            "334 \r\n"
        );
        assert_eq!(
            Reply::new(550, "5.1.1", "<a\r\n250 b>").to_string(),
            "550 5.1.1 <a  250 b>\r\n",
            "CR/LF in text cannot forge a reply line"
        );
    }

    #[test]
    fn verbatim_reply_gets_crlf() {
        assert_eq!(
            encode_verbatim("534-5.7.9 one\n534 5.7.9 two"),
            b"534-5.7.9 one\r\n534 5.7.9 two\r\n"
        );
    }

    fn read_data(chunks: &[&[u8]], max: usize) -> (DataStatus, BytesMut) {
        let mut reader = DataReader::new(max);
        let mut buf = BytesMut::new();
        for (i, chunk) in chunks.iter().enumerate() {
            buf.extend_from_slice(chunk);
            match reader.feed(&mut buf) {
                DataStatus::NeedMore => {}
                done => {
                    // Whatever the client sent later stays for the command framer.
                    chunks[i + 1..]
                        .iter()
                        .for_each(|c| buf.extend_from_slice(c));
                    return (done, buf);
                }
            }
        }
        (DataStatus::NeedMore, buf)
    }

    #[test]
    fn data_is_unstuffed_and_terminated() {
        let (status, rest) = read_data(
            &[b"Subject: x\r\n\r\n..leading dot\r\n.\r\n..\r\nend\r\n.\r\nQUIT\r\n"],
            1000,
        );
        assert_eq!(
            status,
            DataStatus::Done(Bytes::from_static(b"Subject: x\r\n\r\n.leading dot\r\n"))
        );
        assert_eq!(&rest[..], b"..\r\nend\r\n.\r\nQUIT\r\n");

        let (status, _) = read_data(&[b"..\r\n...x\r\n.\r\n"], 1000);
        assert_eq!(
            status,
            DataStatus::Done(Bytes::from_static(b".\r\n..x\r\n"))
        );
    }

    #[test]
    fn empty_message() {
        let (status, rest) = read_data(&[b".\r\n"], 1000);
        assert_eq!(status, DataStatus::Done(Bytes::new()));
        assert!(rest.is_empty());
    }

    #[test]
    fn terminator_split_at_every_byte_boundary() {
        let wire = b"a\r\n.b\r\nc.\r\n\r\n.\r\nNOOP\r\n";
        for cut in 0..=wire.len() {
            for cut2 in cut..=wire.len() {
                let (status, rest) =
                    read_data(&[&wire[..cut], &wire[cut..cut2], &wire[cut2..]], 1000);
                assert_eq!(
                    status,
                    DataStatus::Done(Bytes::from_static(b"a\r\nb\r\nc.\r\n\r\n")),
                    "cuts at {cut}, {cut2}"
                );
                assert_eq!(&rest[..], b"NOOP\r\n", "cuts at {cut}, {cut2}");
            }
        }
    }

    #[test]
    fn bare_lf_is_accepted_and_stored_as_crlf() {
        let (status, _) = read_data(&[b"a\nb\r\n.\n"], 1000);
        assert_eq!(status, DataStatus::Done(Bytes::from_static(b"a\r\nb\r\n")));
        let (status, _) = read_data(&[b"a\rb\n.\r\n"], 1000);
        assert_eq!(
            status,
            DataStatus::Done(Bytes::from_static(b"a\rb\r\n")),
            "a lone CR inside a line is kept"
        );
    }

    #[test]
    fn oversize_message_is_consumed_to_the_terminator() {
        let (status, rest) = read_data(&[b"0123456789\r\n", b"0123456789\r\n.\r\nRSET\r\n"], 15);
        assert_eq!(status, DataStatus::TooBig);
        assert_eq!(&rest[..], b"RSET\r\n");
        let (status, _) = read_data(&[b"0123456789\r\n.\r\n"], 12);
        assert_eq!(
            status,
            DataStatus::Done(Bytes::from_static(b"0123456789\r\n")),
            "exactly the limit fits"
        );
    }

    #[test]
    fn a_long_line_without_lf_is_consumed_as_it_arrives() {
        let mut reader = DataReader::new(100);
        let mut buf = BytesMut::from(&[b'x'; 80][..]);
        assert_eq!(reader.feed(&mut buf), DataStatus::NeedMore);
        assert!(buf.is_empty());
        buf.extend_from_slice(b"xxxx\r");
        assert_eq!(reader.feed(&mut buf), DataStatus::NeedMore);
        assert_eq!(&buf[..], b"\r", "a trailing CR waits for its LF");
        buf.extend_from_slice(b"\n.\r\n");
        let DataStatus::Done(body) = reader.feed(&mut buf) else {
            panic!("not done");
        };
        assert_eq!(body.len(), 86);
        assert!(body.ends_with(b"x\r\n"));
    }
}
