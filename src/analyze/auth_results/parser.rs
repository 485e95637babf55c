//! The `Authentication-Results` value parser (RFC 8601): a byte cursor over the value that
//! skips comments and folding, reads the authserv-id, then each `method=result` clause with its
//! reason and properties, accepting the deviations real servers send.

use super::{AuthResults, MethodResult, ParseError};

/// Parses one header value (everything after `Authentication-Results:`).
///
/// Beyond RFC 8601 this accepts: a missing authserv-id (Microsoft 365 starts with `spf=`),
/// the `i=N;` instance prefix of `ARC-Authentication-Results`, properties without a ptype
/// (`action=none`), `reason=` after properties, stray words, empty clauses and trailing `;`.
pub fn parse(value: &str) -> Result<AuthResults, ParseError> {
    let mut c = Cursor {
        s: value.as_bytes(),
        pos: 0,
    };
    c.skip_cfws();
    c.skip_arc_instance();

    // An authserv-id never contains '=', so `word =` means the id was left out.
    let start = c.pos;
    let first = c.keyword();
    c.skip_cfws();
    let has_id = first.is_empty() || !matches!(c.peek(), Some(b'=' | b'/'));
    c.pos = start;
    let authserv_id = if has_id {
        let id = c.value();
        if id.is_empty() {
            return Err(c.error("an authserv-id"));
        }
        c.skip_cfws();
        c.skip_version();
        id
    } else {
        String::new()
    };

    let mut results = Vec::new();
    let mut need_semicolon = has_id;
    loop {
        c.skip_cfws();
        match c.peek() {
            None => break,
            Some(b';') => c.pos += 1,
            Some(_) if need_semicolon => return Err(c.error("';'")),
            Some(_) => {}
        }
        need_semicolon = true;
        c.skip_cfws();
        match c.peek() {
            None => break,          // trailing ';'
            Some(b';') => continue, // empty clause
            Some(_) => {}
        }
        let at = c.pos;
        let method = c.keyword().to_ascii_lowercase();
        if method.is_empty() {
            return Err(c.error("a method name"));
        }
        c.skip_cfws();
        if method == "none" && c.peek() != Some(b'=') && results.is_empty() {
            continue; // no-result: "authserv-id; none"
        }
        if c.peek() == Some(b'/') {
            c.pos += 1;
            c.skip_cfws();
            c.keyword(); // method version, e.g. "dkim/1"
            c.skip_cfws();
        }
        if c.peek() != Some(b'=') {
            c.pos = at;
            return Err(c.error("'=' after the method name"));
        }
        c.pos += 1;
        c.skip_cfws();
        let result = c.keyword().to_ascii_lowercase();
        if result.is_empty() {
            return Err(c.error("a result keyword"));
        }
        let mut entry = MethodResult {
            method,
            result,
            reason: None,
            properties: Vec::new(),
        };
        c.properties(&mut entry);
        results.push(entry);
    }
    Ok(AuthResults {
        authserv_id,
        results,
    })
}

/// A byte cursor; it only ever stops on ASCII bytes, so slices stay valid UTF-8.
struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn error(&self, expected: &'static str) -> ParseError {
        ParseError {
            offset: self.pos,
            expected,
        }
    }

    fn text(&self, from: usize, to: usize) -> String {
        String::from_utf8_lossy(self.s.get(from..to).unwrap_or_default()).into_owned()
    }

    /// Skips folding whitespace and comments; comments nest and honour `\` quoted-pairs.
    /// An unterminated comment runs to the end of the value.
    fn skip_cfws(&mut self) {
        while let Some(b) = self.peek() {
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => self.pos += 1,
                b'(' => {
                    let mut depth = 0usize;
                    while let Some(b) = self.peek() {
                        self.pos += 1;
                        match b {
                            b'\\' => self.pos += 1,
                            b'(' => depth += 1,
                            b')' => {
                                depth -= 1;
                                if depth == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        }
                    }
                    self.pos = self.pos.min(self.s.len());
                }
                _ => break,
            }
        }
    }

    /// A method, result or property name: letters, digits, `-`, `_`, `.`.
    fn keyword(&mut self) -> String {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
                self.pos += 1;
            } else {
                break;
            }
        }
        self.text(start, self.pos)
    }

    /// A quoted-string (unquoted, quoted-pairs resolved) or a run of bytes up to whitespace,
    /// `;` or `(`. Keeps `@`, `/`, `+` and `=`, so addr-specs and base64 survive.
    /// A quoted local-part followed by `@domain` is joined back into one addr-spec.
    fn value(&mut self) -> String {
        if self.peek() == Some(b'"') {
            let quoted = self.quoted();
            if self.peek() == Some(b'@') {
                return format!("{quoted}{}", self.bare());
            }
            return quoted;
        }
        self.bare()
    }

    fn bare(&mut self) -> String {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b';' | b'(') {
                break;
            }
            self.pos += 1;
        }
        self.text(start, self.pos)
    }

    fn quoted(&mut self) -> String {
        self.pos += 1; // opening quote
        let mut out = Vec::new();
        while let Some(b) = self.peek() {
            self.pos += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    if let Some(next) = self.peek() {
                        out.push(next);
                        self.pos += 1;
                    }
                }
                b'\r' | b'\n' => {} // folding inside a quoted-string
                _ => out.push(b),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// `i=1;` at the start of an ARC-Authentication-Results value.
    fn skip_arc_instance(&mut self) {
        let start = self.pos;
        if self.keyword().eq_ignore_ascii_case("i") {
            self.skip_cfws();
            if self.peek() == Some(b'=') {
                self.pos += 1;
                self.skip_cfws();
                let digits = self.keyword();
                self.skip_cfws();
                if !digits.is_empty()
                    && digits.bytes().all(|b| b.is_ascii_digit())
                    && self.peek() == Some(b';')
                {
                    self.pos += 1;
                    self.skip_cfws();
                    return;
                }
            }
        }
        self.pos = start;
    }

    /// The optional authres-version after the authserv-id.
    fn skip_version(&mut self) {
        let start = self.pos;
        let digits = self.keyword();
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            self.pos = start;
        }
    }

    /// `reason=` and `ptype.property=value` pairs up to the next `;`; stray words are skipped.
    fn properties(&mut self, entry: &mut MethodResult) {
        loop {
            self.skip_cfws();
            match self.peek() {
                None | Some(b';') => return,
                Some(b'"') => {
                    self.quoted(); // stray quoted-string
                    continue;
                }
                Some(_) => {}
            }
            let start = self.pos;
            let key = self.keyword().to_ascii_lowercase();
            self.skip_cfws();
            if key.is_empty() || self.peek() != Some(b'=') {
                if self.pos == start {
                    self.bare(); // not a keyword at all
                    if self.pos == start {
                        self.pos += 1; // cannot happen, but always make progress
                    }
                }
                continue;
            }
            self.pos += 1;
            self.skip_cfws();
            let value = self.value();
            if key == "reason" && entry.reason.is_none() {
                entry.reason = Some(value);
            } else {
                entry.properties.push((key, value));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::auth_results::tests::fixtures;

    fn fixture(name: &str) -> AuthResults {
        let f = fixtures().into_iter().find(|f| f.name == name).unwrap();
        parse(&f.value).unwrap()
    }

    #[test]
    fn gmail_properties_and_comments() {
        let ar = fixture("gmail.txt");
        assert_eq!(ar.authserv_id, "mx.google.com");
        let dkim = &ar.results[0];
        assert_eq!(dkim.property("header.i"), Some("@example.com"));
        assert_eq!(dkim.property("header.s"), Some("20230601"));
        assert_eq!(dkim.property("header.b"), Some("AbCdEf12"));
        let spf = &ar.results[1];
        assert_eq!(spf.property("smtp.mailfrom"), Some("x@example.com"));
        assert_eq!(spf.properties.len(), 1, "the comment is not a property");
        assert_eq!(ar.results[2].property("header.from"), Some("example.com"));
    }

    #[test]
    fn microsoft_has_no_authserv_id_and_reason_after_properties() {
        let ar = fixture("microsoft365.txt");
        assert_eq!(ar.authserv_id, "");
        let methods: Vec<_> = ar.results.iter().map(|r| r.method.as_str()).collect();
        assert_eq!(methods, ["spf", "dkim", "dmarc", "compauth"]);
        assert_eq!(ar.results[2].property("action"), Some("none"));
        assert_eq!(ar.results[3].reason.as_deref(), Some("100"));
    }

    #[test]
    fn fastmail_arc_prefix_unknown_methods_and_several_dkim() {
        let ar = fixture("fastmail-arc.txt");
        assert_eq!(ar.authserv_id, "mx3.messagingengine.com");
        assert_eq!(ar.results[0].method, "arc");
        let ar = fixture("fastmail.txt");
        assert_eq!(ar.results.iter().filter(|r| r.method == "dkim").count(), 3);
        let sender = ar.results.iter().find(|r| r.method == "x-me-sender");
        assert_eq!(sender.map(|r| r.result.as_str()), Some("none"));
        let tls = ar.results.iter().find(|r| r.method == "x-tls").unwrap();
        assert_eq!(tls.property("smtp.bits"), Some("256/256"));
    }

    #[test]
    fn opendkim_comment_with_semicolon() {
        let ar = fixture("postfix-opendkim.txt");
        assert_eq!(ar.results.len(), 1);
        let dkim = &ar.results[0];
        assert_eq!(dkim.property("header.a"), Some("rsa-sha256"));
        assert_eq!(dkim.property("header.b"), Some("abc123"));
    }

    #[test]
    fn none_with_version() {
        let ar = parse("mail.example.org 1; none").unwrap();
        assert_eq!(ar.authserv_id, "mail.example.org");
        assert!(ar.results.is_empty());
        let ar = parse("mx.example.org; none").unwrap();
        assert!(ar.results.is_empty());
    }

    #[test]
    fn quoted_values_reason_and_case() {
        let ar = parse(
            "\"mx.example.org\"; SPF=SoftFail reason=\"a \\\"quoted\\\" reason\" \
             smtp.MailFrom=\"john doe\"@example.com (comment (nested \\) still)) \
             smtp.helo=mx.example.net;",
        )
        .unwrap();
        assert_eq!(ar.authserv_id, "mx.example.org");
        let spf = &ar.results[0];
        assert_eq!(
            (spf.method.as_str(), spf.result.as_str()),
            ("spf", "softfail")
        );
        assert_eq!(spf.reason.as_deref(), Some("a \"quoted\" reason"));
        assert_eq!(
            spf.properties,
            [
                ("smtp.mailfrom".into(), "john doe@example.com".into()),
                ("smtp.helo".into(), "mx.example.net".into())
            ]
        );
    }

    #[test]
    fn method_version_and_folding() {
        let ar = parse("mx.example.org;\r\n\tdkim/1=pass\r\n header.d=example.com").unwrap();
        assert_eq!(ar.results[0].method, "dkim");
        assert_eq!(ar.results[0].property("header.d"), Some("example.com"));
    }

    #[test]
    fn errors_name_the_position() {
        let e = parse("mx.example.org spf=pass").unwrap_err();
        assert_eq!(e.offset(), 15);
        assert_eq!(
            e.to_string(),
            "authentication-results: expected ';' at byte 15"
        );
        assert_eq!(parse("  (only a comment)").unwrap_err().offset(), 18);
        assert!(parse("; spf=pass").is_err());
        assert!(parse("mx.example.org; =pass").is_err());
        assert!(parse("mx.example.org; spf").is_err());
        assert!(parse("mx.example.org; spf=").is_err());
    }
}
