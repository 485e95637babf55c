//! Parses `Authentication-Results` and `ARC-Authentication-Results` header values (RFC 8601),
//! which mail-parser leaves raw, and folds them into one SPF / DKIM / DMARC / ARC verdict.
//! The parser (`parser`) is byte-level, tolerant of real-world deviations, and never panics.

use serde::Serialize;

mod parser;

pub use parser::parse;

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
    /// The `reason=` text, if given.
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
    /// `pass`.
    Pass,
    /// `fail` (or `hardfail`).
    Fail,
    /// `softfail`.
    Softfail,
    /// `neutral`.
    Neutral,
    /// `none`, or no result for the method at all.
    None,
    /// `temperror`: a transient error while checking.
    Temperror,
    /// `permerror`: a permanent error while checking (a broken record).
    Permerror,
    /// `policy`: not accepted by local policy.
    Policy,
    /// Any other keyword.
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
    /// SPF.
    pub spf: Outcome,
    /// DKIM.
    pub dkim: Outcome,
    /// DMARC.
    pub dmarc: Outcome,
    /// ARC.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_dir() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/auth-results")
    }

    pub(super) struct Fixture {
        pub name: String,
        expect: Vec<(String, String)>,
        pub value: String,
    }

    pub(super) fn fixtures() -> Vec<Fixture> {
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
    fn never_panics_on_prefixes_or_random_bytes() {
        let mut inputs: Vec<String> = Vec::new();
        for f in fixtures() {
            let v = f.value;
            for (i, _) in v.char_indices() {
                inputs.push(v[..i].to_string());
            }
            inputs.push(v);
        }
        let alphabet = b" \t\r\n();=/.@\"\\abcdefghi=;0123456789\xff";
        for bytes in crate::analyze::random_bytes(0x9E37_79B9_7F4A_7C15, 400, alphabet, 4) {
            inputs.push(String::from_utf8_lossy(&bytes).into_owned());
        }
        for input in &inputs {
            let _ = parse(input);
        }
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let _ = summarize(&refs);
    }
}
