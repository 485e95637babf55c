//! Turns SMTP replies, IMAP NO/BAD/BYE responses and transport failures into a stable [`Code`]
//! with one sentence on what is wrong and one line on what to do next. Pure and table-driven:
//! the first matching rule of the table in `rules` wins, and a generic fallback by reply class
//! covers the rest; `transport` words failures that never got a reply (DNS, TCP, TLS).

mod rules;
mod transport;

pub use transport::{CertProblem, speaks_http, tls_certificate, tls_mode_mismatch, transport};

use serde::{Deserialize, Serialize};
use strum::{Display, IntoStaticStr, VariantArray};

/// A stable, machine-readable diagnosis; serialized and displayed in snake_case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(IntoStaticStr, Display, VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum Code {
    /// The host name did not resolve.
    DnsFailed,
    /// Nothing listens on that port (connection refused).
    ConnectRefused,
    /// The connection was not established in time.
    ConnectTimeout,
    /// The TLS handshake failed.
    TlsHandshakeFailed,
    /// The server's certificate did not verify (chain, dates or host name).
    TlsCertificateInvalid,
    /// Implicit TLS against a STARTTLS port, or the other way round.
    TlsModeMismatch,
    /// The server does not offer STARTTLS.
    StarttlsUnavailable,
    /// No login mechanism both sides support.
    AuthMechanismUnsupported,
    /// The server refused the user name or password.
    AuthRejected,
    /// The account needs an app password instead of its normal one.
    AppPasswordRequired,
    /// The provider wants the user to sign in on the web first.
    WebLoginRequired,
    /// Password logins are turned off for the account; OAuth2 is needed.
    BasicAuthDisabled,
    /// A stored OAuth2 sign-in (`mailtrip login`) is missing, revoked or expired.
    SignInRequired,
    /// The server refused another simultaneous connection.
    TooManyConnections,
    /// The mailbox is full.
    OverQuota,
    /// Deferred on purpose until a retry (greylisting).
    Greylisted,
    /// Too many messages or connections in a given time.
    RateLimited,
    /// MAIL FROM was refused.
    SenderRejected,
    /// RCPT TO was refused.
    RecipientRejected,
    /// The message was refused after DATA (content, policy, size).
    MessageRejected,
    /// The server did not answer in time.
    Timeout,
    /// The server closed the connection unexpectedly.
    ConnectionClosed,
    /// Any other server-side failure.
    ServerError,
    /// The whole message was sent but the reply to its end of DATA never came: the server
    /// may have accepted it (the outcome is unknown).
    DataReplyLost,
    /// The probe arrived, but changed in transit (footer, rewrap, stripped part...).
    ContentMismatch,
    /// The port answers, but not as a mail server (it speaks HTTP).
    NotAMailServer,
}

impl Code {
    /// Every code, in declaration order.
    pub const ALL: &'static [Code] = <Code as VariantArray>::VARIANTS;

    /// The snake_case name, identical to the serde form.
    pub fn as_str(&self) -> &'static str {
        (*self).into()
    }

    /// Whether the same attempt may succeed later without anyone changing anything.
    ///
    /// This is a property of the code alone. A few codes are sometimes transient and sometimes
    /// not (a 452 4.2.2 full mailbox, an IMAP `[UNAVAILABLE]` server error); those are reported
    /// as not transient and their summary says "temporarily" where the server said so.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Code::Greylisted
                | Code::RateLimited
                | Code::TooManyConnections
                | Code::ConnectTimeout
                | Code::Timeout
                | Code::ConnectionClosed
        )
    }

    /// Whether the server refused the credentials themselves. Logging in again with the same
    /// ones cannot help, and providers lock accounts that keep trying, so callers that retry
    /// on their own (`monitor`) hold off for a long while after one of these.
    pub fn is_credential_refusal(&self) -> bool {
        matches!(
            self,
            Code::AuthRejected
                | Code::AppPasswordRequired
                | Code::WebLoginRequired
                | Code::BasicAuthDisabled
                | Code::SignInRequired
        )
    }
}

/// Which protocol produced the reply or failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// SMTP (submission or relay).
    Smtp,
    /// IMAP.
    Imap,
}

impl Protocol {
    fn label(self) -> &'static str {
        match self {
            Protocol::Smtp => "SMTP",
            Protocol::Imap => "IMAP",
        }
    }

    /// The two TLS endpoint forms for this protocol, for hints.
    fn tls_forms(self) -> &'static str {
        match self {
            Protocol::Smtp => "smtps://host:465 (implicit TLS) or smtp+starttls://host:587",
            Protocol::Imap => "imaps://host:993 (implicit TLS) or imap+starttls://host:143",
        }
    }
}

/// What the client was doing when the server answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Waiting for the server's greeting.
    Greeting,
    /// EHLO.
    Ehlo,
    /// STARTTLS.
    StartTls,
    /// SMTP AUTH.
    Auth,
    /// MAIL FROM.
    MailFrom,
    /// RCPT TO.
    RcptTo,
    /// DATA and the message.
    Data,
    /// IMAP LOGIN / AUTHENTICATE.
    Login,
    /// IMAP SELECT / EXAMINE of a folder.
    Select,
    /// Any other command.
    Other,
}

impl Stage {
    fn describe(self) -> &'static str {
        match self {
            Stage::Greeting => "the connection (greeting)",
            Stage::Ehlo => "EHLO",
            Stage::StartTls => "STARTTLS",
            Stage::Auth => "the login (AUTH)",
            Stage::MailFrom => "the sender (MAIL FROM)",
            Stage::RcptTo => "the recipient (RCPT TO)",
            Stage::Data => "the message (DATA)",
            Stage::Login => "the login",
            Stage::Select => "opening the folder",
            Stage::Other => "the command",
        }
    }
}

/// A classified failure: what is wrong, what to do, and the server's own words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnosis {
    /// The stable code.
    pub code: Code,
    /// One human sentence: what is wrong.
    pub summary: String,
    /// What to do next, one line.
    pub hint: String,
    /// Provider remediation URL, when one is published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// The server's own words, verbatim (trimmed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_text: Option<String>,
}

/// The summary, so a `Diagnosis` returned as an error (e.g. by `Sweep`) works with `?`.
impl std::fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.summary)
    }
}

impl std::error::Error for Diagnosis {}

impl Diagnosis {
    /// A diagnosis in mailtrip's own words: no provider link, no server text.
    pub fn new(code: Code, summary: impl Into<String>, hint: impl Into<String>) -> Diagnosis {
        Diagnosis {
            code,
            summary: summary.into(),
            hint: hint.into(),
            link: None,
            server_text: None,
        }
    }
}

/// A reply no rule knows: a generic `server_error` with the server's words.
fn unclassified(summary: String, hint: &str, text: &str) -> Diagnosis {
    Diagnosis {
        server_text: server_text(text),
        ..Diagnosis::new(Code::ServerError, summary, hint)
    }
}

/// ASCII case-insensitive substring search.
fn contains_ci(haystack: &str, needle: &str) -> bool {
    let needle = needle.as_bytes();
    needle.is_empty()
        || haystack
            .as_bytes()
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

fn server_text(text: &str) -> Option<String> {
    let trimmed = text.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

/// Classifies an SMTP reply: basic `code` (e.g. 535), the full reply `text` (all lines joined
/// with "\n", with or without the "535-" line prefixes, including any enhanced status such as
/// "5.7.8 ..."), and the `stage` the client was in.
pub fn classify_smtp(stage: Stage, code: u16, text: &str) -> Diagnosis {
    let enhanced = enhanced_status(text);
    let observed = rules::Observed {
        protocol: Protocol::Smtp,
        stage,
        smtp_code: Some(code),
        imap_status: None,
        enhanced,
        text,
    };
    rules::classify(&observed).unwrap_or_else(|| {
        let status = match enhanced {
            Some((c, s, d)) => format!("{code} {c}.{s}.{d}"),
            None => code.to_string(),
        };
        let what = stage.describe();
        let (summary, hint) = match code / 100 {
            4 => (
                format!("The SMTP server temporarily refused {what} ({status})."),
                "Retry in a few minutes; if it persists, the server's text below says what it objects to.",
            ),
            5 => (
                format!("The SMTP server rejected {what} ({status})."),
                "Read the server's text for the reason; retrying unchanged will fail the same way.",
            ),
            _ => (
                format!("The SMTP server gave an unexpected reply to {what} ({status})."),
                "Check that the endpoint really is an SMTP server and that the TLS mode matches the port.",
            ),
        };
        unclassified(summary, hint, text)
    })
}

/// Classifies an IMAP tagged NO/BAD or a BYE: `status` ("NO", "BAD", "BYE"), the `text` after it
/// including any response code such as `[AUTHENTICATIONFAILED]` or `[ALERT]`, and the `stage`.
pub fn classify_imap(stage: Stage, status: &str, text: &str) -> Diagnosis {
    let status = status.trim();
    let observed = rules::Observed {
        protocol: Protocol::Imap,
        stage,
        smtp_code: None,
        imap_status: Some(status),
        enhanced: None,
        text,
    };
    rules::classify(&observed).unwrap_or_else(|| {
        let what = stage.describe();
        let (summary, hint) = if status.eq_ignore_ascii_case("BAD") {
            (
                format!("The IMAP server rejected {what} as invalid (BAD)."),
                "This is usually a client/server incompatibility; the server's text below names the problem.",
            )
        } else {
            (
                format!("The IMAP server refused {what} ({status})."),
                "Read the server's text for the reason; retry only if it says the problem is temporary.",
            )
        };
        unclassified(summary, hint, text)
    })
}

/// Parses an enhanced status code ("5.7.8", RFC 3463) from an SMTP reply text: the first line
/// that starts with one, after an optional "535-" / "535 " reply-code prefix.
pub fn enhanced_status(text: &str) -> Option<(u8, u16, u16)> {
    text.lines().find_map(|line| {
        let line = line.trim_start();
        let rest = match line.as_bytes() {
            [a, b, c, sep, ..]
                if a.is_ascii_digit()
                    && b.is_ascii_digit()
                    && c.is_ascii_digit()
                    && (*sep == b'-' || *sep == b' ') =>
            {
                line.get(4..).unwrap_or_default()
            }
            _ => line,
        };
        let token = rest.split_whitespace().next()?;
        parse_enhanced(token)
    })
}

fn parse_enhanced(token: &str) -> Option<(u8, u16, u16)> {
    let mut parts = token.split('.');
    let (class, subject, detail) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let number = |s: &str, max_len: usize| {
        (!s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u16>().ok())
            .flatten()
    };
    let class = match class {
        "2" => 2,
        "4" => 4,
        "5" => 5,
        _ => return None,
    };
    Some((class, number(subject, 3)?, number(detail, 3)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enhanced_status_parses_with_and_without_prefix() {
        assert_eq!(
            enhanced_status("5.7.8 Username and Password not accepted"),
            Some((5, 7, 8))
        );
        assert_eq!(
            enhanced_status("535-5.7.8 Username and Password not accepted.\n535 5.7.8  https://x"),
            Some((5, 7, 8))
        );
        assert_eq!(
            enhanced_status("535 5.7.139 Authentication unsuccessful"),
            Some((5, 7, 139))
        );
        assert_eq!(enhanced_status("452 4.2.2 over quota"), Some((4, 2, 2)));
        assert_eq!(enhanced_status("250 2.0.0 OK"), Some((2, 0, 0)));
        assert_eq!(
            enhanced_status("Error: no enhanced code\n550 5.1.1 unknown"),
            Some((5, 1, 1))
        );
    }

    #[test]
    fn enhanced_status_rejects_non_codes() {
        assert_eq!(enhanced_status(""), None);
        assert_eq!(enhanced_status("535 Authentication failed"), None);
        assert_eq!(enhanced_status("Postfix 3.7.1 ready"), None);
        assert_eq!(enhanced_status("3.7.1 not a class"), None);
        assert_eq!(enhanced_status("5.7 too short"), None);
        assert_eq!(enhanced_status("5.7.8.1 too long"), None);
        assert_eq!(enhanced_status("5.1234.1 subject too long"), None);
        assert_eq!(enhanced_status("5.a.1 not digits"), None);
    }

    #[test]
    fn code_names_match_serde() {
        for &code in Code::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(code.to_string(), code.as_str());
            let back: Code = serde_json::from_str(&json).unwrap();
            assert_eq!(back, code);
        }
    }

    #[test]
    fn transient_codes() {
        let transient: Vec<_> = Code::ALL
            .iter()
            .copied()
            .filter(Code::is_transient)
            .collect();
        assert_eq!(
            transient,
            [
                Code::ConnectTimeout,
                Code::TooManyConnections,
                Code::Greylisted,
                Code::RateLimited,
                Code::Timeout,
                Code::ConnectionClosed,
            ]
        );
    }

    #[test]
    fn fallbacks_by_class_and_stage() {
        let d = classify_smtp(Stage::Other, 500, "500 5.5.1 Command unrecognized");
        assert_eq!(d.code, Code::ServerError);
        assert!(d.summary.contains("500 5.5.1"), "{}", d.summary);

        let d = classify_smtp(Stage::Data, 451, "451 4.3.0 Error: queue file write error");
        assert_eq!(d.code, Code::ServerError);
        assert!(d.summary.contains("temporarily"), "{}", d.summary);

        let smtp = [
            (
                Stage::RcptTo,
                550,
                "550 No such user here",
                Code::RecipientRejected,
            ),
            (
                Stage::MailFrom,
                553,
                "553 sorry, that domain isn't allowed",
                Code::SenderRejected,
            ),
            (
                Stage::Data,
                554,
                "554 Transaction failed",
                Code::MessageRejected,
            ),
            (Stage::Auth, 535, "535 nope", Code::AuthRejected),
            (
                Stage::Auth,
                534,
                "534 5.7.9 Authentication mechanism is too weak",
                Code::AuthMechanismUnsupported,
            ),
            (
                Stage::Auth,
                504,
                "504 Unrecognized authentication type",
                Code::AuthMechanismUnsupported,
            ),
            (
                Stage::Auth,
                504,
                "504 5.5.4 Unsupported",
                Code::AuthMechanismUnsupported,
            ),
            (
                Stage::Greeting,
                421,
                "421 Service not available",
                Code::ConnectionClosed,
            ),
            (
                Stage::RcptTo,
                552,
                "552 Requested mail action aborted",
                Code::OverQuota,
            ),
            (
                Stage::RcptTo,
                452,
                "452 4.5.3 Too many recipients",
                Code::RateLimited,
            ),
            (
                Stage::StartTls,
                502,
                "502 5.5.1 Unrecognized command",
                Code::StarttlsUnavailable,
            ),
        ];
        for (stage, code, text, want) in smtp {
            assert_eq!(classify_smtp(stage, code, text).code, want, "{text}");
        }
        let imap = [
            (Stage::Login, "NO", "Nope.", Code::AuthRejected),
            (Stage::Select, "no", "Cannot open", Code::ServerError),
            (
                Stage::Other,
                "BYE",
                "Server shutting down.",
                Code::ConnectionClosed,
            ),
        ];
        for (stage, status, text, want) in imap {
            assert_eq!(
                classify_imap(stage, status, text).code,
                want,
                "{status} {text}"
            );
        }
        let d = classify_imap(
            Stage::Other,
            "BAD",
            "Error in IMAP command: Unknown command.",
        );
        assert_eq!(d.code, Code::ServerError);
        assert!(d.summary.contains("BAD"), "{}", d.summary);
    }

    #[test]
    fn empty_text_has_no_server_text() {
        let d = classify_smtp(Stage::Auth, 535, "  \n");
        assert_eq!(d.code, Code::AuthRejected);
        assert_eq!(d.server_text, None);
    }
}
