//! One [`Command`] per SMTP verb (RFC 5321 4.1, RFC 3207, RFC 4954), parsed from a framed
//! [`Line`]: verbs are case-insensitive, paths keep quoted local parts, and garbage becomes
//! `Unknown` or `Invalid`, never a panic.

use super::line::Line;

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

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn line(s: &[u8]) -> Line {
        Line(Bytes::copy_from_slice(s))
    }

    fn cmd(s: &str) -> Command {
        Command::parse(&line(s.as_bytes()))
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
    }

    #[test]
    fn malformed_arguments_are_invalid() {
        for line in [
            "RCPT TO:<>",
            "MAIL FROM:a@b",
            "MAIL FROM:<a@b",
            "MAIL TO:<a@b>",
            "MAIL FROM:<a@b>SIZE=1",
            "MAIL FROM:<a b@c>",
            "MAIL",
            "AUTH",
            "AUTH PLAIN a b",
            "EHLO",
            "DATA now",
            "STARTTLS x",
        ] {
            let got = cmd(line);
            assert!(matches!(got, Command::Invalid(_)), "{line:?}: {got:?}");
        }
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
}
