//! One IMAP connection: the command loop (faults, tracing, STARTTLS; framing in
//! `framing`, handlers in `cmd`) around the RFC 3501 state machine:
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

use imap_codec::CommandCodec;
use imap_codec::imap_types::IntoStatic;
use imap_codec::imap_types::command::{Command, CommandBody};
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;

use super::ext::{self, Parsed};
use super::framing::{Conn, Event, Step, verb};
use super::view::Selected;
use super::wire;
use crate::server::conn::ServerStream;
use crate::server::{ListenerKind, Profile, Shared};

const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

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
        conn.hang(&mut shutdown).await;
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
                    conn.hang(&mut shutdown).await;
                    Flow::Close
                } else if faults.imap_hang_on.as_deref().is_some_and(is) {
                    tracing::debug!(%peer, "imap_hang_on fault: not answering");
                    shared.fault_fired("imap_hang_on");
                    conn.hang(&mut shutdown).await;
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
    pub(super) fn plaintext(&self) -> bool {
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

    /// The authenticated user's address (empty before LOGIN).
    pub(super) fn user(&self) -> String {
        self.user.clone().unwrap_or_default()
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
                self.login(tag, username.as_ref(), password.declassify().as_ref());
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
}
