//! Placeholder with the API of the table-driven classifier from the `diagnose` branch, so the
//! probe compiles against it before it lands; the real module replaces this file on merge.

use std::fmt;

/// A stable diagnosis code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    DnsFailed,
    ConnectRefused,
    ConnectTimeout,
    TlsHandshakeFailed,
    TlsCertificateInvalid,
    TlsModeMismatch,
    StarttlsUnavailable,
    AuthMechanismUnsupported,
    AuthRejected,
    AppPasswordRequired,
    WebLoginRequired,
    BasicAuthDisabled,
    TooManyConnections,
    OverQuota,
    Greylisted,
    RateLimited,
    SenderRejected,
    RecipientRejected,
    MessageRejected,
    Timeout,
    ConnectionClosed,
    ServerError,
}

impl Code {
    /// Whether trying again later may succeed.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            Code::ConnectTimeout
                | Code::TooManyConnections
                | Code::Greylisted
                | Code::RateLimited
                | Code::Timeout
                | Code::ConnectionClosed
        )
    }
}

/// Which protocol the failure happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    Smtp,
    Imap,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Smtp => "SMTP",
            Protocol::Imap => "IMAP",
        })
    }
}

/// The command a reply answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Greeting,
    Ehlo,
    StartTls,
    Auth,
    MailFrom,
    RcptTo,
    Data,
    Login,
    Select,
    Other,
}

/// What went wrong and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnosis {
    pub code: Code,
    pub summary: String,
    pub hint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_text: Option<String>,
}

fn diag(code: Code, summary: String, hint: &str, server_text: Option<&str>) -> Diagnosis {
    Diagnosis {
        code,
        summary,
        hint: hint.to_string(),
        link: None,
        server_text: server_text.map(str::to_string),
    }
}

/// Classifies an SMTP reply.
pub fn classify_smtp(stage: Stage, code: u16, text: &str) -> Diagnosis {
    let lower = text.to_ascii_lowercase();
    let c = if lower.contains("application-specific password") {
        Code::AppPasswordRequired
    } else if lower.contains("log in via your web browser") {
        Code::WebLoginRequired
    } else if stage == Stage::Auth || code == 535 {
        Code::AuthRejected
    } else if matches!(code, 450 | 451) && stage == Stage::RcptTo {
        Code::Greylisted
    } else if code == 421 {
        Code::ConnectionClosed
    } else {
        match stage {
            Stage::MailFrom => Code::SenderRejected,
            Stage::RcptTo => Code::RecipientRejected,
            Stage::Data => Code::MessageRejected,
            _ => Code::ServerError,
        }
    };
    diag(
        c,
        format!("SMTP server answered {code} at {stage:?}"),
        "see the server's reply",
        Some(text),
    )
}

/// Classifies an IMAP tagged NO/BAD.
pub fn classify_imap(stage: Stage, status: &str, text: &str) -> Diagnosis {
    let lower = text.to_ascii_lowercase();
    let c = if lower.contains("application-specific password") {
        Code::AppPasswordRequired
    } else if lower.contains("log in via your web browser") {
        Code::WebLoginRequired
    } else if lower.contains("too many simultaneous connections") {
        Code::TooManyConnections
    } else if stage == Stage::Login {
        Code::AuthRejected
    } else {
        Code::ServerError
    };
    diag(
        c,
        format!("IMAP server answered {status} at {stage:?}"),
        "see the server's reply",
        Some(text),
    )
}

/// A failure below the protocol: DNS, TCP, TLS, timeouts.
pub fn transport(code: Code, protocol: Protocol, endpoint: &str, detail: &str) -> Diagnosis {
    diag(
        code,
        format!("{protocol} connection to {endpoint} failed: {detail}"),
        "check the host, port and network",
        None,
    )
}

/// The client and server disagree about implicit TLS vs STARTTLS/plain.
pub fn tls_mode_mismatch(
    protocol: Protocol,
    endpoint: &str,
    detected: &str,
    suggested_scheme: &str,
) -> Diagnosis {
    diag(
        Code::TlsModeMismatch,
        format!("{protocol} endpoint {endpoint} {detected}"),
        &format!("use {suggested_scheme}"),
        None,
    )
}
