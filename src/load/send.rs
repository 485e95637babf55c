//! The SMTP side of a load run: a few workers, each with one authenticated connection that
//! carries message after message (MAIL, RCPT, DATA, RSET after a refusal), reconnecting when a
//! connection breaks. Where the server offers PIPELINING (RFC 2920) MAIL, RCPT and DATA go out
//! in one write and their replies are read together: two round trips per message, not four.
//! Built on `probe::smtp`'s connect/TLS/AUTH and command helpers.

use std::sync::Arc;
use std::time::Duration;

use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::commands::{Data, Ehlo, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::ClientId;
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

/// An authenticated connection, and whether its server offers PIPELINING.
pub(super) struct Conn {
    smtp: AsyncSmtpConnection,
    pipelining: bool,
}

/// Opens one authenticated connection (the first is opened before the clock starts, so a bad
/// password or a refused connection is a setup error rather than N send failures).
pub(super) async fn connect(from: &Account, step: Duration) -> Result<Conn, LoadError> {
    let mut rec = Recorder::new(None);
    let smtp = smtp::open(&mut rec, from, step)
        .await
        .map_err(|e| LoadError::Setup {
            phase: e.failure.phase,
            diagnosis: e.failure.diagnosis,
        })?;
    Ok(with_capabilities(smtp, step).await)
}

/// Asks for the EHLO keywords once more (lettre keeps them to itself and does not track
/// PIPELINING). EHLO after AUTH resets only the mail transaction (RFC 5321 4.1.4); a server
/// that answers badly just gets unpipelined commands.
async fn with_capabilities(mut smtp: AsyncSmtpConnection, step: Duration) -> Conn {
    let pipelining = match timeout(step, smtp.command(Ehlo::new(ClientId::default()))).await {
        Ok(Ok(resp)) => resp
            .message()
            .skip(1)
            .any(|l| l.trim().eq_ignore_ascii_case("PIPELINING")),
        _ => false,
    };
    Conn { smtp, pipelining }
}

/// Sends jobs from the shared queue until it closes.
pub(super) async fn worker(
    s: Arc<Sender>,
    shared: Arc<Shared>,
    jobs: Arc<Mutex<mpsc::Receiver<Job>>>,
    mut conn: Option<Conn>,
) {
    loop {
        let job = { jobs.lock().await.recv().await };
        let Some(job) = job else { break };
        if conn.is_none() {
            let mut rec = Recorder::new(None);
            match smtp::open(&mut rec, &s.from, s.step).await {
                Ok(c) => conn = Some(with_capabilities(c, s.step).await),
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
            let _ = timeout(Duration::from_millis(200), close(c.smtp)).await;
        }
    }
    if let Some(mut c) = conn {
        let _ = timeout(Duration::from_secs(2), c.smtp.quit()).await;
    }
}

async fn close(mut c: AsyncSmtpConnection) {
    c.abort().await;
}

/// Sends one probe. `Err(true)` means the connection is unusable now.
async fn send_one(s: &Sender, shared: &Shared, c: &mut Conn, job: Job) -> Result<(), bool> {
    let pipelining = c.pipelining;
    let conn = &mut c.smtp;
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
    let (mail, rcpts) = smtp::commands(conn, &probe);
    let envelope = if pipelining {
        pipelined(conn, s.step, mail, rcpts).await
    } else {
        smtp::envelope(conn, s.step, mail, rcpts)
            .await
            .map_err(|(stage, e)| (stage, e, false))
    };
    if let Err((stage, e, drop_conn)) = envelope {
        let (d, broken) = diagnose(s, stage, e.as_ref());
        let broken = broken || drop_conn;
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

/// MAIL, every RCPT and DATA in one write, then their replies in order (RFC 2920). Every reply
/// is read even after a refusal, so the connection stays in step; the first refusal is the
/// one reported. A 354 after a refusal (no conforming server sends one) leaves the server
/// waiting for a message we will not send: the refusal is reported and the connection is
/// dropped (the `bool`).
async fn pipelined(
    conn: &mut AsyncSmtpConnection,
    step: Duration,
    mail: Mail,
    rcpts: Vec<Rcpt>,
) -> Result<(), (Stage, Option<lettre::transport::smtp::Error>, bool)> {
    let stages: Vec<Stage> = std::iter::once(Stage::MailFrom)
        .chain(rcpts.iter().map(|_| Stage::RcptTo))
        .chain(std::iter::once(Stage::Data))
        .collect();
    let mut first_refusal = None;
    let mut write = Some(Group { mail, rcpts });
    for stage in stages {
        let reply = match write.take() {
            Some(group) => timeout(step, conn.command(group)).await,
            None => timeout(step, conn.read_response()).await,
        };
        match reply {
            Err(_) => return Err((stage, None, true)),
            Ok(Err(e)) if e.status().is_none() => return Err((stage, Some(e), true)),
            Ok(Err(e)) => {
                first_refusal.get_or_insert((stage, Some(e), false));
            }
            Ok(Ok(_)) if stage == Stage::Data => {
                if let Some((stage, e, _)) = first_refusal {
                    return Err((stage, e, true));
                }
            }
            Ok(Ok(_)) => {}
        }
    }
    first_refusal.map_or(Ok(()), Err)
}

/// One pipelined command group: MAIL, the RCPTs and DATA (lettre's commands end in CRLF).
struct Group {
    mail: Mail,
    rcpts: Vec<Rcpt>,
}

impl std::fmt::Display for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.mail)?;
        for rcpt in &self.rcpts {
            write!(f, "{rcpt}")?;
        }
        write!(f, "{Data}")
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
    Diagnosis::new(
        crate::diagnose::Code::SenderRejected,
        summary.to_string(),
        "check the from/to addresses",
    )
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::net::SocketAddr;

    use lettre::transport::smtp::client::AsyncTokioStream;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    use super::*;
    use crate::probe::tls::Transport;

    impl AsyncTokioStream for Transport<tokio::io::DuplexStream> {
        fn peer_addr(&self) -> io::Result<SocketAddr> {
            Ok(SocketAddr::from(([127, 0, 0, 1], 25)))
        }
    }

    fn group() -> (Mail, Vec<Rcpt>) {
        let a = |s: &str| s.parse::<lettre::Address>().unwrap();
        (
            Mail::new(Some(a("a@test.local")), vec![]),
            vec![Rcpt::new(a("b@test.local"), vec![])],
        )
    }

    /// A server that answers a group only after it has read all of it: a client that waited
    /// for each reply before the next command would hang here.
    #[tokio::test]
    async fn issue14_the_envelope_goes_out_as_one_group_and_every_reply_is_read() {
        let (client, server) = tokio::io::duplex(4096);
        let fake = tokio::spawn(async move {
            let (r, mut w) = tokio::io::split(server);
            let mut lines = BufReader::new(r).lines();
            w.write_all(b"220 fake ESMTP\r\n").await.unwrap();
            let ehlo = lines.next_line().await.unwrap().unwrap();
            assert!(ehlo.starts_with("EHLO "), "{ehlo}");
            w.write_all(b"250-fake\r\n250 PIPELINING\r\n")
                .await
                .unwrap();
            let mut seen = Vec::new();
            for replies in [
                &b"250 2.1.0 Ok\r\n550 5.1.1 User unknown\r\n554 5.5.1 No valid recipients\r\n"[..],
                &b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go ahead\r\n"[..],
            ] {
                for _ in 0..3 {
                    seen.push(lines.next_line().await.unwrap().unwrap());
                }
                w.write_all(replies).await.unwrap();
            }
            seen
        });
        let mut conn = AsyncSmtpConnection::connect_with_transport(
            Box::new(Transport::new(client)),
            &ClientId::default(),
        )
        .await
        .expect("greeted");
        let step = Duration::from_secs(5);

        let (mail, rcpts) = group();
        let Err((stage, Some(e), drop_conn)) = pipelined(&mut conn, step, mail, rcpts).await else {
            panic!("the refused RCPT is reported");
        };
        assert_eq!(stage, Stage::RcptTo);
        assert_eq!(e.status().map(u16::from), Some(550));
        assert!(!drop_conn, "the connection stays usable");

        let (mail, rcpts) = group();
        assert!(pipelined(&mut conn, step, mail, rcpts).await.is_ok());
        let seen = fake.await.unwrap();
        assert_eq!(
            seen,
            [
                "MAIL FROM:<a@test.local>",
                "RCPT TO:<b@test.local>",
                "DATA",
                "MAIL FROM:<a@test.local>",
                "RCPT TO:<b@test.local>",
                "DATA"
            ]
        );
    }
}
