//! One SMTP connection per sending account, kept open and reused probe after probe (opened
//! with `probe::smtp::open`, so connect, TLS and AUTH are timed and diagnosed as in `check`).
//! A kept connection the server dropped meanwhile is replaced once, before anything was sent.

use std::time::Duration;

use tokio::time::Instant;

use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::commands::Rset;
use tokio::sync::Mutex;
use tokio::time::timeout;

use crate::config::Account;
use crate::diagnose::{Diagnosis, Stage};
use crate::probe::message::Probe;
use crate::probe::{Failure, Recorder, smtp};
use crate::report::Phase;

/// A sending account and its kept connection.
pub struct SmtpSlot {
    pub account: Account,
    conn: Mutex<Option<AsyncSmtpConnection>>,
    /// After the server refused the credentials: no login before this instant, the refusal
    /// to report meanwhile, and the holds to come (doubling up to an hour).
    hold: std::sync::Mutex<Option<Hold>>,
    first_hold: Duration,
}

use crate::probe::backoff::Backoff;
use crate::probe::watch::AUTH_HOLD_MAX;

struct Hold {
    until: Instant,
    diagnosis: Diagnosis,
    holds: Backoff,
}

/// Why a submission on an open connection failed: the step, and lettre's error (`None`: the
/// step timed out).
struct SubmitError {
    stage: Stage,
    error: Option<lettre::transport::smtp::Error>,
}

impl SmtpSlot {
    /// A slot for `account`; after a refused login, the next attempt waits `first_hold`.
    pub fn new(account: Account, first_hold: Duration) -> SmtpSlot {
        SmtpSlot {
            account,
            conn: Mutex::new(None),
            hold: std::sync::Mutex::new(None),
            first_hold,
        }
    }

    /// The refusal to report instead of logging in again, while a hold is in force.
    fn held(&self) -> Option<(Diagnosis, Instant)> {
        let hold = self.hold.lock().unwrap_or_else(|p| p.into_inner());
        hold.as_ref()
            .filter(|h| Instant::now() < h.until)
            .map(|h| (h.diagnosis.clone(), h.until))
    }

    /// Records a login outcome: a refusal starts (or doubles) the hold, a success clears it.
    fn record_login(&self, refused: Option<&Diagnosis>) {
        let mut hold = self.hold.lock().unwrap_or_else(|p| p.into_inner());
        match refused {
            None => *hold = None,
            Some(d) => {
                let mut holds = hold.take().map_or_else(
                    || Backoff::new(self.first_hold, AUTH_HOLD_MAX.max(self.first_hold)),
                    |h| h.holds,
                );
                let wait = holds.next();
                tracing::warn!(
                    sender = %self.account.address,
                    "monitor: the SMTP server refused the credentials ({}); not logging in again \
                     for {:.0} s, since providers lock accounts that keep trying",
                    d.code,
                    wait.as_secs_f64()
                );
                *hold = Some(Hold {
                    until: Instant::now() + wait,
                    diagnosis: d.clone(),
                    holds,
                });
            }
        }
    }

    /// Submits `probe`, opening a connection first if none is kept. Probes of routes that
    /// share this sender wait their turn.
    pub async fn submit(
        &self,
        rec: &mut Recorder,
        probe: &Probe,
        step: Duration,
    ) -> Result<String, Failure> {
        let mut guard = self.conn.lock().await;
        let mut reused = guard.is_some();
        loop {
            let conn = match guard.as_mut() {
                Some(c) => c,
                None => {
                    if let Some((mut d, until)) = self.held() {
                        let left = until.saturating_duration_since(Instant::now());
                        d.hint = format!(
                            "Not retried for another {:.0} s: the last login was refused, and \
                             providers lock accounts that keep trying. {}",
                            left.as_secs_f64(),
                            d.hint
                        );
                        let t = rec.start(Phase::SmtpAuth);
                        return Err(rec.fail(Phase::SmtpAuth, t, d));
                    }
                    let c = match smtp::open(rec, &self.account, step).await {
                        Ok(c) => c,
                        Err(e) => {
                            let d = &e.failure.diagnosis;
                            if d.code.is_credential_refusal() {
                                self.record_login(Some(d));
                            }
                            return Err(e.failure);
                        }
                    };
                    self.record_login(None);
                    reused = false;
                    guard.insert(c)
                }
            };
            let t = rec.start(Phase::SmtpSubmit);
            match submit_on(conn, probe, step).await {
                Ok(reply) => {
                    rec.ok(Phase::SmtpSubmit, t, format!("accepted: {reply}"));
                    return Ok(reply);
                }
                Err(e) => {
                    let answered = e.error.as_ref().is_some_and(|e| e.status().is_some());
                    if !answered {
                        if let Some(mut c) = guard.take() {
                            let _ = timeout(Duration::from_millis(200), c.abort()).await;
                        }
                        // A kept connection that died while idle: once more on a fresh one,
                        // but only if the server never got the message.
                        if reused && e.stage == Stage::MailFrom {
                            tracing::debug!(
                                "monitor: kept SMTP connection was dropped; reconnecting"
                            );
                            reused = false;
                            continue;
                        }
                    } else if let Some(c) = guard.as_mut() {
                        let _ = smtp::submit_step(c, step, Stage::Other, Rset).await;
                    }
                    let d = match &e.error {
                        None => smtp::timed_out(&self.account, &format!("{:?}", e.stage), step),
                        Some(err) => smtp::classify(err, e.stage, &self.account, false).0,
                    };
                    return Err(rec.fail(Phase::SmtpSubmit, t, d));
                }
            }
        }
    }

    /// Says QUIT on the kept connection, if any.
    pub async fn close(&self) {
        if let Some(mut c) = self.conn.lock().await.take() {
            let _ = timeout(Duration::from_millis(500), c.quit()).await;
        }
    }
}

/// MAIL FROM, RCPT TO, DATA and the message on an authenticated connection.
async fn submit_on(
    conn: &mut AsyncSmtpConnection,
    probe: &Probe,
    step: Duration,
) -> Result<String, SubmitError> {
    let fail = |(stage, error)| SubmitError { stage, error };
    let (mail, rcpts) = smtp::commands(conn, probe);
    smtp::envelope(conn, step, mail, rcpts)
        .await
        .map_err(fail)?;
    match timeout(step, conn.message(&probe.bytes)).await {
        Ok(Ok(reply)) => Ok(smtp::one_line(&reply)),
        Ok(Err(e)) => Err(fail((Stage::Data, Some(e)))),
        Err(_) => Err(fail((Stage::Data, None))),
    }
}
