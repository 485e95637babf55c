//! The result of `mailtrip verify` as plain data: per protocol the timed connect / TLS / auth
//! steps, the advertised capabilities, the certificate and the diagnosis of a failure, plus the
//! `\Junk` folder and warnings. `Serialize`, no I/O.

use serde::Serialize;
use strum::{Display, IntoStaticStr, VariantArray};

use crate::diagnose::{CertProblem, Diagnosis};

/// A certificate expiring within this many days is a warning.
pub const EXPIRY_WARNING_DAYS: i64 = 14;

/// The steps of a login check, in order, for each protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[derive(IntoStaticStr, Display, VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum Step {
    /// DNS + TCP connect, and (without implicit TLS) the greeting.
    Connect,
    /// Implicit TLS handshake, or STARTTLS and its handshake.
    Tls,
    /// AUTH / LOGIN / AUTHENTICATE, once.
    Auth,
}

impl Step {
    /// The step's name in JSON, e.g. `tls`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Overall outcome: exit code 0, 1 or 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[derive(IntoStaticStr, VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum Status {
    /// Both protocols connected, negotiated TLS and logged in; nothing to warn about.
    Ok,
    /// Both logged in, with warnings (certificate expiring, no `\Junk`, no IDLE, ...).
    Warning,
    /// At least one protocol failed.
    Failed,
}

impl Status {
    /// The status's name in JSON, e.g. `warning`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One timed step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepReport {
    /// Which step.
    pub name: Step,
    /// Whether it succeeded.
    pub ok: bool,
    /// Wall time in milliseconds (fractional).
    pub ms: f64,
    /// What happened, in a few words.
    pub detail: String,
}

/// A capability mailtrip looks for, and whether the server advertised it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Feature {
    /// As the server spells it: `AUTH`, `SIZE`, `STARTTLS`, `IDLE`, `UIDPLUS`, `MOVE`, `SPECIAL-USE`.
    pub name: String,
    /// Whether the server advertised it.
    pub present: bool,
    /// Its parameters (AUTH mechanisms, SIZE limit) or why it matters when missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// What the server's certificate says about itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CertificateInfo {
    /// Subject distinguished name, e.g. `CN=imap.gmail.com`.
    pub subject: String,
    /// Issuer distinguished name, e.g. `C=US, O=Google Trust Services, CN=WR2`.
    pub issuer: String,
    /// RFC 3339.
    pub not_before: String,
    /// RFC 3339.
    pub not_after: String,
    /// Whole days until `not_after` (negative once expired).
    pub days_left: i64,
    /// DNS names and IP addresses from subjectAltName.
    pub names: Vec<String>,
    /// Whether the handshake verified it (chain, dates and host name). False when verification
    /// failed (then `problem` says why) or was skipped (`--insecure-skip-verify`).
    pub verified: bool,
    /// Why verification failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<CertProblem>,
}

/// The failure that ended one protocol's check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepError {
    /// The step it failed in.
    pub step: Step,
    /// What the failure was: code, message, hint.
    #[serde(flatten)]
    pub diagnosis: Diagnosis,
}

/// One protocol's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProtocolReport {
    /// Endpoint URL, e.g. `smtps://smtp.gmail.com:465`.
    pub endpoint: String,
    /// Connected, negotiated TLS (unless the URL is plaintext) and logged in.
    pub ok: bool,
    /// Each step, timed, in order.
    pub steps: Vec<StepReport>,
    /// The capabilities mailtrip checks for, present or not.
    pub features: Vec<Feature>,
    /// Everything the server advertised (SMTP EHLO keywords after TLS, IMAP CAPABILITY after
    /// login, or before it when login failed).
    pub capabilities: Vec<String>,
    /// The certificate the server presented, when TLS got that far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertificateInfo>,
    /// What ended this protocol's check, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<StepError>,
}

impl ProtocolReport {
    /// A report with no steps yet.
    pub fn new(endpoint: String) -> ProtocolReport {
        ProtocolReport {
            endpoint,
            ok: false,
            steps: Vec::new(),
            features: Vec::new(),
            capabilities: Vec::new(),
            certificate: None,
            error: None,
        }
    }

    /// The timing of a step, if it ran.
    pub fn step(&self, name: Step) -> Option<&StepReport> {
        self.steps.iter().find(|s| s.name == name)
    }

    /// Whether the feature `name` was advertised (`None` when it was not looked at).
    pub fn feature(&self, name: &str) -> Option<bool> {
        self.features
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
            .map(|f| f.present)
    }
}

/// The whole result of one `verify`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifyReport {
    /// Version of this JSON layout (docs/json.md).
    pub schema: u32,
    /// Overall result.
    pub status: Status,
    /// Login name used on both protocols.
    pub user: String,
    /// `password` or `oauth2`.
    pub auth: String,
    /// For an account signed in with `mailtrip login`: the access token's expiry, its scopes,
    /// and whether this run refreshed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<crate::oauth::TokenInfo>,
    /// Provider preset, if one filled the account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Whether the run used the embedded server.
    pub embedded: bool,
    /// RFC 3339 start time.
    pub started_at: String,
    /// Start to end, in milliseconds (the protocols run concurrently).
    pub total_ms: f64,
    /// The SMTP side.
    pub smtp: ProtocolReport,
    /// The IMAP side.
    pub imap: ProtocolReport,
    /// The folder with the `\Junk` SPECIAL-USE attribute; `None` when there is none or IMAP
    /// login failed (see `junk_checked`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub junk_folder: Option<String>,
    /// Whether the folder list was read (IMAP login worked).
    pub junk_checked: bool,
    /// Things worth knowing that did not fail the check.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// False only when `--insecure-skip-verify` was used.
    pub tls_verified: bool,
}

impl VerifyReport {
    /// The process exit code: 0 all good, 1 warnings, 2 any failure.
    pub fn exit_code(&self) -> u8 {
        match self.status {
            Status::Ok => 0,
            Status::Warning => 1,
            Status::Failed => 2,
        }
    }

    /// Both protocols, SMTP first, with their names.
    pub fn protocols(&self) -> [(&'static str, &ProtocolReport); 2] {
        [("smtp", &self.smtp), ("imap", &self.imap)]
    }

    /// The status the protocols and warnings add up to.
    pub fn derive_status(&self) -> Status {
        if !self.smtp.ok || !self.imap.ok {
            Status::Failed
        } else if !self.warnings.is_empty() {
            Status::Warning
        } else {
            Status::Ok
        }
    }
}
