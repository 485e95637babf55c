//! One IMAP connection: the I/O loop (framing with imap-codec's `Fragmentizer`, literal
//! continuations, faults, tracing, IDLE, STARTTLS) around the RFC 3501 state machine:
//!
//! ```text
//!        +----------------------+
//!        |connection established|
//!        +----------------------+
//!                   ||
//!                   \/
//!  +--------------------------------------+
//!  |          server greeting             |
//!  +--------------------------------------+
//!            || (1)       || (2)        || (3)
//!            \/           ||            ||
//!  +-----------------+    ||            ||
//!  |Not Authenticated|    ||            ||
//!  +-----------------+    ||            ||
//!   || (7)   || (4)       ||            ||
//!   ||       \/           \/            ||
//!   ||     +----------------+           ||
//!   ||     | Authenticated  |<=++       ||
//!   ||     +----------------+  ||       ||
//!   ||       || (7)   || (5)   || (6)   ||
//!   ||       ||       \/       ||       ||
//!   ||       ||    +--------+  ||       ||
//!   ||       ||    |Selected|==++       ||
//!   ||       ||    +--------+           ||
//!   ||       ||       || (7)            ||
//!   \/       \/       \/                \/
//!  +--------------------------------------+
//!  |               Logout                 |
//!  +--------------------------------------+
//!
//! (1) greeting without pre-authentication (the only one sent here)
//! (2) pre-authenticated greeting (never sent)   (3) BYE greeting (never sent; see below)
//! (4) successful LOGIN or AUTHENTICATE
//! (5) successful SELECT or EXAMINE
//! (6) CLOSE, UNSELECT, or failed SELECT or EXAMINE
//! (7) LOGOUT, shutdown, idle timeout, or connection close
//! ```
//!
//! Faults: `imap_hang_on` swallows the named command (or the greeting) and never answers;
//! `imap_drop_after: Some(n)` closes the connection without a reply when command n+1
//! arrives; `max_imap_connections` greets normally and answers LOGIN / AUTHENTICATE with
//! Gmail's `NO [ALERT] Too many simultaneous connections. (Failure)`, which is what clients
//! see from Gmail.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use imap_codec::fragmentizer::{FragmentInfo, Fragmentizer};
use imap_codec::imap_types::IntoStatic;
use imap_codec::imap_types::auth::{AuthMechanism, AuthenticateData};
use imap_codec::imap_types::command::{Command, CommandBody};
use imap_codec::imap_types::core::LiteralMode;
use imap_codec::{AuthenticateDataCodec, CommandCodec, IdleDoneCodec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use super::ext::{self, Parsed};
use super::wire;
use crate::server::conn::ServerStream;
use crate::server::{ListenerKind, Profile, Shared, gmail, until_shutdown};

/// A command line longer than this (literals excluded) ends the connection.
const MAX_LINE: usize = 64 * 1024;
/// A session silent for this long is logged out (RFC 3501 5.4 asks for at least 30 minutes).
const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

pub(super) use super::view::{SearchContext, Selected};

/// Per-connection state; handlers write responses to `out`, which the loop flushes.
pub(super) struct Session {
    pub shared: Arc<Shared>,
    pub kind: ListenerKind,
    pub tls: bool,
    /// Connections open when this one was accepted, this one included.
    pub open: usize,
    /// The authenticated user (Authenticated or Selected state).
    pub user: Option<String>,
    pub selected: Option<Selected>,
    pub out: Vec<u8>,
    /// Set when the session must end after this reply (its selected mailbox vanished).
    pub closing: bool,
}

/// What the loop does after a command.
pub(super) enum Flow {
    Continue,
    Close,
}

/// What the framing layer found.
enum Step {
    /// A complete message is in the fragmentizer.
    Message,
    /// A synchronizing literal was announced and accepted: send the continuation.
    LiteralOk,
    /// A literal larger than allowed was announced.
    LiteralTooBig { tag: Option<String>, sync: bool },
    /// A line exceeded [`MAX_LINE`].
    LineTooLong,
}

/// Why waiting for the next message ended without one.
enum Event {
    Step(Step),
    Eof,
    Shutdown,
    Timeout,
}

/// Framing over the stream, sans protocol knowledge beyond line and literal boundaries.
struct Conn {
    stream: ServerStream,
    frag: Fragmentizer,
    /// Where the current line starts within the fragmentizer's message bytes.
    line_start: usize,
    /// Where the literal being received ends (0: none), so its bytes never count as a line.
    literal_end: usize,
    max_literal: usize,
    peer: SocketAddr,
    buf: Vec<u8>,
    /// The `slow_drip` fault in force: pause between reply bytes.
    drip: Option<std::time::Duration>,
}

impl Conn {
    fn new(stream: ServerStream, max_literal: usize, peer: SocketAddr) -> Self {
        Conn {
            stream,
            frag: Self::fragmentizer(max_literal),
            line_start: 0,
            literal_end: 0,
            max_literal,
            peer,
            buf: vec![0; 16 * 1024],
            drip: None,
        }
    }

    fn fragmentizer(max_literal: usize) -> Fragmentizer {
        let cap = max_literal
            .saturating_add(2 * MAX_LINE)
            .min(u32::MAX as usize);
        Fragmentizer::new(cap as u32)
    }

    /// Forgets everything received but not yet processed (after STARTTLS).
    fn discard_buffered(&mut self) {
        self.frag = Self::fragmentizer(self.max_literal);
        self.line_start = 0;
        self.literal_end = 0;
    }

    /// Advances the fragmentizer over buffered bytes; `None` means "read more".
    fn step(&mut self) -> Option<Step> {
        step_fragments(
            &mut self.frag,
            &mut self.line_start,
            &mut self.literal_end,
            self.max_literal,
        )
    }

    /// Reads once into the fragmentizer; cancel-safe. `Ok(0)` is end of stream.
    async fn fill(&mut self) -> io::Result<usize> {
        let n = self.stream.read(&mut self.buf).await?;
        self.frag.enqueue_bytes(&self.buf[..n]);
        Ok(n)
    }

    async fn send(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        if out.is_empty() {
            return Ok(());
        }
        tracing::debug!(peer = %self.peer, ">> {}", wire::trace_server(out));
        let r = crate::server::conn::write_out(&mut self.stream, out, self.drip).await;
        out.clear();
        // Answering at once puts the socket in delayed-ACK ("pingpong") mode; leave it, so a
        // client that sends its next command in pieces with Nagle on is not held back.
        self.stream.ack_quickly();
        r
    }

    /// Waits for the next framing step, answering accepted synchronizing literals with `+`.
    async fn next(&mut self, shutdown: &mut watch::Receiver<bool>) -> Event {
        loop {
            match self.step() {
                Some(Step::LiteralOk) => {
                    let mut cont = b"+ Ready for literal data\r\n".to_vec();
                    if self.send(&mut cont).await.is_err() {
                        return Event::Eof;
                    }
                    continue;
                }
                Some(step) => return Event::Step(step),
                None => {}
            }
            tokio::select! {
                _ = until_shutdown(shutdown) => return Event::Shutdown,
                r = tokio::time::timeout(IDLE_TIMEOUT, self.fill()) => match r {
                    Err(_) => return Event::Timeout,
                    Ok(Ok(0)) | Ok(Err(_)) => return Event::Eof,
                    Ok(Ok(_)) => {}
                },
            }
        }
    }
}

/// The framing step, sans I/O: advances `frag` and reports what it found. Only bytes of the
/// line being received count against [`MAX_LINE`]; a literal still arriving does not (its
/// size was checked against the message limit when it was announced).
fn step_fragments(
    frag: &mut Fragmentizer,
    line_start: &mut usize,
    literal_end: &mut usize,
    max_literal: usize,
) -> Option<Step> {
    loop {
        match frag.progress() {
            None => {
                let from = (*line_start).max(*literal_end);
                let pending = frag.message_bytes().len().saturating_sub(from);
                return (pending > MAX_LINE).then_some(Step::LineTooLong);
            }
            Some(FragmentInfo::Literal { end, .. }) => *line_start = end,
            Some(FragmentInfo::Line {
                end, announcement, ..
            }) => {
                *line_start = end;
                let Some(a) = announcement else {
                    *line_start = 0;
                    *literal_end = 0;
                    return Some(Step::Message);
                };
                *literal_end = end.saturating_add(a.length as usize);
                let sync = a.mode == LiteralMode::Sync;
                if a.length as usize > max_literal {
                    let tag = frag.decode_tag().map(|t| t.as_ref().to_string());
                    if sync {
                        // The client waits for `+`; it never comes, so no literal follows.
                        frag.skip_message();
                        *line_start = 0;
                        *literal_end = 0;
                    }
                    return Some(Step::LiteralTooBig { tag, sync });
                }
                if sync {
                    return Some(Step::LiteralOk);
                }
            }
        }
    }
}

/// The command word of a raw line (`FETCH` for `a UID FETCH ...`), for hang faults and errors.
fn verb(bytes: &[u8]) -> (String, String) {
    let line = bytes
        .split(|&b| b == b'\r' || b == b'\n')
        .next()
        .unwrap_or_default();
    let mut words = line.split(|&b| b == b' ').skip(1);
    let first = String::from_utf8_lossy(words.next().unwrap_or_default()).to_ascii_uppercase();
    let second = String::from_utf8_lossy(words.next().unwrap_or_default()).to_ascii_uppercase();
    (first, second)
}

/// Serves one IMAP connection until LOGOUT, error or shutdown. `open` counts connections
/// including this one (for the connection-limit fault).
pub async fn run(
    shared: Arc<Shared>,
    stream: ServerStream,
    kind: ListenerKind,
    peer: SocketAddr,
    open: usize,
) {
    let mut shutdown = shared.shutdown();
    let mut session = Session {
        tls: stream.is_tls(),
        shared: shared.clone(),
        kind,
        open,
        user: None,
        selected: None,
        out: Vec::new(),
        closing: false,
    };
    let mut conn = Conn::new(stream, shared.config.max_message_size, peer);
    tracing::debug!(%peer, ?kind, "imap session start");
    conn.drip = shared.faults().slow_drip;
    if hangs_on(&shared, "GREETING") {
        shared.fault_fired("imap_hang_on");
        hang(&mut conn, &mut shutdown).await;
        return;
    }
    let greeting = format!(
        "* OK [CAPABILITY {}] mailtrip ready\r\n",
        session.capabilities()
    );
    session.out.extend_from_slice(greeting.as_bytes());
    if conn.send(&mut session.out).await.is_err() {
        return;
    }
    let mut commands = 0usize;
    loop {
        let flow = match conn.next(&mut shutdown).await {
            Event::Eof => Flow::Close,
            Event::Shutdown => {
                session
                    .out
                    .extend_from_slice(b"* BYE Server shutting down\r\n");
                Flow::Close
            }
            Event::Timeout => {
                session
                    .out
                    .extend_from_slice(b"* BYE Autologout; idle for too long\r\n");
                Flow::Close
            }
            Event::Step(Step::LineTooLong) => {
                session.out.extend_from_slice(b"* BAD Line too long\r\n");
                Flow::Close
            }
            Event::Step(Step::LiteralTooBig { tag, sync }) => {
                let tag = tag.unwrap_or_else(|| "*".to_string());
                let limit = shared.config.max_message_size;
                if sync {
                    session.out.extend_from_slice(
                        format!("{tag} NO [TOOBIG] Literal exceeds the {limit}-byte limit\r\n")
                            .as_bytes(),
                    );
                    Flow::Continue
                } else {
                    // The client sends the bytes regardless; the stream cannot be resynchronised.
                    session.out.extend_from_slice(
                        format!("{tag} BAD [TOOBIG] Literal exceeds the {limit}-byte limit\r\n* BYE Closing\r\n")
                            .as_bytes(),
                    );
                    Flow::Close
                }
            }
            Event::Step(Step::LiteralOk) => Flow::Continue,
            Event::Step(Step::Message) => {
                let bytes = conn.frag.message_bytes();
                if bytes.trim_ascii().is_empty() {
                    continue;
                }
                commands += 1;
                tracing::debug!(%peer, "<< {}", wire::trace_client(bytes));
                let faults = shared.faults();
                conn.drip = faults.slow_drip;
                let (first, second) = verb(bytes);
                let is = |want: &str| {
                    first.eq_ignore_ascii_case(want)
                        || (first == "UID" && second.eq_ignore_ascii_case(want))
                };
                if faults.imap_drop_after.is_some_and(|n| commands > n) {
                    tracing::debug!(%peer, "imap_drop_after fault: closing");
                    shared.fault_fired("imap_drop_after");
                    Flow::Close
                } else if faults.imap_bye_after.is_some_and(|n| commands > n) {
                    shared.fault_fired("imap_bye_after");
                    session
                        .out
                        .extend_from_slice(b"* BYE [UNAVAILABLE] Server restarting\r\n");
                    Flow::Close
                } else if faults.imap_hang_once_on.as_deref().is_some_and(is)
                    && shared.consume_fault(|f| {
                        f.imap_hang_once_on.take_if(|h| is(h.as_str())).is_some()
                    })
                {
                    shared.fault_fired("imap_hang_once_on");
                    hang(&mut conn, &mut shutdown).await;
                    Flow::Close
                } else if faults.imap_hang_on.as_deref().is_some_and(is) {
                    tracing::debug!(%peer, "imap_hang_on fault: not answering");
                    shared.fault_fired("imap_hang_on");
                    hang(&mut conn, &mut shutdown).await;
                    Flow::Close
                } else {
                    match conn.frag.decode_message(&CommandCodec::default()) {
                        Ok(cmd) => {
                            let cmd: Command<'static> = cmd.into_static();
                            match session.dispatch(&mut conn, &mut shutdown, cmd).await {
                                Ok(flow) => flow,
                                Err(_) => Flow::Close,
                            }
                        }
                        Err(_) => match ext::parse(bytes) {
                            Some(Parsed::Codec(cmd)) => {
                                match session.dispatch(&mut conn, &mut shutdown, cmd).await {
                                    Ok(flow) => flow,
                                    Err(_) => Flow::Close,
                                }
                            }
                            Some(Parsed::Ext { tag, cmd }) => {
                                if session.user.is_none() {
                                    session.tagged(
                                        &tag,
                                        "BAD Command not valid before authentication",
                                    );
                                } else {
                                    session.ext_command(&tag, cmd);
                                }
                                Flow::Continue
                            }
                            Some(Parsed::Bad { tag, text }) => {
                                session.tagged(&tag, &format!("BAD {text}"));
                                Flow::Continue
                            }
                            None => {
                                let tag = conn.frag.decode_tag().map(|t| t.as_ref().to_string());
                                let (first, second) = verb(conn.frag.message_bytes());
                                let line = ext::bad_command(tag.as_deref(), &first, &second);
                                session.out.extend_from_slice(line.as_bytes());
                                Flow::Continue
                            }
                        },
                    }
                }
            }
        };
        if conn.send(&mut session.out).await.is_err() {
            break;
        }
        if matches!(flow, Flow::Close) || session.closing {
            break;
        }
    }
    let _ = conn.stream.shutdown().await;
    tracing::debug!(%peer, "imap session end");
}

fn hangs_on(shared: &Shared, what: &str) -> bool {
    shared
        .faults()
        .imap_hang_on
        .is_some_and(|h| h.eq_ignore_ascii_case(what))
}

/// Never answers: drains input until the client gives up or the server shuts down.
async fn hang(conn: &mut Conn, shutdown: &mut watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = until_shutdown(shutdown) => return,
            r = conn.stream.read(&mut conn.buf) => {
                if !matches!(r, Ok(n) if n > 0) {
                    return;
                }
            }
        }
    }
}

/// What the server implements, in the order CAPABILITY lists it (README's server section
/// explains each).
const CAPABILITIES: &str = "IMAP4rev1 LITERAL+ SASL-IR ID IDLE UIDPLUS MOVE SPECIAL-USE ENABLE NAMESPACE UNSELECT CHILDREN LIST-EXTENDED LIST-STATUS MULTIAPPEND CATENATE BINARY ESEARCH SORT SORT=DISPLAY ESORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES CONTEXT=SEARCH";

impl Session {
    /// CAPABILITY list for the connection's current state.
    pub fn capabilities(&self) -> String {
        let mut caps = String::from(CAPABILITIES);
        if self.shared.faults().imap_no_idle {
            caps = caps.replace(" IDLE", "");
        }
        if self.plaintext() {
            // RFC 3501 6.2.3: no plaintext passwords before TLS, so no AUTH= mechanisms either.
            caps.push_str(" STARTTLS LOGINDISABLED");
        } else {
            caps.push_str(" AUTH=PLAIN AUTH=XOAUTH2");
        }
        if self.shared.config.profile == Profile::Gmail {
            caps.push_str(" X-GM-EXT-1");
        }
        caps
    }

    /// On the plain IMAP port before STARTTLS.
    fn plaintext(&self) -> bool {
        !self.tls && self.kind == ListenerKind::Imap
    }

    pub fn tagged(&mut self, tag: &str, text: &str) {
        self.out
            .extend_from_slice(format!("{tag} {text}\r\n").as_bytes());
    }

    pub fn untagged(&mut self, text: &str) {
        self.out
            .extend_from_slice(format!("* {text}\r\n").as_bytes());
    }

    fn auth_failed(&self) -> &'static str {
        match self.shared.config.profile {
            Profile::Gmail => gmail::IMAP_BAD_CREDENTIALS,
            Profile::Standard => "NO [AUTHENTICATIONFAILED] Authentication failed.",
        }
    }

    /// Checks shared by LOGIN and AUTHENTICATE; `Some(reply)` refuses before credentials.
    fn auth_precheck(&self) -> Option<String> {
        if self.user.is_some() {
            return Some("BAD Already authenticated".into());
        }
        if self.plaintext() {
            return Some("NO [PRIVACYREQUIRED] Use STARTTLS before logging in.".into());
        }
        let faults = self.shared.faults();
        if let Some(text) = faults.imap_auth_reject {
            return Some(text);
        }
        if faults
            .max_imap_connections
            .is_some_and(|max| self.open > max)
        {
            return Some(gmail::IMAP_TOO_MANY_CONNECTIONS.into());
        }
        None
    }

    fn logged_in(&mut self, tag: &str, user: String) {
        self.user = Some(user);
        let caps = self.capabilities();
        self.tagged(tag, &format!("OK [CAPABILITY {caps}] Logged in"));
    }

    async fn dispatch(
        &mut self,
        conn: &mut Conn,
        shutdown: &mut watch::Receiver<bool>,
        cmd: Command<'static>,
    ) -> io::Result<Flow> {
        let tag = cmd.tag.as_ref().to_string();
        let tag = tag.as_str();
        match cmd.body {
            CommandBody::Capability => {
                let caps = self.capabilities();
                self.untagged(&format!("CAPABILITY {caps}"));
                self.tagged(tag, "OK CAPABILITY completed");
            }
            CommandBody::Noop | CommandBody::Check => {
                self.refresh(true);
                self.tagged(tag, &format!("OK {} completed", cmd.body.name()));
            }
            CommandBody::Logout => {
                self.untagged("BYE Logging out");
                self.tagged(tag, "OK LOGOUT completed");
                return Ok(Flow::Close);
            }
            CommandBody::StartTLS => {
                if self.tls || self.kind != ListenerKind::Imap {
                    self.tagged(tag, "BAD TLS is already active");
                    return Ok(Flow::Continue);
                }
                self.tagged(tag, "OK Begin TLS negotiation now");
                conn.send(&mut self.out).await?;
                // Anything pipelined after STARTTLS was sent in the clear: drop it (CVE-2011-0411).
                conn.discard_buffered();
                let upgrade = conn.stream.upgrade(self.shared.tls.acceptor());
                match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, upgrade).await {
                    Ok(Ok(())) => self.tls = true,
                    _ => return Ok(Flow::Close),
                }
            }
            CommandBody::Login { username, password } => {
                self.shared.count_auth_attempt(true);
                if let Some(reply) = self.auth_precheck() {
                    self.tagged(tag, &reply);
                    return Ok(Flow::Continue);
                }
                let user = String::from_utf8_lossy(username.as_ref()).into_owned();
                let pass = String::from_utf8_lossy(password.declassify().as_ref()).into_owned();
                match self.shared.store.check_password(&user, &pass) {
                    Some(user) => self.logged_in(tag, user),
                    None => self.tagged(tag, self.auth_failed()),
                }
            }
            CommandBody::Authenticate {
                mechanism,
                initial_response,
            } => {
                let initial = initial_response.map(|r| r.declassify().to_vec());
                return self
                    .authenticate(conn, shutdown, tag, mechanism, initial)
                    .await;
            }
            CommandBody::Id { .. } => {
                self.untagged("ID (\"name\" \"mailtrip\")");
                self.tagged(tag, "OK ID completed");
            }
            CommandBody::Enable { .. } if self.user.is_some() => {
                self.untagged("ENABLED");
                self.tagged(tag, "OK ENABLE completed");
            }
            CommandBody::Namespace if self.user.is_some() => {
                self.untagged("NAMESPACE ((\"\" \"/\")) NIL NIL");
                self.tagged(tag, "OK NAMESPACE completed");
            }
            CommandBody::Idle if self.user.is_some() => {
                return self.idle(conn, shutdown, tag).await;
            }
            body => {
                if self.user.is_none() {
                    self.tagged(tag, "BAD Command not valid before authentication");
                } else {
                    self.mailbox_command(tag, body);
                }
            }
        }
        Ok(Flow::Continue)
    }

    /// AUTHENTICATE PLAIN / XOAUTH2, with SASL-IR or one `+` round.
    async fn authenticate(
        &mut self,
        conn: &mut Conn,
        shutdown: &mut watch::Receiver<bool>,
        tag: &str,
        mechanism: AuthMechanism<'static>,
        initial: Option<Vec<u8>>,
    ) -> io::Result<Flow> {
        self.shared.count_auth_attempt(true);
        if let Some(reply) = self.auth_precheck() {
            self.tagged(tag, &reply);
            return Ok(Flow::Continue);
        }
        if !matches!(mechanism, AuthMechanism::Plain | AuthMechanism::XOAuth2) {
            self.tagged(tag, "NO Unsupported authentication mechanism");
            return Ok(Flow::Continue);
        }
        let data = match initial {
            Some(d) => d,
            None => {
                self.out.extend_from_slice(b"+ \r\n");
                conn.send(&mut self.out).await?;
                match self.read_auth_line(conn, shutdown).await {
                    Some(Ok(d)) => d,
                    Some(Err(reply)) => {
                        self.tagged(tag, reply);
                        return Ok(Flow::Continue);
                    }
                    None => return Ok(Flow::Close),
                }
            }
        };
        let user = match mechanism {
            AuthMechanism::Plain => {
                let parts: Vec<&[u8]> = data.split(|&b| b == 0).collect();
                match parts.as_slice() {
                    [authz, authc, pass] if authz.is_empty() || authz == authc => {
                        let authc = String::from_utf8_lossy(authc);
                        let pass = String::from_utf8_lossy(pass);
                        self.shared.store.check_password(&authc, &pass)
                    }
                    _ => None,
                }
            }
            _ => {
                let (user, token) = parse_xoauth2(&data).unwrap_or_default();
                let ok = self.shared.store.check_token(&user, &token);
                if ok.is_none() {
                    // Google's failure dance: a JSON challenge, the client's empty reply, then NO.
                    let json =
                        r#"{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}"#;
                    let b64 = base64::engine::general_purpose::STANDARD.encode(json);
                    self.out
                        .extend_from_slice(format!("+ {b64}\r\n").as_bytes());
                    conn.send(&mut self.out).await?;
                    if self.read_auth_line(conn, shutdown).await.is_none() {
                        return Ok(Flow::Close);
                    }
                }
                ok
            }
        };
        match user {
            Some(user) => self.logged_in(tag, user),
            None => self.tagged(tag, self.auth_failed()),
        }
        Ok(Flow::Continue)
    }

    /// Reads one SASL response line. `None`: the connection ended.
    async fn read_auth_line(
        &mut self,
        conn: &mut Conn,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<Result<Vec<u8>, &'static str>> {
        match conn.next(shutdown).await {
            Event::Step(Step::Message) => {
                tracing::debug!(peer = %conn.peer, "<< ****");
                Some(
                    match conn.frag.decode_message(&AuthenticateDataCodec::default()) {
                        Ok(AuthenticateData::Continue(d)) => Ok(d.declassify().to_vec()),
                        Ok(AuthenticateData::Cancel) => Err("BAD Authentication cancelled"),
                        Err(_) => Err("BAD Invalid SASL response"),
                    },
                )
            }
            Event::Step(_) => Some(Err("BAD Invalid SASL response")),
            _ => None,
        }
    }

    /// IDLE (RFC 2177): `+ idling`, then untagged updates as the store changes, until DONE.
    async fn idle(
        &mut self,
        conn: &mut Conn,
        shutdown: &mut watch::Receiver<bool>,
        tag: &str,
    ) -> io::Result<Flow> {
        let mut changes = self.shared.store.subscribe();
        self.out.extend_from_slice(b"+ idling\r\n");
        let mut store_alive = true;
        let shared = self.shared.clone();
        let _idling = shared.idle_guard();
        let mut started = false;
        // The `imap_idle_delay` fault: changes are told only this long after the first one.
        let delay = shared.faults().imap_idle_delay;
        let mut due: Option<tokio::time::Instant> = None;
        loop {
            if !started || delay.is_none() || due.is_some_and(|d| tokio::time::Instant::now() >= d)
            {
                self.refresh(true);
                due = None;
            }
            if started
                && !self.out.is_empty()
                && shared.consume_fault(|f| crate::server::take_count(&mut f.imap_drop_on_news))
            {
                shared.fault_fired("imap_drop_on_news");
                self.out.clear();
                return Ok(Flow::Close);
            }
            started = true;
            conn.send(&mut self.out).await?;
            if self.closing {
                // The selected mailbox went away; BYE is on its way.
                return Ok(Flow::Close);
            }
            match conn.step() {
                Some(Step::Message) => {
                    tracing::debug!(peer = %conn.peer, "<< {}", wire::trace_client(conn.frag.message_bytes()));
                    match conn.frag.decode_message(&IdleDoneCodec::default()) {
                        Ok(_) => self.tagged(tag, "OK IDLE terminated"),
                        Err(_) => self.tagged(tag, "BAD Expected DONE"),
                    }
                    return Ok(Flow::Continue);
                }
                Some(Step::LiteralOk) | Some(Step::LiteralTooBig { .. }) => {
                    self.tagged(tag, "BAD Expected DONE");
                    return Ok(Flow::Close);
                }
                Some(Step::LineTooLong) => {
                    self.untagged("BAD Line too long");
                    return Ok(Flow::Close);
                }
                None => {}
            }
            tokio::select! {
                r = changes.changed(), if store_alive => {
                    store_alive = r.is_ok();
                    if let Some(d) = delay {
                        due.get_or_insert(tokio::time::Instant::now() + d);
                    }
                }
                _ = tokio::time::sleep_until(due.unwrap_or_else(tokio::time::Instant::now)), if due.is_some() => {}
                _ = until_shutdown(shutdown) => {
                    self.untagged("BYE Server shutting down");
                    return Ok(Flow::Close);
                }
                r = tokio::time::timeout(IDLE_TIMEOUT, conn.fill()) => match r {
                    Err(_) => {
                        self.untagged("BYE Autologout; idle for too long");
                        return Ok(Flow::Close);
                    }
                    Ok(Ok(0)) | Ok(Err(_)) => return Ok(Flow::Close),
                    Ok(Ok(_)) => {}
                },
            }
        }
    }
}

/// `user=<u>\x01auth=Bearer <token>\x01\x01` → (user, token).
fn parse_xoauth2(data: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(data).ok()?;
    let mut user = None;
    let mut token = None;
    for part in text.split('\x01') {
        if let Some(u) = part.strip_prefix("user=") {
            user = Some(u.to_string());
        } else if let Some(a) = part.strip_prefix("auth=") {
            let t = a
                .strip_prefix("Bearer ")
                .or_else(|| a.strip_prefix("bearer "))?;
            token = Some(t.to_string());
        }
    }
    Some((user?, token?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xoauth2_payload() {
        assert_eq!(
            parse_xoauth2(b"user=a@x.test\x01auth=Bearer tok\x01\x01"),
            Some(("a@x.test".into(), "tok".into()))
        );
        assert_eq!(parse_xoauth2(b"user=a\x01\x01"), None);
    }

    #[test]
    fn verbs_skip_uid() {
        assert_eq!(
            verb(b"a UID fetch 1 FLAGS\r\n"),
            ("UID".into(), "FETCH".into())
        );
        assert_eq!(verb(b"a noop\r\n").0, "NOOP");
    }

    fn conn_steps(input: &[u8], max_literal: usize) -> Vec<&'static str> {
        let mut frag = Conn::fragmentizer(max_literal);
        frag.enqueue_bytes(input);
        let mut line_start = 0;
        let mut literal_end = 0;
        let mut out = Vec::new();
        while let Some(s) =
            step_fragments(&mut frag, &mut line_start, &mut literal_end, max_literal)
        {
            out.push(match s {
                Step::Message => "message",
                Step::LiteralOk => "continue",
                Step::LiteralTooBig { sync: true, .. } => "too big",
                Step::LiteralTooBig { sync: false, .. } => "too big non-sync",
                Step::LineTooLong => "line too long",
            });
            if out.last() == Some(&"line too long") {
                break;
            }
        }
        out
    }

    #[test]
    fn framing_known_answers() {
        assert_eq!(
            conn_steps(b"a NOOP\r\nb NOOP\r\n", 100),
            ["message", "message"]
        );
        assert_eq!(conn_steps(b"a NOOP\r\nb NO", 100), ["message"]);
        assert_eq!(conn_steps(b"a LOGIN {5}\r\n", 100), ["continue"]);
        assert_eq!(
            conn_steps(b"a LOGIN {5}\r\nalice x\r\n", 100),
            ["continue", "message"]
        );
        assert_eq!(conn_steps(b"a LOGIN {5+}\r\nalice x\r\n", 100), ["message"]);
        assert_eq!(
            conn_steps(b"a APPEND x {500}\r\nb NOOP\r\n", 100),
            ["too big", "message"]
        );
        assert_eq!(
            conn_steps(b"a APPEND x {500+}\r\n", 100),
            ["too big non-sync"]
        );
        let long = vec![b'a'; MAX_LINE + 10];
        assert_eq!(conn_steps(&long, 100), ["line too long"]);
    }
}
