//! Submits the probe over SMTP with lettre's low-level connection fed by a stream we open, so
//! connect, TLS, AUTH and MAIL..DATA are timed apart and each failure is pinned to its stage.
//! Transient 4xx replies (greylisting) retry the whole submission with backoff.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{Extension, MailBodyParameter, MailParameter};
use tokio::time::{Instant, timeout};

use super::backoff::Backoff;
use super::message::Probe;
use super::net;
use super::{Failure, Recorder};
use crate::config::Account;
use crate::diagnose::{self, Code, Diagnosis, Protocol, Stage};
use crate::report::Phase;

mod connect;

pub(super) use connect::{authenticate, client_id, greet_plain, greet_tls, starttls};
pub(crate) use connect::{open, prewarm};

/// A failed attempt, and whether trying again later may help.
pub(crate) struct AttemptError {
    pub(crate) failure: Failure,
    pub(crate) transient: bool,
}

impl From<Failure> for AttemptError {
    fn from(failure: Failure) -> Self {
        AttemptError {
            failure,
            transient: false,
        }
    }
}

/// How a submission ended when the whole message went out.
#[derive(Debug)]
pub(crate) enum Sent {
    /// The server answered the end of DATA with a 2xx `reply` at `at` (the delivery clock
    /// starts there, not after QUIT).
    Accepted { reply: String, at: Instant },
    /// The whole message was sent but no reply to the end of DATA came (the connection was
    /// cut or fell silent): the server may have accepted it. Recorded as a failed
    /// `smtp_submit`; `at` is when the reply was given up on.
    Unknown { failure: Failure, at: Instant },
}

/// Opens the probe's way out: `Some(true)` once every watch has its watermark (the probe may
/// go), `Some(false)` when the watch could not be set up (nothing is sent). The SMTP side
/// connects, upgrades and authenticates meanwhile, and waits here before MAIL FROM.
pub(crate) type Gate = tokio::sync::watch::Receiver<Option<bool>>;

/// Submits `probe` as `account` once `gate` opens (`Ok(None)`: it never did, nothing was
/// sent). Retries transient rejections of MAIL/RCPT/DATA with backoff (1 s, 2 s, 4 s, ...,
/// with jitter) while a retry can start before `deadline`; never retries once the whole
/// message went out.
pub(crate) async fn send(
    rec: &mut Recorder,
    account: &Account,
    probe: &Probe,
    step: Duration,
    deadline: Instant,
    mut gate: Gate,
) -> Result<Option<Sent>, Failure> {
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(64));
    let mut history: Vec<String> = Vec::new();
    loop {
        let mark = rec.mark();
        let attempt = history.len() + 1;
        match attempt_once(rec, account, probe, step, &mut gate).await {
            Ok(reply) => {
                if !history.is_empty() {
                    rec.append_detail(
                        Phase::SmtpSubmit,
                        &format!(" (attempt {attempt}; earlier: {})", history.join("; ")),
                    );
                }
                return Ok(reply);
            }
            Err(e) => {
                let pause = if e.transient {
                    backoff.next_before(deadline)
                } else {
                    None
                };
                let Some(pause) = pause else {
                    if !history.is_empty() {
                        rec.append_detail(
                            e.failure.phase,
                            &format!(" (attempt {attempt}; earlier: {})", history.join("; ")),
                        );
                    }
                    return Err(e.failure);
                };
                let text = e
                    .failure
                    .diagnosis
                    .server_text
                    .clone()
                    .unwrap_or_else(|| e.failure.diagnosis.summary.clone());
                tracing::debug!(attempt, ?pause, reply = %text, "transient SMTP rejection; retrying");
                history.push(format!(
                    "attempt {attempt} got {}",
                    text.lines().next().unwrap_or("")
                ));
                rec.truncate(mark);
                tokio::time::sleep(pause).await;
            }
        }
    }
}

/// The reply code and text of a lettre error, if the server answered.
fn reply_of(e: &lettre::transport::smtp::Error) -> Option<(u16, String)> {
    let code = u16::from(e.status()?);
    let text = std::error::Error::source(e)
        .map(|s| s.to_string())
        .unwrap_or_default();
    Some((code, format!("{code} {text}")))
}

/// Maps a lettre error at `stage` to a diagnosis; `tls` says a TLS upgrade was in progress.
pub(crate) fn classify(
    e: &lettre::transport::smtp::Error,
    stage: Stage,
    account: &Account,
    tls: bool,
) -> (Diagnosis, bool) {
    let ep = &account.smtp;
    if let Some((code, text)) = reply_of(e) {
        let d = diagnose::classify_smtp(stage, code, &text);
        return (d, (400..500).contains(&code));
    }
    let text = e.to_string();
    if tls {
        return (net::tls_error(ep, &text, &[], "smtp+starttls"), false);
    }
    let code = if e.is_timeout() {
        Code::Timeout
    } else {
        Code::ConnectionClosed
    };
    (
        diagnose::transport(code, Protocol::Smtp, &ep.authority(), &text),
        false,
    )
}

pub(crate) fn timed_out(account: &Account, what: &str, limit: Duration) -> Diagnosis {
    diagnose::transport(
        Code::Timeout,
        Protocol::Smtp,
        &account.smtp.authority(),
        &format!("no answer to {what} within {:.1} s", limit.as_secs_f64()),
    )
}

/// An iterator over the message that notes when lettre has asked past its last part, i.e.
/// when every byte of the body was written and only the terminator and the reply remain.
struct Written<'a> {
    part: Option<&'a [u8]>,
    done: &'a AtomicBool,
}

impl<'a> Iterator for Written<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let part = self.part.take();
        if part.is_none() {
            self.done.store(true, Ordering::Relaxed);
        }
        part
    }
}

/// The failure for a message that went out whole but got no reply to its end of DATA.
fn no_data_reply(account: &Account, detail: &str) -> Diagnosis {
    Diagnosis::new(
        Code::DataReplyLost,
        format!(
            "no reply to DATA: the server may have accepted it ({} {detail} once the whole \
             message was sent)",
            account.smtp.authority()
        ),
        "the outcome is unknown: the server got the whole message but its answer never \
               came (a proxy, firewall or load balancer cutting idle or long replies, or an \
               overloaded server); check the server's log for the message, and the network path",
    )
}

async fn attempt_once(
    rec: &mut Recorder,
    account: &Account,
    probe: &Probe,
    step: Duration,
    gate: &mut Gate,
) -> Result<Option<Sent>, AttemptError> {
    let mut conn = open(rec, account, step).await?;
    let go = gate.wait_for(Option::is_some).await.ok().and_then(|g| *g);
    if go != Some(true) {
        let _ = timeout(Duration::from_millis(500), conn.quit()).await;
        return Ok(None);
    }

    // MAIL FROM .. end of DATA, one command at a time so a rejection names its stage.
    let t = rec.start(Phase::SmtpSubmit);
    let (mail, rcpts) = commands(&conn, probe);
    let written = AtomicBool::new(false);
    // `None` as the error means the step timed out.
    let result: Result<String, (Stage, Option<lettre::transport::smtp::Error>)> = async {
        envelope(&mut conn, step, mail, rcpts).await?;
        let body = Written {
            part: Some(probe.bytes.as_slice()),
            done: &written,
        };
        let reply = timeout(step, conn.message_iter(body))
            .await
            .map_err(|_| (Stage::Data, None))?
            .map_err(|e| (Stage::Data, Some(e)))?;
        Ok(one_line(&reply))
    }
    .await;
    let unanswered = written.load(Ordering::Relaxed)
        && matches!(&result, Err((Stage::Data, e)) if e.as_ref().is_none_or(|e| e.status().is_none()));
    match result {
        Ok(reply) => {
            let at = Instant::now();
            rec.ok(Phase::SmtpSubmit, t, format!("accepted: {reply}"));
            // QUIT off the clock: a slow goodbye must not delay the watch.
            tokio::spawn(async move {
                let _ = timeout(Duration::from_secs(2), conn.quit()).await;
            });
            Ok(Some(Sent::Accepted { reply, at }))
        }
        Err((_, e)) if unanswered => {
            let at = Instant::now();
            let detail = match &e {
                None => format!("said nothing within {:.1} s", step.as_secs_f64()),
                Some(e) => format!("dropped the connection ({e})"),
            };
            let _ = timeout(Duration::from_millis(200), conn.abort()).await;
            let failure = rec.fail(Phase::SmtpSubmit, t, no_data_reply(account, &detail));
            Ok(Some(Sent::Unknown { failure, at }))
        }
        Err((stage, e)) => {
            let (d, transient) = match e {
                None => (timed_out(account, &format!("{stage:?}"), step), false),
                Some(e) => classify(&e, stage, account, false),
            };
            let _ = timeout(Duration::from_secs(2), conn.abort()).await;
            Err(AttemptError {
                failure: rec.fail(Phase::SmtpSubmit, t, d),
                transient,
            })
        }
    }
}

/// One command of the envelope, within `step`; the error names its stage (`None`: timed out).
pub(crate) async fn submit_step<C: std::fmt::Display>(
    conn: &mut AsyncSmtpConnection,
    step: Duration,
    stage: Stage,
    command: C,
) -> Result<(), (Stage, Option<lettre::transport::smtp::Error>)> {
    match timeout(step, conn.command(command)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err((stage, Some(e))),
        Err(_) => Err((stage, None)),
    }
}

/// The probe's MAIL FROM (with BODY=8BITMIME when it needs it and the server offers it) and
/// one RCPT TO per recipient.
pub(crate) fn commands(conn: &AsyncSmtpConnection, probe: &Probe) -> (Mail, Vec<Rcpt>) {
    let mut params = Vec::new();
    if !probe.bytes.is_ascii() && conn.server_info().supports_feature(Extension::EightBitMime) {
        params.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    let env = &probe.envelope;
    let rcpts = env.to().iter().map(|to| Rcpt::new(to.clone(), vec![]));
    (Mail::new(env.from().cloned(), params), rcpts.collect())
}

/// MAIL FROM, one RCPT TO per recipient, then DATA, one after another (check, the monitor,
/// and load where the server does not pipeline); the message itself is the caller's.
pub(crate) async fn envelope(
    conn: &mut AsyncSmtpConnection,
    step: Duration,
    mail: Mail,
    rcpts: Vec<Rcpt>,
) -> Result<(), (Stage, Option<lettre::transport::smtp::Error>)> {
    submit_step(conn, step, Stage::MailFrom, mail).await?;
    for rcpt in rcpts {
        submit_step(conn, step, Stage::RcptTo, rcpt).await?;
    }
    submit_step(conn, step, Stage::Data, Data).await
}

pub(crate) fn one_line(resp: &lettre::transport::smtp::response::Response) -> String {
    let code = u16::from(resp.code());
    let text: Vec<&str> = resp.message().collect();
    format!("{code} {}", text.join(" "))
}
