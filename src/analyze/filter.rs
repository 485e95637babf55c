//! The criteria a wait matches mail by (sender, recipient, subject and header patterns, arrival
//! time), shared by `Wait` over IMAP and the embedded server's `wait_for`, plus the [`Seen`]
//! summaries a timeout error gives of the mail that did not match.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, SubsecRound, Utc};
use regex::Regex;
use serde::Serialize;

use super::mail::{Header, addresses, contained, raw_headers};

/// A regular expression for a criterion: a `&str` or `String` (compiled when given, an error
/// reported when the wait starts) or an already compiled `regex::Regex`.
#[derive(Debug, Clone)]
pub struct Pattern(Result<Regex, PatternError>);

/// A criterion's pattern is not a valid regular expression.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid regular expression {pattern:?}")]
pub struct PatternError {
    pattern: String,
    #[source]
    source: regex::Error,
}

impl PatternError {
    /// The pattern as given.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }
}

impl From<&str> for Pattern {
    fn from(s: &str) -> Pattern {
        Pattern(Regex::new(s).map_err(|source| PatternError {
            pattern: s.to_string(),
            source,
        }))
    }
}

impl From<String> for Pattern {
    fn from(s: String) -> Pattern {
        Pattern::from(s.as_str())
    }
}

impl From<&String> for Pattern {
    fn from(s: &String) -> Pattern {
        Pattern::from(s.as_str())
    }
}

impl From<Regex> for Pattern {
    fn from(re: Regex) -> Pattern {
        Pattern(Ok(re))
    }
}

impl From<&Regex> for Pattern {
    fn from(re: &Regex) -> Pattern {
        Pattern(Ok(re.clone()))
    }
}

/// The criteria; every one given must hold.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    pub(crate) from: Option<String>,
    pub(crate) to: Option<String>,
    subject: Option<Regex>,
    headers: Vec<(String, Regex)>,
    /// Truncated to whole seconds: INTERNALDATE has no finer resolution.
    since: Option<DateTime<Utc>>,
    /// The first pattern that did not compile.
    error: Option<PatternError>,
}

impl Filter {
    pub(crate) fn set_subject(&mut self, pattern: Pattern) {
        if let Some(re) = self.keep(pattern) {
            self.subject = Some(re);
        }
    }

    pub(crate) fn add_header(&mut self, name: String, pattern: Pattern) {
        if let Some(re) = self.keep(pattern) {
            self.headers.push((name, re));
        }
    }

    pub(crate) fn set_since(&mut self, since: DateTime<Utc>) {
        self.since = Some(since.trunc_subsecs(0));
    }

    /// The lower bound on arrival time, whole seconds.
    #[cfg(feature = "client")]
    pub(crate) fn since(&self) -> Option<DateTime<Utc>> {
        self.since
    }

    fn keep(&mut self, pattern: Pattern) -> Option<Regex> {
        match pattern.0 {
            Ok(re) => Some(re),
            Err(e) => {
                self.error.get_or_insert(e);
                None
            }
        }
    }

    /// The first pattern that did not compile, if any.
    pub(crate) fn check(&self) -> Result<(), PatternError> {
        self.error.clone().map_or(Ok(()), Err)
    }

    /// Whether an arrival time is at or after `since` (always, without `since`).
    pub(crate) fn admits(&self, arrived: Option<DateTime<FixedOffset>>) -> bool {
        match self.since {
            Some(since) => arrived.is_some_and(|d| d.trunc_subsecs(0) >= since),
            None => true,
        }
    }

    /// Whether the header criteria (everything but the time) hold.
    pub(crate) fn matches(&self, h: &Fields) -> bool {
        if let Some(want) = &self.from
            && !h.from.iter().any(|a| address_matches(a, want))
        {
            return false;
        }
        if let Some(want) = &self.to
            && !h.to.iter().any(|a| address_matches(a, want))
        {
            return false;
        }
        if let Some(re) = &self.subject
            && !re.is_match(&h.subject)
        {
            return false;
        }
        self.headers.iter().all(|(name, re)| {
            h.headers
                .iter()
                .filter(|x| x.name.eq_ignore_ascii_case(name))
                .any(|x| re.is_match(&x.value))
        })
    }
}

/// The builder methods for the criteria, shared by `Wait` and the server's `WaitFor` (each
/// has `filter: Filter`, `folder: String` and `timeout: Duration` fields).
macro_rules! filter_methods {
    () => {
        /// The folder to look in (default INBOX).
        pub fn folder(mut self, folder: impl Into<String>) -> Self {
            self.folder = folder.into();
            self
        }

        /// Only mail from this address (`a@b`, compared case-insensitively) or domain (`b`).
        pub fn from(mut self, address: impl Into<String>) -> Self {
            self.filter.from = Some(address.into());
            self
        }

        /// Only mail to (or Cc) this address or domain.
        pub fn to(mut self, address: impl Into<String>) -> Self {
            self.filter.to = Some(address.into());
            self
        }

        /// Only mail whose decoded subject matches `pattern`, a regular expression: a `&str`
        /// such as `"(?i)confirm"` (an invalid one fails the wait with a pattern error) or a
        /// compiled `regex::Regex`.
        pub fn subject(mut self, pattern: impl Into<$crate::analyze::filter::Pattern>) -> Self {
            self.filter.set_subject(pattern.into());
            self
        }

        /// Only mail with a header `name` one of whose values (unfolded, and decoded for
        /// Subject) matches `pattern`; every such criterion must hold.
        pub fn header(
            mut self,
            name: impl Into<String>,
            pattern: impl Into<$crate::analyze::filter::Pattern>,
        ) -> Self {
            self.filter.add_header(name.into(), pattern.into());
            self
        }

        /// Only mail that arrived (IMAP INTERNALDATE) at or after `since`, including mail
        /// already there when the wait starts. Compared at the server's one-second
        /// resolution, so `since(SystemTime::now())` taken just before sending always matches.
        /// Takes a `std::time::SystemTime` or any `chrono::DateTime`.
        pub fn since(mut self, since: impl Into<chrono::DateTime<chrono::Utc>>) -> Self {
            self.filter.set_since(since.into());
            self
        }

        /// How long to wait before giving up with a timeout error (default 60 s for `Wait`,
        /// 10 s for the embedded server's `WaitFor`).
        pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
            self.timeout = timeout;
            self
        }
    };
}
pub(crate) use filter_methods;

/// `want` with an `@` is an address, compared case-insensitively; without, a domain.
pub(crate) fn address_matches(address: &str, want: &str) -> bool {
    if want.contains('@') {
        address.eq_ignore_ascii_case(want)
    } else {
        address
            .rsplit_once('@')
            .is_some_and(|(_, d)| d.eq_ignore_ascii_case(want.trim_start_matches('@')))
    }
}

/// The parts of a header block the criteria look at.
pub(crate) struct Fields {
    pub(crate) from: Vec<String>,
    pub(crate) to: Vec<String>,
    pub(crate) subject: String,
    pub(crate) headers: Vec<Header>,
}

impl Fields {
    /// Reads a header block (or a whole message), contained against parser panics.
    pub(crate) fn read(block: &[u8]) -> Option<Fields> {
        contained(block, |block| {
            let msg = mail_parser::MessageParser::default().parse_headers(block)?;
            let mut to = addresses(msg.to());
            to.extend(addresses(msg.cc()));
            let mut headers = raw_headers(&msg);
            // Match header patterns against decoded text too (RFC 2047 words).
            if let Some(s) = msg.subject() {
                headers.push(Header {
                    name: "Subject".into(),
                    value: s.to_string(),
                });
            }
            Some(Fields {
                from: addresses(msg.from()),
                to,
                subject: msg.subject().unwrap_or_default().to_string(),
                headers,
            })
        })
    }

    /// A summary for a timeout error.
    pub(crate) fn seen(&self, uid: u32, arrived: Option<DateTime<FixedOffset>>) -> Seen {
        Seen {
            uid,
            internal_date: arrived.map(|d| d.to_rfc3339()),
            from: self.from.clone(),
            subject: self.subject.clone(),
        }
    }
}

/// A message a wait looked at but did not return, as its timeout error reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Seen {
    /// Its UID in the folder.
    pub uid: u32,
    /// When it arrived (INTERNALDATE), RFC 3339.
    pub internal_date: Option<String>,
    /// Its From addresses.
    pub from: Vec<String>,
    /// Its decoded subject.
    pub subject: String,
}

impl fmt::Display for Seen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UID {} from {}", self.uid, self.from.join(", "))?;
        if self.from.is_empty() {
            write!(f, "nobody")?;
        }
        write!(f, " {:?}", self.subject)?;
        if let Some(d) = &self.internal_date {
            write!(f, " at {d}")?;
        }
        Ok(())
    }
}

/// How many [`Seen`] samples a timeout error keeps of each kind.
pub(crate) const SAMPLES: usize = 3;

/// `"; 2 other messages arrived and did not match (UID 4 from a@b \"x\", ...)"`, or nothing.
pub(crate) fn describe_others(count: usize, samples: &[Seen]) -> String {
    if count == 0 {
        return String::new();
    }
    let list: Vec<String> = samples.iter().map(Seen::to_string).collect();
    let more = if count > samples.len() { ", ..." } else { "" };
    format!(
        "; {count} other message{} arrived and did not match ({}{more})",
        if count == 1 { "" } else { "s" },
        list.join("; ")
    )
}

/// A wait's timeout message: what it waited for, how long, and what it saw instead.
pub(crate) fn timeout_text(
    place: &str,
    waited: &Duration,
    seen: usize,
    others: &[Seen],
    earlier: &[Seen],
    window: Option<&str>,
) -> String {
    let mut s = format!(
        "no matching message arrived in {place} within {:.1} s",
        waited.as_secs_f64()
    );
    if seen == 0 && earlier.is_empty() {
        s.push_str("; no other mail arrived either");
    }
    s.push_str(&describe_others(seen, others));
    if let Some(last) = earlier.last() {
        let n = earlier.len();
        let start = window.map_or_else(|| "the wait started".to_string(), str::to_string);
        s.push_str(&format!(
            "; {} matching message{} arrived earlier, before {start} ({last}): \
             widen the window with since / look_back (mailtrip wait --since)",
            if n >= SAMPLES {
                format!("{n} or more")
            } else {
                n.to_string()
            },
            if n == 1 { "" } else { "s" },
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_domains() {
        assert!(address_matches("NoReply@App.test", "noreply@app.test"));
        assert!(address_matches("noreply@app.test", "app.test"));
        assert!(!address_matches("noreply@evilapp.test", "app.test"));
        assert!(!address_matches("xnoreply@app.test", "noreply@app.test"));
    }

    /// Issue 17 item 2: `since` is compared at INTERNALDATE's one-second resolution, so a
    /// message stamped in the same second as a sub-second `since` is admitted.
    #[test]
    fn issue17_since_is_compared_in_whole_seconds() {
        let mut f = Filter::default();
        let since = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.900Z").expect("time");
        f.set_since(since.with_timezone(&Utc));
        let at = |s: &str| Some(DateTime::parse_from_rfc3339(s).expect("time"));
        assert!(f.admits(at("2026-01-02T03:04:05Z")));
        assert!(f.admits(at("2026-01-02T04:04:05+01:00")));
        assert!(!f.admits(at("2026-01-02T03:04:04Z")));
        assert!(!f.admits(None));
    }

    #[test]
    fn str_patterns_compile_and_bad_ones_are_kept_as_errors() {
        let mut f = Filter::default();
        f.set_subject("(?i)^confirm".into());
        assert!(f.check().is_ok());
        f.add_header("X-App".into(), "(".into());
        f.set_subject("also bad (".into());
        let e = f.check().expect_err("the first bad pattern");
        assert_eq!(e.pattern(), "(");
        assert!(std::error::Error::source(&e).is_some());
    }
}
