//! The round trip as a library: [`Check`] sends a tagged probe over SMTP, watches the receiving
//! mailbox over IMAP, verifies what arrived, cleans up, and returns a [`Report`] (never an error).

mod analysis;
pub(crate) mod backoff;
pub(crate) mod cleanup;
pub(crate) mod imap;
mod imap_words;
mod leftovers;
mod login;
pub(crate) mod message;
mod net;
mod seen;
mod sent;
mod sign_in;
pub(crate) mod smtp;
mod sniff;
mod sweep;
pub(crate) mod tls;
mod trace;
pub(crate) mod verify;
mod wait;
// The long-lived multi-tag side of the watcher serves load and monitor; without them
// (feature `client` alone) only the part `Wait` uses is live.
#[cfg_attr(not(feature = "load"), allow(dead_code))]
pub(crate) mod watch;
mod watches;

pub use message::HeaderError;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

pub use leftovers::Leftover;
pub use login::Verify;
#[cfg(feature = "monitor")]
pub(crate) use login::endpoint_certificate;
pub use message::Payload;
pub use sweep::{Sweep, SweepReport};
pub use wait::{Armed, Wait, WaitError};

pub use crate::analyze::{
    Anchor, Attachment, Extract, ExtractError, Header, Message, Pattern, PatternError, Seen,
};

use crate::config::Account;
use crate::diagnose::{self, Code, Diagnosis, Protocol};
use watch::{Watcher, tags::One};

/// A check's watch of one folder.
type CheckWatch = Watcher<One>;
use crate::report::{
    ErrorReport, Evidence, Phase, PhaseReport, Placement, Report, SCHEMA, Verdict,
};
use watches::Role;

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
    headers: Vec<(String, String)>,
    payload: Payload,
    alias_of: Option<String>,
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Check")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("timeout", &self.timeout)
            .field("keep", &self.keep)
            .field("run_id", &self.run_id)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

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
            headers: Vec::new(),
            payload: Payload::Plain,
            alias_of: None,
        }
    }

    /// Says that `to`'s address is an alias delivered into the mailbox of `mailbox` (the
    /// watched account's login): reports name both, and a timeout says that the probe may sit
    /// in a separate mailbox of that address instead of claiming it was not delivered.
    pub fn alias_of(mut self, mailbox: impl Into<String>) -> Check {
        self.alias_of = Some(mailbox.into());
        self
    }

    /// What the probe carries (default [`Payload::Plain`]); [`Payload::Rich`] also checks
    /// HTML, an RFC 2047 subject, an attachment and long lines.
    pub fn payload(mut self, payload: Payload) -> Check {
        self.payload = payload;
        self
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

    /// Adds a header to the probe, e.g. a marker a test server's spam rule files into Junk.
    /// Refuses names that are not RFC 5322 field names, values with CR, LF or non-ASCII
    /// characters, and the headers the probe sets itself.
    pub fn header(mut self, name: &str, value: &str) -> Result<Check, HeaderError> {
        message::check_header(name, value)?;
        self.headers.push((name.to_string(), value.to_string()));
        Ok(self)
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
            alias_of: self.alias_of.clone(),
            smtp: self.from.smtp.to_string(),
            imap: self.to.imap.to_string(),
            embedded: false,
            started_at,
            total_ms: 0.0,
            phases: Vec::new(),
            error: None,
            evidence: Evidence::default(),
            timeline: None,
            auth: None,
            warnings: Vec::new(),
            tls_verified: !(self.from.tls.insecure_skip_verify || self.to.tls.insecure_skip_verify),
        };
        if !report.tls_verified {
            report.warnings.push(crate::report::INSECURE_WARNING.into());
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
        let probe = message::build_with(
            &self.from.address,
            &to.address,
            tag,
            run_id,
            self.payload,
            Some(self.timeout),
            &self.headers,
        )
        .map_err(|e| {
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

        // 1. Log in to the mailbox, find its folders and note the watermarks while the SMTP
        // side connects and authenticates; 2. then send.
        smtp::prewarm(&self.from);
        let deadline = Instant::now() + self.timeout;
        let (mut watches, sent) = self
            .watch_and_send(rec, report, &probe, tag, step, deadline)
            .await?;
        let (accepted_at, unanswered) = match sent {
            smtp::Sent::Accepted { reply, at } => {
                report.evidence.smtp_reply = Some(reply);
                (at, None)
            }
            smtp::Sent::Unknown { failure, at } => (at, Some(failure)),
        };

        // 3. Wait in INBOX, Junk, the archive and the sender's INBOX at once; the first to
        // see the tag (or a bounce) wins. The clock started at the reply to the end of DATA
        // (or when that reply was given up on), not after QUIT.
        rec.start(Phase::Delivery);
        let t = accepted_at;
        let deadline = accepted_at + self.timeout;
        watches.race(accepted_at, deadline).await;
        report.warnings.extend(watches.unwatched());
        let waited = t.elapsed().as_secs_f64();
        let reconnects: u32 = watches.list.iter().map(|(_, w)| w.reconnects).sum();
        let seen: usize = watches.list.iter().map(|(_, w)| w.examined).sum();
        let placement = watches.placement();
        let (caps, folders) = (watches.caps.clone(), watches.folders.clone());
        let (sent_mark, sender_sent) = (watches.sent_mark.take(), watches.sender_sent.take());
        let (winner_role, mut winner, mut sender_watch, rest) =
            watches.winner(placement.map(|(r, _)| r));
        let sender_sent = sender_sent.as_ref();
        let placement = placement.map(|(_, p)| p);
        let in_junk = placement == Some(Placement::Spam);
        let reconnect_note = if reconnects > 0 {
            format!("; {reconnects} IMAP reconnect(s)")
        } else {
            String::new()
        };
        if winner.interest.matches.is_empty()
            && let Some((uid, raw)) = winner.interest.bounce.take()
        {
            let bounce = analysis::bounce(&raw, &winner.folder, uid);
            let mut d = analysis::bounce_diagnosis(&bounce);
            d.summary = format!("the probe bounced: {}", d.summary);
            let failure = rec.fail(Phase::Delivery, t, d);
            report.warnings.push(format!(
                "the bounce is left in the sender's {} (UID {uid}); mailtrip deletes only its own probes",
                winner.folder
            ));
            report.evidence.bounce = Some(bounce);
            if !self.keep && winner_role != Role::Sender {
                self.cleanup_sent(
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
            imap::logout(winner.session.take()).await;
            self.finish_sender(&mut sender_watch, sender_sent, tag, step, report)
                .await;
            return Err((Verdict::Bounced, failure));
        }
        if winner.interest.matches.is_empty() {
            let detail = format!(
                "waited {waited:.1} s; saw {seen} new message{}, none with tag{reconnect_note}",
                if seen == 1 { "" } else { "s" }
            );
            let diagnosis = match winner.last_error.take() {
                Some(d) if winner.session.is_none() => d,
                _ => match &self.alias_of {
                    Some(mailbox) => Diagnosis {
                        code: Code::Timeout,
                        summary: format!(
                            "the probe to {} did not arrive in {mailbox}'s mailbox: {detail}; \
                             if {} is not an alias delivered there, the probe may sit in its own \
                             mailbox",
                            to.address, to.address
                        ),
                        hint: format!(
                            "to watch {}'s own mailbox give --to-account with its credentials; \
                             otherwise check the alias and the receiving side's filters",
                            to.address
                        ),
                        link: None,
                        server_text: None,
                    },
                    None => Diagnosis {
                        code: Code::Timeout,
                        summary: format!("the probe did not arrive: {detail}"),
                        hint: "the SMTP server accepted it; check the receiving side's filters, \
                               quarantine and the sender's queue, or try a longer --timeout"
                            .into(),
                        link: None,
                        server_text: None,
                    },
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
            self.finish_sender(&mut sender_watch, sender_sent, tag, step, report)
                .await;
            if let Some(mut lost) = unanswered {
                // Unknown, not "not delivered": the server may still hold it.
                lost.diagnosis.summary = format!(
                    "{}; the probe did not arrive within {waited:.1} s",
                    lost.diagnosis.summary
                );
                report.warnings.push(
                    "if the server did accept the probe and it arrives later, it is left in the \
                     mailbox: `mailtrip sweep` removes leftover probes"
                        .into(),
                );
                return Err((Verdict::SendFailed, lost));
            }
            let verdict = if winner.session.is_none() && failure.diagnosis.code != Code::Timeout {
                Verdict::Error
            } else {
                Verdict::NotDelivered
            };
            return Err((verdict, failure));
        }
        let placement = placement.unwrap_or(Placement::Inbox);
        if placement == Placement::Archive {
            report.warnings.push(format!(
                "the probe skipped INBOX: it was filed in {} (a filter or rule archives it)",
                winner.folder
            ));
        }
        rec.ok(
            Phase::Delivery,
            t,
            format!(
                "found in {} after {waited:.1} s (UID {}){reconnect_note}",
                winner.folder, winner.interest.matches[0]
            ),
        );
        if let Some(lost) = &unanswered {
            report.warnings.push(format!(
                "the SMTP server never answered the end of DATA, yet the probe arrived, so it \
                 was accepted: {}",
                lost.diagnosis.summary
            ));
        }
        report.placement = Some(placement);
        report.evidence.mailbox = Some(winner.folder.clone());
        report.evidence.uid = winner.interest.matches.first().copied();
        report.evidence.seen_by = winner.interest.seen_by;
        report.evidence.copies = winner.interest.matches.len() as u32;

        // Probes of earlier runs that arrived after their run gave up: looked for on another
        // folder's connection while this one fetches and cleans up.
        let mut look_in = vec!["INBOX".to_string()];
        look_in.extend(folders.junk.iter().cloned());
        look_in.extend(folders.archive.iter().cloned());
        let leftovers = rest.find_leftovers(look_in.clone(), self.from.address.clone(), step);

        // 4. Fetch and verify.
        let t = rec.start(Phase::Fetch);
        let uid = winner.interest.matches[0];
        let mut raw = match winner.session.as_mut() {
            Some(s) => imap::fetch_raw(s, uid, step).await,
            None => Err(async_imap::error::Error::ConnectionLost),
        };
        if raw.is_err() {
            // The connection went between the look that found the probe and this fetch (a
            // server restart's BYE, a dropped socket): the probe is there, so fetch it by UID
            // on a new connection (which cleanup then uses) rather than call the run an error.
            // Should UIDVALIDITY have changed, verify's tag check catches the wrong message.
            imap::logout(winner.session.take()).await;
            if let Ok((mut session, _caps, _next)) =
                watch::open_folder(&winner.account, &winner.folder, step).await
            {
                raw = imap::fetch_raw(&mut session, uid, step).await;
                winner.session = Some(session);
            }
        }
        let fetched = match raw {
            Ok(Some(f)) => f,
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
                let failure = rec.fail(Phase::Fetch, t, d);
                self.finish_sender(&mut sender_watch, sender_sent, tag, step, report)
                    .await;
                return Err((Verdict::Error, failure));
            }
        };
        let raw = &fetched.raw;
        rec.ok(Phase::Fetch, t, format!("UID {uid}, {} bytes", raw.len()));
        let t = rec.start(Phase::Verify);
        let v = verify::verify(raw, &probe);
        report.evidence.digest_ok = Some(v.digest_ok);
        report.evidence.carriers = Some(v.carriers);
        if !v.carriers.header && v.carriers.message_id {
            report.warnings.push(format!(
                "the {} header was removed in transit (the probe was matched by its \
                 Message-ID): a gateway or filter strips it; `mailtrip sweep` still finds such \
                 probes",
                message::TAG_HEADER
            ));
        }
        if v.carriers.header && !v.carriers.message_id {
            report.warnings.push(
                "the Message-ID was rewritten in transit (the probe was matched by its \
                 X-Mailtrip-Probe header): a gateway replaces it"
                    .into(),
            );
        }
        report.evidence.received_hops = Some(v.received_hops);
        report.evidence.authentication_results = v.authentication_results.clone();
        report.timeline = analysis::timeline(raw, fetched.internal_date);
        report.auth = Some(analysis::auth(&v.authentication_results));
        report.evidence.changes = verify::changes(raw, &probe);
        let problem = match (&v.problem, report.evidence.changes.is_empty()) {
            // Another tag, or no carrier of ours left: that is the news.
            (Some(p), _) if v.identity_wrong() => Some(p.clone()),
            (_, false) => Some(report.evidence.changes.join("; ")),
            (p, true) => p.clone(),
        };
        let mismatch = problem.map(|problem| {
            rec.fail(
                Phase::Verify,
                t,
                Diagnosis {
                    code: Code::ContentMismatch,
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
            let matched = match (v.carriers.header, v.carriers.message_id) {
                (true, true) => "tag, Message-ID and digest match",
                (false, _) => "Message-ID and digest match (the tag header was removed)",
                (true, false) => "tag and digest match (the Message-ID was rewritten)",
            };
            rec.ok(
                Phase::Verify,
                t,
                format!("{matched}; {} Received hop(s)", v.received_hops),
            );
        }

        // 5. Clean up.
        if !self.keep {
            self.cleanup(
                &mut winner,
                &caps,
                &folders,
                (sent_mark.as_ref(), sender_watch.take(), sender_sent),
                tag,
                step,
                rec,
                report,
            )
            .await;
        }
        self.finish_sender(&mut sender_watch, None, tag, step, report)
            .await;
        let found = match (leftovers.await, winner.session.as_mut()) {
            (Ok(Some(found)), _) => found,
            // No other connection to search on: this one, last.
            (_, Some(session)) => {
                leftovers::find(session, &look_in, &self.from.address, step).await
            }
            _ => Vec::new(),
        };
        for l in found.iter().filter(|l| l.late && l.tag != tag) {
            report.warnings.push(l.late_warning());
        }
        imap::logout(winner.session.take()).await;

        if report.evidence.copies > 1 {
            report.warnings.push(format!(
                "duplicate: {} copies of the probe arrived in {}; something delivers twice \
                 (a forwarding loop, two delivery paths or a retried submission)",
                report.evidence.copies, winner.folder
            ));
        }
        match mismatch {
            Some(f) => Err((Verdict::ContentMismatch, f)),
            None if in_junk => Ok(Verdict::DeliveredToSpam),
            None => Ok(Verdict::Delivered),
        }
    }

    /// Deletes every copy of the probe in the folder it was found in, and the Sent copy: the
    /// receiving mailbox's own (`sent_mark`, a send-to-self) or the sender's (cross-account).
    #[allow(clippy::too_many_arguments)]
    async fn cleanup(
        &self,
        w: &mut CheckWatch,
        caps: &imap::Caps,
        folders: &imap::Folders,
        (sent_mark, sender_watch, sender_sent): (
            Option<&(String, u32)>,
            Option<CheckWatch>,
            Option<&sent::SenderSent>,
        ),
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
                let found = (
                    w.folder.as_str(),
                    w.watermark,
                    w.interest.matches.as_slice(),
                );
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
        let mut sender_watch = sender_watch;
        let sender_copies = self
            .finish_sender(&mut sender_watch, sender_sent, tag, step, report)
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
                if let Some(s) = sender_sent.filter(|_| sender_copies > 0) {
                    detail.push_str(&format!(
                        " and {sender_copies} from the sender's {}",
                        s.folder
                    ));
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

    /// For a cross-account probe: deletes the copy the sender's server filed in its Sent
    /// (unless `--keep`) and closes the sender's watch. Problems become warnings; returns how
    /// many copies were deleted. Safe to call again: the watch is taken.
    async fn finish_sender(
        &self,
        watch: &mut Option<CheckWatch>,
        sent: Option<&sent::SenderSent>,
        tag: &str,
        step: Duration,
        report: &mut Report,
    ) -> usize {
        let watch = watch.take();
        match sent {
            Some(s) if !self.keep => {
                let step = step.max(Duration::from_secs(5)).min(CLEANUP_BUDGET);
                let conn = watch.and_then(|mut w| Some((w.session.take()?, w.caps)));
                match s.clean(&self.from, conn, tag, step, CLEANUP_BUDGET).await {
                    Ok(n) => n,
                    Err(e) => {
                        report.warnings.push(format!(
                            "could not clean the sender's copy in {}: {e}",
                            s.folder
                        ));
                        0
                    }
                }
            }
            _ => {
                if let Some(mut w) = watch {
                    imap::logout(w.session.take()).await;
                }
                0
            }
        }
    }

    /// Deletes the copy the server filed in Sent (Gmail does), found by tag above the Sent
    /// watermark. Returns how many were deleted.
    #[allow(clippy::too_many_arguments)]
    async fn cleanup_sent(
        &self,
        w: &mut CheckWatch,
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
            let found = cleanup::copies(session, *mark, tag, step).await?;
            cleanup::delete_exactly(session, caps, folders, sent, &found, tag, archives, step).await
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
    let again = cleanup::copies(session, watermark, tag, step).await?;
    let mut uids = matches.to_vec();
    for u in again {
        if !uids.contains(&u) {
            uids.push(u);
        }
    }
    let (n, warning) =
        cleanup::delete_exactly(session, caps, folders, folder, &uids, tag, archives, step).await?;
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

/// `auth_failed` when the server refused the login, else `otherwise`.
fn auth_or(f: &Failure, otherwise: Verdict) -> Verdict {
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

/// Verifies arbitrary bytes against a fixed probe (for `crate::fuzz`); true when it matches.
#[doc(hidden)]
pub fn fuzz_verify(raw: &[u8]) -> bool {
    static PROBE: std::sync::OnceLock<Option<message::Probe>> = std::sync::OnceLock::new();
    let probe = PROBE.get_or_init(|| {
        message::build_with(
            "a@mailtrip.test",
            "b@mailtrip.test",
            "01900000-0000-7000-8000-000000000000",
            "run",
            message::Payload::Plain,
            None,
            &[],
        )
        .ok()
    });
    match probe {
        Some(p) => verify::verify(raw, p).problem.is_none(),
        None => false,
    }
}
