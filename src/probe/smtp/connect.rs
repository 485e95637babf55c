//! The SMTP connection up to MAIL FROM: connect (implicit TLS or plain), greeting and EHLO,
//! our own STARTTLS, and AUTH with the mechanism the account allows, each timed and each
//! failure pinned to its stage. Also the stream adapters lettre runs over.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream};
use lettre::transport::smtp::commands::{Ehlo, Starttls};
use lettre::transport::smtp::extension::ClientId;
use secrecy::ExposeSecret;
use tokio::time::{Instant, timeout};

use super::{AttemptError, classify, one_line, timed_out};
use crate::config::{Account, Secret, Security};
use crate::diagnose::{self, Code, Diagnosis, Protocol, Stage};
use crate::probe::net::{self, TlsTcp};
use crate::probe::seen::{self, Seen};
use crate::probe::sniff;
use crate::probe::tls::{Handoff, Transport};
use crate::probe::trace::{Traced, Wire};
use crate::probe::{Failure, Recorder};
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

pub(in crate::probe) fn client_id() -> ClientId {
    ClientId::default()
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
    let (tcp, peer) = net::connect(account, ep, step)
        .await
        .map_err(|d| rec.fail(Phase::SmtpConnect, t, d))?;
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

/// Reads the greeting and sends EHLO over an implicit-TLS stream.
pub(in crate::probe) async fn greet_tls(
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
pub(in crate::probe) async fn greet_plain(
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
pub(in crate::probe) fn banner(conn: &AsyncSmtpConnection) -> String {
    conn.server_info().name().to_string()
}

/// STARTTLS on a greeted plain connection (which must offer it), verifying the certificate
/// unless the account says not to. The handshake is ours (`net::implicit_tls`, the process's
/// one TLS context), then lettre continues over the TLS stream with a fresh EHLO, so the
/// server's post-TLS capabilities are what the connection knows. Returns the DER of the
/// certificate the server presented.
pub(in crate::probe) async fn starttls(
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
pub(in crate::probe) async fn authenticate(
    conn: &mut AsyncSmtpConnection,
    plain: Option<PlainSmtp>,
    account: &Account,
    step: Duration,
) -> Result<String, Diagnosis> {
    let ep = &account.smtp;
    let secret = match crate::probe::sign_in::secret(account, diagnose::Protocol::Smtp).await {
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
            return Diagnosis::new(
                Code::StarttlsUnavailable,
                format!(
                    "The SMTP server at {authority} offers AUTH only after STARTTLS ({}), and {ep} \
                     is plaintext.",
                    after.join(" ")
                ),
                format!("Use smtp+starttls://{authority} so the login is encrypted."),
            );
        }
        Some(_) => {
            return Diagnosis::new(
                Code::AuthMechanismUnsupported,
                format!(
                    "The SMTP server at {authority} offers no AUTH at all, not even after \
                     STARTTLS: it is a relay or MX port (like 25), not a submission port."
                ),
                submission,
            );
        }
        None if plaintext_with_starttls && offered.is_empty() => {
            return Diagnosis::new(
                Code::StarttlsUnavailable,
                format!(
                    "The SMTP server at {authority} offers no AUTH over plaintext; it offers \
                     STARTTLS, but upgrading to see what it offers then failed."
                ),
                format!(
                    "Use smtp+starttls://{authority} (the login needs TLS), or the submission \
                     port if this is a relay port."
                ),
            );
        }
        None => {}
    }
    if offered.is_empty() {
        return Diagnosis::new(
            Code::AuthMechanismUnsupported,
            format!(
                "The SMTP server at {authority} offers no AUTH at all: it is a relay or MX port \
                 (like 25), not a submission port."
            ),
            submission,
        );
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
