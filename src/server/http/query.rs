//! The message search of `GET /api/v1/messages?...`: query parameters parsed into a
//! [`Search`] (unknown or malformed ones are the caller's error, a 400), and the filter's
//! test against a stored message — cheap fields first, parsed ones after.

use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};

use super::view::Parsed;
use crate::server::fault_spec::parse_span;
use crate::server::recipients::without_tag;

/// Longest `wait` accepted.
pub const MAX_WAIT: Duration = Duration::from_secs(300);
/// Messages listed when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 100;
/// Largest `limit`.
pub const MAX_LIMIT: usize = 10_000;

/// The parameters the list understands (for the 400's message).
pub const PARAMETERS: &str =
    "to, from, subject, header, text, since, mailbox, folder, limit, wait, existing";

/// What to match; every given criterion must hold (repeated ones too).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub to: Vec<String>,
    pub from: Vec<String>,
    pub subject: Vec<String>,
    /// `Name` (present) or `Name:text` (its value contains text).
    pub headers: Vec<(String, Option<String>)>,
    pub text: Vec<String>,
    /// Arrived at or after this.
    pub since: Option<DateTime<FixedOffset>>,
    /// The mailbox owner (`user+tag@` means `user@`'s).
    pub mailbox: Option<String>,
    pub folder: Option<String>,
}

/// A list or wait request.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    pub filter: Filter,
    /// Long-poll: answer once something matches, or after this long.
    pub wait: Option<Duration>,
    /// With `wait`, mail that arrived before the request counts too.
    pub existing: bool,
    pub limit: usize,
}

/// Parses a query string (`None`: no `?`); `now` anchors relative `since` values.
pub fn parse(query: Option<&str>, now: DateTime<Utc>) -> Result<Search, String> {
    let mut s = Search {
        filter: Filter::default(),
        wait: None,
        existing: false,
        limit: DEFAULT_LIMIT,
    };
    let pairs = form_urlencoded::parse(query.unwrap_or("").as_bytes());
    for (key, value) in pairs {
        let value = value.trim().to_string();
        let f = &mut s.filter;
        match key.as_ref() {
            "to" => f.to.push(nonempty(&key, value)?),
            "from" => f.from.push(nonempty(&key, value)?),
            "subject" => f.subject.push(nonempty(&key, value)?),
            "text" => f.text.push(nonempty(&key, value)?),
            "header" => {
                let value = nonempty(&key, value)?;
                let (name, want) = match value.split_once(':') {
                    Some((n, v)) => (n.trim().to_string(), Some(v.trim().to_string())),
                    None => (value.clone(), None),
                };
                if name.is_empty() || name.contains(char::is_whitespace) {
                    return Err(format!("header={value:?}: expected Name or Name:text"));
                }
                f.headers.push((name, want));
            }
            "since" => f.since = Some(since(&value, now)?),
            "mailbox" => f.mailbox = Some(nonempty(&key, value)?),
            "folder" => f.folder = Some(nonempty(&key, value)?),
            "limit" => {
                s.limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| format!("limit={value:?}: expected 1 to {MAX_LIMIT}"))?;
            }
            "wait" => {
                let d = parse_span(&value).map_err(|e| format!("wait: {e}"))?;
                if d.is_zero() || d > MAX_WAIT {
                    return Err(format!(
                        "wait={value:?}: expected more than 0 and at most {}s",
                        MAX_WAIT.as_secs()
                    ));
                }
                s.wait = Some(d);
            }
            "existing" => {
                s.existing = match value.as_str() {
                    "" | "true" | "1" | "yes" => true,
                    "false" | "0" | "no" => false,
                    _ => return Err(format!("existing={value:?}: expected true or false")),
                }
            }
            other => {
                return Err(format!(
                    "unknown parameter {other:?}; the parameters are {PARAMETERS}"
                ));
            }
        }
    }
    Ok(s)
}

fn nonempty(key: &str, value: String) -> Result<String, String> {
    if value.is_empty() {
        Err(format!("{key} is empty"))
    } else {
        Ok(value)
    }
}

/// An RFC 3339 time, or a span ago (`30s`, `5m`).
fn since(value: &str, now: DateTime<Utc>) -> Result<DateTime<FixedOffset>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(t);
    }
    let ago = parse_span(value).map_err(|_| {
        format!("since={value:?}: expected an RFC 3339 time (2024-05-01T12:00:00Z) or a span ago (30s, 5m)")
    })?;
    let ago = chrono::Duration::from_std(ago).map_err(|e| e.to_string())?;
    Ok((now - ago).fixed_offset())
}

impl Filter {
    /// The criteria that need no parsing: mailbox owner, folder, arrival time.
    pub fn matches_stored(
        &self,
        owner: &str,
        folder: &str,
        arrived: &DateTime<FixedOffset>,
    ) -> bool {
        self.mailbox.as_ref().is_none_or(|m| address_is(m, owner))
            && self
                .folder
                .as_ref()
                .is_none_or(|f| crate::server::store::same_mailbox(folder, f))
            && self.since.is_none_or(|s| *arrived >= s)
    }

    /// The criteria on the parsed message.
    pub fn matches_parsed(&self, p: &Parsed) -> bool {
        let contains =
            |hay: &str, needle: &str| hay.to_lowercase().contains(&needle.to_lowercase());
        self.to
            .iter()
            .all(|want| p.recipients().any(|have| address_matches(want, have)))
            && self.from.iter().all(|want| {
                p.from.iter().any(|a| {
                    address_matches(want, &a.address)
                        || (!want.contains('@')
                            && a.name.as_deref().is_some_and(|n| contains(n, want)))
                })
            })
            && self.subject.iter().all(|want| contains(&p.subject, want))
            && self.headers.iter().all(|(name, want)| {
                p.headers.iter().any(|h| {
                    h.name.eq_ignore_ascii_case(name)
                        && want.as_deref().is_none_or(|w| contains(&h.value, w))
                }) || (name.eq_ignore_ascii_case("subject")
                    && want.as_deref().is_none_or(|w| contains(&p.subject, w)))
            })
            && self.text.iter().all(|want| {
                contains(&p.text, want) || p.html.as_deref().is_some_and(|h| contains(h, want))
            })
    }
}

/// `want` with an `@` is an address: equal to `have`, or to `have` without its `+tag`.
/// Without, it is a part of the address (`example.com`, `signup`).
fn address_matches(want: &str, have: &str) -> bool {
    if want.contains('@') {
        address_is(want, have)
    } else {
        have.to_lowercase().contains(&want.to_lowercase())
    }
}

fn address_is(want: &str, have: &str) -> bool {
    have.eq_ignore_ascii_case(want)
        || without_tag(have).is_some_and(|base| base.eq_ignore_ascii_case(want))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .expect("time")
            .to_utc()
    }

    #[test]
    fn parameters_parse_and_decode() {
        let s = parse(
            Some("to=someone%40example.com&subject=Welcome+aboard&header=X-Tag:abc&header=List-Id&since=5m&wait=10s&existing=true&limit=5&text=confirm"),
            now(),
        )
        .expect("parses");
        assert_eq!(s.filter.to, ["someone@example.com"]);
        assert_eq!(s.filter.subject, ["Welcome aboard"]);
        assert_eq!(
            s.filter.headers,
            [
                ("X-Tag".into(), Some("abc".into())),
                ("List-Id".into(), None)
            ]
        );
        assert_eq!(
            s.filter.since.map(|t| t.to_rfc3339()),
            Some("2024-05-01T11:55:00+00:00".into())
        );
        assert_eq!(s.wait, Some(Duration::from_secs(10)));
        assert!(s.existing);
        assert_eq!(s.limit, 5);
        assert_eq!(parse(None, now()).expect("empty").limit, DEFAULT_LIMIT);
    }

    #[test]
    fn bad_queries_say_what_is_wrong() {
        for (q, says) in [
            ("tow=x", "unknown parameter \"tow\""),
            ("wait=forever", "wait:"),
            ("wait=0s", "more than 0"),
            ("wait=10m", "at most 300s"),
            ("since=yesterday", "RFC 3339"),
            ("limit=0", "limit"),
            ("header=:x", "Name or Name:text"),
            ("to=", "to is empty"),
            ("existing=maybe", "true or false"),
        ] {
            let e = parse(Some(q), now()).expect_err(q);
            assert!(e.contains(says), "{q}: {e}");
        }
    }

    #[test]
    fn a_base_address_finds_its_tagged_forms_but_not_the_reverse() {
        assert!(address_matches(
            "someone@example.com",
            "Someone+x@Example.com"
        ));
        assert!(address_matches(
            "someone+x@example.com",
            "someone+x@example.com"
        ));
        assert!(!address_matches(
            "someone+x@example.com",
            "someone@example.com"
        ));
        assert!(!address_matches(
            "someone+y@example.com",
            "someone+x@example.com"
        ));
        assert!(address_matches("example.com", "someone+x@example.com"));
        assert!(!address_matches("other.com", "someone@example.com"));
    }

    #[test]
    fn parsed_criteria() {
        let p = Parsed::new(
            b"From: \"Signup Bot\" <bot@app.test>\r\nTo: a+1@x.test\r\nSubject: Welcome\r\nX-Tag: abc-123\r\n\r\nPlease confirm.\r\n",
        );
        let f = |q: &str| parse(Some(q), now()).expect(q).filter.matches_parsed(&p);
        assert!(f("to=a@x.test"));
        assert!(f("from=bot@app.test"));
        assert!(f("from=signup"));
        assert!(f("subject=welcome"));
        assert!(f("header=x-tag:ABC"));
        assert!(f("header=X-Tag"));
        assert!(f("text=CONFIRM"));
        assert!(f("to=a@x.test&subject=welcome"));
        assert!(!f("to=b@x.test"));
        assert!(!f("header=X-Other"));
        assert!(!f("subject=welcome&text=nope"));
    }
}
