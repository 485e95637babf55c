//! [`Faults`] as plain data a non-Rust user can write: the same keys in a TOML file
//! (`mailtrip server --faults FILE`), on the command line (`--fault key=value`) and in the
//! HTTP API's JSON (`PUT /api/v1/faults`), with durations as text (`250ms`, `2s`, `1s..5s`).

mod span;

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[cfg(feature = "cli")]
pub(crate) use span::DurationText;
pub use span::{Span, SpanError, SpanRange, format_span, parse_span};

use super::oauth::OAuthFaults;
use super::{DataReply, Faults, Quote};

/// Every fault of [`Faults`], each optional; see `docs/api.md` for what each does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// `"2s"` or `"1s..5s"`: between SMTP acceptance and the message showing up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_delay: Option<SpanRange>,
    /// Messages whose header section contains this text (case-insensitive) go to \Junk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub junk_rule: Option<String>,
    /// Answer `451 4.7.1` to the first RCPT of each new (sender, recipient) pair.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub greylist: Option<bool>,
    /// Close the SMTP connection after this many commands.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_drop_after: Option<usize>,
    /// Close the IMAP connection after this many commands.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imap_drop_after: Option<usize>,
    /// Never answer this SMTP verb (e.g. `DATA`, `EHLO`, or `GREETING` for the banner).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_hang_on: Option<String>,
    /// Never answer this IMAP command (e.g. `IDLE`, `FETCH`, `LOGIN`, or `GREETING`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imap_hang_on: Option<String>,
    /// Store every delivered message twice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deliver_twice: Option<bool>,
    /// Append this text to the end of every delivered body (content mangling).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub append_footer: Option<String>,
    /// Reject SMTP AUTH with this reply (lines separated by `\n`, each with its code).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_auth_reject: Option<String>,
    /// Reject IMAP LOGIN / AUTHENTICATE with this tagged reply (e.g. `NO [ALERT] ...`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imap_auth_reject: Option<String>,
    /// Refuse IMAP connections beyond this many at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_imap_connections: Option<usize>,
    /// Silently drop this percentage (0-100) of deliveries after accepting them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drop_percent: Option<u8>,
    /// Messages whose header section contains this text (case-insensitive) are filed in the
    /// `\Archive` (or `\All`) folder instead of INBOX, as a user's filter would.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive_rule: Option<String>,
    /// Instead of delivering, send the sender an RFC 3464 bounce (a `multipart/report` DSN in
    /// the sender's INBOX) quoting this SMTP reply, e.g. `550 5.1.1 <bob@x>: User unknown`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bounce: Option<String>,
    /// Remove every MIME part with `Content-Disposition: attachment` (a stripping gateway).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strip_attachments: Option<bool>,
    /// Hard-wrap body lines longer than this many bytes (a rewrapping gateway or client).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewrap_lines: Option<usize>,
    /// Prepend `Authentication-Results: <this>` on delivery, as the receiving MTA would.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authentication_results: Option<String>,
    /// Leave IDLE out of CAPABILITY, so clients fall back to polling (benchmarks compare both).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imap_no_idle: Option<bool>,
    /// `true`: COPY and MOVE answer without COPYUID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imap_no_copyuid: Option<bool>,
    /// `"500ms"`: how long after a change an IDLE client hears of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imap_idle_delay: Option<Span>,
    /// `true`: only NOOP, CHECK, IDLE and SELECT show newly delivered mail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imap_sync_on_noop: Option<bool>,
    /// Answer the IMAP command after this many with `* BYE` and close (a server restart).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imap_bye_after: Option<usize>,
    /// Like `imap_hang_on`, but only for the first such command server-wide; the fault then
    /// clears itself, so a client that times out and reconnects gets answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imap_hang_once_on: Option<String>,
    /// While a client IDLEs, close its connection instead of reporting new mail, this many
    /// times server-wide: the message lands in the gap the client's reconnect must cover.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imap_drop_on_news: Option<usize>,
    /// Answer SMTP `verb` with `reply` (lines separated by `\n`, each with its code) the next
    /// `times` times server-wide, e.g. `("RCPT", "452 4.2.2 Mailbox full", 1)`. A `421`
    /// reply also closes the connection, as RFC 5321 asks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_transient: Option<Transient>,
    /// `"50ms"`: the pause between reply bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slow_drip: Option<Span>,
    /// Implicit-TLS listeners (SMTPS, IMAPS) accept TCP and never answer the ClientHello.
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
    /// Answer `STARTTLS` with `220`, then never take part in the TLS handshake.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starttls_stall: Option<bool>,
    /// Advertise no AUTH at all, before or after STARTTLS (an MX or relay-only port).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_no_auth: Option<bool>,
    /// Before carrying out a `UID EXPUNGE`, expunge this many other messages of the mailbox
    /// (lowest UIDs first), as concurrent sessions would: their `EXPUNGE` responses arrive in
    /// the same reply as the client's own (consumed once).
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
    /// The SMTP verb to answer, e.g. `RCPT`.
    pub verb: String,
    /// The reply to give (lines separated by `\n`, each with its code).
    pub reply: String,
    /// How many times, server-wide (default 1).
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
    /// The fault's name, e.g. `delivery_delay`.
    pub key: String,
    /// What is wrong with its value.
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
        Ok(self.faults())
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

/// Every fault key, once: the flat ones, then the OAuth2 server's (`oauth2_*` keys for the
/// fields of [`Faults::oauth2`]). The conversions between [`FaultSpec`] and [`Faults`] and
/// [`FaultSpec::overridden_by`] are written from these lists, field by field without `..`: a
/// fault added to `Faults` fails to compile until it has a key here and in `FaultSpec`.
macro_rules! fault_keys {
    ($($key:ident),* ; oauth2 { $($okey:ident => $field:ident),* $(,)? }) => {
        impl FaultSpec {
            /// The faults this spec describes, on top of none (the settings checked already).
            fn faults(&self) -> Faults {
                Faults {
                    $($key: Key::from_spec(self.$key.clone()),)*
                    oauth2: OAuthFaults { $($field: Key::from_spec(self.$okey.clone())),* },
                }
            }

            /// This spec with every key `other` sets taken from `other` (flags over a file).
            pub fn overridden_by(self, other: FaultSpec) -> FaultSpec {
                FaultSpec {
                    $($key: other.$key.or(self.$key),)*
                    $($okey: other.$okey.or(self.$okey)),*
                }
            }
        }

        impl From<&Faults> for FaultSpec {
            /// The spec of faults in force (counted faults show what is left of them).
            fn from(f: &Faults) -> FaultSpec {
                let Faults { $($key,)* oauth2 } = f.clone();
                let OAuthFaults { $($field),* } = oauth2;
                FaultSpec {
                    $($key: Key::to_spec($key),)*
                    $($okey: Key::to_spec($field)),*
                }
            }
        }
    };
}

fault_keys!(
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
    imap_no_copyuid,
    imap_idle_delay,
    imap_sync_on_noop,
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
    imap_foreign_expunge;
    oauth2 {
        oauth2_pending => pending_polls,
        oauth2_slow_down => slow_down,
        oauth2_denied => deny,
        oauth2_expired => expire_device_codes,
        oauth2_invalid_grant => invalid_grant,
        oauth2_token_lifetime => access_token_lifetime,
    }
);

/// One fault's value as [`Faults`] holds it and as a spec key writes it: a key left out is
/// the fault off (`false`, `0`, `None`), and so is an empty text.
trait Key: Sized {
    type Spec;
    fn from_spec(spec: Option<Self::Spec>) -> Self;
    fn to_spec(self) -> Option<Self::Spec>;
}

/// A switch: `true` or left out.
impl Key for bool {
    type Spec = bool;
    fn from_spec(spec: Option<bool>) -> bool {
        spec.unwrap_or(false)
    }
    fn to_spec(self) -> Option<bool> {
        self.then_some(true)
    }
}

/// A count where 0 is off (`drop_percent`, `oauth2_slow_down`).
macro_rules! zero_is_off {
    ($($t:ty),*) => {$(
        impl Key for $t {
            type Spec = $t;
            fn from_spec(spec: Option<$t>) -> $t {
                spec.unwrap_or(0)
            }
            fn to_spec(self) -> Option<$t> {
                (self > 0).then_some(self)
            }
        }
    )*};
}

zero_is_off!(u8, usize);

/// A text; `""` is off.
impl Key for Option<String> {
    type Spec = String;
    fn from_spec(spec: Option<String>) -> Self {
        spec.filter(|s| !s.is_empty())
    }
    fn to_spec(self) -> Option<String> {
        self
    }
}

/// Values written the same in both.
macro_rules! same_in_both {
    ($($t:ty),*) => {$(
        impl Key for Option<$t> {
            type Spec = $t;
            fn from_spec(spec: Option<$t>) -> Self {
                spec
            }
            fn to_spec(self) -> Option<$t> {
                self
            }
        }
    )*};
}

same_in_both!(usize, u32, Quote, DataReply);

/// `delivery_delay`: `"2s"` or `"1s..5s"`.
impl Key for Option<(Duration, Duration)> {
    type Spec = SpanRange;
    fn from_spec(spec: Option<SpanRange>) -> Self {
        spec.map(|r| (r.0, r.1))
    }
    fn to_spec(self) -> Option<SpanRange> {
        self.map(|(a, b)| SpanRange(a, b))
    }
}

/// `slow_drip`, `oauth2_token_lifetime`: `"50ms"`.
impl Key for Option<Duration> {
    type Spec = Span;
    fn from_spec(spec: Option<Span>) -> Self {
        spec.map(|s| s.0)
    }
    fn to_spec(self) -> Option<Span> {
        self.map(Span)
    }
}

/// `smtp_transient`: `{verb, reply, times}`.
impl Key for Option<(String, String, usize)> {
    type Spec = Transient;
    fn from_spec(spec: Option<Transient>) -> Self {
        spec.map(|t| (t.verb, t.reply, t.times))
    }
    fn to_spec(self) -> Option<Transient> {
        self.map(|(verb, reply, times)| Transient { verb, reply, times })
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
            imap_no_copyuid: true,
            imap_idle_delay: Some(Duration::from_millis(500)),
            imap_sync_on_noop: true,
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
}
