//! The SMTP side of a load run: a few workers, each with one authenticated connection that
//! carries message after message (MAIL, RCPT, DATA, RSET after a refusal), reconnecting when a
//! connection breaks. Built on `probe::smtp`'s connect/TLS/AUTH and command helpers.

use std::sync::Arc;
use std::time::Duration;

use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::commands::{Data, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::{Extension, MailBodyParameter, MailParameter};
use tokio::sync::{Mutex, mpsc};
use tokio::time::timeout;

use super::{Job, LoadError, Shared};
use crate::config::Account;
use crate::diagnose::{Diagnosis, Stage};
use crate::probe::{Recorder, message, smtp};

/// What every worker needs to build and send a probe.
pub(super) struct Sender {
    pub from: Account,
    /// Target addresses; probe `i` goes to `targets[i % len]`.
    pub targets: Vec<String>,
    pub run_id: String,
    pub step: Duration,
    pub timeout: Duration,
}

/// Opens one authenticated connection (the first is opened before the clock starts, so a bad
/// password or a refused connection is a setup error rather than N send failures).
pub(super) async fn connect(
    from: &Account,
    step: Duration,
) -> Result<AsyncSmtpConnection, LoadError> {
    let mut rec = Recorder::new(None);
    smtp::open(&mut rec, from, step)
        .await
        .map_err(|e| LoadError::Setup {
            phase: e.failure.phase,
            diagnosis: e.failure.diagnosis,
        })
}

/// Sends jobs from the shared queue until it closes.
pub(super) async fn worker(
    s: Arc<Sender>,
    shared: Arc<Shared>,
    jobs: Arc<Mutex<mpsc::Receiver<Job>>>,
    mut conn: Option<AsyncSmtpConnection>,
) {
    loop {
        let job = { jobs.lock().await.recv().await };
        let Some(job) = job else { break };
        if conn.is_none() {
            let mut rec = Recorder::new(None);
            match smtp::open(&mut rec, &s.from, s.step).await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    shared.failed(None, &e.failure.diagnosis);
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        if let Err(true) = send_one(&s, &shared, c, job).await
            && let Some(c) = conn.take()
        {
            let _ = timeout(Duration::from_millis(200), close(c)).await;
        }
    }
    if let Some(mut c) = conn {
        let _ = timeout(Duration::from_secs(2), c.quit()).await;
    }
}

async fn close(mut c: AsyncSmtpConnection) {
    c.abort().await;
}

/// Sends one probe. `Err(true)` means the connection is unusable now.
async fn send_one(
    s: &Sender,
    shared: &Shared,
    conn: &mut AsyncSmtpConnection,
    job: Job,
) -> Result<(), bool> {
    let uuid = uuid::Uuid::now_v7();
    let tag = uuid.as_u128();
    let target = (job.index % s.targets.len() as u64) as usize;
    let probe = match message::build_with(
        &s.from.address,
        &s.targets[target],
        &uuid.to_string(),
        &s.run_id,
        message::Payload::Plain,
        None,
        &[],
    ) {
        Ok(p) => p,
        Err(e) => {
            let d = diagnose_local(&e.to_string());
            shared.failed(None, &d);
            return Err(false);
        }
    };
    let mut params = Vec::new();
    if !probe.bytes.is_ascii() && conn.server_info().supports_feature(Extension::EightBitMime) {
        params.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    let env = &probe.envelope;
    let envelope = async {
        smtp::submit_step(
            conn,
            s.step,
            Stage::MailFrom,
            Mail::new(env.from().cloned(), params),
        )
        .await?;
        for to in env.to() {
            smtp::submit_step(conn, s.step, Stage::RcptTo, Rcpt::new(to.clone(), vec![])).await?;
        }
        smtp::submit_step(conn, s.step, Stage::Data, Data).await?;
        Ok(())
    }
    .await;
    if let Err((stage, e)) = envelope {
        let (d, broken) = diagnose(s, stage, e.as_ref());
        shared.failed(None, &d);
        if !broken {
            let _ = smtp::submit_step(conn, s.step, Stage::Other, Rset).await;
        }
        drop(job.permit);
        return Err(broken);
    }
    shared.register(tag, target, job.permit, s.timeout);
    match timeout(s.step, conn.message(&probe.bytes)).await {
        Ok(Ok(_)) => {
            shared.accepted(tag);
            Ok(())
        }
        Ok(Err(e)) => {
            let (d, broken) = diagnose(s, Stage::Data, Some(&e));
            shared.failed(Some(tag), &d);
            Err(broken)
        }
        Err(_) => {
            let (d, _) = diagnose(s, Stage::Data, None);
            shared.failed(Some(tag), &d);
            Err(true)
        }
    }
}

/// A diagnosis for a failed step, and whether the connection is broken (no reply at all).
fn diagnose(
    s: &Sender,
    stage: Stage,
    e: Option<&lettre::transport::smtp::Error>,
) -> (Diagnosis, bool) {
    match e {
        None => (
            smtp::timed_out(&s.from, &format!("{stage:?}"), s.step),
            true,
        ),
        Some(e) => {
            let answered = e.status().is_some();
            (smtp::classify(e, stage, &s.from, false).0, !answered)
        }
    }
}

fn diagnose_local(summary: &str) -> Diagnosis {
    Diagnosis {
        code: crate::diagnose::Code::SenderRejected,
        summary: summary.to_string(),
        hint: "check the from/to addresses".into(),
        link: None,
        server_text: None,
    }
}
