//! The result of a run as plain data: verdict, placement, per-phase timings, evidence and the
//! diagnosed error. `Serialize`, no I/O: every output format is a renderer over this.

use serde::Serialize;
use strum::{Display, IntoStaticStr, VariantArray};

use crate::analyze::auth_results::AuthSummary;
use crate::analyze::hops::Timeline;
use crate::diagnose::Diagnosis;

/// Version of the JSON shape; bumped on breaking changes.
pub const SCHEMA: u32 = 1;

/// The warning every report carries when `--insecure-skip-verify` was used; the human
/// renderers show it once, as a banner.
pub const INSECURE_WARNING: &str = "TLS certificates were NOT verified (--insecure-skip-verify); the result proves \
     nothing about who answered";

/// The steps of a round trip, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[derive(IntoStaticStr, Display, VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum Phase {
    /// DNS + TCP connect to the SMTP server (and the greeting).
    SmtpConnect,
    /// Implicit TLS handshake or STARTTLS.
    SmtpTls,
    /// AUTH over SMTP.
    SmtpAuth,
    /// MAIL FROM .. end of DATA.
    SmtpSubmit,
    /// DNS + TCP + TLS to the IMAP server, up to the greeting.
    ImapConnect,
    /// LOGIN / AUTHENTICATE over IMAP.
    ImapAuth,
    /// SMTP accepted → seen over IMAP.
    Delivery,
    /// Fetching the whole message.
    Fetch,
    /// Parsing and checking tag, digest and headers.
    Verify,
    /// Deleting exactly the probe's messages.
    Cleanup,
}

impl Phase {
    /// The phase's name in JSON and metrics, e.g. `smtp_connect`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The outcome of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[derive(IntoStaticStr, VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum Verdict {
    /// The probe arrived in INBOX intact.
    Delivered,
    /// The probe arrived in the spam folder.
    DeliveredToSpam,
    /// The probe did not show up before the deadline.
    NotDelivered,
    /// The probe arrived, but changed on the way.
    ContentMismatch,
    /// The SMTP server refused the probe or the connection failed while sending.
    SendFailed,
    /// SMTP or IMAP refused the login.
    AuthFailed,
    /// Something else failed (connection, TLS, protocol, configuration).
    Error,
    /// A delivery status notification (RFC 3464) came back for the probe.
    Bounced,
}

impl Verdict {
    /// The verdict's name in JSON, e.g. `delivered_to_spam`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether the probe arrived (anywhere).
    pub fn is_delivered(self) -> bool {
        matches!(self, Verdict::Delivered | Verdict::DeliveredToSpam)
    }
}

/// Where the probe was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    /// In INBOX.
    Inbox,
    /// In the `\Junk` folder.
    Spam,
    /// Filed by a filter into `\Archive` or `\All` without ever being in INBOX.
    Archive,
}

/// One timed step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseReport {
    /// Which step.
    pub name: Phase,
    /// Whether it succeeded.
    pub ok: bool,
    /// Wall time of the phase in milliseconds (fractional).
    pub ms: f64,
    /// What happened, in a few words (server reply, mailbox, counts).
    pub detail: String,
}

/// The error that ended the run, with the phase it happened in and what to do.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorReport {
    /// The phase it failed in.
    pub phase: Phase,
    /// What the failure was: code, message, hint.
    #[serde(flatten)]
    pub diagnosis: Diagnosis,
}

/// What proves the verdict.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Evidence {
    /// The probe's Message-ID.
    pub message_id: String,
    /// The probe's Subject.
    pub subject: String,
    /// The SMTP server's final reply to DATA (often carries a queue id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_reply: Option<String>,
    /// Folder the probe was found in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<String>,
    /// The probe's UID in `mailbox`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// How many copies of the probe arrived (more than 1 is a duplicate).
    pub copies: u32,
    /// The body digest in the received copy matched the one sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest_ok: Option<bool>,
    /// Number of `Received:` headers on the copy that arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received_hops: Option<usize>,
    /// The raw `Authentication-Results` header values, if any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub authentication_results: Vec<String>,
    /// Whether detection used IMAP IDLE (true) or NOOP polling (false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle: Option<bool>,
    /// What made the watcher look when it found the probe (`early_poll`, `idle`, `poll`,
    /// `first_look`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seen_by: Option<SeenBy>,
    /// What changed between the probe sent and the copy received (footer added, charset
    /// changed, attachment stripped, lines rewrapped, subject altered); empty when nothing did.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<String>,
    /// The delivery status notification that came back, when the verdict is `bounced`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bounce: Option<Bounce>,
    /// Which carriers of the tag survived transit, once the probe was fetched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub carriers: Option<Carriers>,
}

/// What made the watcher look when it found the message: the early-poll schedule after the
/// send, the server's own notice (IDLE woke, or an EXISTS came with another answer), the
/// steady poll without IDLE (or an IDLE cycle that ran out), or the first look on a fresh
/// connection (it was there already).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[derive(IntoStaticStr, VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum SeenBy {
    /// It was already there on the first look of a fresh connection.
    FirstLook,
    /// A poll of the early schedule after the send.
    EarlyPoll,
    /// The server's own notice: IDLE woke, or an EXISTS came with another answer.
    Idle,
    /// The steady poll (no IDLE, or an IDLE cycle that ran out).
    Poll,
}

impl SeenBy {
    /// The name in JSON, e.g. `early_poll`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The places the probe carries its tag, and whether each arrived intact. The probe is
/// matched by the header or the Message-ID (each holds the whole tag); the subject holds only
/// its first 8 hex digits, so it is reported but never enough on its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Carriers {
    /// `X-Mailtrip-Probe` holds the tag.
    pub header: bool,
    /// The Message-ID is the one sent (`<tag@domain>`).
    pub message_id: bool,
    /// The subject still reads `mailtrip probe <first 8 hex digits>`.
    pub subject: bool,
}

/// What a bounce (RFC 3464 delivery status notification) said about the probe.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Bounce {
    /// The folder and UID of the DSN in the sender's mailbox.
    pub mailbox: String,
    /// The DSN's UID in that folder.
    pub uid: u32,
    /// `Status:` of the first failed recipient, e.g. `5.1.1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `Diagnostic-Code:`, e.g. `smtp; 550 5.1.1 <bob@example.org>: User unknown`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnostic: Option<String>,
    /// `Reporting-MTA:`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reporting_mta: Option<String>,
    /// `Final-Recipient:`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
}

/// The whole result of one `check`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Version of this JSON layout (docs/json.md).
    pub schema: u32,
    /// The outcome.
    pub verdict: Verdict,
    /// Where the probe landed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    /// The probe's tag (UUID v7), also in `X-Mailtrip-Probe`.
    pub probe_id: String,
    /// This run's id, also in `X-Mailtrip-Run`.
    pub run_id: String,
    /// Sender address.
    pub from: String,
    /// Recipient address.
    pub to: String,
    /// With `--alias`: `to` is an alias delivered into this login's mailbox, which is the one
    /// watched (a timeout then says the probe may sit in `to`'s own mailbox).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alias_of: Option<String>,
    /// SMTP endpoint URL used.
    pub smtp: String,
    /// IMAP endpoint URL watched.
    pub imap: String,
    /// Whether the run used the embedded server.
    pub embedded: bool,
    /// RFC 3339 start time.
    pub started_at: String,
    /// Start to verdict, in milliseconds.
    pub total_ms: f64,
    /// Each step, timed, in order.
    pub phases: Vec<PhaseReport>,
    /// What ended the run, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorReport>,
    /// What proves the verdict.
    pub evidence: Evidence,
    /// The hops the copy that arrived took, from its `Received:` headers, with delays.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Timeline>,
    /// SPF / DKIM / DMARC / ARC from the copy's `Authentication-Results` (`none` when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthSummary>,
    /// Things worth knowing that did not change the verdict.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// False only when `--insecure-skip-verify` was used.
    pub tls_verified: bool,
}

impl Report {
    /// The process exit code: 0 delivered to inbox, 1 warning (spam, archive), 2 failure.
    pub fn exit_code(&self) -> u8 {
        match self.verdict {
            Verdict::Delivered if self.placement == Some(Placement::Archive) => 1,
            Verdict::Delivered if self.submit_unanswered() => 1,
            Verdict::Delivered => 0,
            Verdict::DeliveredToSpam => 1,
            _ => 2,
        }
    }

    /// The SMTP server never answered the end of DATA (`data_reply_lost`), whatever became
    /// of the probe: a delivered verdict with this is a warning.
    pub fn submit_unanswered(&self) -> bool {
        self.phase(Phase::SmtpSubmit).is_some_and(|p| !p.ok)
    }

    /// The timing of a phase, if it ran.
    pub fn phase(&self, name: Phase) -> Option<&PhaseReport> {
        self.phases.iter().find(|p| p.name == name)
    }
}

pub mod verify;

#[cfg(test)]
mod tests {
    use std::fmt::Debug;

    use serde::Serialize;
    use strum::VariantArray;

    use super::verify::{Status, Step};
    use super::{Phase, SeenBy, Verdict};
    use crate::diagnose::CertProblem;
    use crate::providers::oauth2::Flow;

    /// Every variant's strum name (text, Prometheus and JUnit output) is its serde name (JSON).
    fn names_match_serde<T>()
    where
        T: VariantArray + Serialize + Copy + Debug + Into<&'static str>,
    {
        for &v in T::VARIANTS {
            let name: &'static str = v.into();
            assert_eq!(serde_json::to_value(v).unwrap(), name, "{v:?}");
        }
    }

    #[test]
    fn strum_names_are_the_serde_names() {
        names_match_serde::<Phase>();
        names_match_serde::<Verdict>();
        names_match_serde::<SeenBy>();
        names_match_serde::<Step>();
        names_match_serde::<Status>();
        names_match_serde::<CertProblem>();
        names_match_serde::<Flow>();
        for &p in Phase::VARIANTS {
            assert_eq!(p.to_string(), p.as_str());
        }
        for &s in Step::VARIANTS {
            assert_eq!(s.to_string(), s.as_str());
        }
        for &c in CertProblem::VARIANTS {
            assert_eq!(c.to_string(), <&'static str>::from(c));
        }
    }
}
