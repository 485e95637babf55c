//! [`Verify`]: connect, TLS and log in once on SMTP and on IMAP, concurrently and sending
//! nothing, with the certificate, the advertised capabilities and the `\Junk` folder checked.
//! Built from the same connection steps as the round trip (`net`, `smtp`, `imap`).

use std::time::Duration;

use tokio::time::Instant;

mod certificate;
mod imap_steps;
mod smtp_steps;

pub(crate) use certificate::certificate_info;
#[cfg(feature = "monitor")]
pub(crate) use certificate::endpoint_certificate;
use certificate::presented;
use imap_steps::verify_imap;
use smtp_steps::verify_smtp;

use super::net::{self, TlsTcp};
use crate::config::Account;
use crate::diagnose::{CertProblem, Code, Diagnosis};
use crate::report::SCHEMA;
use crate::report::verify::{
    EXPIRY_WARNING_DAYS, Feature, ProtocolReport, Status, Step, StepError, StepReport, VerifyReport,
};

/// Checks that an account's credentials, TLS and capabilities work, without sending mail.
///
/// One AUTH per protocol per run, never retried: providers lock accounts after repeated
/// failures.
///
/// ```no_run
/// use mailtrip::server::{ServerConfig, TestServer};
/// use mailtrip::{Account, Verify};
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let server = TestServer::start(ServerConfig::default().with_user("a@test.local", "pw")).await?;
/// let report = Verify::new(Account::embedded(&server, "a@test.local", "pw")).run().await;
/// assert_eq!(report.exit_code(), 0, "{report:#?}");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Verify {
    account: Account,
    timeout: Duration,
}

impl Verify {
    /// A check of `account`'s SMTP and IMAP endpoints.
    pub fn new(account: Account) -> Verify {
        Verify {
            account,
            timeout: Duration::from_secs(15),
        }
    }

    /// The budget for the whole run, both protocols at once (default 15 s, at least 100 ms);
    /// a step still waiting when it runs out fails with a timeout.
    pub fn timeout(mut self, timeout: Duration) -> Verify {
        self.timeout = timeout;
        self
    }

    /// Runs both checks concurrently. Never fails: failures are in the report.
    pub async fn run(self) -> VerifyReport {
        let started = Instant::now();
        let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let step = self.timeout.max(Duration::from_millis(100));
        // The timeout is a budget for the whole run, not for each connect or command.
        let deadline = started + step;
        let account = &self.account;
        let (smtp, (imap, junk)) = tokio::join!(
            verify_smtp(account, step, deadline),
            verify_imap(account, step, deadline)
        );
        let mut report = VerifyReport {
            schema: SCHEMA,
            status: Status::Failed,
            user: account.user.clone(),
            auth: account.credential.method().into(),
            oauth2: account.credential.token_source().and_then(|s| s.info()),
            provider: account.provider.clone(),
            embedded: false,
            started_at,
            total_ms: 0.0,
            smtp,
            imap,
            junk_folder: junk.clone().flatten(),
            junk_checked: junk.is_some(),
            warnings: Vec::new(),
            tls_verified: !account.tls.insecure_skip_verify,
        };
        report.warnings = warnings(&report, account);
        report.status = report.derive_status();
        report.total_ms = started.elapsed().as_secs_f64() * 1000.0;
        report
    }
}

/// Everything a finished run warns about, in report order.
fn warnings(r: &VerifyReport, account: &Account) -> Vec<String> {
    let mut w = Vec::new();
    if account.tls.insecure_skip_verify {
        w.push(crate::report::INSECURE_WARNING.to_string());
    }
    for (name, p) in r.protocols() {
        let label = name.to_ascii_uppercase();
        if p.endpoint.starts_with(&format!("{name}://")) {
            w.push(format!(
                "the {label} connection is not encrypted ({}); credentials travel in plaintext",
                p.endpoint
            ));
        }
        if let Some(c) = &p.certificate
            && c.days_left < EXPIRY_WARNING_DAYS
            && c.days_left >= 0
        {
            w.push(format!(
                "the {label} server's certificate expires in {} day{} ({})",
                c.days_left,
                if c.days_left == 1 { "" } else { "s" },
                c.not_after
            ));
        }
    }
    if r.imap.ok {
        let missing = |name: &str| r.imap.feature(name) == Some(false);
        if missing("IDLE") {
            w.push(
                "the IMAP server does not offer IDLE: `mailtrip check` falls back to polling, \
                 so arrival times are coarser"
                    .into(),
            );
        }
        if missing("UIDPLUS") && missing("MOVE") {
            w.push(
                "the IMAP server offers neither UIDPLUS nor MOVE: `mailtrip check` cannot delete \
                 its probe without touching other mail, so it leaves it"
                    .into(),
            );
        } else if missing("UIDPLUS") {
            w.push(
                "the IMAP server does not offer UIDPLUS: `mailtrip check` can only clean up by \
                 moving its probe to Trash"
                    .into(),
            );
        }
        if missing("SPECIAL-USE") {
            w.push(
                "the IMAP server does not offer SPECIAL-USE: the spam folder cannot be identified"
                    .into(),
            );
        }
        if r.junk_checked && r.junk_folder.is_none() {
            w.push(
                "no folder has the \\Junk SPECIAL-USE attribute: `mailtrip check` cannot tell \
                 spam placement from non-delivery"
                    .into(),
            );
        }
    }
    w
}

/// Collects one protocol's timed steps.
struct Steps {
    r: ProtocolReport,
    /// The step under way and when it started (for a run that reaches the deadline in it).
    current: Option<(Step, Instant)>,
    /// Every step passed; only goodbyes (QUIT, LIST for `\Junk`, LOGOUT) remain.
    done: bool,
}

/// A step failed and was recorded; stop this protocol.
struct Stop;

impl Steps {
    fn new(endpoint: String) -> Steps {
        Steps {
            r: ProtocolReport::new(endpoint),
            current: None,
            done: false,
        }
    }

    /// Starts a step; returns its start time.
    fn begin(&mut self, step: Step) -> Instant {
        let t = Instant::now();
        self.current = Some((step, t));
        t
    }

    /// The connect step both protocols start with: the plaintext policy, then TCP within the
    /// budget. Returns the stream, the peer's address for the step's detail, and the step's
    /// start (the caller closes it once it knows whether TLS comes at once).
    async fn connect(
        &mut self,
        account: &Account,
        ep: &crate::config::Endpoint,
        deadline: Instant,
    ) -> Result<(tokio::net::TcpStream, String, Instant), Stop> {
        let t = self.begin(Step::Connect);
        let (tcp, peer) = net::connect(account, ep, limit(deadline))
            .await
            .map_err(|d| self.fail(Step::Connect, t, d))?;
        Ok((tcp, peer, t))
    }

    /// The whole command's budget ran out: the step under way failed with a timeout (unless
    /// every step had passed already).
    fn out_of_time(&mut self, ep: &crate::config::Endpoint, budget: Duration) {
        if self.done {
            self.r.ok = true;
            return;
        }
        let Some((step, t)) = self.current else {
            return;
        };
        let d = crate::diagnose::transport(
            Code::Timeout,
            net::protocol(ep),
            &ep.authority(),
            &format!(
                "no answer within {:.1} s, the --timeout for the whole check",
                budget.as_secs_f64()
            ),
        );
        self.fail(step, t, d);
    }

    fn ok(&mut self, step: Step, t: Instant, detail: String) {
        tracing::debug!(endpoint = %self.r.endpoint, %step, %detail, "step ok");
        self.r.steps.push(StepReport {
            name: step,
            ok: true,
            ms: t.elapsed().as_secs_f64() * 1000.0,
            detail,
        });
    }

    fn fail(&mut self, step: Step, t: Instant, diagnosis: Diagnosis) -> Stop {
        let detail = match &diagnosis.server_text {
            Some(text) => format!("{} ({})", diagnosis.summary, text.replace('\n', " ")),
            None => diagnosis.summary.clone(),
        };
        tracing::debug!(endpoint = %self.r.endpoint, %step, code = %diagnosis.code, "step failed");
        self.r.steps.push(StepReport {
            name: step,
            ok: false,
            ms: t.elapsed().as_secs_f64() * 1000.0,
            detail,
        });
        self.r.error = Some(StepError { step, diagnosis });
        Stop
    }

    fn feature(&mut self, name: &str, present: bool, detail: Option<String>) {
        self.r.features.push(Feature {
            name: name.to_string(),
            present,
            detail,
        });
    }

    /// After a certificate failure, looks at the certificate anyway (a second handshake that
    /// does not verify and sends nothing else) so the report can say what it names and when
    /// it expires.
    async fn inspect_rejected_certificate(
        &mut self,
        account: &Account,
        step: Duration,
        deadline: Instant,
    ) {
        let Some(e) = &self.r.error else { return };
        if e.diagnosis.code != Code::TlsCertificateInvalid {
            return;
        }
        let problem =
            CertProblem::from_tls_error(&e.diagnosis.summary).unwrap_or(CertProblem::Other);
        let mut insecure = account.clone();
        insecure.tls.insecure_skip_verify = true;
        let smtp = self.r.endpoint == account.smtp.to_string();
        let deadline = deadline.min(Instant::now() + step * 2);
        let der = tokio::time::timeout_at(deadline, presented(&insecure, smtp, step)).await;
        if let Ok(Some(der)) = der {
            self.r.certificate = certificate_info(&der, false, Some(problem));
        }
    }
}

fn tls_note(account: &Account) -> &'static str {
    if account.tls.insecure_skip_verify {
        "certificate NOT verified"
    } else {
        "certificate verified"
    }
}

/// The DER of the peer certificate on an implicit-TLS stream.
fn peer_der(tls: &TlsTcp) -> Option<Vec<u8>> {
    tls.ssl().peer_certificate()?.to_der().ok()
}

/// What a step may still wait: the rest of the budget (each step's own timeout then names
/// what was pending), at least 100 ms.
fn limit(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(100))
}

/// Past the deadline, the steps' own timeouts have fired; this only catches what has none.
const BACKSTOP: Duration = Duration::from_millis(250);
