//! Durations as text for fault settings: `250ms`, `2s`, `1.5m`, `1h` or bare seconds ([`Span`]),
//! and `1s..5s` ranges ([`SpanRange`]), read from TOML, JSON or the command line and written
//! back in the shortest form that reads back the same.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration written as text: `250ms`, `2s`, `1.5m`, `1h`, or a number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span(pub Duration);

/// `2s` (exactly) or `1s..5s` (uniformly between).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanRange(pub Duration, pub Duration);

/// Turns a number of some unit into seconds.
type ToSeconds = fn(f64) -> f64;

/// Every unit a duration may carry (`""` is bare seconds), with what turns it into seconds.
const UNITS: [(&str, ToSeconds); 6] = [
    ("ms", |v| v / 1000.0),
    ("", |v| v),
    ("s", |v| v),
    ("m", |v| v * 60.0),
    ("h", |v| v * 3600.0),
    ("d", |v| v * 86400.0),
];

/// How a duration is written as text: a number, then one of [`UNITS`] (days only where
/// `days` allows them). The callers decide the range they accept.
pub(crate) struct DurationText {
    /// Whether `d` (days) is a unit.
    pub days: bool,
    /// Whether white space may stand between the number and its unit (`2 s`).
    pub spaced: bool,
    /// Examples for the error about text that does not start with a number.
    pub examples: &'static str,
}

impl DurationText {
    /// `s` (already trimmed) in seconds, or an error naming the text and the units.
    pub fn seconds(&self, s: &str) -> Result<f64, String> {
        let split = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        let value: f64 = num
            .parse()
            .map_err(|_| format!("{s:?} is not a duration; use e.g. {}", self.examples))?;
        let unit = if self.spaced { unit.trim() } else { unit };
        let units = UNITS.iter().filter(|(name, _)| self.days || *name != "d");
        match units.clone().find(|(name, _)| *name == unit) {
            Some((_, to_seconds)) => Ok(to_seconds(value)),
            None => {
                let names: Vec<&str> = units
                    .map(|(name, _)| *name)
                    .filter(|name| !name.is_empty())
                    .collect();
                let (last, rest) = names.split_last().expect("a unit");
                Err(format!(
                    "unknown unit {unit:?} in {s:?}; use {} or {last}",
                    rest.join(", ")
                ))
            }
        }
    }
}

/// Parses a duration: `250ms`, `2s`, `1.5m`, `1h`, or bare seconds; zero is allowed.
pub fn parse_span(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let secs = DurationText {
        days: false,
        spaced: true,
        examples: "250ms, 2s, 1m",
    }
    .seconds(s)?;
    if !secs.is_finite() || secs > 86400.0 {
        return Err(format!("{s:?} is out of range (at most a day)"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `250ms`, `2s`, `1.5s`: the shortest text [`parse_span`] reads back to the same value.
pub fn format_span(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if d.subsec_millis() == 0 && d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if ms.fract() == 0.0 {
        format!("{ms}ms")
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

impl fmt::Display for SpanRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == self.1 {
            write!(f, "{}", format_span(self.0))
        } else {
            write!(f, "{}..{}", format_span(self.0), format_span(self.1))
        }
    }
}

/// A duration or range that does not read; the message says why and what would.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SpanError(String);

impl std::str::FromStr for SpanRange {
    type Err = SpanError;
    fn from_str(s: &str) -> Result<Self, SpanError> {
        match s.split_once("..") {
            Some((a, b)) => {
                let (a, b) = (
                    parse_span(a).map_err(SpanError)?,
                    parse_span(b).map_err(SpanError)?,
                );
                if b < a {
                    return Err(SpanError(format!("{s:?}: the range ends before it starts")));
                }
                Ok(SpanRange(a, b))
            }
            None => parse_span(s).map(|d| SpanRange(d, d)).map_err(SpanError),
        }
    }
}

/// Text or a number of seconds.
#[derive(Deserialize)]
#[serde(untagged)]
enum TextOrSeconds {
    Text(String),
    Seconds(f64),
}

impl TextOrSeconds {
    fn text(self) -> String {
        match self {
            TextOrSeconds::Text(t) => t,
            TextOrSeconds::Seconds(s) => format!("{s}s"),
        }
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_span(self.0))
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = TextOrSeconds::deserialize(d)?.text();
        parse_span(&text)
            .map(Span)
            .map_err(serde::de::Error::custom)
    }
}

impl Serialize for SpanRange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for SpanRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = TextOrSeconds::deserialize(d)?.text();
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_back() {
        for (text, want) in [
            ("250ms", Duration::from_millis(250)),
            ("2s", Duration::from_secs(2)),
            ("1.5s", Duration::from_millis(1500)),
            ("0", Duration::ZERO),
            ("1m", Duration::from_secs(60)),
        ] {
            let d = parse_span(text).expect(text);
            assert_eq!(d, want, "{text}");
            assert_eq!(parse_span(&format_span(d)).expect("again"), d);
        }
        assert_eq!(
            parse_span("2d"),
            Err(r#"unknown unit "d" in "2d"; use ms, s, m or h"#.into())
        );
        assert_eq!(parse_span("2 s"), Ok(Duration::from_secs(2)));
        assert_eq!(
            parse_span("ms"),
            Err(r#""ms" is not a duration; use e.g. 250ms, 2s, 1m"#.into())
        );
    }
}
