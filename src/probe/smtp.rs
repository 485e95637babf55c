//! Submits the probe over SMTP with lettre's low-level connection fed by a stream we open, so
//! connect, TLS, AUTH and MAIL..DATA are timed apart and each failure is pinned to its stage.
//! Transient 4xx replies (greylisting) retry the whole submission with backoff.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream};
use lettre::transport::smtp::commands::{Data, Ehlo, Mail, Rcpt, Starttls};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use secrecy::ExposeSecret;
use tokio::time::{Instant, timeout};

use super::backoff::Backoff;
use super::message::Probe;
use super::net::{self, TlsTcp};
use super::seen::{self, Seen};
use super::sniff;
use super::tls::{Handoff, Transport};
use super::trace::{Traced, Wire};
use super::{Failure, Recorder};
use crate::config::{Account, Secret, Security};
use crate::diagnose::{self, Code, Diagnosis, Protocol, Stage};
use crate::report::Phase;

/// The TLS stream under lettre (which sees it as an opaque transport), traced inside TLS.
impl AsyncTokioStream for Transport<Traced<TlsTcp>> {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.get_ref().get_ref().get_ref().get_ref().peer_addr()
    }
}

impl<S: AsyncTokioStream> AsyncTokioStream for Traced<S> {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.get_ref().peer_addr()
    }
}

impl<S: AsyncTokioStream> AsyncTokioStream for Handoff<S> {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.peek(|s| s.peer_addr())
            .unwrap_or_else(|| Err(io::Error::from(io::ErrorKind::NotConnected)))
    }
}

/// The plaintext SMTP stream under lettre, which STARTTLS takes back for its handshake.
pub(crate) type PlainSmtp = Handoff<Traced<tokio::net::TcpStream>>;

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

/// A failed greeting or EHLO: transient when the server answered 4xx (`421 Service not
/// available, try later`), so the submission is tried again within the deadline.
fn busy(failure: Failure) -> AttemptError {
    let transient = failure
        .diagnosis
        .server_text
        .as_deref()
        .is_some_and(|t| t.trim_start().starts_with('4'));
    AttemptError { failure, transient }
}

pub(super) fn client_id() -> ClientId {
    ClientId::default()
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

/// Connects, upgrades to TLS when asked and authenticates: a connection ready for MAIL FROM.
/// Records `smtp_connect`, `smtp_tls` and `smtp_auth`.
pub(crate) async fn open(
    rec: &mut Recorder,
    account: &Account,
    step: Duration,
) -> Result<AsyncSmtpConnection, AttemptError> {
    let ep = &account.smtp;

    // Connect (and, without implicit TLS, greeting + EHLO).
    let t = rec.start(Phase::SmtpConnect);
    net::check_plaintext(account, ep).map_err(|d| rec.fail(Phase::SmtpConnect, t, d))?;
    let tcp = net::tcp_connect(ep, step)
        .await
        .map_err(|d| rec.fail(Phase::SmtpConnect, t, d))?;
    let peer = tcp
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| ep.authority());
    let (mut conn, plain) = if ep.security == Security::Tls {
        rec.ok(Phase::SmtpConnect, t, format!("connected to {peer}"));
        let t = rec.start(Phase::SmtpTls);
        let tls = net::implicit_tls(&account.tls, ep, tcp, step, "smtp+starttls")
            .await
            .map_err(|d| rec.fail(Phase::SmtpTls, t, d))?;
        let conn = greet_tls(tls, account, step)
            .await
            .map_err(|d| busy(rec.fail(Phase::SmtpTls, t, d)))?;
        rec.ok(
            Phase::SmtpTls,
            t,
            format!("implicit TLS{}", verified_note(account)),
        );
        (conn, None)
    } else {
        let (conn, plain) = greet_plain(tcp, account, step)
            .await
            .map_err(|d| busy(rec.fail(Phase::SmtpConnect, t, d)))?;
        rec.ok(
            Phase::SmtpConnect,
            t,
            format!("connected to {peer}; EHLO answered by {}", banner(&conn)),
        );
        (conn, Some(plain))
    };

    let mut plain = plain;
    if ep.security == Security::StartTls
        && let Some(p) = plain.take()
    {
        let t = rec.start(Phase::SmtpTls);
        starttls(&mut conn, p, account, step)
            .await
            .map_err(|d| rec.fail(Phase::SmtpTls, t, d))?;
        rec.ok(
            Phase::SmtpTls,
            t,
            format!("STARTTLS{}", verified_note(account)),
        );
    }

    // AUTH.
    let t = rec.start(Phase::SmtpAuth);
    let detail = authenticate(&mut conn, plain, account, step)
        .await
        .map_err(|d| rec.fail(Phase::SmtpAuth, t, d))?;
    rec.ok(Phase::SmtpAuth, t, detail);

    Ok(conn)
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
    Diagnosis {
        code: Code::DataReplyLost,
        summary: format!(
            "no reply to DATA: the server may have accepted it ({} {detail} once the whole \
             message was sent)",
            account.smtp.authority()
        ),
        hint: "the outcome is unknown: the server got the whole message but its answer never \
               came (a proxy, firewall or load balancer cutting idle or long replies, or an \
               overloaded server); check the server's log for the message, and the network path"
            .into(),
        link: None,
        server_text: None,
    }
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
    let mut params = Vec::new();
    if !probe.bytes.is_ascii() && conn.server_info().supports_feature(Extension::EightBitMime) {
        params.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    let env = &probe.envelope;
    let mut steps: Vec<(Stage, String)> = Vec::new();
    let written = AtomicBool::new(false);
    // `None` as the error means the step timed out.
    let result: Result<String, (Stage, Option<lettre::transport::smtp::Error>)> = async {
        let r = submit_step(
            &mut conn,
            step,
            Stage::MailFrom,
            Mail::new(env.from().cloned(), params),
        )
        .await?;
        steps.push((Stage::MailFrom, r));
        for to in env.to() {
            let r = submit_step(
                &mut conn,
                step,
                Stage::RcptTo,
                Rcpt::new(to.clone(), vec![]),
            )
            .await?;
            steps.push((Stage::RcptTo, r));
        }
        submit_step(&mut conn, step, Stage::Data, Data).await?;
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

/// Reads the greeting and sends EHLO over an implicit-TLS stream.
pub(super) async fn greet_tls(
    tls: TlsTcp,
    account: &Account,
    step: Duration,
) -> Result<AsyncSmtpConnection, Diagnosis> {
    let id = client_id();
    let seen = Seen::new();
    match timeout(
        step,
        AsyncSmtpConnection::connect_with_transport(
            Box::new(Transport::new(Traced::observed(
                tls,
                Wire::Smtp,
                seen.clone(),
            ))),
            &id,
        ),
    )
    .await
    {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(greeting_error(&e, &seen, account)),
        Err(_) => Err(silence(&seen, account, step)),
    }
}

/// Reads the greeting and sends EHLO over plain TCP. When nothing at all has arrived a quarter
/// of the way through the wait, a second connection finds out meanwhile whether the port
/// expects implicit TLS or speaks HTTP, so the whole wait stays within `step`. The handle takes
/// the TCP stream back for [`starttls`].
pub(super) async fn greet_plain(
    tcp: tokio::net::TcpStream,
    account: &Account,
    step: Duration,
) -> Result<(AsyncSmtpConnection, PlainSmtp), Diagnosis> {
    let ep = &account.smtp;
    let id = client_id();
    let seen = Seen::new();
    let end = Instant::now() + step;
    let (stream, handle) = Handoff::new(Traced::observed(tcp, Wire::Smtp, seen.clone()));
    let greet = AsyncSmtpConnection::connect_with_transport(Box::new(stream), &id);
    tokio::pin!(greet);
    // Mail servers greet within milliseconds; after a quarter of the wait (at most 1 s) of
    // silence, the sniff starts, with the rest of the wait to finish.
    let mut result = timeout((step / 4).min(Duration::from_secs(1)), &mut greet)
        .await
        .ok();
    if result.is_none() && seen.total() == 0 {
        let sniff = sniff::silent_port(ep, end.saturating_duration_since(Instant::now()), "smtps");
        tokio::pin!(sniff);
        tokio::select! {
            r = tokio::time::timeout_at(end, &mut greet) => result = r.ok(),
            found = &mut sniff => match found {
                Some(d) => return Err(d),
                None => result = tokio::time::timeout_at(end, &mut greet).await.ok(),
            },
        }
    } else if result.is_none() {
        result = tokio::time::timeout_at(end, &mut greet).await.ok();
    }
    match result {
        Some(Ok(conn)) => Ok((conn, handle)),
        Some(Err(e)) => Err(greeting_error(&e, &seen, account)),
        None => Err(silence(&seen, account, step)),
    }
}

/// A greeting or EHLO the server answered wrongly: an HTTP status line is named as such.
fn greeting_error(e: &lettre::transport::smtp::Error, seen: &Seen, account: &Account) -> Diagnosis {
    let head = seen.head();
    if seen::is_http(&head) {
        let line = seen::first_line(&head).unwrap_or_default();
        return diagnose::speaks_http(Protocol::Smtp, &account.smtp.authority(), &line);
    }
    classify(e, Stage::Greeting, account, false).0
}

/// No (complete) answer within `step`: says what did arrive, so a greeting followed by an
/// unanswered EHLO is not called "no greeting".
fn silence(seen: &Seen, account: &Account, step: Duration) -> Diagnosis {
    let head = seen.head();
    if head.is_empty() {
        return timed_out(account, "the connection (no greeting)", step);
    }
    if seen::is_http(&head) {
        let line = seen::first_line(&head).unwrap_or_default();
        return diagnose::speaks_http(Protocol::Smtp, &account.smtp.authority(), &line);
    }
    let detail = match seen::first_line(&head) {
        Some(line) if line.starts_with("220") => format!(
            "the server greeted ({line:?}) but did not answer EHLO within {:.1} s",
            step.as_secs_f64()
        ),
        Some(line) => format!(
            "the server sent {line:?} and then nothing within {:.1} s",
            step.as_secs_f64()
        ),
        None => format!(
            "the greeting did not complete within {:.1} s",
            step.as_secs_f64()
        ),
    };
    diagnose::transport(
        Code::Timeout,
        Protocol::Smtp,
        &account.smtp.authority(),
        &detail,
    )
}

/// The name the server gave in its EHLO reply (lettre's own Display adds a feature dump).
pub(super) fn banner(conn: &AsyncSmtpConnection) -> String {
    conn.server_info().name().to_string()
}

/// STARTTLS on a greeted plain connection (which must offer it), verifying the certificate
/// unless the account says not to. The handshake is ours (`net::implicit_tls`, the process's
/// one TLS context), then lettre continues over the TLS stream with a fresh EHLO, so the
/// server's post-TLS capabilities are what the connection knows. Returns the DER of the
/// certificate the server presented.
pub(super) async fn starttls(
    conn: &mut AsyncSmtpConnection,
    plain: PlainSmtp,
    account: &Account,
    step: Duration,
) -> Result<Option<Vec<u8>>, Diagnosis> {
    let ep = &account.smtp;
    if !conn.can_starttls() {
        conn.abort().await;
        return Err(diagnose::transport(
            Code::StarttlsUnavailable,
            Protocol::Smtp,
            &ep.authority(),
            "the server does not offer STARTTLS",
        ));
    }
    let reply = match timeout(step, conn.command(Starttls)).await {
        Ok(Ok(r)) => one_line(&r),
        Ok(Err(e)) => return Err(classify(&e, Stage::StartTls, account, false).0),
        Err(_) => return Err(timed_out(account, "STARTTLS", step)),
    };
    let Some(tcp) = plain.reclaim() else {
        return Err(diagnose::transport(
            Code::ConnectionClosed,
            Protocol::Smtp,
            &ep.authority(),
            "internal: the connection was already upgraded",
        ));
    };
    let tls = net::implicit_tls(&account.tls, ep, tcp.into_inner(), step, "smtp+starttls")
        .await
        .map_err(|d| handshake_after_220(d, &reply))?;
    let der = tls.ssl().peer_certificate().and_then(|c| c.to_der().ok());
    let stream = Transport::resumed(b"220 TLS\r\n", Traced::new(tls, Wire::Smtp));
    *conn = timeout(
        step,
        AsyncSmtpConnection::connect_with_transport(Box::new(stream), &client_id()),
    )
    .await
    .map_err(|_| timed_out(account, "EHLO after STARTTLS", step))?
    .map_err(|e| classify(&e, Stage::StartTls, account, false).0)?;
    Ok(der)
}

/// A handshake that failed after the server said yes to STARTTLS: the summary says the `220`
/// came, so a stall is not mistaken for an unanswered STARTTLS.
fn handshake_after_220(mut d: Diagnosis, reply: &str) -> Diagnosis {
    d.summary = format!(
        "{} (after the server answered STARTTLS with {:?})",
        d.summary.trim_end_matches('.'),
        reply
    );
    if d.code == Code::Timeout {
        d.hint = "The server said yes to STARTTLS but never completed the TLS handshake: \
                  something between here and the server holds TLS traffic after STARTTLS (a \
                  firewall or proxy that inspects SMTP), or the server's TLS setup hangs; try \
                  implicit TLS (smtps://host:465) to tell which."
            .into();
    }
    d
}

/// One AUTH with the account's credential (PLAIN/LOGIN for a password, XOAUTH2 for a token);
/// never retried. Returns what to show for the step. `plain` is the handle of a connection
/// still in plaintext, used only to look at what the server offers after STARTTLS when it
/// offers no AUTH before it.
pub(super) async fn authenticate(
    conn: &mut AsyncSmtpConnection,
    plain: Option<PlainSmtp>,
    account: &Account,
    step: Duration,
) -> Result<String, Diagnosis> {
    let ep = &account.smtp;
    let secret = match super::sign_in::secret(account, diagnose::Protocol::Smtp).await {
        Ok(s) => s,
        Err(d) => {
            conn.abort().await;
            return Err(d);
        }
    };
    let (mechanisms, secret): (&[Mechanism], _) = match &secret {
        Secret::Password(p) => (&[Mechanism::Plain, Mechanism::Login], p),
        Secret::Token(tok) => (&[Mechanism::Xoauth2], tok),
    };
    let Some(mechanism) = conn.server_info().get_auth_mechanism(mechanisms) else {
        let offered = offered_auth(conn, step).await;
        let plain_with_starttls = !conn.is_encrypted() && conn.can_starttls();
        // Over plaintext with STARTTLS offered, look whether AUTH appears after it (no
        // credentials are sent), rather than guessing.
        let after_tls = match plain {
            Some(plain) if plain_with_starttls && offered.is_empty() => {
                auth_after_starttls(conn, plain, account, step).await
            }
            _ => None,
        };
        conn.abort().await;
        return Err(no_auth(
            account,
            mechanisms,
            &offered,
            plain_with_starttls,
            after_tls,
        ));
    };
    let creds = Credentials::new(account.user.clone(), secret.expose_secret().to_string());
    match timeout(step, conn.auth(&[mechanism], &creds)).await {
        Ok(Ok(resp)) => Ok(format!(
            "{mechanism} as {}: {}",
            account.user,
            one_line(&resp)
        )),
        Ok(Err(e)) if mechanism == Mechanism::Xoauth2 && e.is_client() => {
            // Gmail's dance on a refused token: a 334 error challenge (lettre's XOAUTH2 does
            // not expect one), an empty line from us, then the final 535 in the server's words.
            let d = match timeout(step, conn.command("\r\n")).await {
                Ok(Err(e)) => classify(&e, Stage::Auth, account, false).0,
                _ => diagnose::transport(
                    Code::AuthRejected,
                    Protocol::Smtp,
                    &ep.authority(),
                    "the server answered XOAUTH2 with an error challenge",
                ),
            };
            conn.abort().await;
            Err(net::oauth2_hint(account, d))
        }
        Ok(Err(e)) => {
            let d = classify(&e, Stage::Auth, account, false).0;
            conn.abort().await;
            Err(net::oauth2_hint(account, d))
        }
        Err(_) => Err(timed_out(account, "AUTH", step)),
    }
}

/// The AUTH mechanisms the server lists in a fresh EHLO reply (lettre keeps only the ones it
/// knows); empty when it lists none.
async fn offered_auth(conn: &mut AsyncSmtpConnection, step: Duration) -> Vec<String> {
    let Ok(Ok(resp)) = timeout(step, conn.command(Ehlo::new(client_id()))).await else {
        return Vec::new();
    };
    resp.message()
        .filter_map(|line| {
            let upper = line.to_ascii_uppercase();
            let rest = upper
                .strip_prefix("AUTH ")
                .or_else(|| upper.strip_prefix("AUTH="))?;
            Some(
                rest.split_whitespace()
                    .map(str::to_string)
                    .collect::<Vec<_>>(),
            )
        })
        .flatten()
        .collect()
}

/// Upgrades a plaintext connection with STARTTLS (verifying as usual) only to read the
/// mechanisms offered after it. `None` when the upgrade failed.
async fn auth_after_starttls(
    conn: &mut AsyncSmtpConnection,
    plain: PlainSmtp,
    account: &Account,
    step: Duration,
) -> Option<Vec<String>> {
    starttls(conn, plain, account, step).await.ok()?;
    Some(offered_auth(conn, step).await)
}

/// The diagnosis when no mechanism of ours is offered: AUTH only after STARTTLS (checked),
/// no AUTH at all (a relay or MX port), or only mechanisms mailtrip does not speak.
fn no_auth(
    account: &Account,
    ours: &[Mechanism],
    offered: &[String],
    plaintext_with_starttls: bool,
    after_tls: Option<Vec<String>>,
) -> Diagnosis {
    let ep = &account.smtp;
    let authority = ep.authority();
    let ours = ours
        .iter()
        .map(|m| m.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let submission = format!(
        "Use the provider's submission port: smtp+starttls://{host}:587 or smtps://{host}:465.",
        host = ep.host
    );
    match after_tls {
        Some(after) if !after.is_empty() => {
            return Diagnosis {
                code: Code::StarttlsUnavailable,
                summary: format!(
                    "The SMTP server at {authority} offers AUTH only after STARTTLS ({}), and {ep} \
                     is plaintext.",
                    after.join(" ")
                ),
                hint: format!("Use smtp+starttls://{authority} so the login is encrypted."),
                link: None,
                server_text: None,
            };
        }
        Some(_) => {
            return Diagnosis {
                code: Code::AuthMechanismUnsupported,
                summary: format!(
                    "The SMTP server at {authority} offers no AUTH at all, not even after \
                     STARTTLS: it is a relay or MX port (like 25), not a submission port."
                ),
                hint: submission,
                link: None,
                server_text: None,
            };
        }
        None if plaintext_with_starttls && offered.is_empty() => {
            return Diagnosis {
                code: Code::StarttlsUnavailable,
                summary: format!(
                    "The SMTP server at {authority} offers no AUTH over plaintext; it offers \
                     STARTTLS, but upgrading to see what it offers then failed."
                ),
                hint: format!(
                    "Use smtp+starttls://{authority} (the login needs TLS), or the submission \
                     port if this is a relay port."
                ),
                link: None,
                server_text: None,
            };
        }
        None => {}
    }
    if offered.is_empty() {
        return Diagnosis {
            code: Code::AuthMechanismUnsupported,
            summary: format!(
                "The SMTP server at {authority} offers no AUTH at all: it is a relay or MX port \
                 (like 25), not a submission port."
            ),
            hint: submission,
            link: None,
            server_text: None,
        };
    }
    diagnose::transport(
        Code::AuthMechanismUnsupported,
        Protocol::Smtp,
        &authority,
        &format!(
            "no common AUTH mechanism: mailtrip uses {ours} with this credential, the server \
             offers {}",
            offered.join(" ")
        ),
    )
}

pub(crate) async fn submit_step<C: std::fmt::Display>(
    conn: &mut AsyncSmtpConnection,
    step: Duration,
    stage: Stage,
    command: C,
) -> Result<String, (Stage, Option<lettre::transport::smtp::Error>)> {
    match timeout(step, conn.command(command)).await {
        Ok(Ok(resp)) => Ok(one_line(&resp)),
        Ok(Err(e)) => Err((stage, Some(e))),
        Err(_) => Err((stage, None)),
    }
}

pub(crate) fn one_line(resp: &lettre::transport::smtp::response::Response) -> String {
    let code = u16::from(resp.code());
    let text: Vec<&str> = resp.message().collect();
    format!("{code} {}", text.join(" "))
}

fn verified_note(account: &Account) -> &'static str {
    if account.tls.insecure_skip_verify {
        " (certificate NOT verified)"
    } else {
        ", certificate verified"
    }
}

/// Builds the account's TLS context off the async threads, so whatever it costs overlaps the
/// IMAP setup that comes first in a round trip (little with a hashed root directory, one
/// bundle parse per process otherwise).
pub(crate) fn prewarm(account: &Account) {
    if account.smtp.security != Security::Plain {
        let tls = account.tls.clone();
        tokio::task::spawn_blocking(move || {
            let _ = crate::tls::context(&tls);
        });
    }
}
