//! Parses `Authentication-Results` and `ARC-Authentication-Results` header values (RFC 8601),
//! which mail-parser leaves raw, and folds them into one SPF / DKIM / DMARC / ARC verdict.
//! The parser is byte-level, tolerant of real-world deviations, and never panics.

use serde::Serialize;

/// One parsed `Authentication-Results` header value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthResults {
    /// The host that did the checks; empty when the header omits it (Microsoft 365 does).
    pub authserv_id: String,
    /// Empty for the `none` form (`mx.example.org; none`).
    pub results: Vec<MethodResult>,
}

/// One `method=result` clause with its reason and properties.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MethodResult {
    /// Lowercased: `spf`, `dkim`, `dmarc`, `arc`, `auth`, `iprev`, or any unknown method as-is.
    pub method: String,
    /// Lowercased: `pass`, `fail`, `softfail`, `neutral`, `none`, `temperror`, `permerror`, ...
    pub result: String,
    pub reason: Option<String>,
    /// `(ptype.property, value)` in header order, the key lowercased and the value verbatim,
    /// e.g. `("header.d", "gmail.com")`, `("smtp.mailfrom", "x@example.com")`.
    pub properties: Vec<(String, String)>,
}

impl MethodResult {
    /// The result as an [`Outcome`].
    pub fn outcome(&self) -> Outcome {
        Outcome::from_result(&self.result)
    }

    /// The first value of property `key` (`"header.d"`), compared case-insensitively.
    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

/// A result keyword mapped onto the RFC 8601 / RFC 7208 vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Pass,
    Fail,
    Softfail,
    Neutral,
    None,
    Temperror,
    Permerror,
    Policy,
    Other,
}

impl Outcome {
    /// Maps a result keyword, case-insensitively; `hardfail` (seen in the wild) counts as `fail`.
    pub fn from_result(result: &str) -> Outcome {
        match result.to_ascii_lowercase().as_str() {
            "pass" => Outcome::Pass,
            "fail" | "hardfail" => Outcome::Fail,
            "softfail" => Outcome::Softfail,
            "neutral" => Outcome::Neutral,
            "none" => Outcome::None,
            "temperror" => Outcome::Temperror,
            "permerror" => Outcome::Permerror,
            "policy" => Outcome::Policy,
            _ => Outcome::Other,
        }
    }

    /// How much a non-pass result says: when several results disagree and none passes,
    /// the most telling one is reported.
    fn weight(self) -> u8 {
        match self {
            Outcome::Pass => 9,
            Outcome::Fail => 8,
            Outcome::Permerror => 7,
            Outcome::Temperror => 6,
            Outcome::Softfail => 5,
            Outcome::Policy => 4,
            Outcome::Neutral => 3,
            Outcome::Other => 2,
            Outcome::None => 1,
        }
    }
}

/// The verdict per method over a message's `Authentication-Results` headers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthSummary {
    pub spf: Outcome,
    pub dkim: Outcome,
    pub dmarc: Outcome,
    pub arc: Outcome,
    /// Every value that parsed, in the order given.
    pub headers: Vec<AuthResults>,
}

/// A header value that is not RFC 8601 shaped, even leniently.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("authentication-results: expected {expected} at byte {offset}")]
pub struct ParseError {
    offset: usize,
    expected: &'static str,
}

impl ParseError {
    /// Byte offset into the value where parsing stopped.
    pub fn offset(&self) -> usize {
        self.offset
    }
}

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

/// Parses every value it can and reports, per method, the result of the first header that
/// mentions it: pass when any of that header's results passes (a message often carries several
/// DKIM signatures), otherwise the most telling one; [`Outcome::None`] when no header mentions it.
///
/// Pass the values in message order. The topmost header was added by the receiving server;
/// lower ones came from upstream hops or from the sender and cannot be trusted over it.
pub fn summarize(values: &[&str]) -> AuthSummary {
    let headers: Vec<AuthResults> = values.iter().filter_map(|v| parse(v).ok()).collect();
    let verdict = |method: &str| {
        headers
            .iter()
            .map(|h| {
                h.results
                    .iter()
                    .filter(|r| r.method == method)
                    .map(MethodResult::outcome)
                    .max_by_key(|o| o.weight())
            })
            .find_map(|o| o)
            .unwrap_or(Outcome::None)
    };
    AuthSummary {
        spf: verdict("spf"),
        dkim: verdict("dkim"),
        dmarc: verdict("dmarc"),
        arc: verdict("arc"),
        headers,
    }
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

    fn fixture_dir() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/auth-results")
    }

    struct Fixture {
        name: String,
        expect: Vec<(String, String)>,
        value: String,
    }

    fn fixtures() -> Vec<Fixture> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(fixture_dir()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("txt") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let (head, value) = text.split_once("\n\n").unwrap();
            let expect = head
                .lines()
                .map(|l| {
                    let (k, v) = l.split_once(':').unwrap();
                    (k.trim().to_string(), v.trim().to_string())
                })
                .collect();
            out.push(Fixture {
                name: path.file_name().unwrap().to_string_lossy().into_owned(),
                expect,
                value: value.to_string(),
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    fn outcome_name(o: Outcome) -> String {
        serde_json::to_value(o)
            .unwrap()
            .as_str()
            .unwrap()
            .to_string()
    }

    #[test]
    fn fixtures_parse_and_summarize_as_expected() {
        let fixtures = fixtures();
        assert!(fixtures.len() >= 9, "found {} fixtures", fixtures.len());
        for f in &fixtures {
            let parsed = parse(&f.value).unwrap_or_else(|e| panic!("{}: {e}", f.name));
            let summary = summarize(&[&f.value]);
            for (key, want) in &f.expect {
                let got = match key.as_str() {
                    "expect-spf" => outcome_name(summary.spf),
                    "expect-dkim" => outcome_name(summary.dkim),
                    "expect-dmarc" => outcome_name(summary.dmarc),
                    "expect-arc" => outcome_name(summary.arc),
                    "expect-authserv-id" => parsed.authserv_id.clone(),
                    "expect-results" => parsed.results.len().to_string(),
                    other => panic!("{}: unknown expectation {other}", f.name),
                };
                assert_eq!(&got, want, "{}: {key}", f.name);
            }
        }
    }

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
    fn summary_prefers_the_first_header_and_any_dkim_pass() {
        let s = summarize(&[
            "mx.example.org; dkim=fail header.d=a.example; dkim=pass header.d=b.example",
            "forged.example; spf=pass smtp.mailfrom=x; dkim=fail",
            "garbage that does not parse",
        ]);
        assert_eq!(s.dkim, Outcome::Pass);
        assert_eq!(s.spf, Outcome::Pass, "only the second header mentions spf");
        assert_eq!(s.dmarc, Outcome::None);
        assert_eq!(s.headers.len(), 2);
        let s = summarize(&["mx; dkim=neutral; dkim=fail; dkim=none"]);
        assert_eq!(s.dkim, Outcome::Fail);
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

    #[test]
    fn never_panics_on_prefixes_or_random_bytes() {
        let mut inputs: Vec<String> = Vec::new();
        for f in fixtures() {
            let v = f.value;
            for (i, _) in v.char_indices() {
                inputs.push(v[..i].to_string());
            }
            inputs.push(v);
        }
        // xorshift: deterministic, no dependency.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let alphabet = b" \t\r\n();=/.@\"\\abcdefghi=;0123456789\xff";
        for len in 0..400 {
            let mut bytes = Vec::with_capacity(len);
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                bytes.push(if x.is_multiple_of(4) {
                    x as u8
                } else {
                    alphabet[(x >> 8) as usize % alphabet.len()]
                });
            }
            inputs.push(String::from_utf8_lossy(&bytes).into_owned());
        }
        for input in &inputs {
            let _ = parse(input);
        }
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let _ = summarize(&refs);
    }
}
