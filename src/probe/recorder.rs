//! Report assembly: the [`Recorder`] that times each phase (and tells the progress callback),
//! the [`Failure`] that ends a run, and how a failure and the phases map onto the report.

use tokio::time::Instant;

use super::Progress;
use crate::diagnose::{Code, Diagnosis};
use crate::report::{Phase, PhaseReport, Verdict};

/// A failure that ends the run: where, and the diagnosis.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub phase: Phase,
    pub diagnosis: Diagnosis,
}

/// A failed phase's detail: the summary, then the server's words on one line.
fn row_detail(diagnosis: &Diagnosis) -> String {
    match &diagnosis.server_text {
        Some(text) => format!("{} ({})", diagnosis.summary, text.replace('\n', " ")),
        None => diagnosis.summary.clone(),
    }
}

/// Collects timed phases and calls the progress callback.
pub(crate) struct Recorder {
    pub(super) phases: Vec<PhaseReport>,
    progress: Option<Progress>,
}

impl Recorder {
    pub(crate) fn new(progress: Option<Progress>) -> Recorder {
        Recorder {
            phases: Vec::new(),
            progress,
        }
    }

    /// Starts a phase: tells the progress callback and returns its start time.
    pub fn start(&self, phase: Phase) -> Instant {
        tracing::debug!(%phase, "phase starts");
        if let Some(p) = &self.progress {
            p(phase);
        }
        Instant::now()
    }

    pub(super) fn push(&mut self, phase: Phase, t: Instant, ok: bool, detail: String) {
        tracing::debug!(%phase, ok, %detail, "phase ends");
        self.phases.push(PhaseReport {
            name: phase,
            ok,
            ms: t.elapsed().as_secs_f64() * 1000.0,
            detail,
        });
    }

    pub fn ok(&mut self, phase: Phase, t: Instant, detail: String) {
        self.push(phase, t, true, detail);
    }

    /// Records a failed phase and returns the failure to propagate.
    pub fn fail(&mut self, phase: Phase, t: Instant, diagnosis: Diagnosis) -> Failure {
        self.push(phase, t, false, row_detail(&diagnosis));
        Failure { phase, diagnosis }
    }

    /// Shows `failure` on the phase it names when no row is failed yet (it came after that
    /// phase was recorded as done, like a SELECT after login): that row turns failed, with the
    /// cause as its detail.
    pub fn fail_late(&mut self, failure: &Failure) {
        if self.phases.iter().any(|p| !p.ok) {
            return;
        }
        let cause = row_detail(&failure.diagnosis);
        match self
            .phases
            .iter_mut()
            .rev()
            .find(|p| p.name == failure.phase)
        {
            Some(row) => (row.ok, row.detail) = (false, cause),
            None => self.push(failure.phase, Instant::now(), false, cause),
        }
    }

    /// A mark to roll back to (a retried attempt's phases are replaced by the next one's).
    pub fn mark(&self) -> usize {
        self.phases.len()
    }

    pub fn truncate(&mut self, mark: usize) {
        self.phases.truncate(mark);
    }

    /// The phases recorded so far (for callers that keep their own accounts, like the monitor).
    #[cfg(feature = "monitor")]
    pub fn into_phases(self) -> Vec<PhaseReport> {
        self.phases
    }

    /// Adds the phases another recorder timed meanwhile (the SMTP side of a check).
    pub fn absorb(&mut self, other: Recorder) {
        self.phases.extend(other.phases);
    }

    pub fn append_detail(&mut self, phase: Phase, extra: &str) {
        if let Some(p) = self.phases.iter_mut().rev().find(|p| p.name == phase) {
            p.detail.push_str(extra);
        }
    }
}

/// `auth_failed` when the server refused the login, else `otherwise`.
pub(super) fn auth_or(f: &Failure, otherwise: Verdict) -> Verdict {
    if login_refused(f) {
        Verdict::AuthFailed
    } else {
        otherwise
    }
}

/// Whether a failure is the server refusing the login: in an AUTH phase, with its own words or
/// a credential-refusal code. A connection reset or a silence during AUTH is a network failure
/// (and must not hold off logins the way a refusal does); a port offering no usable AUTH never
/// got to refuse anything.
pub(crate) fn login_refused(f: &Failure) -> bool {
    matches!(f.phase, Phase::SmtpAuth | Phase::ImapAuth)
        && (f.diagnosis.code.is_credential_refusal()
            || (f.diagnosis.server_text.is_some()
                && !matches!(f.diagnosis.code, Code::Timeout | Code::ConnectionClosed)))
}

/// Report order: the round trip as a reader follows it (send, then watch), as `Phase` lists it.
pub(super) fn phase_rank(p: Phase) -> u8 {
    match p {
        Phase::SmtpConnect => 0,
        Phase::SmtpTls => 1,
        Phase::SmtpAuth => 2,
        Phase::SmtpSubmit => 3,
        Phase::ImapConnect => 4,
        Phase::ImapAuth => 5,
        Phase::Delivery => 6,
        Phase::Fetch => 7,
        Phase::Verify => 8,
        Phase::Cleanup => 9,
    }
}
