//! The IMAP side: connect and log in, note UIDNEXT watermarks before the send, watch INBOX and
//! the `\Junk` folder (one connection each, IDLE or NOOP polling) matching the tag locally, fetch
//! the probe, and delete exactly its UIDs (UID EXPUNGE, or MOVE to `\Trash` where expunge archives).

use std::collections::HashSet;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_imap::imap_proto::rfc4315::UidSetMember;
use async_imap::imap_proto::{NameAttribute, Response, ResponseCode, Status};
use async_imap::types::UnsolicitedResponse;
use futures::TryStreamExt;
use secrecy::ExposeSecret;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

use super::message::TAG_HEADER;
use super::net::{self, TlsTcp};
use super::trace::{Traced, Wire};
use super::verify::header_field;
use super::{Failure, Recorder};
use crate::config::{Account, Secret, Security};
use crate::diagnose::{self, Code, Diagnosis, Protocol, Stage};
use crate::report::Phase;

/// The socket under async-imap: plaintext (before STARTTLS, or loopback) or TLS.
#[derive(Debug)]
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsTcp>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

pub type Session = async_imap::Session<Traced<Stream>>;
pub(super) type Client = async_imap::Client<Traced<Stream>>;

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
        .map(|(i, _)| i.replace("\\\"", "\"").replace("\\\\", "\\"));
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
        other => imap_err(account, Code::ConnectionClosed, &other.to_string()),
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

/// One look at the selected folder above the watermark.
#[derive(Debug, Default, Clone)]
pub struct Scan {
    /// UIDs of messages whose top-level tag header is ours.
    pub matches: Vec<u32>,
    /// UIDs of every message at or above the watermark.
    pub new: Vec<u32>,
    /// UIDs of delivery status notifications (`multipart/report; report-type=delivery-status`).
    pub reports: Vec<u32>,
}

/// Fetches the tag and Message-ID headers of everything at or above `watermark` and matches
/// the tag locally (never server-side SEARCH, which indexes late).
pub async fn scan(
    session: &mut Session,
    watermark: u32,
    tag: &str,
    step: Duration,
) -> async_imap::error::Result<Scan> {
    let fetches: Vec<_> = within(step, async {
        session
            .uid_fetch(
                format!("{watermark}:*"),
                "(UID FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (X-MAILTRIP-PROBE MESSAGE-ID CONTENT-TYPE)])",
            )
            .await?
            .try_collect::<Vec<_>>()
            .await
    })
    .await?;
    let mut scan = Scan::default();
    for f in &fetches {
        // `N:*` also returns the highest message when its UID is below N.
        let Some(uid) = f.uid.filter(|u| *u >= watermark) else {
            continue;
        };
        if scan.new.contains(&uid) {
            continue;
        }
        scan.new.push(uid);
        // Either carrier of the whole tag will do: a gateway may strip the header.
        let tagged = f.header().is_some_and(|h| {
            header_field(h, TAG_HEADER).is_some_and(|v| v == tag)
                || header_field(h, "Message-ID").is_some_and(|v| message_id_tag(&v) == Some(tag))
        });
        if tagged {
            scan.matches.push(uid);
        }
        let report = f
            .header()
            .and_then(|h| header_field(h, "Content-Type"))
            .is_some_and(|v| is_delivery_report(&v));
        if report {
            scan.reports.push(uid);
        }
    }
    Ok(scan)
}

/// The local part of a Message-ID (`<tag@domain>` → `tag`), which is the tag for a probe.
pub fn message_id_tag(value: &str) -> Option<&str> {
    let id = value.trim().strip_prefix('<')?.strip_suffix('>')?;
    let (local, domain) = id.split_once('@')?;
    (!local.is_empty() && !domain.is_empty()).then_some(local)
}

/// Whether a Content-Type value is an RFC 3464 delivery status notification.
pub fn is_delivery_report(content_type: &str) -> bool {
    let v = content_type.to_ascii_lowercase();
    v.contains("multipart/report")
        && v.replace([' ', '"'], "")
            .contains("report-type=delivery-status")
}

/// A whole message as fetched, with the server's arrival time.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub raw: Vec<u8>,
    /// IMAP INTERNALDATE: when the server stored the message (1 s resolution).
    pub internal_date: Option<chrono::DateTime<chrono::FixedOffset>>,
}

/// Fetches the whole message and its INTERNALDATE without setting \Seen.
pub async fn fetch_raw(
    session: &mut Session,
    uid: u32,
    step: Duration,
) -> async_imap::error::Result<Option<Fetched>> {
    let fetches: Vec<_> = within(step, async {
        session
            .uid_fetch(uid.to_string(), "(UID INTERNALDATE BODY.PEEK[])")
            .await?
            .try_collect::<Vec<_>>()
            .await
    })
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

/// Whether `raw` mentions the Message-ID `id` (with or without angle brackets) as a whole.
fn quotes_message_id(raw: &[u8], id: &str) -> bool {
    let bare = id.trim_matches(|c| c == '<' || c == '>');
    let needle = format!("<{bare}>");
    raw.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
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

/// Longest single IDLE before we re-check anyway (RFC 2177 asks for < 29 minutes; a short
/// cycle also guards against a server that misses a wake-up).
const IDLE_CYCLE: Duration = Duration::from_secs(60);

/// Watches one folder from `watermark` until the tag shows up or `deadline` passes.
#[derive(Debug)]
pub struct Watch {
    pub folder: String,
    pub watermark: u32,
    pub session: Option<Session>,
    pub caps: Caps,
    /// Every UID seen at or above the watermark.
    pub seen: HashSet<u32>,
    pub matches: Vec<u32>,
    pub reconnects: u32,
    /// The last error, if the watch had to give up on the connection.
    pub last_error: Option<Diagnosis>,
    /// Also stop on a delivery status notification that quotes this Message-ID (the
    /// sender's mailbox, watched for bounces).
    pub bounce_for: Option<String>,
    /// The bounce found: its UID and bytes.
    pub bounce: Option<(u32, Vec<u8>)>,
    /// DSN UIDs already looked at.
    reports_seen: HashSet<u32>,
}

impl Watch {
    pub fn new(folder: String, watermark: u32, session: Session, caps: Caps) -> Watch {
        Watch {
            folder,
            watermark,
            session: Some(session),
            caps,
            seen: HashSet::new(),
            matches: Vec::new(),
            reconnects: 0,
            last_error: None,
            bounce_for: None,
            bounce: None,
            reports_seen: HashSet::new(),
        }
    }

    /// Waits for the tag. Returns whether it was found (then `matches` is non-empty), at the
    /// latest at `deadline`.
    pub async fn run(
        &mut self,
        account: &Account,
        tag: &str,
        step: Duration,
        deadline: Instant,
    ) -> bool {
        self.run_inner(account, tag, step, deadline).await;
        !self.matches.is_empty() || self.bounce.is_some()
    }

    async fn run_inner(&mut self, account: &Account, tag: &str, step: Duration, deadline: Instant) {
        let mut backoff = Duration::from_millis(250);
        let mut connected_at = Instant::now();
        loop {
            if self.session.is_none() {
                if Instant::now() >= deadline {
                    return;
                }
                match self.reconnect(account, step).await {
                    Ok(()) => {
                        connected_at = Instant::now();
                        self.last_error = None;
                    }
                    Err(d) => {
                        tracing::debug!(folder = %self.folder, error = %d.summary, "IMAP reconnect failed");
                        self.last_error = Some(d);
                        let wait = backoff.min(deadline.saturating_duration_since(Instant::now()));
                        tokio::time::sleep(wait).await;
                        backoff = (backoff * 2).min(Duration::from_secs(4));
                        continue;
                    }
                }
            }
            match self.watch_connected(tag, step, deadline).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::debug!(folder = %self.folder, error = %e, "IMAP watch connection lost; reconnecting");
                    self.last_error = Some(classify(account, Stage::Other, &e));
                    self.session = None;
                    // Reconnect at once after a connection that lived; back off when they keep
                    // dying young, so a server that drops every connection is not hammered.
                    backoff = reconnect_pause(connected_at, backoff, deadline).await;
                }
            }
        }
    }

    async fn reconnect(&mut self, account: &Account, step: Duration) -> Result<(), Diagnosis> {
        self.reconnects += 1;
        let (mut session, caps) = connect(account, step, None)
            .await
            .map_err(|f| f.diagnosis)?;
        select(&mut session, &self.folder, step)
            .await
            .map_err(|e| classify(account, Stage::Select, &e))?;
        self.caps = caps;
        self.session = Some(session);
        Ok(())
    }

    /// The loop on a live connection: scan, then IDLE (or NOOP with backoff), repeat.
    async fn watch_connected(
        &mut self,
        tag: &str,
        step: Duration,
        deadline: Instant,
    ) -> async_imap::error::Result<()> {
        let mut poll = Duration::from_millis(50);
        loop {
            let Some(session) = self.session.as_mut() else {
                return Err(async_imap::error::Error::ConnectionLost);
            };
            let found = scan(session, self.watermark, tag, step).await?;
            self.seen.extend(found.new.iter().copied());
            if !found.matches.is_empty() {
                self.matches = found.matches;
                return Ok(());
            }
            if let Some(id) = self.bounce_for.clone() {
                for uid in found.reports {
                    if !self.reports_seen.insert(uid) {
                        continue;
                    }
                    if let Some(f) = fetch_raw(session, uid, step).await?
                        && quotes_message_id(&f.raw, &id)
                    {
                        self.bounce = Some((uid, f.raw));
                        return Ok(());
                    }
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            if drain_news(session) {
                continue;
            }
            let Some(session) = self.session.take() else {
                return Err(async_imap::error::Error::ConnectionLost);
            };
            self.session = Some(idle_or_poll(session, &self.caps, step, left, &mut poll).await?);
        }
    }
}

/// A connection that lived at least this long resets the reconnect backoff.
const STABLE: Duration = Duration::from_secs(10);

/// After losing a connection made at `connected_at`: no pause if it lived [`STABLE`] or
/// longer, else sleeps `backoff` (at most until `deadline`). Returns the next backoff
/// (250 ms doubling to 4 s). Every reconnect resumes from the watermark, so nothing that
/// arrived in the gap is missed.
pub(crate) async fn reconnect_pause(
    connected_at: Instant,
    backoff: Duration,
    deadline: Instant,
) -> Duration {
    let first = Duration::from_millis(250);
    if connected_at.elapsed() >= STABLE {
        return first;
    }
    let wait = backoff.min(deadline.saturating_duration_since(Instant::now()));
    tracing::debug!(?wait, "pausing before the IMAP reconnect");
    tokio::time::sleep(wait).await;
    (backoff * 2).min(Duration::from_secs(4))
}

/// Waits for news on the selected folder: one IDLE cycle (at most `left`), or without IDLE a
/// sleep of `poll` (doubling up to 1 s) and a NOOP. Gives the session back.
pub(crate) async fn idle_or_poll(
    mut session: Session,
    caps: &Caps,
    step: Duration,
    left: Duration,
    poll: &mut Duration,
) -> async_imap::error::Result<Session> {
    if caps.idle {
        let mut idle = session.idle();
        within(step, idle.init()).await?;
        let (wait, _stop) = idle.wait_with_timeout(left.min(IDLE_CYCLE));
        let woke = wait.await?;
        tracing::debug!(?woke, "IDLE woke");
        within(step, idle.done()).await
    } else {
        tokio::time::sleep((*poll).min(left)).await;
        *poll = (*poll * 2).min(Duration::from_secs(1));
        within(step, session.noop()).await?;
        Ok(session)
    }
}

/// Deletes exactly `uids` from the selected `folder`. Returns how many were removed and any
/// warning. Uses `UID STORE +FLAGS.SILENT (\Deleted)` + `UID EXPUNGE`, or `UID MOVE` to
/// `\Trash` and a purge there when the server archives on expunge; never EXPUNGE or CLOSE.
#[allow(clippy::too_many_arguments)]
pub async fn delete_exactly(
    session: &mut Session,
    caps: &Caps,
    folders: &Folders,
    folder: &str,
    uids: &[u32],
    tag: &str,
    archives: bool,
    step: Duration,
) -> async_imap::error::Result<(usize, Option<String>)> {
    if uids.is_empty() {
        return Ok((0, None));
    }
    let set = uid_set(uids);
    let in_trash = folders.trash.as_deref() == Some(folder);
    if (archives || !caps.uidplus) && !in_trash {
        let Some(trash) = folders.trash.as_deref() else {
            return Ok((
                0,
                Some(format!(
                    "left the probe in {folder}: the server archives on expunge or lacks \
                     UIDPLUS, and has no \\Trash folder"
                )),
            ));
        };
        if !caps.mv {
            return Ok((
                0,
                Some(format!(
                    "left the probe in {folder}: deleting it safely needs {} (never a bare EXPUNGE)",
                    if archives { "MOVE" } else { "UIDPLUS or MOVE" }
                )),
            ));
        }
        let trash_next = uid_next(session, trash, step).await?;
        drain_news(session);
        within(step, session.uid_mv(&set, trash)).await?;
        let mut moved: Vec<u32> = copyuid(session);
        within(step, session.select(trash)).await?;
        if moved.is_empty() {
            moved = scan(session, trash_next, tag, step).await?.matches;
        }
        if !caps.uidplus {
            return Ok((
                0,
                Some(format!(
                    "moved the probe to {trash} but left it there: the server lacks UIDPLUS"
                )),
            ));
        }
        let n = expunge_uids(session, &moved, step).await?;
        return Ok((n.min(uids.len()), None));
    }
    if !caps.uidplus {
        return Ok((
            0,
            Some(format!(
                "left the probe in {folder}: the server lacks UIDPLUS"
            )),
        ));
    }
    let n = expunge_uids(session, uids, step).await?;
    Ok((n, None))
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

/// `UID STORE <uids> +FLAGS (\Deleted)` then `UID EXPUNGE <uids>` in the selected folder.
/// Returns how many of `uids` it removed, counted from the FETCH responses the (non-silent)
/// STORE gives for each of them: the EXPUNGE responses in the same reply as UID EXPUNGE also
/// report other sessions' expunges, so they are not a count of ours.
pub(crate) async fn expunge_uids(
    session: &mut Session,
    uids: &[u32],
    step: Duration,
) -> async_imap::error::Result<usize> {
    if uids.is_empty() {
        return Ok(0);
    }
    let set = uid_set(uids);
    let stored = within(step, async {
        session
            .uid_store(&set, "+FLAGS (\\Deleted)")
            .await?
            .try_collect::<Vec<_>>()
            .await
    })
    .await?;
    alive(session)?;
    let ours: HashSet<u32> = stored
        .iter()
        .filter_map(|f| f.uid)
        .filter(|u| uids.contains(u))
        .collect();
    // A server that leaves UID out of its FETCH responses: one response per message stored.
    let marked = if ours.is_empty() {
        stored.len().min(uids.len())
    } else {
        ours.len()
    };
    within(step, async {
        session
            .uid_expunge(&set)
            .await?
            .try_collect::<Vec<_>>()
            .await
    })
    .await?;
    alive(session)?;
    Ok(marked)
}

/// Destination UIDs from a `COPYUID` response code left by the last MOVE, if the server sent one.
fn copyuid(session: &mut Session) -> Vec<u32> {
    let mut out = Vec::new();
    while let Ok(r) = session.unsolicited_responses.try_recv() {
        if let UnsolicitedResponse::Other(data) = r
            && let Response::Data { outcome, .. } = data.parsed()
            && let Some(ResponseCode::CopyUid(_, _, dest)) = &outcome.code
        {
            for m in dest {
                match m {
                    UidSetMember::Uid(u) => out.push(*u),
                    UidSetMember::UidRange(r) => out.extend(r.clone()),
                }
            }
        }
    }
    out
}

/// A UID set with runs collapsed (`3,9:11`), so thousands of consecutive probes fit one line.
pub(crate) fn uid_set(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if end == start {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
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

    #[test]
    fn uid_sets_collapse_runs() {
        assert_eq!(uid_set(&[3, 9, 10]), "3,9:10");
        assert_eq!(uid_set(&[12, 4, 5, 6, 4, 20]), "4:6,12,20");
        assert_eq!(uid_set(&[]), "");
    }
}
