//! Submits the probe over SMTP with lettre's low-level connection fed by a stream we open, so
//! connect, TLS, AUTH and MAIL..DATA are timed apart and each failure is pinned to its stage.
//! Transient 4xx replies (greylisting) retry the whole submission with backoff.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt, Starttls};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use secrecy::ExposeSecret;
use tokio::time::{Instant, timeout};

use super::message::Probe;
use super::net::{self, TlsTcp};
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

/// Submits `probe` as `account`; returns the server's final reply to DATA. Retries transient
/// rejections of MAIL/RCPT/DATA with backoff (1 s, 2 s, 4 s, ...) until `deadline`.
pub async fn send(
    rec: &mut Recorder,
    account: &Account,
    probe: &Probe,
    step: Duration,
    deadline: Instant,
) -> Result<String, Failure> {
    let mut backoff = Duration::from_secs(1);
    let mut history: Vec<String> = Vec::new();
    loop {
        let mark = rec.mark();
        let attempt = history.len() + 1;
        match attempt_once(rec, account, probe, step).await {
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
                let retry = e.transient && Instant::now() + backoff < deadline;
                if !retry {
                    if !history.is_empty() {
                        rec.append_detail(
                            e.failure.phase,
                            &format!(" (attempt {attempt}; earlier: {})", history.join("; ")),
                        );
                    }
                    return Err(e.failure);
                }
                let text = e
                    .failure
                    .diagnosis
                    .server_text
                    .clone()
                    .unwrap_or_else(|| e.failure.diagnosis.summary.clone());
                tracing::debug!(attempt, ?backoff, reply = %text, "transient SMTP rejection; retrying");
                history.push(format!(
                    "attempt {attempt} got {}",
                    text.lines().next().unwrap_or("")
                ));
                rec.truncate(mark);
                tokio::time::sleep(backoff).await;
                backoff *= 2;
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

    if ep.security == Security::StartTls
        && let Some(plain) = plain
    {
        let t = rec.start(Phase::SmtpTls);
        starttls(&mut conn, plain, account, step)
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
    let detail = authenticate(&mut conn, account, step)
        .await
        .map_err(|d| rec.fail(Phase::SmtpAuth, t, d))?;
    rec.ok(Phase::SmtpAuth, t, detail);

    Ok(conn)
}

async fn attempt_once(
    rec: &mut Recorder,
    account: &Account,
    probe: &Probe,
    step: Duration,
) -> Result<String, AttemptError> {
    let mut conn = open(rec, account, step).await?;

    // MAIL FROM .. end of DATA, one command at a time so a rejection names its stage.
    let t = rec.start(Phase::SmtpSubmit);
    let mut params = Vec::new();
    if !probe.bytes.is_ascii() && conn.server_info().supports_feature(Extension::EightBitMime) {
        params.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    let env = &probe.envelope;
    let mut steps: Vec<(Stage, String)> = Vec::new();
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
        let reply = timeout(step, conn.message(&probe.bytes))
            .await
            .map_err(|_| (Stage::Data, None))?
            .map_err(|e| (Stage::Data, Some(e)))?;
        Ok(one_line(&reply))
    }
    .await;
    match result {
        Ok(reply) => {
            rec.ok(Phase::SmtpSubmit, t, format!("accepted: {reply}"));
            let _ = timeout(Duration::from_secs(2), conn.quit()).await;
            Ok(reply)
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
    timeout(
        step,
        AsyncSmtpConnection::connect_with_transport(
            Box::new(Transport::new(Traced::new(tls, Wire::Smtp))),
            &id,
        ),
    )
    .await
    .map_err(|_| timed_out(account, "the greeting", step))?
    .map_err(|e| classify(&e, Stage::Greeting, account, false).0)
}

/// Reads the greeting and sends EHLO over plain TCP; a port that stays silent but answers a
/// TLS handshake is diagnosed as a TLS-mode mismatch (it wants implicit TLS). The handle takes
/// the TCP stream back for [`starttls`].
pub(super) async fn greet_plain(
    tcp: tokio::net::TcpStream,
    account: &Account,
    step: Duration,
) -> Result<(AsyncSmtpConnection, PlainSmtp), Diagnosis> {
    let ep = &account.smtp;
    let id = client_id();
    let (stream, handle) = Handoff::new(Traced::new(tcp, Wire::Smtp));
    let greeted = timeout(
        step,
        AsyncSmtpConnection::connect_with_transport(Box::new(stream), &id),
    )
    .await;
    match greeted {
        Ok(Ok(conn)) => Ok((conn, handle)),
        Ok(Err(e)) => Err(classify(&e, Stage::Greeting, account, false).0),
        Err(_) => {
            // No greeting: an implicit-TLS port waits for our ClientHello.
            if net::speaks_tls(ep, step.min(Duration::from_secs(5))).await {
                Err(diagnose::tls_mode_mismatch(
                    Protocol::Smtp,
                    &ep.authority(),
                    "sent no greeting but answers a TLS handshake (it expects implicit TLS)",
                    &format!("smtps://{}", ep.authority()),
                ))
            } else {
                Err(timed_out(account, "the connection (no greeting)", step))
            }
        }
    }
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
    match timeout(step, conn.command(Starttls)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(classify(&e, Stage::StartTls, account, false).0),
        Err(_) => return Err(timed_out(account, "STARTTLS", step)),
    }
    let Some(tcp) = plain.reclaim() else {
        return Err(diagnose::transport(
            Code::ConnectionClosed,
            Protocol::Smtp,
            &ep.authority(),
            "internal: the connection was already upgraded",
        ));
    };
    let tls = net::implicit_tls(&account.tls, ep, tcp.into_inner(), step, "smtp+starttls").await?;
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

/// One AUTH with the account's credential (PLAIN/LOGIN for a password, XOAUTH2 for a token);
/// never retried. Returns what to show for the step.
pub(super) async fn authenticate(
    conn: &mut AsyncSmtpConnection,
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
        let offered = conn.server_info().to_string();
        let plain_with_starttls = !conn.is_encrypted() && conn.can_starttls();
        conn.abort().await;
        if plain_with_starttls {
            return Err(Diagnosis {
                code: Code::StarttlsUnavailable,
                summary: format!(
                    "The SMTP server at {} offers AUTH only after STARTTLS, and {ep} is plaintext.",
                    ep.authority()
                ),
                hint: format!(
                    "Use smtp+starttls://{} so the login is encrypted.",
                    ep.authority()
                ),
                link: None,
                server_text: None,
            });
        }
        return Err(diagnose::transport(
            Code::AuthMechanismUnsupported,
            Protocol::Smtp,
            &ep.authority(),
            &format!(
                "no common AUTH mechanism; we support {mechanisms:?}, the server offers {offered}"
            ),
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
            let _ = net::context(&tls);
        });
    }
}
