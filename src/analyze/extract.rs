//! [`Extract`]: what a script or test pulls out of a parsed [`Message`] — the first link or
//! one-time code, optionally narrowed by a pattern — and its typed parse error.

use std::sync::LazyLock;

use regex::Regex;

use super::mail::Message;

/// What to pull out of a message: parse it from `link`, `link:REGEX`, `code` or `code:REGEX`.
#[derive(Debug, Clone)]
pub enum Extract {
    /// The first link, or the first one matching the pattern.
    Link(Option<Regex>),
    /// The first one-time code: 4 to 8 digits, or the pattern's first group (or whole match).
    Code(Option<Regex>),
}

/// Why an `--extract` / [`Extract`] string was refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ExtractError {
    /// Neither `link` nor `code`.
    #[error("unknown extract {0:?}; use link[:REGEX] or code[:REGEX]")]
    UnknownKind(String),
    /// The pattern after the colon is not a valid regular expression.
    #[error("bad pattern in {spec:?}")]
    BadPattern {
        /// The whole string given.
        spec: String,
        /// What the regex compiler said.
        #[source]
        source: regex::Error,
    },
}

impl std::str::FromStr for Extract {
    type Err = ExtractError;

    /// `link`, `link:REGEX`, `code`, `code:REGEX`.
    fn from_str(s: &str) -> Result<Extract, ExtractError> {
        let (kind, pattern) = match s.split_once(':') {
            Some((k, p)) => (k, Some(p)),
            None => (s, None),
        };
        let regex = pattern
            .map(|p| {
                Regex::new(p).map_err(|source| ExtractError::BadPattern {
                    spec: s.to_string(),
                    source,
                })
            })
            .transpose()?;
        match kind {
            "link" => Ok(Extract::Link(regex)),
            "code" => Ok(Extract::Code(regex)),
            other => Err(ExtractError::UnknownKind(other.to_string())),
        }
    }
}

static CODE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b[0-9]{4,8}\b").expect("the code pattern compiles"));

impl Message {
    /// The first link or code `what` asks for.
    pub fn extract(&self, what: &Extract) -> Option<String> {
        match what {
            Extract::Link(None) => self.links.first().cloned(),
            Extract::Link(Some(re)) => self.links.iter().find(|l| re.is_match(l)).cloned(),
            Extract::Code(pattern) => {
                let re = pattern.as_ref().unwrap_or(&CODE);
                let texts = [self.text.as_deref(), Some(self.subject.as_str())];
                texts.into_iter().flatten().find_map(|t| {
                    let caps = re.captures(t)?;
                    caps.get(1)
                        .or_else(|| caps.get(0))
                        .map(|m| m.as_str().to_string())
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_codes_come_out() {
        let m = Message::parse(crate::analyze::mail::SIGNUP);
        let e = |s: &str| s.parse::<Extract>().expect("extract");
        assert_eq!(
            m.extract(&e("link")).as_deref(),
            Some("https://app.test/confirm?token=abc123")
        );
        assert_eq!(
            m.extract(&e("link:/help")).as_deref(),
            Some("https://app.test/help")
        );
        assert_eq!(m.extract(&e("code")).as_deref(), Some("482913"));
        assert_eq!(
            m.extract(&e("code:token=([a-z0-9]+)")).as_deref(),
            Some("abc123")
        );
    }

    /// Issue 17: the parse error is a typed `std::error::Error`, so `?` works under anyhow
    /// and `Box<dyn Error>`, and a bad pattern keeps the regex error as its source.
    #[test]
    fn issue17_extract_parse_error_is_a_std_error() {
        fn parse(s: &str) -> anyhow::Result<Extract> {
            Ok(s.parse::<Extract>()?)
        }
        assert!(parse("link").is_ok());
        let unknown = parse("pin").expect_err("unknown kind");
        assert_eq!(
            unknown.to_string(),
            "unknown extract \"pin\"; use link[:REGEX] or code[:REGEX]"
        );
        let bad = "link:(".parse::<Extract>().expect_err("bad pattern");
        assert!(matches!(bad, ExtractError::BadPattern { .. }));
        let source = std::error::Error::source(&bad).expect("the regex error is the source");
        assert!(source.to_string().contains("unclosed group"), "{source}");
    }
}
