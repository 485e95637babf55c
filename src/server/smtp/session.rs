//! One SMTP connection: policy per listener, AUTH, the mail transaction and injected faults,
//! driving the sans-I/O [`codec`](super::codec) over a [`ServerStream`].
//!
//! ```text
//!             220 banner
//!   ┌──────────► Greeted ──EHLO/HELO──► Ready ◄──────── RSET, EHLO, 250 after DATA, 552
//!   │                                    │ ▲
//!   │                               MAIL │ │ RSET
//!   │                                    ▼ │
//!   │                                   Mail ──RCPT──► Rcpt ──RCPT──┐
//!   │                                                   │ ▲─────────┘
//!   │                                              DATA │ 354 … <CRLF>.<CRLF>
//!   │                                                   ▼
//!   └── STARTTLS (220, handshake; forgets HELO,         Data ──► deliver ──► 250 queued as ID
//!       AUTH and any pipelined bytes) from any state
//! ```
//!
//! The handlers live in `cmd`, one file per verb group; the I/O half (buffers,
//! timeouts, shutdown) in `conn`. Wire traces (`>>` sent, `<<` received, CRLF
//! escaped) go to debug level with AUTH payloads and continuation responses replaced by `****`.

use std::net::SocketAddr;
use std::sync::Arc;

use super::codec::{Command, Line, Reply, encode_verbatim};
use super::conn::{Conn, End};
use crate::server::conn::ServerStream;
use crate::server::{ListenerKind, Shared};

/// 5xx replies before the connection is closed (Postfix's `smtpd_hard_error_limit`).
const MAX_ERRORS: u32 = 20;

/// Serves one SMTP connection until QUIT, error or shutdown.
pub async fn run(shared: Arc<Shared>, stream: ServerStream, kind: ListenerKind, peer: SocketAddr) {
    let mut conn = Conn::new(stream, shared.shutdown(), peer);
    let mut session = Session::new(shared, kind, peer);
    let host = session.shared.config.hostname.clone();
    let end = session.serve(&mut conn).await;
    match end {
        Ok(()) => {}
        Err(End::Idle) => {
            conn.send(&Reply::new(
                421,
                "4.4.2",
                format!("{host} Error: timeout exceeded"),
            ));
        }
        Err(End::Shutdown) => conn.send(&Reply::new(421, "4.3.2", "Shutting down")),
        Err(End::Closed | End::Hung) => {
            tracing::debug!(%peer, ?kind, "SMTP session ended");
            return;
        }
    }
    conn.close().await;
    tracing::debug!(%peer, ?kind, "SMTP session closed");
}

/// What to do after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flow {
    Continue,
    /// Flush what is queued and close (QUIT, too many errors, `smtp_drop_after`).
    Close,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    /// Banner sent (or TLS just negotiated); EHLO/HELO expected.
    Greeted,
    Ready,
    /// MAIL accepted, no recipient yet.
    Mail,
    /// At least one recipient accepted.
    Rcpt,
}

/// Per-session state; the store and config are reached through `shared`.
pub(super) struct Session {
    pub(super) shared: Arc<Shared>,
    pub(super) kind: ListenerKind,
    pub(super) peer: SocketAddr,
    pub(super) state: State,
    pub(super) helo: String,
    pub(super) authenticated: Option<String>,
    pub(super) auth_failures: u32,
    pub(super) errors: u32,
    pub(super) commands: usize,
    pub(super) from: String,
    pub(super) rcpts: Vec<String>,
}

impl Session {
    fn new(shared: Arc<Shared>, kind: ListenerKind, peer: SocketAddr) -> Session {
        Session {
            shared,
            kind,
            peer,
            state: State::Greeted,
            helo: String::new(),
            authenticated: None,
            auth_failures: 0,
            errors: 0,
            commands: 0,
            from: String::new(),
            rcpts: Vec::new(),
        }
    }

    pub(super) fn hostname(&self) -> &str {
        &self.shared.config.hostname
    }

    fn hangs_on(&self, verb: &str) -> bool {
        self.shared
            .faults()
            .smtp_hang_on
            .is_some_and(|v| v.trim().eq_ignore_ascii_case(verb))
    }

    async fn serve(&mut self, conn: &mut Conn) -> Result<(), End> {
        conn.drip = self.shared.faults().slow_drip;
        if self.hangs_on("GREETING") {
            tracing::debug!(peer = %self.peer, "fault: hanging before the greeting");
            self.shared.fault_fired("smtp_hang_on");
            return Err(conn.hang().await);
        }
        conn.send(&Reply::plain(
            220,
            vec![format!("{} ESMTP mailtrip", self.hostname())],
        ));
        loop {
            let line = match conn.read_line().await? {
                Ok(line) => line,
                Err(_) => {
                    conn.trace_in("[line too long]");
                    if self.error(conn, Reply::new(500, "5.5.6", "Line too long")) == Flow::Close {
                        return Ok(());
                    }
                    continue;
                }
            };
            self.commands += 1;
            if let Some(n) = self.shared.faults().smtp_drop_after
                && self.commands > n
            {
                tracing::debug!(peer = %self.peer, n, "fault: dropping the connection");
                conn.flush().await?;
                return Err(End::Closed);
            }
            let command = Command::parse(&line);
            conn.trace_in(&redacted(&line, &command));
            if self.hangs_on(&line.verb()) {
                tracing::debug!(peer = %self.peer, verb = %line.verb(), "fault: hanging");
                self.shared.fault_fired("smtp_hang_on");
                return Err(conn.hang().await);
            }
            conn.drip = self.shared.faults().slow_drip;
            if let Some(reply) = self.transient(&line.verb()) {
                conn.send_bytes(&encode_verbatim(&reply));
                if reply.starts_with("421") {
                    return Ok(());
                }
                continue;
            }
            if self.handle(conn, command).await? == Flow::Close {
                return Ok(());
            }
        }
    }

    /// The `smtp_transient` fault: the reply to give `verb` instead of handling it, counting
    /// one use down.
    fn transient(&self, verb: &str) -> Option<String> {
        let reply = self.shared.consume_fault(|f| {
            let (want, reply, times) = f.smtp_transient.as_mut()?;
            if !want.trim().eq_ignore_ascii_case(verb) || *times == 0 {
                return None;
            }
            *times -= 1;
            Some(reply.clone())
        })?;
        self.shared.fault_fired("smtp_transient");
        Some(reply)
    }

    /// Queues an error reply; after [`MAX_ERRORS`] of them, says goodbye.
    pub(super) fn error(&mut self, conn: &mut Conn, reply: Reply) -> Flow {
        conn.send(&reply);
        self.errors += 1;
        if self.errors >= MAX_ERRORS {
            conn.send(&Reply::new(421, "4.7.0", "Too many errors"));
            return Flow::Close;
        }
        Flow::Continue
    }

    async fn handle(&mut self, conn: &mut Conn, command: Command) -> Result<Flow, End> {
        let reply = match command {
            Command::Ehlo(name) => {
                self.greeted(name);
                self.ehlo_reply(conn.stream.is_tls())
            }
            Command::Helo(name) => {
                self.greeted(name);
                Reply::plain(250, vec![self.hostname().to_string()])
            }
            Command::StartTls => return self.starttls(conn).await,
            Command::Auth { mechanism, initial } => {
                return self.auth(conn, &mechanism, initial).await;
            }
            Command::MailFrom { address, params } => self.mail(address, &params),
            Command::RcptTo { address, params } => self.rcpt(address, &params),
            Command::Data => return self.data(conn).await,
            Command::Rset => {
                self.reset_transaction();
                Reply::new(250, "2.0.0", "Ok")
            }
            Command::Noop => Reply::new(250, "2.0.0", "Ok"),
            Command::Quit => {
                conn.send(&Reply::new(221, "2.0.0", "Bye"));
                return Ok(Flow::Close);
            }
            Command::Vrfy(_) => Reply::new(
                252,
                "2.5.2",
                "Cannot VRFY user, but will accept message and attempt delivery",
            ),
            Command::Help => Reply::new(214, "2.0.0", "See RFC 5321"),
            Command::Unknown(_) => Reply::new(500, "5.5.2", "Command not recognized"),
            Command::Invalid(reason) => Reply::new(501, "5.5.4", reason),
        };
        if reply.code >= 500 {
            return Ok(self.error(conn, reply));
        }
        conn.send(&reply);
        Ok(Flow::Continue)
    }

    pub(super) fn reset_transaction(&mut self) {
        self.from.clear();
        self.rcpts.clear();
        self.state = if self.helo.is_empty() {
            State::Greeted
        } else {
            State::Ready
        };
    }
}

/// The command line as it may be logged: AUTH keeps only its mechanism.
fn redacted(line: &Line, command: &Command) -> String {
    match command {
        Command::Auth {
            mechanism,
            initial: Some(_),
        } => format!("AUTH {mechanism} ****"),
        Command::Auth { .. } => line.text().into_owned(),
        _ if line.verb() == "AUTH" => "AUTH ****".into(),
        _ => line.text().into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn logged(raw: &str) -> String {
        let line = Line(Bytes::copy_from_slice(raw.as_bytes()));
        redacted(&line, &Command::parse(&line))
    }

    #[test]
    fn auth_payloads_never_reach_the_trace() {
        for (raw, shown) in [
            ("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "AUTH PLAIN ****"),
            ("auth xoauth2 dXNlcj1h", "AUTH XOAUTH2 ****"),
            ("AUTH PLAIN secret extra", "AUTH ****"),
            ("AUTH LOGIN", "AUTH LOGIN"),
            ("MAIL FROM:<a@b>", "MAIL FROM:<a@b>"),
        ] {
            assert_eq!(logged(raw), shown, "{raw}");
        }
    }
}
