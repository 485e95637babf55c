//! [`Faults`] as plain data a non-Rust user can write: the same keys in a TOML file
//! (`mailtrip server --faults FILE`), on the command line (`--fault key=value`) and in the
//! HTTP API's JSON (`PUT /api/v1/faults`), with durations as text (`250ms`, `2s`, `1s..5s`).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::oauth::OAuthFaults;
use super::{DataReply, Faults, Quote};

/// Every fault of [`Faults`], each optional; see `docs/api.md` for what each does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// `"2s"` or `"1s..5s"`: between SMTP acceptance and the message showing up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_delay: Option<SpanRange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub junk_rule: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub greylist: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_drop_after: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imap_drop_after: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_hang_on: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imap_hang_on: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deliver_twice: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub append_footer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_auth_reject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imap_auth_reject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_imap_connections: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drop_percent: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive_rule: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bounce: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strip_attachments: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewrap_lines: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authentication_results: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imap_no_idle: Option<bool>,
    /// `"500ms"`: how long after a change an IDLE client hears of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imap_idle_delay: Option<Span>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imap_bye_after: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imap_hang_once_on: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imap_drop_on_news: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_transient: Option<Transient>,
    /// `"50ms"`: the pause between reply bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slow_drip: Option<Span>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_stall: Option<bool>,
    /// `"auto_reply"`, `"forward_attached"` or `"forward_inline"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quote: Option<Quote>,
    /// A header name, e.g. `"X-Mailtrip-Probe"`: removed on delivery (a stripping gateway).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strip_header: Option<String>,
    /// `"cut"` or `"stall"`: what happens instead of the reply to the end of DATA.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_data_reply: Option<DataReply>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starttls_stall: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_no_auth: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imap_foreign_expunge: Option<usize>,
    /// Device-code polls answered `authorization_pending` before consent (default 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth2_pending: Option<u32>,
    /// That many device-code polls answered `slow_down`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth2_slow_down: Option<usize>,
    /// The user refuses consent: `access_denied`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth2_denied: Option<bool>,
    /// Device codes have expired: `expired_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth2_expired: Option<bool>,
    /// Refresh tokens are refused: `invalid_grant`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth2_invalid_grant: Option<bool>,
    /// `"2s"`: how long the access tokens issued from now on work (default 1 hour).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth2_token_lifetime: Option<Span>,
}

/// The `smtp_transient` fault: answer `verb` with `reply` the next `times` times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transient {
    pub verb: String,
    pub reply: String,
    #[serde(default = "one")]
    pub times: usize,
}

fn one() -> usize {
    1
}

/// A bad fault setting: which key and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fault {key}: {reason}")]
pub struct FaultSpecError {
    pub key: String,
    pub reason: String,
}

impl FaultSpec {
    /// The faults this spec describes, on top of none.
    pub fn to_faults(&self) -> Result<Faults, FaultSpecError> {
        let bad = |key: &str, reason: &str| FaultSpecError {
            key: key.into(),
            reason: reason.into(),
        };
        if self.drop_percent.is_some_and(|p| p > 100) {
            return Err(bad("drop_percent", "must be 0 to 100"));
        }
        if self.rewrap_lines == Some(0) {
            return Err(bad("rewrap_lines", "must be at least 1"));
        }
        if let Some(t) = &self.smtp_transient {
            let code_ok =
                t.reply.len() >= 3 && t.reply.as_bytes()[..3].iter().all(u8::is_ascii_digit);
            if !code_ok || t.reply.starts_with('2') || t.reply.starts_with('3') {
                return Err(bad(
                    "smtp_transient",
                    "reply must start with a 4xx or 5xx code, e.g. \"452 4.2.2 Mailbox full\"",
                ));
            }
        }
        for (key, reply) in [
            ("smtp_auth_reject", &self.smtp_auth_reject),
            ("bounce", &self.bounce),
        ] {
            if let Some(r) = reply
                && !r.lines().all(|l| {
                    l.len() >= 3
                        && l.as_bytes()[..3].iter().all(u8::is_ascii_digit)
                        && matches!(l.as_bytes()[0], b'4' | b'5')
                })
            {
                return Err(bad(key, "each line must start with a 4xx or 5xx code"));
            }
        }
        if self.oauth2_token_lifetime.is_some_and(|l| l.0.is_zero()) {
            return Err(bad("oauth2_token_lifetime", "must be longer than 0"));
        }
        let text = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        Ok(Faults {
            delivery_delay: self.delivery_delay.map(|r| (r.0, r.1)),
            junk_rule: text(&self.junk_rule),
            greylist: self.greylist.unwrap_or(false),
            smtp_drop_after: self.smtp_drop_after,
            imap_drop_after: self.imap_drop_after,
            smtp_hang_on: text(&self.smtp_hang_on),
            imap_hang_on: text(&self.imap_hang_on),
            deliver_twice: self.deliver_twice.unwrap_or(false),
            append_footer: text(&self.append_footer),
            smtp_auth_reject: text(&self.smtp_auth_reject),
            imap_auth_reject: text(&self.imap_auth_reject),
            max_imap_connections: self.max_imap_connections,
            drop_percent: self.drop_percent.unwrap_or(0),
            archive_rule: text(&self.archive_rule),
            bounce: text(&self.bounce),
            strip_attachments: self.strip_attachments.unwrap_or(false),
            rewrap_lines: self.rewrap_lines,
            authentication_results: text(&self.authentication_results),
            imap_no_idle: self.imap_no_idle.unwrap_or(false),
            imap_idle_delay: self.imap_idle_delay.map(|s| s.0),
            imap_bye_after: self.imap_bye_after,
            imap_hang_once_on: text(&self.imap_hang_once_on),
            imap_drop_on_news: self.imap_drop_on_news,
            smtp_transient: self
                .smtp_transient
                .clone()
                .map(|t| (t.verb, t.reply, t.times)),
            slow_drip: self.slow_drip.map(|s| s.0),
            tls_stall: self.tls_stall.unwrap_or(false),
            quote: self.quote,
            strip_header: text(&self.strip_header),
            smtp_data_reply: self.smtp_data_reply,
            starttls_stall: self.starttls_stall.unwrap_or(false),
            smtp_no_auth: self.smtp_no_auth.unwrap_or(false),
            imap_foreign_expunge: self.imap_foreign_expunge,
            oauth2: OAuthFaults {
                slow_down: self.oauth2_slow_down.unwrap_or(0),
                deny: self.oauth2_denied.unwrap_or(false),
                expire_device_codes: self.oauth2_expired.unwrap_or(false),
                invalid_grant: self.oauth2_invalid_grant.unwrap_or(false),
                pending_polls: self.oauth2_pending,
                access_token_lifetime: self.oauth2_token_lifetime.map(|s| s.0),
            },
        })
    }

    /// This spec with every key `other` sets taken from `other` (flags over a file).
    pub fn overridden_by(self, other: FaultSpec) -> FaultSpec {
        macro_rules! pick {
            ($($f:ident),*) => { FaultSpec { $($f: other.$f.or(self.$f)),* } };
        }
        pick!(
            delivery_delay,
            junk_rule,
            greylist,
            smtp_drop_after,
            imap_drop_after,
            smtp_hang_on,
            imap_hang_on,
            deliver_twice,
            append_footer,
            smtp_auth_reject,
            imap_auth_reject,
            max_imap_connections,
            drop_percent,
            archive_rule,
            bounce,
            strip_attachments,
            rewrap_lines,
            authentication_results,
            imap_no_idle,
            imap_idle_delay,
            imap_bye_after,
            imap_hang_once_on,
            imap_drop_on_news,
            smtp_transient,
            slow_drip,
            tls_stall,
            quote,
            strip_header,
            smtp_data_reply,
            starttls_stall,
            smtp_no_auth,
            imap_foreign_expunge,
            oauth2_pending,
            oauth2_slow_down,
            oauth2_denied,
            oauth2_expired,
            oauth2_invalid_grant,
            oauth2_token_lifetime
        )
    }

    /// Parses `--fault` arguments: `key=value` where value is TOML (`true`, `50`,
    /// `"text"`, an inline table) or else plain text; a bare `key` means `key = true`.
    pub fn from_assignments<S: AsRef<str>>(args: &[S]) -> Result<FaultSpec, FaultSpecError> {
        let mut doc = String::new();
        for arg in args {
            let arg = arg.as_ref().trim();
            let (key, value) = arg.split_once('=').unwrap_or((arg, "true"));
            let key = key.trim();
            if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(FaultSpecError {
                    key: arg.to_string(),
                    reason: "expected KEY=VALUE, e.g. greylist=true or delivery_delay=2s".into(),
                });
            }
            let value = value.trim();
            let as_toml = format!("v = {value}");
            let value = if toml::from_str::<toml::Table>(&as_toml).is_ok() {
                value.to_string()
            } else {
                toml::Value::String(value.to_string()).to_string()
            };
            doc.push_str(&format!("{key} = {value}\n"));
        }
        Self::from_toml(&doc)
    }

    /// Parses a TOML document of fault keys (the `--faults FILE` format).
    pub fn from_toml(text: &str) -> Result<FaultSpec, FaultSpecError> {
        let spec: FaultSpec = toml::from_str(text).map_err(|e| FaultSpecError {
            key: "file".into(),
            reason: e.message().to_string(),
        })?;
        spec.to_faults()?;
        Ok(spec)
    }
}

impl From<&Faults> for FaultSpec {
    /// The spec of faults in force (counted faults show what is left of them).
    fn from(f: &Faults) -> FaultSpec {
        // No `..`: a fault added to `Faults` fails to compile here until it has a key.
        let Faults {
            delivery_delay,
            junk_rule,
            greylist,
            smtp_drop_after,
            imap_drop_after,
            smtp_hang_on,
            imap_hang_on,
            deliver_twice,
            append_footer,
            smtp_auth_reject,
            imap_auth_reject,
            max_imap_connections,
            drop_percent,
            archive_rule,
            bounce,
            strip_attachments,
            rewrap_lines,
            authentication_results,
            imap_no_idle,
            imap_idle_delay,
            imap_bye_after,
            imap_hang_once_on,
            imap_drop_on_news,
            smtp_transient,
            slow_drip,
            tls_stall,
            quote,
            strip_header,
            smtp_data_reply,
            starttls_stall,
            smtp_no_auth,
            imap_foreign_expunge,
            oauth2,
        } = f.clone();
        let OAuthFaults {
            slow_down,
            deny,
            expire_device_codes,
            invalid_grant,
            pending_polls,
            access_token_lifetime,
        } = oauth2;
        let flag = |b: bool| b.then_some(true);
        FaultSpec {
            delivery_delay: delivery_delay.map(|(a, b)| SpanRange(a, b)),
            junk_rule,
            greylist: flag(greylist),
            smtp_drop_after,
            imap_drop_after,
            smtp_hang_on,
            imap_hang_on,
            deliver_twice: flag(deliver_twice),
            append_footer,
            smtp_auth_reject,
            imap_auth_reject,
            max_imap_connections,
            drop_percent: (drop_percent > 0).then_some(drop_percent),
            archive_rule,
            bounce,
            strip_attachments: flag(strip_attachments),
            rewrap_lines,
            authentication_results,
            imap_no_idle: flag(imap_no_idle),
            imap_idle_delay: imap_idle_delay.map(Span),
            imap_bye_after,
            imap_hang_once_on,
            imap_drop_on_news,
            smtp_transient: smtp_transient.map(|(verb, reply, times)| Transient {
                verb,
                reply,
                times,
            }),
            slow_drip: slow_drip.map(Span),
            tls_stall: flag(tls_stall),
            quote,
            strip_header,
            smtp_data_reply,
            starttls_stall: flag(starttls_stall),
            smtp_no_auth: flag(smtp_no_auth),
            imap_foreign_expunge,
            oauth2_pending: pending_polls,
            oauth2_slow_down: (slow_down > 0).then_some(slow_down),
            oauth2_denied: flag(deny),
            oauth2_expired: flag(expire_device_codes),
            oauth2_invalid_grant: flag(invalid_grant),
            oauth2_token_lifetime: access_token_lifetime.map(Span),
        }
    }
}

/// A duration written as text: `250ms`, `2s`, `1.5m`, `1h`, or a number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span(pub Duration);

/// `2s` (exactly) or `1s..5s` (uniformly between).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanRange(pub Duration, pub Duration);

/// Parses a duration: `250ms`, `2s`, `1.5m`, `1h`, or bare seconds; zero is allowed.
pub fn parse_span(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration; use e.g. 250ms, 2s, 1m"))?;
    let secs = match unit.trim() {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {s:?}; use ms, s, m or h"
            ));
        }
    };
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

impl std::str::FromStr for SpanRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once("..") {
            Some((a, b)) => {
                let (a, b) = (parse_span(a)?, parse_span(b)?);
                if b < a {
                    return Err(format!("{s:?}: the range ends before it starts"));
                }
                Ok(SpanRange(a, b))
            }
            None => parse_span(s).map(|d| SpanRange(d, d)),
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
    fn every_fault_round_trips_through_json_and_toml() {
        let faults = Faults {
            delivery_delay: Some((Duration::from_millis(250), Duration::from_secs(2))),
            junk_rule: Some("[spam]".into()),
            greylist: true,
            smtp_drop_after: Some(3),
            imap_drop_after: Some(4),
            smtp_hang_on: Some("DATA".into()),
            imap_hang_on: Some("IDLE".into()),
            deliver_twice: true,
            append_footer: Some("-- footer".into()),
            smtp_auth_reject: Some("535 5.7.8 no".into()),
            imap_auth_reject: Some("NO [ALERT] no".into()),
            max_imap_connections: Some(2),
            drop_percent: 50,
            archive_rule: Some("newsletter".into()),
            bounce: Some("550 5.1.1 <b@x>: User unknown".into()),
            strip_attachments: true,
            rewrap_lines: Some(72),
            authentication_results: Some("mx; spf=pass".into()),
            imap_no_idle: true,
            imap_idle_delay: Some(Duration::from_millis(500)),
            imap_bye_after: Some(5),
            imap_hang_once_on: Some("FETCH".into()),
            imap_drop_on_news: Some(1),
            smtp_transient: Some(("RCPT".into(), "452 4.2.2 Mailbox full".into(), 2)),
            slow_drip: Some(Duration::from_millis(50)),
            tls_stall: true,
            quote: Some(Quote::ForwardInline),
            strip_header: Some("X-Mailtrip-Probe".into()),
            smtp_data_reply: Some(DataReply::Stall),
            starttls_stall: true,
            smtp_no_auth: true,
            imap_foreign_expunge: Some(3),
            oauth2: OAuthFaults {
                slow_down: 2,
                deny: true,
                expire_device_codes: true,
                invalid_grant: true,
                pending_polls: Some(0),
                access_token_lifetime: Some(Duration::from_secs(2)),
            },
        };
        let spec = FaultSpec::from(&faults);
        let json = serde_json::to_string(&spec).expect("json");
        let back: FaultSpec = serde_json::from_str(&json).expect("parse json");
        assert_eq!(back, spec);
        let toml = toml::to_string(&spec).expect("toml");
        assert_eq!(FaultSpec::from_toml(&toml).expect("parse toml"), spec);
        // Faults has no PartialEq; its Debug form shows every field.
        let again = back.to_faults().expect("valid");
        assert_eq!(format!("{again:?}"), format!("{faults:?}"));
        assert!(json.contains(r#""delivery_delay":"250ms..2s""#), "{json}");
        assert!(json.contains(r#""slow_drip":"50ms""#), "{json}");
        assert!(json.contains(r#""oauth2_token_lifetime":"2s""#), "{json}");
        assert!(json.contains(r#""quote":"forward_inline""#), "{json}");
    }

    #[test]
    fn no_faults_is_an_empty_object() {
        let spec = FaultSpec::from(&Faults::default());
        assert_eq!(serde_json::to_string(&spec).expect("json"), "{}");
    }

    #[test]
    fn command_line_assignments() {
        let spec = FaultSpec::from_assignments(&[
            "greylist",
            "delivery_delay=1s..3s",
            "junk_rule=[SPAM]",
            "drop_percent=25",
            "bounce=550 5.1.1 gone",
            r#"smtp_transient={verb="RCPT", reply="452 4.2.2 Mailbox full"}"#,
            "quote=auto_reply",
        ])
        .expect("parses");
        let f = spec.to_faults().expect("valid");
        assert!(f.greylist);
        assert_eq!(
            f.delivery_delay,
            Some((Duration::from_secs(1), Duration::from_secs(3)))
        );
        assert_eq!(f.junk_rule.as_deref(), Some("[SPAM]"));
        assert_eq!(f.drop_percent, 25);
        assert_eq!(f.bounce.as_deref(), Some("550 5.1.1 gone"));
        assert_eq!(
            f.smtp_transient,
            Some(("RCPT".into(), "452 4.2.2 Mailbox full".into(), 1))
        );
        assert_eq!(f.quote, Some(Quote::AutoReply));
    }

    /// Issue #20: the OAuth2 authorization server's faults and lifetimes from flags.
    #[test]
    fn issue20_oauth2_faults_from_flags() {
        let spec = FaultSpec::from_assignments(&[
            "oauth2_denied",
            "oauth2_slow_down=2",
            "oauth2_pending=0",
            "oauth2_token_lifetime=3s",
        ])
        .expect("parses");
        let f = spec.to_faults().expect("valid").oauth2;
        assert_eq!(
            f,
            OAuthFaults {
                slow_down: 2,
                deny: true,
                pending_polls: Some(0),
                access_token_lifetime: Some(Duration::from_secs(3)),
                ..OAuthFaults::default()
            }
        );
        let err = FaultSpec::from_assignments(&["oauth2_token_lifetime=0"]).expect_err("zero");
        assert!(err.to_string().contains("oauth2_token_lifetime"), "{err}");
    }

    #[test]
    fn bad_settings_name_their_key() {
        let err = |args: &[&str]| {
            FaultSpec::from_assignments(args)
                .expect_err("refused")
                .to_string()
        };
        assert!(err(&["drop_percent=101"]).contains("drop_percent"));
        assert!(err(&["greylsit=true"]).contains("unknown field `greylsit`"));
        assert!(err(&["delivery_delay=5s..1s"]).contains("ends before it starts"));
        assert!(err(&["slow_drip=fast"]).contains("not a duration"));
        assert!(err(&["smtp_transient={verb=\"RCPT\", reply=\"250 ok\"}"]).contains("4xx"));
        assert!(err(&["bounce=User unknown"]).contains("4xx or 5xx"));
        assert!(err(&["quote=sometimes"]).contains("unknown variant"));
        assert!(err(&["=1"]).contains("KEY=VALUE"));
    }

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
        assert!(parse_span("2d").is_err());
    }
}
