//! The SMTP [`Reply`] writer: code, enhanced status and text lines in wire form (a CR or LF in
//! the text can never forge a line), and fault replies given verbatim.

use std::borrow::Cow;
use std::fmt;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
