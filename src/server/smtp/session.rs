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
//! Wire traces (`>>` sent, `<<` received, CRLF escaped) go to debug level with AUTH
//! payloads and continuation responses replaced by `****`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::{Bytes, BytesMut};
use secrecy::{ExposeSecret, SecretString};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use super::codec::{
    Command, DataReader, DataStatus, Line, MAX_COMMAND_LINE, Param, Reply, TooLong,
    encode_verbatim, parse_line, skip_line,
};
use crate::server::conn::ServerStream;
use crate::server::deliver::{self, Envelope};
use crate::server::recipients::is_mailbox_address;
use crate::server::{DataReply, ListenerKind, Shared, until_shutdown};

/// A session that sends nothing for this long is closed with 421 4.4.2.
const IDLE_TIMEOUT: Duration = Duration::from_secs(5 * 60);
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a closing write may take before the peer is abandoned.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_RECIPIENTS: usize = 100;
/// Failed AUTH attempts before the connection is closed.
const MAX_AUTH_FAILURES: u32 = 3;
/// 5xx replies before the connection is closed (Postfix's `smtpd_hard_error_limit`).
const MAX_ERRORS: u32 = 20;

/// Serves one SMTP connection until QUIT, error or shutdown.
pub async fn run(shared: Arc<Shared>, stream: ServerStream, kind: ListenerKind, peer: SocketAddr) {
    let mut conn = Conn {
        stream,
        rbuf: BytesMut::with_capacity(4096),
        wbuf: Vec::new(),
        skipping: false,
        shutdown: shared.shutdown(),
        peer,
        drip: None,
    };
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

/// Why a session stops before QUIT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The peer went away or a read/write failed: nothing more to say.
    Closed,
    /// No input within [`IDLE_TIMEOUT`].
    Idle,
    /// The server is shutting down.
    Shutdown,
    /// A hang fault ran its course (peer closed or shutdown): close without a word.
    Hung,
}

/// What to do after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    /// Flush what is queued and close (QUIT, too many errors, `smtp_drop_after`).
    Close,
}

/// The I/O half: the stream, its buffers and the shutdown signal. Replies queue in `wbuf`
/// and go out before the next blocking read, so pipelined commands get batched replies.
struct Conn {
    stream: ServerStream,
    rbuf: BytesMut,
    wbuf: Vec<u8>,
    /// The rest of an over-long line is still arriving and must be discarded.
    skipping: bool,
    shutdown: watch::Receiver<bool>,
    peer: SocketAddr,
    /// The `slow_drip` fault in force: pause between reply bytes.
    drip: Option<Duration>,
}

impl Conn {
    fn send(&mut self, reply: &Reply) {
        self.send_bytes(&reply.encode());
    }

    fn send_bytes(&mut self, bytes: &[u8]) {
        tracing::debug!(peer = %self.peer, ">> {}", bytes.escape_ascii());
        self.wbuf.extend_from_slice(bytes);
    }

    fn trace_in(&self, text: &str) {
        tracing::debug!(peer = %self.peer, "<< {}", text.as_bytes().escape_ascii());
    }

    async fn flush(&mut self) -> Result<(), End> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let write = crate::server::conn::write_out(&mut self.stream, &self.wbuf, self.drip);
        match tokio::time::timeout(IDLE_TIMEOUT, write).await {
            Ok(Ok(())) => {
                self.wbuf.clear();
                Ok(())
            }
            Ok(Err(_)) | Err(_) => {
                self.wbuf.clear();
                Err(End::Closed)
            }
        }
    }

    /// Flushes queued replies, then waits for more input.
    async fn fill(&mut self) -> Result<(), End> {
        self.flush().await?;
        let read = tokio::time::timeout(IDLE_TIMEOUT, self.stream.read_buf(&mut self.rbuf));
        tokio::select! {
            biased;
            _ = until_shutdown(&mut self.shutdown) => Err(End::Shutdown),
            r = read => match r {
                Err(_) => Err(End::Idle),
                Ok(Ok(0)) | Ok(Err(_)) => Err(End::Closed),
                Ok(Ok(_)) => Ok(()),
            },
        }
    }

    /// The next command line, or `TooLong` (whose remainder is skipped before the next line).
    async fn read_line(&mut self) -> Result<Result<Line, TooLong>, End> {
        loop {
            if self.skipping {
                if skip_line(&mut self.rbuf) {
                    self.skipping = false;
                } else {
                    self.fill().await?;
                    continue;
                }
            }
            match parse_line(&mut self.rbuf, MAX_COMMAND_LINE) {
                Ok(Some(line)) => return Ok(Ok(line)),
                Err(too_long) => {
                    self.skipping = !too_long.terminated;
                    return Ok(Err(too_long));
                }
                Ok(None) => self.fill().await?,
            }
        }
    }

    /// The DATA section through its terminator; `None` if it was over the size limit.
    async fn read_data(&mut self, reader: &mut DataReader) -> Result<Option<Bytes>, End> {
        loop {
            match reader.feed(&mut self.rbuf) {
                DataStatus::NeedMore => self.fill().await?,
                DataStatus::Done(data) => return Ok(Some(data)),
                DataStatus::TooBig => return Ok(None),
            }
        }
    }

    /// The hang fault: say nothing more, but keep draining input (so this is not a busy
    /// loop and the peer's writes do not block) until the peer closes or shutdown.
    async fn hang(&mut self) -> End {
        if self.flush().await.is_err() {
            return End::Hung;
        }
        loop {
            self.rbuf.clear();
            tokio::select! {
                biased;
                _ = until_shutdown(&mut self.shutdown) => return End::Hung,
                r = self.stream.read_buf(&mut self.rbuf) => match r {
                    Ok(0) | Err(_) => return End::Hung,
                    Ok(_) => {}
                },
            }
        }
    }

    async fn close(&mut self) {
        let close = async {
            let _ = self.flush().await;
            let _ = self.stream.shutdown().await;
        };
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, close).await;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Banner sent (or TLS just negotiated); EHLO/HELO expected.
    Greeted,
    Ready,
    /// MAIL accepted, no recipient yet.
    Mail,
    /// At least one recipient accepted.
    Rcpt,
}

/// The outcome of collecting and checking AUTH credentials.
enum AuthOutcome {
    Success(String),
    Failure,
    /// The client answered a challenge with `*`.
    Cancelled,
    /// A reply that ends the exchange without counting as a failed attempt (bad base64).
    Reply(Reply),
}

/// Per-session state; the store and config are reached through `shared`.
struct Session {
    shared: Arc<Shared>,
    kind: ListenerKind,
    peer: SocketAddr,
    state: State,
    helo: String,
    authenticated: Option<String>,
    auth_failures: u32,
    errors: u32,
    commands: usize,
    from: String,
    rcpts: Vec<String>,
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

    fn hostname(&self) -> &str {
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
    fn error(&mut self, conn: &mut Conn, reply: Reply) -> Flow {
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

    fn greeted(&mut self, name: String) {
        self.helo = name;
        // RFC 5321 4.1.4: EHLO/HELO mid-session is an implicit RSET.
        self.reset_transaction();
    }

    fn reset_transaction(&mut self) {
        self.from.clear();
        self.rcpts.clear();
        self.state = if self.helo.is_empty() {
            State::Greeted
        } else {
            State::Ready
        };
    }

    /// AUTH is offered once TLS protects it, and in the clear only on the relay port
    /// (whose clients are loopback tests); never on submission before STARTTLS.
    fn auth_offered(&self, tls: bool) -> bool {
        (tls || self.kind == ListenerKind::Smtp) && !self.shared.faults().smtp_no_auth
    }

    fn ehlo_reply(&self, tls: bool) -> Reply {
        let mut lines = vec![
            format!("{} Hello {}", self.hostname(), self.helo),
            format!("SIZE {}", self.shared.config.max_message_size),
            "PIPELINING".into(),
            "8BITMIME".into(),
            "ENHANCEDSTATUSCODES".into(),
            "SMTPUTF8".into(),
        ];
        if !tls && matches!(self.kind, ListenerKind::Smtp | ListenerKind::Submission) {
            lines.push("STARTTLS".into());
        }
        if self.auth_offered(tls) {
            lines.push("AUTH PLAIN LOGIN XOAUTH2".into());
        }
        Reply::plain(250, lines)
    }

    async fn starttls(&mut self, conn: &mut Conn) -> Result<Flow, End> {
        if conn.stream.is_tls() {
            return Ok(self.error(conn, Reply::new(503, "5.5.1", "TLS already active")));
        }
        if !matches!(self.kind, ListenerKind::Smtp | ListenerKind::Submission) {
            return Ok(self.error(conn, Reply::new(502, "5.5.1", "STARTTLS not offered")));
        }
        conn.send(&Reply::new(220, "2.0.0", "Ready to start TLS"));
        conn.flush().await?;
        if self.shared.faults().starttls_stall {
            tracing::debug!(peer = %self.peer, "fault: stalling the STARTTLS handshake");
            self.shared.fault_fired("starttls_stall");
            return Err(conn.hang().await);
        }
        // RFC 3207 5 / CVE-2011-0411: anything pipelined after STARTTLS was sent in the
        // clear and must not be executed inside the TLS session.
        if !conn.rbuf.is_empty() {
            tracing::debug!(
                peer = %self.peer,
                bytes = conn.rbuf.len(),
                "discarding input pipelined after STARTTLS"
            );
            conn.rbuf.clear();
        }
        conn.skipping = false;
        let handshake = conn.stream.upgrade(self.shared.tls.acceptor());
        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, handshake).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::debug!(peer = %self.peer, error = %e, "STARTTLS handshake failed");
                return Err(End::Closed);
            }
            Err(_) => {
                tracing::debug!(peer = %self.peer, "STARTTLS handshake timed out");
                return Err(End::Closed);
            }
        }
        // RFC 3207 4.2: forget everything learned before TLS.
        self.state = State::Greeted;
        self.helo.clear();
        self.authenticated = None;
        self.from.clear();
        self.rcpts.clear();
        Ok(Flow::Continue)
    }

    async fn auth(
        &mut self,
        conn: &mut Conn,
        mechanism: &str,
        initial: Option<String>,
    ) -> Result<Flow, End> {
        self.shared.count_auth_attempt(false);
        let refuse = match self.state {
            State::Greeted => Some(Reply::new(503, "5.5.1", "Send EHLO first")),
            State::Mail | State::Rcpt => Some(Reply::new(
                503,
                "5.5.1",
                "AUTH not allowed during a mail transaction",
            )),
            State::Ready if self.authenticated.is_some() => {
                Some(Reply::new(503, "5.5.1", "Already authenticated"))
            }
            State::Ready if !self.auth_offered(conn.stream.is_tls()) => Some(Reply::new(
                530,
                "5.7.0",
                "Must issue a STARTTLS command first",
            )),
            State::Ready => None,
        };
        if let Some(reply) = refuse {
            return Ok(self.error(conn, reply));
        }
        let initial = initial.map(SecretString::from);
        let outcome = match mechanism {
            "PLAIN" => self.auth_plain(conn, initial).await?,
            "LOGIN" => self.auth_login(conn, initial).await?,
            "XOAUTH2" => self.auth_xoauth2(conn, initial).await?,
            _ => {
                let reply = Reply::new(504, "5.5.4", "Unrecognized authentication type");
                return Ok(self.error(conn, reply));
            }
        };
        let reject = self.shared.faults().smtp_auth_reject;
        match (outcome, reject) {
            (AuthOutcome::Cancelled, _) => {
                Ok(self.error(conn, Reply::new(501, "5.7.0", "Authentication aborted")))
            }
            (AuthOutcome::Reply(reply), _) => Ok(self.error(conn, reply)),
            (AuthOutcome::Success(user), None) => {
                tracing::debug!(peer = %self.peer, %user, %mechanism, "authenticated");
                self.authenticated = Some(user);
                conn.send(&Reply::new(235, "2.7.0", "Authentication successful"));
                Ok(Flow::Continue)
            }
            (AuthOutcome::Success(_) | AuthOutcome::Failure, reject) => {
                match reject {
                    Some(text) => conn.send_bytes(&encode_verbatim(&text)),
                    None => conn.send(&Reply::new(
                        535,
                        "5.7.8",
                        "Authentication credentials invalid",
                    )),
                }
                self.auth_failures += 1;
                if self.auth_failures >= MAX_AUTH_FAILURES {
                    conn.send(&Reply::new(
                        421,
                        "4.7.0",
                        "Too many authentication failures",
                    ));
                    return Ok(Flow::Close);
                }
                Ok(Flow::Continue)
            }
        }
    }

    /// Sends a `334` challenge and reads the (secret) response; `*` cancels the exchange.
    async fn challenge(
        &mut self,
        conn: &mut Conn,
        challenge: &str,
    ) -> Result<Result<SecretString, AuthOutcome>, End> {
        conn.send(&Reply::plain(334, vec![challenge.to_string()]));
        match conn.read_line().await? {
            Err(_) => {
                conn.trace_in("[line too long]");
                Ok(Err(AuthOutcome::Reply(Reply::new(
                    500,
                    "5.5.6",
                    "Line too long",
                ))))
            }
            Ok(line) => {
                conn.trace_in("****");
                let text = SecretString::from(line.text().into_owned());
                if text.expose_secret().trim() == "*" {
                    Ok(Err(AuthOutcome::Cancelled))
                } else {
                    Ok(Ok(text))
                }
            }
        }
    }

    /// The initial response if there was one, else the answer to an empty challenge.
    async fn response(
        &mut self,
        conn: &mut Conn,
        initial: Option<SecretString>,
        challenge: &str,
    ) -> Result<Result<SecretString, AuthOutcome>, End> {
        match initial {
            // RFC 4954 4: "=" is an empty initial response.
            Some(i) if i.expose_secret() == "=" => Ok(Ok(SecretString::from(String::new()))),
            Some(i) => Ok(Ok(i)),
            None => self.challenge(conn, challenge).await,
        }
    }

    async fn auth_plain(
        &mut self,
        conn: &mut Conn,
        initial: Option<SecretString>,
    ) -> Result<AuthOutcome, End> {
        let encoded = match self.response(conn, initial, "").await? {
            Ok(e) => e,
            Err(outcome) => return Ok(outcome),
        };
        let decoded = match decode(&encoded) {
            Ok(d) => d,
            Err(outcome) => return Ok(outcome),
        };
        // authzid NUL authcid NUL passwd (RFC 4616).
        let mut parts = decoded.expose_secret().split('\0');
        let (Some(authzid), Some(authcid), Some(password), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Ok(AuthOutcome::Reply(Reply::new(
                501,
                "5.5.2",
                "Malformed PLAIN response",
            )));
        };
        if !authzid.is_empty() && !authzid.eq_ignore_ascii_case(authcid) {
            return Ok(AuthOutcome::Failure);
        }
        Ok(self.check_password(authcid, password))
    }

    async fn auth_login(
        &mut self,
        conn: &mut Conn,
        initial: Option<SecretString>,
    ) -> Result<AuthOutcome, End> {
        // Base64 of "Username:" and "Password:", as every LOGIN server sends them.
        let user = match self.response(conn, initial, "VXNlcm5hbWU6").await? {
            Ok(u) => u,
            Err(outcome) => return Ok(outcome),
        };
        let user = match decode(&user) {
            Ok(u) => u,
            Err(outcome) => return Ok(outcome),
        };
        let password = match self.challenge(conn, "UGFzc3dvcmQ6").await? {
            Ok(p) => p,
            Err(outcome) => return Ok(outcome),
        };
        let password = match decode(&password) {
            Ok(p) => p,
            Err(outcome) => return Ok(outcome),
        };
        Ok(self.check_password(user.expose_secret(), password.expose_secret()))
    }

    async fn auth_xoauth2(
        &mut self,
        conn: &mut Conn,
        initial: Option<SecretString>,
    ) -> Result<AuthOutcome, End> {
        let encoded = match self.response(conn, initial, "").await? {
            Ok(e) => e,
            Err(outcome) => return Ok(outcome),
        };
        let decoded = match decode(&encoded) {
            Ok(d) => d,
            Err(outcome) => return Ok(outcome),
        };
        // user={user}\x01auth=Bearer {token}\x01\x01
        let parsed = decoded
            .expose_secret()
            .strip_suffix("\x01\x01")
            .and_then(|s| s.split_once('\x01'))
            .and_then(|(user, auth)| {
                let user = user.strip_prefix("user=")?;
                let token = auth.strip_prefix("auth=")?;
                let token = token
                    .strip_prefix("Bearer ")
                    .or_else(|| token.strip_prefix("bearer "))?;
                Some((user, token))
            });
        let Some((user, token)) = parsed else {
            return Ok(AuthOutcome::Reply(Reply::new(
                501,
                "5.5.2",
                "Malformed XOAUTH2 response",
            )));
        };
        if let Some(address) = self.shared.store.check_token(user, token) {
            return Ok(AuthOutcome::Success(address));
        }
        // Gmail's dance: an error challenge, an empty line from the client, then 535.
        let error = r#"{"status":"401","schemes":"Bearer","scope":"https://mail.google.com/"}"#;
        conn.send(&Reply::plain(334, vec![BASE64.encode(error)]));
        match conn.read_line().await? {
            Ok(_) => conn.trace_in("****"),
            Err(_) => conn.trace_in("[line too long]"),
        }
        Ok(AuthOutcome::Failure)
    }

    fn check_password(&self, login: &str, password: &str) -> AuthOutcome {
        match self.shared.store.check_password(login, password) {
            Some(address) => AuthOutcome::Success(address),
            None => AuthOutcome::Failure,
        }
    }

    fn mail(&mut self, address: String, params: &[Param]) -> Reply {
        match self.state {
            State::Greeted => return Reply::new(503, "5.5.1", "Send EHLO/HELO first"),
            State::Mail | State::Rcpt => return Reply::new(503, "5.5.1", "Nested MAIL command"),
            State::Ready => {}
        }
        if self.kind != ListenerKind::Smtp && self.authenticated.is_none() {
            return Reply::new(530, "5.7.0", "Authentication required");
        }
        for (key, value) in params {
            let value = value.as_deref();
            match key.to_ascii_uppercase().as_str() {
                "SIZE" => match value.and_then(|v| v.parse::<u64>().ok()) {
                    Some(size) if size > self.shared.config.max_message_size as u64 => {
                        return Reply::new(
                            552,
                            "5.3.4",
                            "Message size exceeds fixed maximum message size",
                        );
                    }
                    Some(_) => {}
                    None => return Reply::new(501, "5.5.4", "Bad SIZE parameter"),
                },
                "BODY" => {
                    if !value.is_some_and(|v| {
                        v.eq_ignore_ascii_case("7BIT") || v.eq_ignore_ascii_case("8BITMIME")
                    }) {
                        return Reply::new(501, "5.5.4", "Bad BODY parameter");
                    }
                }
                "SMTPUTF8" if value.is_none() => {}
                // RFC 4954 5: the AUTH parameter is accepted and ignored.
                "AUTH" => {}
                _ => return Reply::new(555, "5.5.4", format!("Unsupported parameter {key}")),
            }
        }
        self.from = address;
        self.state = State::Mail;
        Reply::new(250, "2.1.0", "Ok")
    }

    fn rcpt(&mut self, address: String, params: &[Param]) -> Reply {
        if matches!(self.state, State::Greeted | State::Ready) {
            return Reply::new(503, "5.5.1", "Need MAIL command");
        }
        if self.rcpts.len() >= MAX_RECIPIENTS {
            return Reply::new(452, "4.5.3", "Too many recipients");
        }
        if let Some((key, _)) = params.first() {
            return Reply::new(555, "5.5.4", format!("Unsupported parameter {key}"));
        }
        // The embedded server does not relay: a recipient is a local user (`user+tag@` is
        // `user@`'s), or under the catch-all any address, whose mailbox is made below.
        let store = &self.shared.store;
        let catch_all = store.auto_creates() && is_mailbox_address(&address);
        if !catch_all && store.owner(&address).is_none() {
            return Reply::new(
                550,
                "5.1.1",
                format!("<{address}>: Recipient address rejected: User unknown"),
            );
        }
        if self.shared.faults().greylist {
            let pair = (self.from.to_ascii_lowercase(), address.to_ascii_lowercase());
            let first_time = self
                .shared
                .greylist_seen
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(pair);
            if first_time {
                return Reply::new(451, "4.7.1", "Greylisted, please try again later");
            }
        }
        if self.shared.store.owner_or_create(&address).is_none() {
            // Not an address the catch-all can make a mailbox for.
            return Reply::new(
                550,
                "5.1.1",
                format!("<{address}>: Recipient address rejected: User unknown"),
            );
        }
        if !self.rcpts.iter().any(|r| r.eq_ignore_ascii_case(&address)) {
            self.rcpts.push(address);
        }
        self.state = State::Rcpt;
        Reply::new(250, "2.1.5", "Ok")
    }

    async fn data(&mut self, conn: &mut Conn) -> Result<Flow, End> {
        let refuse = match self.state {
            State::Greeted | State::Ready => Some(Reply::new(503, "5.5.1", "Need MAIL command")),
            State::Mail => Some(Reply::new(503, "5.5.1", "No valid recipients")),
            State::Rcpt => None,
        };
        if let Some(reply) = refuse {
            return Ok(self.error(conn, reply));
        }
        conn.send(&Reply::plain(
            354,
            vec!["End data with <CR><LF>.<CR><LF>".into()],
        ));
        let mut reader = DataReader::new(self.shared.config.max_message_size);
        let reply = match conn.read_data(&mut reader).await? {
            Some(data) => {
                conn.trace_in(&format!("[message, {} bytes]", data.len()));
                let id = deliver::queue_id();
                let envelope = Envelope {
                    from: std::mem::take(&mut self.from),
                    rcpts: std::mem::take(&mut self.rcpts),
                    data,
                    authenticated: self.authenticated.clone(),
                    peer: self.peer,
                    helo: self.helo.clone(),
                    tls: conn.stream.is_tls(),
                    id: id.clone(),
                };
                deliver::deliver(&self.shared, envelope);
                if let Some(fault) = self.shared.faults().smtp_data_reply {
                    tracing::debug!(peer = %self.peer, ?fault, "fault: no reply to DATA");
                    self.shared.fault_fired("smtp_data_reply");
                    return Err(match fault {
                        DataReply::Cut => End::Closed,
                        DataReply::Stall => conn.hang().await,
                    });
                }
                Reply::new(250, "2.0.0", format!("Ok: queued as {id}"))
            }
            None => {
                conn.trace_in("[message over the size limit]");
                Reply::new(
                    552,
                    "5.3.4",
                    "Message size exceeds fixed maximum message size",
                )
            }
        };
        self.reset_transaction();
        conn.send(&reply);
        Ok(Flow::Continue)
    }
}

/// Decodes a base64 SASL response into a secret string; bad input is a 501 5.5.2.
fn decode(encoded: &SecretString) -> Result<SecretString, AuthOutcome> {
    let bad = || AuthOutcome::Reply(Reply::new(501, "5.5.2", "Cannot decode response"));
    let bytes = BASE64
        .decode(encoded.expose_secret().trim())
        .map_err(|_| bad())?;
    String::from_utf8(bytes)
        .map(SecretString::from)
        .map_err(|_| bad())
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
    use super::*;

    fn logged(raw: &str) -> String {
        let line = Line(Bytes::copy_from_slice(raw.as_bytes()));
        redacted(&line, &Command::parse(&line))
    }

    #[test]
    fn auth_payloads_never_reach_the_trace() {
        assert_eq!(logged("AUTH PLAIN AGFsaWNlAHNlY3JldA=="), "AUTH PLAIN ****");
        assert_eq!(logged("auth xoauth2 dXNlcj1h"), "AUTH XOAUTH2 ****");
        assert_eq!(logged("AUTH PLAIN secret extra"), "AUTH ****");
        assert_eq!(logged("AUTH LOGIN"), "AUTH LOGIN");
        assert_eq!(logged("MAIL FROM:<a@b>"), "MAIL FROM:<a@b>");
    }
}
