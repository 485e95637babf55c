//! The IMAP handshake: connect (implicit TLS or STARTTLS) and read the greeting, log in
//! (LOGIN or XOAUTH2), and read CAPABILITY, each step timed and each failure diagnosed.

use std::time::Duration;

use async_imap::imap_proto::{Response, Status};
use secrecy::ExposeSecret;
use tokio::time::{Instant, timeout};

use super::{Caps, Client, Session, Stream, classify, imap_err};
use crate::config::{Account, Secret, Security};
use crate::diagnose::{self, Code, Diagnosis, Stage};
use crate::probe::net::{self, TlsTcp};
use crate::probe::trace::{Traced, Wire};
use crate::probe::{Failure, Recorder};
use crate::report::Phase;

/// An IMAP client over `stream`, wire-traced (credentials redacted) at `trace` level.
pub(in crate::probe) fn client(stream: Stream) -> Client {
    Client::new(Traced::new(stream, Wire::Imap))
}

/// XOAUTH2 initial response.
struct XOAuth2<'a> {
    user: &'a str,
    token: &'a str,
}

impl async_imap::Authenticator for XOAuth2<'_> {
    type Response = String;
    fn process(&mut self, _challenge: &[u8]) -> String {
        format!("user={}\x01auth=Bearer {}\x01\x01", self.user, self.token)
    }
}

fn timed_out(account: &Account, what: &str, limit: Duration) -> Diagnosis {
    imap_err(
        account,
        Code::Timeout,
        &format!("no answer to {what} within {:.1} s", limit.as_secs_f64()),
    )
}

/// Reads the greeting; `Err` carries a BYE/NO text or a transport problem.
async fn greeting(
    client: &mut Client,
    account: &Account,
    step: Duration,
) -> Result<String, Diagnosis> {
    match timeout(step, client.read_response()).await {
        Err(_) => Err(timed_out(account, "the connection (no greeting)", step)),
        Ok(Err(e)) => Err(classify(
            account,
            Stage::Greeting,
            &async_imap::error::Error::Io(e),
        )),
        Ok(Ok(None)) => Err(imap_err(
            account,
            Code::ConnectionClosed,
            "the server closed the connection before its greeting",
        )),
        Ok(Ok(Some(resp))) => match resp.parsed() {
            Response::Data { status, outcome } => {
                let text = outcome.information.as_deref().unwrap_or("").to_string();
                match status {
                    Status::Ok | Status::PreAuth => Ok(text),
                    Status::Bye => Err(diagnose::classify_imap(Stage::Other, "BYE", &text)),
                    other => Err(diagnose::classify_imap(
                        Stage::Other,
                        &format!("{other:?}").to_ascii_uppercase(),
                        &text,
                    )),
                }
            }
            other => Err(imap_err(
                account,
                Code::ServerError,
                &format!("unexpected greeting {other:?}"),
            )),
        },
    }
}

/// Connects, reads the greeting (STARTTLS when asked), and logs in. Records `imap_connect` and
/// `imap_auth` when `rec` is given (the first connection); later connections are untimed.
pub async fn connect(
    account: &Account,
    step: Duration,
    mut rec: Option<&mut Recorder>,
) -> Result<(Session, Caps), Failure> {
    let client = dial(account, step, rec.as_deref_mut()).await?;
    sign_in(client, account, step, rec).await
}

/// Connects and reads the greeting (STARTTLS when asked): a client ready to log in. Records
/// `imap_connect` when `rec` is given.
pub(crate) async fn dial(
    account: &Account,
    step: Duration,
    mut rec: Option<&mut Recorder>,
) -> Result<Client, Failure> {
    let ep = &account.imap;
    let t = rec.as_mut().map(|r| r.start(Phase::ImapConnect));
    let fail = |phase: Phase, d: Diagnosis, rec: &mut Option<&mut Recorder>| match (rec.as_mut(), t)
    {
        (Some(r), Some(t)) => r.fail(phase, t, d),
        _ => Failure {
            phase,
            diagnosis: d,
        },
    };
    let tcp = match net::connect(account, ep, step).await {
        Ok((tcp, _peer)) => tcp,
        Err(d) => return Err(fail(Phase::ImapConnect, d, &mut rec)),
    };
    let stream = if ep.security == Security::Tls {
        match net::implicit_tls(&account.tls, ep, tcp, step, "imap+starttls").await {
            Ok(tls) => Stream::Tls(Box::new(tls)),
            Err(d) => return Err(fail(Phase::ImapConnect, d, &mut rec)),
        }
    } else {
        Stream::Plain(tcp)
    };
    let mut client = client(stream);
    let banner = match greet(&mut client, account, step).await {
        Ok(b) => b,
        Err(d) => return Err(fail(Phase::ImapConnect, d, &mut rec)),
    };
    if ep.security == Security::StartTls {
        match starttls(client, account, step).await {
            Ok(tls) => client = self::client(Stream::Tls(Box::new(tls))),
            Err(d) => return Err(fail(Phase::ImapConnect, d, &mut rec)),
        }
    }
    if let (Some(r), Some(t)) = (rec.as_mut(), t) {
        let how = match ep.security {
            Security::Tls => "implicit TLS",
            Security::StartTls => "STARTTLS",
            Security::Plain => "plaintext",
        };
        r.ok(
            Phase::ImapConnect,
            t,
            format!("{how}; greeting: {}", banner.trim()),
        );
    }
    Ok(client)
}

/// Logs in on a greeted client and reads CAPABILITY. Records `imap_auth` when `rec` is given.
pub(crate) async fn sign_in(
    client: Client,
    account: &Account,
    step: Duration,
    mut rec: Option<&mut Recorder>,
) -> Result<(Session, Caps), Failure> {
    let t = rec.as_mut().map(|r| r.start(Phase::ImapAuth));
    let fail = |d: Diagnosis, rec: &mut Option<&mut Recorder>| match (rec.as_mut(), t) {
        (Some(r), Some(t)) => r.fail(Phase::ImapAuth, t, d),
        _ => Failure {
            phase: Phase::ImapAuth,
            diagnosis: d,
        },
    };
    let (mut session, told) = match login(client, account, step).await {
        Ok(s) => s,
        Err(d) => return Err(fail(d, &mut rec)),
    };
    // Most servers list their capabilities in the OK to LOGIN: then no CAPABILITY round trip.
    let caps = match told {
        Some(caps) => caps,
        None => match capabilities(&mut session, account, step).await {
            Ok((caps, _)) => caps,
            Err(d) => return Err(fail(d, &mut rec)),
        },
    };
    if let (Some(r), Some(t)) = (rec.as_mut(), t) {
        r.ok(
            Phase::ImapAuth,
            t,
            format!("{} as {}", login_verb(account), account.user),
        );
    }
    Ok((session, caps))
}

/// Reads the greeting; on a plain connection that stays silent but answers a TLS handshake,
/// diagnoses a TLS-mode mismatch (the port wants implicit TLS).
pub(in crate::probe) async fn greet(
    client: &mut Client,
    account: &Account,
    step: Duration,
) -> Result<String, Diagnosis> {
    let ep = &account.imap;
    if ep.security == Security::Tls {
        return greeting(client, account, step).await;
    }
    // Silence a quarter of the way through the wait (at most 1 s; servers greet within
    // milliseconds): meanwhile, a second connection finds out whether the port expects
    // implicit TLS or speaks HTTP; the whole wait stays within `step`.
    let end = Instant::now() + step;
    let first = greeting(client, account, (step / 4).min(Duration::from_secs(1))).await;
    match first {
        Err(d) if d.code == Code::Timeout => {}
        done => return done,
    }
    let sniff = crate::probe::sniff::silent_port(
        ep,
        end.saturating_duration_since(Instant::now()),
        "imaps",
    );
    let rest = end.saturating_duration_since(Instant::now());
    let wait = greeting(client, account, rest);
    tokio::pin!(sniff, wait);
    // The timeout names the whole wait, not its second half.
    let whole = |d: Diagnosis| {
        if d.code == Code::Timeout {
            timed_out(account, "the connection (no greeting)", step)
        } else {
            d
        }
    };
    tokio::select! {
        r = &mut wait => r.map_err(whole),
        found = &mut sniff => match found {
            Some(d) => Err(d),
            None => (&mut wait).await.map_err(whole),
        },
    }
}

/// Sends STARTTLS on a greeted plain connection and completes the handshake, verifying the
/// certificate unless the account says not to.
pub(in crate::probe) async fn starttls(
    mut client: Client,
    account: &Account,
    step: Duration,
) -> Result<TlsTcp, Diagnosis> {
    let ep = &account.imap;
    match timeout(step, client.run_command_and_check_ok("STARTTLS", None)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            let d = classify(account, Stage::Other, &e);
            let refused = matches!(
                e,
                async_imap::error::Error::No(_) | async_imap::error::Error::Bad(_)
            );
            return Err(if refused {
                Diagnosis {
                    code: Code::StarttlsUnavailable,
                    ..d
                }
            } else {
                d
            });
        }
        Err(_) => return Err(timed_out(account, "STARTTLS", step)),
    }
    let Stream::Plain(tcp) = client.into_inner().into_inner() else {
        return Err(imap_err(
            account,
            Code::ServerError,
            "internal: STARTTLS on TLS",
        ));
    };
    net::implicit_tls(&account.tls, ep, tcp, step, "imap+starttls").await
}

/// `LOGIN` or `AUTHENTICATE XOAUTH2`, by credential kind.
pub(in crate::probe) fn login_verb(account: &Account) -> &'static str {
    if account.credential.is_oauth2() {
        "AUTHENTICATE XOAUTH2"
    } else {
        "LOGIN"
    }
}

/// Logs in once with the account's credential: LOGIN for a password, AUTHENTICATE XOAUTH2
/// for a token. Never retried. Also returns what mailtrip uses of the capabilities the
/// server listed in its OK (a `CAPABILITY` response code), if it did.
pub(in crate::probe) async fn login(
    client: Client,
    account: &Account,
    step: Duration,
) -> Result<(Session, Option<Caps>), Diagnosis> {
    let secret = crate::probe::sign_in::secret(account, crate::diagnose::Protocol::Imap).await?;
    let login = match &secret {
        Secret::Password(p) => {
            match timeout(
                step,
                client.login_with_capabilities(&account.user, p.expose_secret()),
            )
            .await
            {
                Ok(Ok((s, told))) => Ok(Ok((s, told.map(|c| caps_of(c.iter()))))),
                Ok(Err((e, _client))) => Ok(Err(e)),
                Err(elapsed) => Err(elapsed),
            }
        }
        Secret::Token(tok) => {
            let auth = XOAuth2 {
                user: &account.user,
                token: tok.expose_secret(),
            };
            match timeout(step, client.authenticate("XOAUTH2", auth)).await {
                Ok(Ok(s)) => Ok(Ok((s, None))),
                Ok(Err((e, _client))) => Ok(Err(e)),
                Err(elapsed) => Err(elapsed),
            }
        }
    };
    match login {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(net::oauth2_hint(
            account,
            classify(account, Stage::Login, &e),
        )),
        Err(_) => Err(timed_out(account, login_verb(account), step)),
    }
}

/// CAPABILITY after login: what mailtrip uses, and every capability as the server spells it,
/// in the server's order.
pub(in crate::probe) async fn capabilities(
    session: &mut Session,
    account: &Account,
    step: Duration,
) -> Result<(Caps, Vec<String>), Diagnosis> {
    match timeout(step, capability_list(session)).await {
        Ok(Ok(all)) => Ok((caps_of_names(&all), all)),
        Ok(Err(e)) => Err(classify(account, Stage::Other, &e)),
        Err(_) => Err(timed_out(account, "CAPABILITY", step)),
    }
}

/// What mailtrip uses of a server's capabilities (names as the server spells them).
fn caps_of_names(all: &[impl AsRef<str>]) -> Caps {
    let has = |name: &str| all.iter().any(|c| c.as_ref().eq_ignore_ascii_case(name));
    Caps {
        idle: has("IDLE"),
        uidplus: has("UIDPLUS"),
        mv: has("MOVE"),
        gmail: has("X-GM-EXT-1"),
    }
}

/// [`caps_of_names`] of async-imap's parsed capabilities: the ones it looks for are all atoms.
fn caps_of<'a>(told: impl Iterator<Item = &'a async_imap::types::Capability>) -> Caps {
    use async_imap::types::Capability;
    let atoms: Vec<&str> = told
        .filter_map(|c| match c {
            Capability::Atom(a) => Some(a.as_str()),
            _ => None,
        })
        .collect();
    caps_of_names(&atoms)
}

/// Sends CAPABILITY and reads the answer itself: async-imap's `capabilities()` collects them
/// into a `HashSet`, which comes out in a different order on every run. Nothing is selected
/// yet, so other untagged responses carry nothing to keep.
async fn capability_list(session: &mut Session) -> async_imap::error::Result<Vec<String>> {
    use async_imap::error::Error;
    use async_imap::imap_proto::Capability;
    let id = session.run_command("CAPABILITY").await?;
    let mut all = Vec::new();
    loop {
        let Some(resp) = session.read_response().await? else {
            return Err(Error::ConnectionLost);
        };
        match resp.parsed() {
            Response::Capabilities(list) => all.extend(list.iter().map(|c| match c {
                Capability::Imap4rev1 => "IMAP4rev1".to_string(),
                Capability::Auth(m) => format!("AUTH={m}"),
                Capability::Atom(a) => a.to_string(),
            })),
            Response::Done {
                tag,
                status,
                outcome,
            } if *tag == id => {
                let (code, information) = (&outcome.code, &outcome.information);
                let words = format!("code: {code:?}, info: {information:?}");
                return match status {
                    Status::Ok => Ok(all),
                    Status::No => Err(Error::No(words)),
                    _ => Err(Error::Bad(words)),
                };
            }
            _ => {}
        }
    }
}
