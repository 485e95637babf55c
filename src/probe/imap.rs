//! The IMAP client's connection: connect (implicit TLS or STARTTLS) and log in, CAPABILITY,
//! the special-use folders, SELECT / STATUS watermarks, fetching a whole message, and the checks
//! every answer needs (a silent close, unsolicited EXISTS). Watching is `watch`, deleting
//! exactly the probe's UIDs is `cleanup`.

use std::io;
use std::time::Duration;

use async_imap::imap_proto::{NameAttribute, Response, Status};
use async_imap::types::{Fetch, UnsolicitedResponse};
use futures::TryStreamExt;
use secrecy::ExposeSecret;
use tokio::time::{Instant, timeout};

pub(crate) use super::net::Stream;
use super::net::{self, TlsTcp};
use super::trace::{Traced, Wire};
use super::{Failure, Recorder};
use crate::config::{Account, Secret, Security};
use crate::diagnose::{self, Code, Diagnosis, Protocol, Stage};
use crate::report::Phase;

pub type Session = async_imap::Session<Traced<Stream>>;
pub(crate) type Client = async_imap::Client<Traced<Stream>>;

/// An IMAP client over `stream`, wire-traced (credentials redacted) at `trace` level.
pub(super) fn client(stream: Stream) -> Client {
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

/// What the server can do, from CAPABILITY after login.
#[derive(Debug, Clone, Default)]
pub struct Caps {
    pub idle: bool,
    pub uidplus: bool,
    pub mv: bool,
    pub gmail: bool,
}

/// Folders found by SPECIAL-USE.
#[derive(Debug, Clone, Default)]
pub struct Folders {
    pub junk: Option<String>,
    pub trash: Option<String>,
    pub sent: Option<String>,
    /// `\Archive`, else `\All` (Gmail's All Mail): where a filter files mail past INBOX.
    pub archive: Option<String>,
    /// `\All`, when the server has it.
    pub all: Option<String>,
}

fn imap_err(account: &Account, code: Code, detail: &str) -> Diagnosis {
    diagnose::transport(code, Protocol::Imap, &account.imap.authority(), detail)
}

/// Turns async-imap's `No`/`Bad` text (`code: Some(Alert), info: Some("...")`) back into the
/// server's words, `[ALERT] ...`.
fn server_words(s: &str) -> String {
    let code = s
        .split_once("code: Some(")
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(c, _)| c.split('(').next().unwrap_or(c).to_ascii_uppercase());
    // async-imap spells it `info` in some versions and `information` in others.
    let info = s
        .split_once("information: Some(\"")
        .or_else(|| s.split_once("info: Some(\""))
        .and_then(|(_, rest)| rest.rsplit_once("\")"))
        .map(|(i, _)| super::imap_words::undebug(i));
    match (code, info) {
        (Some(c), Some(i)) => format!("[{c}] {i}"),
        (None, Some(i)) => i,
        (Some(c), None) => format!("[{c}]"),
        (None, None) => s.to_string(),
    }
}

/// Maps an async-imap error at `stage` to a diagnosis.
pub(crate) fn classify(account: &Account, stage: Stage, e: &async_imap::error::Error) -> Diagnosis {
    use async_imap::error::Error as E;
    match e {
        E::No(s) => diagnose::classify_imap(stage, "NO", &server_words(s)),
        E::Bad(s) => diagnose::classify_imap(stage, "BAD", &server_words(s)),
        E::ConnectionLost => imap_err(
            account,
            Code::ConnectionClosed,
            "the server closed the connection",
        ),
        E::Io(io) if io.kind() == io::ErrorKind::TimedOut => {
            imap_err(account, Code::Timeout, &io.to_string())
        }
        other => super::imap_words::protocol_broken(account, other)
            .unwrap_or_else(|| imap_err(account, Code::ConnectionClosed, &other.to_string())),
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
        Ok(Err(e)) => Err(imap_err(account, Code::ConnectionClosed, &e.to_string())),
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
    if let Err(d) = net::check_plaintext(account, ep) {
        return Err(fail(Phase::ImapConnect, d, &mut rec));
    }
    let tcp = match net::tcp_connect(ep, step).await {
        Ok(tcp) => tcp,
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
    let mut session = match login(client, account, step).await {
        Ok(s) => s,
        Err(d) => return Err(fail(d, &mut rec)),
    };
    let caps = match capabilities(&mut session, account, step).await {
        Ok((caps, _)) => caps,
        Err(d) => return Err(fail(d, &mut rec)),
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
pub(super) async fn greet(
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
    let sniff =
        super::sniff::silent_port(ep, end.saturating_duration_since(Instant::now()), "imaps");
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
pub(super) async fn starttls(
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
pub(super) fn login_verb(account: &Account) -> &'static str {
    if account.credential.is_oauth2() {
        "AUTHENTICATE XOAUTH2"
    } else {
        "LOGIN"
    }
}

/// Logs in once with the account's credential: LOGIN for a password, AUTHENTICATE XOAUTH2
/// for a token. Never retried.
pub(super) async fn login(
    client: Client,
    account: &Account,
    step: Duration,
) -> Result<Session, Diagnosis> {
    let secret = super::sign_in::secret(account, crate::diagnose::Protocol::Imap).await?;
    let login = match &secret {
        Secret::Password(p) => timeout(step, client.login(&account.user, p.expose_secret())).await,
        Secret::Token(tok) => {
            let auth = XOAuth2 {
                user: &account.user,
                token: tok.expose_secret(),
            };
            timeout(step, client.authenticate("XOAUTH2", auth)).await
        }
    };
    match login {
        Ok(Ok(s)) => Ok(s),
        Ok(Err((e, _client))) => Err(net::oauth2_hint(
            account,
            classify(account, Stage::Login, &e),
        )),
        Err(_) => Err(timed_out(account, "LOGIN", step)),
    }
}

/// CAPABILITY after login: what mailtrip uses, and every capability as the server spells it,
/// in the server's order.
pub(super) async fn capabilities(
    session: &mut Session,
    account: &Account,
    step: Duration,
) -> Result<(Caps, Vec<String>), Diagnosis> {
    match timeout(step, capability_list(session)).await {
        Ok(Ok(all)) => {
            let has = |name: &str| all.iter().any(|c| c.eq_ignore_ascii_case(name));
            let caps = Caps {
                idle: has("IDLE"),
                uidplus: has("UIDPLUS"),
                mv: has("MOVE"),
                gmail: has("X-GM-EXT-1"),
            };
            Ok((caps, all))
        }
        Ok(Err(e)) => Err(classify(account, Stage::Other, &e)),
        Err(_) => Err(timed_out(account, "CAPABILITY", step)),
    }
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

/// Runs `fut` within `step`, turning a timeout into an I/O error so callers see one error type.
pub(crate) async fn within<T>(
    step: Duration,
    fut: impl Future<Output = async_imap::error::Result<T>>,
) -> async_imap::error::Result<T> {
    match timeout(step, fut).await {
        Ok(r) => r,
        Err(_) => Err(async_imap::error::Error::Io(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no answer within {:.1} s", step.as_secs_f64()),
        ))),
    }
}

/// LISTs every folder and picks `\Junk`, `\Trash` and `\Sent` by SPECIAL-USE attribute.
pub async fn folders(session: &mut Session, step: Duration) -> async_imap::error::Result<Folders> {
    let names: Vec<_> = within(step, async {
        session
            .list(Some(""), Some("*"))
            .await?
            .try_collect::<Vec<_>>()
            .await
    })
    .await?;
    let mut f = Folders::default();
    let mut archive = None;
    for n in &names {
        for a in n.attributes() {
            let slot = match a {
                NameAttribute::Junk => &mut f.junk,
                NameAttribute::Trash => &mut f.trash,
                NameAttribute::Sent => &mut f.sent,
                NameAttribute::All => &mut f.all,
                NameAttribute::Archive => &mut archive,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(n.name().to_string());
            }
        }
    }
    f.archive = archive.or_else(|| f.all.clone());
    Ok(f)
}

/// SELECTs `folder` and returns its UIDNEXT (1 when the server omits it on an empty folder).
pub async fn select(
    session: &mut Session,
    folder: &str,
    step: Duration,
) -> async_imap::error::Result<u32> {
    let mbox = within(step, session.select(folder)).await?;
    Ok(mbox.uid_next.unwrap_or(1))
}

/// UIDNEXT of a folder that is not selected, via STATUS.
pub async fn uid_next(
    session: &mut Session,
    folder: &str,
    step: Duration,
) -> async_imap::error::Result<u32> {
    let mbox = within(step, session.status(folder, "(UIDNEXT)")).await?;
    Ok(mbox.uid_next.unwrap_or(1))
}

/// A whole message as fetched, with the server's arrival time.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub raw: Vec<u8>,
    /// IMAP INTERNALDATE: when the server stored the message (1 s resolution).
    pub internal_date: Option<chrono::DateTime<chrono::FixedOffset>>,
}

/// `UID FETCH <set> <items>` within `step`, every response collected. Fails when the server
/// closed the connection mid-answer, which async-imap would end silently ([`alive`]).
pub(crate) async fn uid_fetch(
    session: &mut Session,
    set: &str,
    items: &str,
    step: Duration,
) -> async_imap::error::Result<Vec<Fetch>> {
    let fetches = within(step, async {
        session
            .uid_fetch(set, items)
            .await?
            .try_collect::<Vec<_>>()
            .await
    })
    .await?;
    alive(session)?;
    Ok(fetches)
}

/// NOOP within `step`: the server syncs the mailbox and reports what changed (EXISTS,
/// EXPUNGE) as unsolicited responses.
pub(crate) async fn noop(session: &mut Session, step: Duration) -> async_imap::error::Result<()> {
    within(step, session.noop()).await?;
    alive(session)
}

/// The messages at or above UID `from` (`UID FETCH <from>:*`), UID ascending, once each.
pub(crate) async fn fetch_from(
    session: &mut Session,
    from: u32,
    items: &str,
    step: Duration,
) -> async_imap::error::Result<Vec<Fetch>> {
    let mut fetched = uid_fetch(session, &format!("{from}:*"), items, step).await?;
    // `N:*` also returns the highest message when its UID is below N.
    fetched.retain(|f| f.uid.is_some_and(|u| u >= from));
    fetched.sort_by_key(|f| f.uid);
    fetched.dedup_by_key(|f| f.uid);
    Ok(fetched)
}

/// Fetches the whole message and its INTERNALDATE without setting \Seen.
pub async fn fetch_raw(
    session: &mut Session,
    uid: u32,
    step: Duration,
) -> async_imap::error::Result<Option<Fetched>> {
    let fetches = uid_fetch(
        session,
        &uid.to_string(),
        "(UID INTERNALDATE BODY.PEEK[])",
        step,
    )
    .await?;
    // Some servers answer the body and INTERNALDATE in separate FETCH responses.
    let internal_date = fetches
        .iter()
        .filter(|f| f.uid == Some(uid))
        .find_map(|f| f.internal_date());
    Ok(fetches
        .iter()
        .filter(|f| f.uid == Some(uid))
        .find_map(|f| f.body())
        .map(|raw| Fetched {
            raw: raw.to_vec(),
            internal_date,
        }))
}

/// Whether any untagged EXISTS/RECENT arrived since the last call (drains the channel).
pub(crate) fn drain_news(session: &mut Session) -> bool {
    let mut news = false;
    while let Ok(r) = session.unsolicited_responses.try_recv() {
        if matches!(
            r,
            UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_)
        ) {
            news = true;
        }
    }
    news
}

/// Fails when the server has closed the connection. async-imap ends the answer to FETCH,
/// STORE, EXPUNGE, SEARCH (and its own `noop()`) silently at EOF, so an empty answer proves
/// nothing until this says the stream is still open. Costs no command.
pub(crate) fn alive(session: &Session) -> async_imap::error::Result<()> {
    if session.get_ref().at_eof() {
        Err(async_imap::error::Error::ConnectionLost)
    } else {
        Ok(())
    }
}

/// Logs out, briefly; errors don't matter any more.
pub async fn logout(session: Option<Session>) {
    if let Some(mut s) = session {
        let _ = timeout(Duration::from_secs(2), s.logout()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_words_undo_async_imap_formatting() {
        assert_eq!(
            server_words(
                r#"code: Some(AuthenticationFailed), info: Some("Invalid credentials (Failure)")"#
            ),
            "[AUTHENTICATIONFAILED] Invalid credentials (Failure)"
        );
        assert_eq!(
            server_words(r#"code: None, info: Some("say \"hi\"")"#),
            r#"say "hi""#
        );
        // Issue #13 item 17: `wait --folder NoSuchFolder` showed this Debug text.
        assert_eq!(
            server_words(
                r#"outcome: Outcome { code: None, information: Some("Mailbox doesn't exist") }"#
            ),
            "Mailbox doesn't exist"
        );
    }
}
