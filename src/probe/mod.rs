//! The round trip as a library: [`Check`] sends a tagged probe over SMTP, watches the receiving
//! mailbox over IMAP, verifies what arrived, cleans up, and returns a [`Report`] (never an error).

pub(crate) mod imap;
pub(crate) mod message;
mod net;
pub(crate) mod smtp;
pub(crate) mod verify;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::future::{Either, select};
use tokio::time::Instant;

use crate::config::Account;
use crate::diagnose::{self, Code, Diagnosis, Protocol};
use crate::report::{
    ErrorReport, Evidence, Phase, PhaseReport, Placement, Report, SCHEMA, Verdict,
};

/// A progress callback, called when a phase starts.
type Progress = Arc<dyn Fn(Phase) + Send + Sync>;

/// How long cleanup may take after the verdict, whatever the delivery timeout.
const CLEANUP_BUDGET: Duration = Duration::from_secs(30);

/// One end-to-end check: send a probe from one account to another (or itself) and report.
///
/// ```no_run
/// use std::time::Duration;
/// use mailtrip::server::{ServerConfig, TestServer};
/// use mailtrip::report::Verdict;
/// use mailtrip::{Account, Check};
///
/// #[tokio::test]
/// async fn mail_makes_the_round_trip() {
///     let server = TestServer::start(
///         ServerConfig::default()
///             .with_user("alice@mailtrip.test", "pw-a")
///             .with_user("bob@mailtrip.test", "pw-b"),
///     )
///     .await
///     .expect("server starts");
///     let alice = Account::embedded(&server, "alice@mailtrip.test", "pw-a");
///     let bob = Account::embedded(&server, "bob@mailtrip.test", "pw-b");
///
///     let report = Check::new(alice, bob)
///         .timeout(Duration::from_secs(10))
///         .run()
///         .await;
///     assert_eq!(report.verdict, Verdict::Delivered, "{report:#?}");
/// }
/// ```
#[derive(Clone)]
pub struct Check {
    from: Account,
    to: Account,
    timeout: Duration,
    keep: bool,
    run_id: Option<String>,
    progress: Option<Progress>,
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Check")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("timeout", &self.timeout)
            .field("keep", &self.keep)
            .field("run_id", &self.run_id)
            .finish_non_exhaustive()
    }
}

/// A failure that ends the run: where, and the diagnosis.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub phase: Phase,
    pub diagnosis: Diagnosis,
}

/// Collects timed phases and calls the progress callback.
pub(crate) struct Recorder {
    phases: Vec<PhaseReport>,
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

    fn push(&mut self, phase: Phase, t: Instant, ok: bool, detail: String) {
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
        let detail = match &diagnosis.server_text {
            Some(text) => format!("{} ({})", diagnosis.summary, text.replace('\n', " ")),
            None => diagnosis.summary.clone(),
        };
        self.push(phase, t, false, detail);
        Failure { phase, diagnosis }
    }

    /// A mark to roll back to (a retried attempt's phases are replaced by the next one's).
    pub fn mark(&self) -> usize {
        self.phases.len()
    }

    pub fn truncate(&mut self, mark: usize) {
        self.phases.truncate(mark);
    }

    pub fn append_detail(&mut self, phase: Phase, extra: &str) {
        if let Some(p) = self.phases.iter_mut().rev().find(|p| p.name == phase) {
            p.detail.push_str(extra);
        }
    }
}

impl Check {
    /// A check sending from `from` to `to` (which may be the same account).
    pub fn new(from: Account, to: Account) -> Check {
        Check {
            from,
            to,
            timeout: Duration::from_secs(60),
            keep: false,
            run_id: None,
            progress: None,
        }
    }

    /// How long to wait for delivery after the SMTP server accepted the probe (default 60 s).
    /// Also caps every connect and command wait.
    pub fn timeout(mut self, timeout: Duration) -> Check {
        self.timeout = timeout;
        self
    }

    /// Leave the probe in the mailbox instead of deleting it.
    pub fn keep(mut self, keep: bool) -> Check {
        self.keep = keep;
        self
    }

    /// Sets the run id written to `X-Mailtrip-Run` (default: a fresh UUID v7).
    pub fn run_id(mut self, run_id: impl Into<String>) -> Check {
        self.run_id = Some(run_id.into());
        self
    }

    /// Called with each phase as it starts (for a spinner).
    pub fn on_progress(mut self, f: impl Fn(Phase) + Send + Sync + 'static) -> Check {
        self.progress = Some(Arc::new(f));
        self
    }

    /// Runs the check. Never panics on server input and never fails: failures are in the
    /// report's verdict and `error`.
    pub async fn run(self) -> Report {
        let started = Instant::now();
        let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let tag = uuid::Uuid::now_v7().to_string();
        let run_id = self
            .run_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        let mut report = Report {
            schema: SCHEMA,
            verdict: Verdict::Error,
            placement: None,
            probe_id: tag.clone(),
            run_id: run_id.clone(),
            from: self.from.address.clone(),
            to: self.to.address.clone(),
            smtp: self.from.smtp.to_string(),
            imap: self.to.imap.to_string(),
            embedded: false,
            started_at,
            total_ms: 0.0,
            phases: Vec::new(),
            error: None,
            evidence: Evidence::default(),
            warnings: Vec::new(),
            tls_verified: !(self.from.tls.insecure_skip_verify || self.to.tls.insecure_skip_verify),
        };
        if !report.tls_verified {
            report.warnings.push(
                "TLS certificates were NOT verified (insecure_skip_verify); the result proves \
                 nothing about who answered"
                    .into(),
            );
        }
        let mut rec = Recorder::new(self.progress.clone());
        let outcome = self.round_trip(&mut rec, &mut report, &tag, &run_id).await;
        match outcome {
            Ok(verdict) => report.verdict = verdict,
            Err((verdict, failure)) => {
                report.verdict = verdict;
                report.error = Some(ErrorReport {
                    phase: failure.phase,
                    diagnosis: failure.diagnosis,
                });
            }
        }
        let mut phases = rec.phases;
        phases.sort_by_key(|p| phase_rank(p.name));
        report.phases = phases;
        report.total_ms = started.elapsed().as_secs_f64() * 1000.0;
        report
    }

    async fn round_trip(
        &self,
        rec: &mut Recorder,
        report: &mut Report,
        tag: &str,
        run_id: &str,
    ) -> Result<Verdict, (Verdict, Failure)> {
        let step = self
            .timeout
            .clamp(Duration::from_millis(500), net::STEP_MAX);
        let to = &self.to;
        let probe = message::build(&self.from.address, &to.address, tag, run_id).map_err(|e| {
            let d = Diagnosis {
                code: Code::SenderRejected,
                summary: e.to_string(),
                hint: "check the from/to addresses".into(),
                link: None,
                server_text: None,
            };
            (
                Verdict::Error,
                Failure {
                    phase: Phase::SmtpSubmit,
                    diagnosis: d,
                },
            )
        })?;
        report.evidence.message_id = probe.message_id.clone();
        report.evidence.subject = probe.subject.clone();

        // 1. IMAP first: log in, find the folders, note the watermarks.
        smtp::prewarm(&self.from);
        let (mut session, caps) = imap::connect(to, step, Some(rec))
            .await
            .map_err(|f| (auth_or(f.phase == Phase::ImapAuth, Verdict::Error), f))?;
        let setup_fail = |e: async_imap::error::Error| {
            (
                Verdict::Error,
                Failure {
                    phase: Phase::ImapConnect,
                    diagnosis: diagnose::transport(
                        Code::ServerError,
                        Protocol::Imap,
                        &to.imap.authority(),
                        &format!("setting up the watch failed: {e}"),
                    ),
                },
            )
        };
        let folders = imap::folders(&mut session, step)
            .await
            .map_err(setup_fail)?;
        let same_account = self.from.user == to.user && self.from.imap == to.imap;
        let sent_mark = match (&folders.sent, same_account) {
            (Some(sent), true) => imap::uid_next(&mut session, sent, step)
                .await
                .ok()
                .map(|n| (sent.clone(), n)),
            _ => None,
        };
        let inbox_mark = imap::select(&mut session, "INBOX", step)
            .await
            .map_err(setup_fail)?;
        let mut inbox = imap::Watch::new("INBOX".into(), inbox_mark, session, caps.clone());
        // The spam folder gets its own connection, IDLE-ing like INBOX: as fast as INBOX and
        // the same code, rather than STATUS polling between IDLE cycles.
        let mut junk = match &folders.junk {
            Some(junk_name) => match open_watch(to, junk_name, step).await {
                Ok(w) => Some(w),
                Err(d) => {
                    report.warnings.push(format!(
                        "the spam folder {junk_name} is not watched: {}",
                        d.summary
                    ));
                    None
                }
            },
            None => {
                report.warnings.push(
                    "no folder has the \\Junk SPECIAL-USE attribute; only INBOX is watched".into(),
                );
                None
            }
        };
        report.evidence.idle = Some(caps.idle);

        // 2. Send.
        let deadline = Instant::now() + self.timeout;
        let sent = smtp::send(rec, &self.from, &probe, step, deadline).await;
        let reply = match sent {
            Ok(reply) => reply,
            Err(f) => {
                imap::logout(inbox.session.take()).await;
                if let Some(j) = junk.as_mut() {
                    imap::logout(j.session.take()).await;
                }
                let verdict = auth_or(f.phase == Phase::SmtpAuth, Verdict::SendFailed);
                return Err((verdict, f));
            }
        };
        report.evidence.smtp_reply = Some(reply);

        // 3. Wait in INBOX and Junk at once; the first to see the tag wins.
        let t = rec.start(Phase::Delivery);
        let deadline = Instant::now() + self.timeout;
        let in_junk = match junk.as_mut() {
            Some(j) => {
                let a = Box::pin(inbox.run(to, tag, step, deadline));
                let b = Box::pin(j.run(to, tag, step, deadline));
                match select(a, b).await {
                    Either::Left((false, other)) => {
                        other.await;
                    }
                    Either::Right((false, other)) => {
                        other.await;
                    }
                    Either::Left((true, _)) | Either::Right((true, _)) => {}
                }
                inbox.matches.is_empty() && !j.matches.is_empty()
            }
            None => {
                inbox.run(to, tag, step, deadline).await;
                false
            }
        };
        let waited = t.elapsed().as_secs_f64();
        let reconnects = inbox.reconnects + junk.as_ref().map_or(0, |j| j.reconnects);
        let mut winner = if in_junk {
            match junk.take() {
                Some(j) => j,
                None => inbox,
            }
        } else {
            if let Some(j) = junk.as_mut() {
                imap::logout(j.session.take()).await;
            }
            inbox
        };
        let reconnect_note = if reconnects > 0 {
            format!("; {reconnects} IMAP reconnect(s)")
        } else {
            String::new()
        };
        if winner.matches.is_empty() {
            let seen = winner.seen.len() + junk.as_ref().map_or(0, |j| j.seen.len());
            let detail = format!(
                "waited {waited:.1} s; saw {seen} new message{}, none with tag{reconnect_note}",
                if seen == 1 { "" } else { "s" }
            );
            let diagnosis = match winner.last_error.take() {
                Some(d) if winner.session.is_none() => d,
                _ => Diagnosis {
                    code: Code::Timeout,
                    summary: format!("the probe did not arrive: {detail}"),
                    hint: "the SMTP server accepted it; check the receiving side's filters, \
                           quarantine and the sender's queue, or try a longer --timeout"
                        .into(),
                    link: None,
                    server_text: None,
                },
            };
            let failure = rec.fail(Phase::Delivery, t, diagnosis);
            let mut cleaned = 0;
            if !self.keep {
                cleaned = self
                    .cleanup_sent(
                        &mut winner,
                        &caps,
                        &folders,
                        sent_mark.as_ref(),
                        tag,
                        step,
                        report,
                    )
                    .await;
            }
            let _ = cleaned;
            imap::logout(winner.session.take()).await;
            let verdict = if winner.session.is_none() && failure.diagnosis.code != Code::Timeout {
                Verdict::Error
            } else {
                Verdict::NotDelivered
            };
            return Err((verdict, failure));
        }
        let placement = if in_junk {
            Placement::Spam
        } else {
            Placement::Inbox
        };
        rec.ok(
            Phase::Delivery,
            t,
            format!(
                "found in {} after {waited:.1} s (UID {}){reconnect_note}",
                winner.folder, winner.matches[0]
            ),
        );
        report.placement = Some(placement);
        report.evidence.mailbox = Some(winner.folder.clone());
        report.evidence.uid = winner.matches.first().copied();
        report.evidence.copies = winner.matches.len() as u32;

        // 4. Fetch and verify.
        let t = rec.start(Phase::Fetch);
        let uid = winner.matches[0];
        let raw = match winner.session.as_mut() {
            Some(s) => imap::fetch_raw(s, uid, step).await,
            None => Err(async_imap::error::Error::ConnectionLost),
        };
        let raw = match raw {
            Ok(Some(raw)) => raw,
            Ok(None) | Err(_) => {
                let detail = match raw {
                    Err(e) => e.to_string(),
                    _ => format!("UID {uid} returned no body"),
                };
                let d = diagnose::transport(
                    Code::ServerError,
                    Protocol::Imap,
                    &to.imap.authority(),
                    &format!("fetching the probe failed: {detail}"),
                );
                return Err((Verdict::Error, rec.fail(Phase::Fetch, t, d)));
            }
        };
        rec.ok(Phase::Fetch, t, format!("UID {uid}, {} bytes", raw.len()));
        let t = rec.start(Phase::Verify);
        let v = verify::verify(&raw, &probe);
        report.evidence.digest_ok = Some(v.digest_ok);
        report.evidence.received_hops = Some(v.received_hops);
        report.evidence.authentication_results = v.authentication_results.clone();
        let mismatch = v.problem.clone().map(|problem| {
            rec.fail(
                Phase::Verify,
                t,
                Diagnosis {
                    code: Code::MessageRejected,
                    summary: format!("the probe arrived changed: {problem}"),
                    hint: "something between sender and mailbox rewrites messages (a footer, \
                           disclaimer or re-encoding); check gateways and list settings"
                        .into(),
                    link: None,
                    server_text: None,
                },
            )
        });
        if mismatch.is_none() {
            rec.ok(
                Phase::Verify,
                t,
                format!(
                    "tag, Message-ID and digest match; {} Received hop(s)",
                    v.received_hops
                ),
            );
        }

        // 5. Clean up.
        if !self.keep {
            self.cleanup(
                &mut winner,
                &caps,
                &folders,
                sent_mark.as_ref(),
                tag,
                step,
                rec,
                report,
            )
            .await;
        }
        imap::logout(winner.session.take()).await;

        match mismatch {
            Some(f) => Err((Verdict::ContentMismatch, f)),
            None if in_junk => Ok(Verdict::DeliveredToSpam),
            None => Ok(Verdict::Delivered),
        }
    }

    /// Deletes every copy of the probe in the folder it was found in, and the Sent copy.
    #[allow(clippy::too_many_arguments)]
    async fn cleanup(
        &self,
        w: &mut imap::Watch,
        caps: &imap::Caps,
        folders: &imap::Folders,
        sent_mark: Option<&(String, u32)>,
        tag: &str,
        step: Duration,
        rec: &mut Recorder,
        report: &mut Report,
    ) {
        let t = rec.start(Phase::Cleanup);
        let step = step.max(Duration::from_secs(5)).min(CLEANUP_BUDGET);
        let archives = self.to.expunge_archives || caps.gmail;
        let result = async {
            // One retry on a fresh connection: a drop mid-cleanup must not leave the probe.
            let mut last = String::new();
            for attempt in 0..2 {
                if attempt > 0 || w.session.is_none() {
                    match reopen(&self.to, &w.folder, step).await {
                        Ok(s) => w.session = Some(s),
                        Err(e) => {
                            last = e;
                            continue;
                        }
                    }
                }
                let Some(session) = w.session.as_mut() else {
                    continue;
                };
                let found = (w.folder.as_str(), w.watermark, w.matches.as_slice());
                match delete_found(session, found, caps, folders, tag, archives, step).await {
                    Ok(done) => return Ok(done),
                    Err(e) => {
                        tracing::debug!(error = %e, attempt, "cleanup failed");
                        last = e.to_string();
                        w.session = None;
                    }
                }
            }
            Err(last)
        };
        let found = tokio::time::timeout(CLEANUP_BUDGET, result).await;
        let sent = self
            .cleanup_sent(w, caps, folders, sent_mark, tag, step, report)
            .await;
        match found {
            Ok(Ok((n, total, warning))) => {
                report.evidence.copies = report.evidence.copies.max(total as u32);
                let mut detail = format!(
                    "deleted {n} of {total} cop{} from {}",
                    if total == 1 { "y" } else { "ies" },
                    w.folder
                );
                if sent > 0 {
                    detail.push_str(&format!(" and {sent} from Sent"));
                }
                if let Some(warn) = warning {
                    detail.push_str(&format!("; {warn}"));
                    report.warnings.push(warn);
                    rec.push(Phase::Cleanup, t, false, detail);
                } else {
                    rec.ok(Phase::Cleanup, t, detail);
                }
            }
            Ok(Err(e)) => {
                report.warnings.push(format!(
                    "cleanup failed; the probe may still be in {}: {e}",
                    w.folder
                ));
                rec.push(Phase::Cleanup, t, false, format!("failed: {e}"));
            }
            Err(_) => {
                report.warnings.push(format!(
                    "cleanup timed out; the probe may still be in {}",
                    w.folder
                ));
                rec.push(Phase::Cleanup, t, false, "timed out".into());
            }
        }
    }

    /// Deletes the copy the server filed in Sent (Gmail does), found by tag above the Sent
    /// watermark. Returns how many were deleted.
    #[allow(clippy::too_many_arguments)]
    async fn cleanup_sent(
        &self,
        w: &mut imap::Watch,
        caps: &imap::Caps,
        folders: &imap::Folders,
        sent_mark: Option<&(String, u32)>,
        tag: &str,
        step: Duration,
        report: &mut Report,
    ) -> usize {
        let (Some((sent, mark)), Some(session)) = (sent_mark, w.session.as_mut()) else {
            return 0;
        };
        let archives = self.to.expunge_archives || caps.gmail;
        let work = async {
            imap::select(session, sent, step).await?;
            let found = imap::scan(session, *mark, tag, step).await?;
            imap::delete_exactly(
                session,
                caps,
                folders,
                sent,
                &found.matches,
                tag,
                archives,
                step,
            )
            .await
        };
        match tokio::time::timeout(CLEANUP_BUDGET, work).await {
            Ok(Ok((n, warning))) => {
                if let Some(w) = warning {
                    report.warnings.push(w);
                }
                n
            }
            Ok(Err(e)) => {
                report
                    .warnings
                    .push(format!("could not clean the Sent copy: {e}"));
                0
            }
            Err(_) => {
                report
                    .warnings
                    .push("cleaning the Sent copy timed out".into());
                0
            }
        }
    }
}

/// Counts every copy of the probe in the found folder again (a duplicate may have landed
/// since the first sighting) and deletes exactly those. Returns (deleted, copies, warning).
async fn delete_found(
    session: &mut imap::Session,
    (folder, watermark, matches): (&str, u32, &[u32]),
    caps: &imap::Caps,
    folders: &imap::Folders,
    tag: &str,
    archives: bool,
    step: Duration,
) -> async_imap::error::Result<(usize, usize, Option<String>)> {
    let again = imap::scan(session, watermark, tag, step).await?;
    let mut uids = matches.to_vec();
    for u in again.matches {
        if !uids.contains(&u) {
            uids.push(u);
        }
    }
    let (n, warning) =
        imap::delete_exactly(session, caps, folders, folder, &uids, tag, archives, step).await?;
    Ok((n, uids.len(), warning))
}

/// A fresh logged-in connection with `folder` selected.
async fn reopen(to: &Account, folder: &str, step: Duration) -> Result<imap::Session, String> {
    let (mut session, _) = imap::connect(to, step, None)
        .await
        .map_err(|f| f.diagnosis.summary)?;
    imap::select(&mut session, folder, step)
        .await
        .map_err(|e| e.to_string())?;
    Ok(session)
}

/// Opens a second connection watching `folder` (the spam folder).
async fn open_watch(to: &Account, folder: &str, step: Duration) -> Result<imap::Watch, Diagnosis> {
    let (mut session, caps) = imap::connect(to, step, None)
        .await
        .map_err(|f| f.diagnosis)?;
    let mark = imap::select(&mut session, folder, step)
        .await
        .map_err(|e| {
            diagnose::transport(
                Code::ServerError,
                Protocol::Imap,
                &to.imap.authority(),
                &e.to_string(),
            )
        })?;
    Ok(imap::Watch::new(folder.to_string(), mark, session, caps))
}

fn auth_or(is_auth: bool, otherwise: Verdict) -> Verdict {
    if is_auth {
        Verdict::AuthFailed
    } else {
        otherwise
    }
}

/// Report order: the round trip as a reader follows it (send, then watch), as `Phase` lists it.
fn phase_rank(p: Phase) -> u8 {
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
