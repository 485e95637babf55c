//! The embedded loopback SMTP + IMAP server: real sockets, real TLS, one shared in-memory
//! store, behaviour profiles (Gmail) and injectable faults, so the round trip and its failure
//! handling are tested for real without a mail account.
//!
//! Layering, as in mini-redis: bytes → codec (`smtp::codec`, imap-codec) → session state
//! machine (`smtp::session`, `imap::session`) → [`store::Store`]. Every listener binds port 0
//! unless told otherwise, and shuts down on [`TestServer::shutdown`] or drop. The server runs
//! on its own tokio runtime, so it keeps answering while the caller's thread blocks.

pub mod conn;
pub mod deliver;
pub mod fault_spec;
pub mod http;
pub mod imap;
pub mod oauth;
pub mod recipients;
pub mod smtp;
pub mod store;
pub mod tls;
mod wait_for;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::SecretString;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

pub use fault_spec::FaultSpec;
pub use recipients::Recipients;
pub use store::{FlagOp, FolderLayout, MailboxInfo, SpecialUse, Store, StoreError, StoredMessage};
pub use tls::CertKind;
pub use wait_for::{WaitFor, WaitForError};

use conn::ServerStream;

/// How the server behaves beyond the RFCs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// Dovecot-like folders (INBOX, Sent, Junk, Trash, Archive, Drafts).
    #[default]
    Standard,
    /// Gmail: `[Gmail]/...` folders, X-GM-EXT-1, EXPUNGE in INBOX archives, submitted mail
    /// is copied to Sent, and Gmail's own reply texts.
    Gmail,
}

impl Profile {
    /// The folder layout a new user gets.
    pub fn layout(self) -> FolderLayout {
        match self {
            Profile::Standard => FolderLayout::standard(),
            Profile::Gmail => FolderLayout::gmail(),
        }
    }
}

/// Gmail's reply texts, for faults that imitate it.
pub mod gmail {
    pub const SMTP_BAD_CREDENTIALS: &str = "535-5.7.8 Username and Password not accepted. For more information, go to\n535 5.7.8  https://support.google.com/mail/?p=BadCredentials mailtrip-embedded - gsmtp";
    pub const SMTP_APP_PASSWORD_REQUIRED: &str = "534-5.7.9 Application-specific password required. For more information, go to\n534 5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor mailtrip-embedded - gsmtp";
    pub const SMTP_WEB_LOGIN_REQUIRED: &str = "534-5.7.14 <https://accounts.google.com/signin/continue?sarp=1&scc=1>\n534-5.7.14 Please log in via your web browser and then try again.\n534-5.7.14  Learn more at\n534 5.7.14  https://support.google.com/mail/answer/78754 mailtrip-embedded - gsmtp";
    pub const IMAP_BAD_CREDENTIALS: &str =
        "NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)";
    pub const IMAP_APP_PASSWORD_REQUIRED: &str = "NO [ALERT] Application-specific password required: https://support.google.com/accounts/answer/185833 (Failure)";
    pub const IMAP_WEB_LOGIN_REQUIRED: &str = "NO [ALERT] Please log in via your web browser: https://support.google.com/mail/accounts/answer/78754 (Failure)";
    pub const IMAP_TOO_MANY_CONNECTIONS: &str =
        "NO [ALERT] Too many simultaneous connections. (Failure)";
}

/// Faults to inject; change them at run time with [`TestServer::set_faults`].
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Delay between SMTP acceptance and the message appearing in the mailbox: (min, max).
    pub delivery_delay: Option<(Duration, Duration)>,
    /// Messages whose header section contains this text (case-insensitive) go to \Junk.
    pub junk_rule: Option<String>,
    /// Answer `451 4.7.1` to the first RCPT of each new (sender, recipient) pair.
    pub greylist: bool,
    /// Close the SMTP connection after this many commands.
    pub smtp_drop_after: Option<usize>,
    /// Close the IMAP connection after this many commands.
    pub imap_drop_after: Option<usize>,
    /// Never answer this SMTP verb (e.g. `DATA`, `EHLO`, or `GREETING` for the banner).
    pub smtp_hang_on: Option<String>,
    /// Never answer this IMAP command (e.g. `IDLE`, `FETCH`, `LOGIN`, or `GREETING`).
    pub imap_hang_on: Option<String>,
    /// Store every delivered message twice.
    pub deliver_twice: bool,
    /// Append this text to the end of every delivered body (content mangling).
    pub append_footer: Option<String>,
    /// Reject SMTP AUTH with this reply (lines separated by `\n`, each with its code).
    pub smtp_auth_reject: Option<String>,
    /// Reject IMAP LOGIN / AUTHENTICATE with this tagged reply (e.g. `NO [ALERT] ...`).
    pub imap_auth_reject: Option<String>,
    /// Refuse IMAP connections beyond this many at once.
    pub max_imap_connections: Option<usize>,
    /// Silently drop this percentage (0-100) of deliveries after accepting them.
    pub drop_percent: u8,
    /// Messages whose header section contains this text (case-insensitive) are filed in the
    /// `\Archive` (or `\All`) folder instead of INBOX, as a user's filter would.
    pub archive_rule: Option<String>,
    /// Instead of delivering, send the sender an RFC 3464 bounce (a `multipart/report` DSN in
    /// the sender's INBOX) quoting this SMTP reply, e.g. `550 5.1.1 <bob@x>: User unknown`.
    pub bounce: Option<String>,
    /// Remove every MIME part with `Content-Disposition: attachment` (a stripping gateway).
    pub strip_attachments: bool,
    /// Hard-wrap body lines longer than this many bytes (a rewrapping gateway or client).
    pub rewrap_lines: Option<usize>,
    /// Prepend `Authentication-Results: <this>` on delivery, as the receiving MTA would.
    pub authentication_results: Option<String>,
    /// Leave IDLE out of CAPABILITY, so clients fall back to polling (benchmarks compare both).
    pub imap_no_idle: bool,
    /// Tell IDLE clients about a change only this long after it, as Dovecot does
    /// (`NOTIFY_DELAY_MSECS`, 500 ms) and Gmail and Exchange do in their own ways; any other
    /// command still sees the change at once.
    pub imap_idle_delay: Option<Duration>,
    /// Answer the IMAP command after this many with `* BYE` and close (a server restart).
    pub imap_bye_after: Option<usize>,
    /// Like `imap_hang_on`, but only for the first such command server-wide; the fault then
    /// clears itself, so a client that times out and reconnects gets answers.
    pub imap_hang_once_on: Option<String>,
    /// While a client IDLEs, close its connection instead of reporting new mail, this many
    /// times server-wide: the message lands in the gap the client's reconnect must cover.
    pub imap_drop_on_news: Option<usize>,
    /// Answer SMTP `verb` with `reply` (lines separated by `\n`, each with its code) the next
    /// `times` times server-wide, e.g. `("RCPT", "452 4.2.2 Mailbox full", 1)`. A `421`
    /// reply also closes the connection, as RFC 5321 asks.
    pub smtp_transient: Option<(String, String, usize)>,
    /// Write every reply one byte at a time with this pause between bytes (SMTP and IMAP).
    pub slow_drip: Option<Duration>,
    /// Implicit-TLS listeners (SMTPS, IMAPS) accept TCP and never answer the ClientHello.
    pub tls_stall: bool,
    /// Before delivering a message, file one in the recipient's INBOX that quotes it in this
    /// style; the original follows as usual (add `drop_percent: 100` to deliver only the quote).
    pub quote: Option<Quote>,
    /// Remove every top-level header with this name (case-insensitive) on delivery, as a
    /// gateway that strips `X-Mailtrip-Probe` would.
    pub strip_header: Option<String>,
    /// After the end of DATA: deliver the message, then cut the connection or fall silent
    /// instead of sending the `250` (the reply is lost; the mail is not).
    pub smtp_data_reply: Option<DataReply>,
    /// Answer `STARTTLS` with `220`, then never take part in the TLS handshake.
    pub starttls_stall: bool,
    /// Advertise no AUTH at all, before or after STARTTLS (an MX or relay-only port).
    pub smtp_no_auth: bool,
    /// Before carrying out a `UID EXPUNGE`, expunge this many other messages of the mailbox
    /// (lowest UIDs first), as concurrent sessions would: their `EXPUNGE` responses arrive in
    /// the same reply as the client's own (consumed once).
    pub imap_foreign_expunge: Option<usize>,
    /// The OAuth2 authorization server's faults and overridden settings (`oauth2_*` keys).
    pub oauth2: oauth::OAuthFaults,
}

/// What the `smtp_data_reply` fault does instead of answering the end of DATA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataReply {
    /// Close the connection without a word.
    Cut,
    /// Keep the connection open and say nothing more.
    Stall,
}

/// How the `quote` fault quotes a delivered message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quote {
    /// A vacation auto-reply with the original quoted line by line (`> X-Mailtrip-Probe: ...`).
    AutoReply,
    /// A forward with the original attached verbatim as `message/rfc822`.
    ForwardAttached,
    /// An inline forward: the original's headers and body pasted into the text.
    ForwardInline,
}

/// Ports to bind; `None` means an ephemeral port (0).
#[derive(Debug, Clone, Copy, Default)]
pub struct Ports {
    pub smtp: Option<u16>,
    pub submission: Option<u16>,
    pub smtps: Option<u16>,
    pub imap: Option<u16>,
    pub imaps: Option<u16>,
    /// The HTTP side: API, web view, `/oauth2/`.
    pub http: Option<u16>,
}

/// Everything `TestServer::start` needs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to bind; loopback unless `allow_remote` (checked by the CLI).
    pub bind: IpAddr,
    pub ports: Ports,
    pub profile: Profile,
    /// Users to create at start: (address, password).
    pub users: Vec<(String, SecretString)>,
    /// Host name used in greetings and `Received:` headers.
    pub hostname: String,
    /// Largest message accepted (SIZE, APPEND literals); 25 MiB by default.
    pub max_message_size: usize,
    /// Which certificate to serve.
    pub cert: CertKind,
    pub faults: Faults,
    /// Catch-all (the default: any address gets a mailbox) or strict (550 for unknown users).
    pub recipients: Recipients,
    /// Credentials the HTTP side wants ([`HttpAuth::None`](http::HttpAuth::None) on
    /// loopback); OAuth2 consent wants them too.
    pub http_auth: http::HttpAuth,
    /// Serve the HTTP side (and so the OAuth2 endpoints) over TLS with the server's
    /// certificate, as a real provider's token endpoint is.
    pub http_tls: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ports: Ports::default(),
            profile: Profile::Standard,
            users: Vec::new(),
            hostname: "localhost".to_string(),
            max_message_size: 25 * 1024 * 1024,
            cert: CertKind::Valid,
            faults: Faults::default(),
            recipients: Recipients::default(),
            http_auth: http::HttpAuth::None,
            http_tls: false,
        }
    }
}

impl ServerConfig {
    /// A config with one user.
    pub fn with_user(mut self, address: &str, password: &str) -> Self {
        self.users.push((
            address.to_string(),
            SecretString::from(password.to_string()),
        ));
        self
    }

    pub fn profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }

    pub fn faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Only declared users receive mail; others get `550 5.1.1 User unknown`.
    pub fn strict_recipients(mut self) -> Self {
        self.recipients = Recipients::Strict;
        self
    }

    /// Serves the HTTP side, and so the OAuth2 endpoints, over HTTPS.
    pub fn http_tls(mut self) -> Self {
        self.http_tls = true;
        self
    }
}

/// Which listener accepted a connection; decides TLS and AUTH policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerKind {
    /// SMTP relay port: plain, STARTTLS offered, AUTH optional.
    Smtp,
    /// Submission: STARTTLS required before AUTH, AUTH required before MAIL.
    Submission,
    /// Implicit-TLS submission.
    Smtps,
    /// IMAP: plain, STARTTLS offered (LOGIN allowed only after TLS).
    Imap,
    /// Implicit-TLS IMAP.
    Imaps,
}

impl ListenerKind {
    fn implicit_tls(self) -> bool {
        matches!(self, ListenerKind::Smtps | ListenerKind::Imaps)
    }
    fn is_imap(self) -> bool {
        matches!(self, ListenerKind::Imap | ListenerKind::Imaps)
    }
}

/// State shared by every session: the store, the config, faults, TLS and the shutdown signal.
pub struct Shared {
    pub store: Store,
    pub config: ServerConfig,
    pub tls: tls::TlsMaterial,
    faults: Mutex<Faults>,
    /// IMAP connections currently open (for `max_imap_connections`).
    pub imap_connections: AtomicUsize,
    /// AUTH commands received over SMTP and LOGIN / AUTHENTICATE over IMAP, successful or not.
    auth_attempts: [AtomicUsize; 2],
    /// Faults that fired (drops, BYEs, hangs, transient replies, TLS stalls), for tests.
    faults_fired: AtomicUsize,
    /// IMAP sessions in IDLE right now.
    idling: AtomicUsize,
    /// Sender/recipient pairs that have been greylisted once.
    pub greylist_seen: Mutex<std::collections::HashSet<(String, String)>>,
    /// The OAuth2 authorization server whose access tokens XOAUTH2 accepts.
    pub oauth: oauth::AuthServer,
    shutdown: watch::Receiver<bool>,
}

impl Shared {
    /// A snapshot of the current faults.
    pub fn faults(&self) -> Faults {
        self.faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Runs `f` on the faults in force under their lock (to consume a counted fault).
    pub fn consume_fault<T>(&self, f: impl FnOnce(&mut Faults) -> T) -> T {
        f(&mut self.faults.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Notes that an injected fault fired.
    pub fn fault_fired(&self, what: &str) {
        tracing::debug!(fault = what, "fault fired");
        self.faults_fired.fetch_add(1, Ordering::SeqCst);
    }

    /// Marks a session as IDLE-ing until the guard drops.
    pub(crate) fn idle_guard(&self) -> CountGuard<'_> {
        self.idling.fetch_add(1, Ordering::SeqCst);
        CountGuard(&self.idling)
    }

    /// Counts one login attempt (`imap`: LOGIN / AUTHENTICATE, else SMTP AUTH).
    pub fn count_auth_attempt(&self, imap: bool) {
        self.auth_attempts[usize::from(imap)].fetch_add(1, Ordering::SeqCst);
    }

    /// A receiver that turns `true` when the server shuts down.
    pub fn shutdown(&self) -> watch::Receiver<bool> {
        self.shutdown.clone()
    }
}

/// Error starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("could not bind {kind:?} listener on {addr}")]
    Bind {
        kind: ListenerKind,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("could not set up TLS")]
    Tls(#[from] tls::TlsSetupError),
    #[error("could not bind the HTTP API on {addr}")]
    HttpBind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The server's own runtime (its worker threads) could not be started.
    #[error("could not start the server's runtime")]
    Runtime(#[source] std::io::Error),
}

/// Addresses of every listener.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Addrs {
    pub smtp: SocketAddr,
    pub submission: SocketAddr,
    pub smtps: SocketAddr,
    pub imap: SocketAddr,
    pub imaps: SocketAddr,
}

/// A running embedded server. Dropping it stops every task.
///
/// It runs on its own tokio runtime (worker threads named `mailtrip-server`), not the
/// caller's: start it from a plain `#[test]` with [`start_blocking`](TestServer::start_blocking),
/// and point blocking clients at it (lettre's `SmtpTransport` inside a single-threaded
/// `#[tokio::test]`) without stalling it. [`wait_for`](TestServer::wait_for) returns what it
/// caught, parsed, without an IMAP round trip.
pub struct TestServer {
    shared: Arc<Shared>,
    addrs: Addrs,
    shutdown_tx: watch::Sender<bool>,
    listeners: Vec<JoinHandle<()>>,
    /// The HTTP side: API, web view, `/oauth2/`.
    http: http::HttpServer,
    /// Spawns onto the server's runtime.
    handle: Handle,
    /// Owns that runtime; set once `launch` has run on it, dropped last.
    runtime: ServerRuntime,
}

/// The server's own multi-threaded runtime. Shut down without blocking, so a server can be
/// dropped inside async code (a plain drop of a runtime would panic there).
#[derive(Default)]
struct ServerRuntime(Option<tokio::runtime::Runtime>);

impl ServerRuntime {
    fn new() -> Result<ServerRuntime, ServerError> {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("mailtrip-server")
            .enable_all()
            .build()
            .map(|rt| ServerRuntime(Some(rt)))
            .map_err(ServerError::Runtime)
    }

    /// Runs `TestServer::launch` on this runtime and hands the server it built this runtime.
    /// Any executor can await it: the work happens on the server's own threads.
    async fn launch(self, config: ServerConfig) -> Result<TestServer, ServerError> {
        let Some(rt) = &self.0 else {
            return Err(ServerError::Runtime(std::io::Error::other("no runtime")));
        };
        let mut server = match rt.spawn(TestServer::launch(config)).await {
            Ok(result) => result?,
            Err(e) => match e.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(e) => return Err(ServerError::Runtime(std::io::Error::other(e))),
            },
        };
        server.runtime = self;
        Ok(server)
    }
}

impl Drop for ServerRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("addrs", &self.addrs)
            .finish()
    }
}

impl TestServer {
    /// Starts the server on its own runtime: binds every listener, creates the users, and
    /// starts serving. Works from any async context, whatever its runtime flavor.
    pub async fn start(config: ServerConfig) -> Result<TestServer, ServerError> {
        ServerRuntime::new()?.launch(config).await
    }

    /// [`start`](TestServer::start) for synchronous code: a plain `#[test]` or a `main`
    /// without tokio. It blocks the calling thread until the listeners are bound.
    pub fn start_blocking(config: ServerConfig) -> Result<TestServer, ServerError> {
        futures::executor::block_on(ServerRuntime::new()?.launch(config))
    }

    /// The body of `start`, run on the server's runtime.
    async fn launch(config: ServerConfig) -> Result<TestServer, ServerError> {
        let tls = tls::TlsMaterial::generate(config.cert)?;
        let store = Store::new();
        let layout = config.profile.layout();
        for (address, password) in &config.users {
            store.add_user(address, password.clone(), &layout);
        }
        store.set_auto_create(recipients::auto_create(&config.recipients, &layout));
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let bind = |kind: ListenerKind, port: Option<u16>| {
            let addr = SocketAddr::new(config.bind, port.unwrap_or(0));
            async move {
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| ServerError::Bind { kind, addr, source })
            }
        };
        let p = config.ports;
        let listeners = [
            (ListenerKind::Smtp, bind(ListenerKind::Smtp, p.smtp).await?),
            (
                ListenerKind::Submission,
                bind(ListenerKind::Submission, p.submission).await?,
            ),
            (
                ListenerKind::Smtps,
                bind(ListenerKind::Smtps, p.smtps).await?,
            ),
            (ListenerKind::Imap, bind(ListenerKind::Imap, p.imap).await?),
            (
                ListenerKind::Imaps,
                bind(ListenerKind::Imaps, p.imaps).await?,
            ),
        ];
        let local = |i: usize| listeners[i].1.local_addr();
        let io_err = |kind, source| ServerError::Bind {
            kind,
            addr: SocketAddr::new(config.bind, 0),
            source,
        };
        let addrs = Addrs {
            smtp: local(0).map_err(|e| io_err(ListenerKind::Smtp, e))?,
            submission: local(1).map_err(|e| io_err(ListenerKind::Submission, e))?,
            smtps: local(2).map_err(|e| io_err(ListenerKind::Smtps, e))?,
            imap: local(3).map_err(|e| io_err(ListenerKind::Imap, e))?,
            imaps: local(4).map_err(|e| io_err(ListenerKind::Imaps, e))?,
        };
        let faults = Mutex::new(config.faults.clone());
        let http_addr = SocketAddr::new(config.bind, p.http.unwrap_or(0));
        let http_bind = |source| ServerError::HttpBind {
            addr: http_addr,
            source,
        };
        let http_listener = TcpListener::bind(http_addr).await.map_err(http_bind)?;
        let http_addr = http_listener.local_addr().map_err(http_bind)?;
        let http_config = http::HttpConfig {
            addr: http_addr,
            auth: config.http_auth.clone(),
            extra: http::Router::default(),
            tls: config.http_tls,
        };
        let oauth = oauth::AuthServer::new(config.users.first().map(|(a, _)| a.clone()));
        let shared = Arc::new(Shared {
            store,
            config,
            tls,
            faults,
            imap_connections: AtomicUsize::new(0),
            auth_attempts: Default::default(),
            faults_fired: AtomicUsize::new(0),
            idling: AtomicUsize::new(0),
            greylist_seen: Mutex::new(Default::default()),
            oauth,
            shutdown: shutdown_rx,
        });
        let listeners = listeners
            .into_iter()
            .map(|(kind, listener)| tokio::spawn(serve(shared.clone(), kind, listener)))
            .collect();
        let http = http::HttpServer::serve_on(http_listener, shared.clone(), addrs, http_config);
        Ok(TestServer {
            shared,
            addrs,
            shutdown_tx,
            listeners,
            http,
            handle: Handle::current(),
            runtime: ServerRuntime::default(),
        })
    }

    /// Every listener's address.
    pub fn addrs(&self) -> Addrs {
        self.addrs
    }
    pub fn smtp_addr(&self) -> SocketAddr {
        self.addrs.smtp
    }
    pub fn submission_addr(&self) -> SocketAddr {
        self.addrs.submission
    }
    pub fn smtps_addr(&self) -> SocketAddr {
        self.addrs.smtps
    }
    pub fn imap_addr(&self) -> SocketAddr {
        self.addrs.imap
    }
    pub fn imaps_addr(&self) -> SocketAddr {
        self.addrs.imaps
    }

    /// PEM of the generated CA that signed the server certificate.
    pub fn ca_pem(&self) -> &str {
        self.shared.tls.ca_pem()
    }

    /// The shared store (read messages, seed mailboxes).
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// The profile the server runs with.
    pub fn profile(&self) -> Profile {
        self.shared.config.profile
    }

    /// Adds a user with the profile's folder layout.
    pub fn add_user(&self, address: &str, password: &str) {
        let layout = self.shared.config.profile.layout();
        self.shared
            .store
            .add_user(address, SecretString::from(password.to_string()), &layout);
    }

    /// Lets `address` authenticate with XOAUTH2 using `token`.
    pub fn add_oauth_token(&self, address: &str, token: &str) -> Result<(), StoreError> {
        self.shared
            .store
            .add_token(address, SecretString::from(token.to_string()))
    }

    /// The HTTP side: the JSON API (`docs/api.md`), the web view and `/oauth2/`, on one
    /// port of its own (`ports.http`), HTTPS with [`ServerConfig::http_tls`].
    pub fn http(&self) -> &http::HttpServer {
        &self.http
    }

    /// The HTTP side's base URL: `http://127.0.0.1:PORT`, or `https://…` with
    /// [`ServerConfig::http_tls`].
    pub fn http_url(&self) -> String {
        self.http.url()
    }

    /// The OAuth2 authorization server's base URL on the HTTP side, `{http_url}/oauth2`: its
    /// endpoints are `/devicecode`, `/authorize`, `/token` (and `/device`, the verification page).
    pub fn oauth2_url(&self) -> String {
        self.http.oauth2_url()
    }

    /// The OAuth2 authorization server: settings, statistics, revocation (its faults are the
    /// `oauth2` field of [`Faults`]).
    pub fn oauth(&self) -> &oauth::AuthServer {
        &self.shared.oauth
    }

    /// Revokes every OAuth2 grant of `user` (refresh and access tokens it issued).
    pub fn revoke_oauth(&self, user: &str) {
        self.shared.oauth.revoke(&self.shared.store, user);
    }

    /// Login attempts seen so far, successful or not: (SMTP AUTH, IMAP LOGIN / AUTHENTICATE).
    /// Lets tests prove a client never retries a rejected password.
    pub fn auth_attempts(&self) -> (usize, usize) {
        let n = |i: usize| self.shared.auth_attempts[i].load(Ordering::SeqCst);
        (n(0), n(1))
    }

    /// How many injected faults have fired so far (drops, BYEs, hangs, transient replies,
    /// TLS stalls): lets a test prove its fault was exercised.
    pub fn faults_fired(&self) -> usize {
        self.shared.faults_fired.load(Ordering::SeqCst)
    }

    /// IMAP sessions currently in IDLE.
    pub fn idling(&self) -> usize {
        self.shared.idling.load(Ordering::SeqCst)
    }

    /// Replaces the faults in force; new commands see the change at once.
    pub fn set_faults(&self, faults: Faults) {
        *self.shared.faults.lock().unwrap_or_else(|p| p.into_inner()) = faults;
    }

    /// Current faults.
    pub fn faults(&self) -> Faults {
        self.shared.faults()
    }

    /// Seeds a folder with raw message bytes; returns the new UID.
    pub fn deliver_raw(&self, user: &str, folder: &str, raw: &[u8]) -> Result<u32, StoreError> {
        self.shared
            .store
            .append(
                user,
                folder,
                bytes::Bytes::copy_from_slice(raw),
                Vec::new(),
                None,
            )
            .map(|(_, uid)| uid)
    }

    /// The messages in a folder.
    pub fn messages(&self, user: &str, folder: &str) -> Result<Vec<StoredMessage>, StoreError> {
        self.shared.store.messages(user, folder)
    }

    /// Waits for a message to `user` matching criteria added to the returned [`WaitFor`],
    /// and returns it parsed: the same [`Message`](crate::analyze::Message) as
    /// [`Wait`](crate::Wait) gives over IMAP (links, codes, attachments). Await it, or call
    /// [`blocking`](WaitFor::blocking) from synchronous code.
    pub fn wait_for(&self, user: &str) -> WaitFor {
        WaitFor::new(self.shared.clone(), self.handle.clone(), user)
    }

    /// Waits (on the store's notifier, not by polling) until `folder` holds `n` messages.
    pub async fn wait_for_messages(
        &self,
        user: &str,
        folder: &str,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        self.shared
            .store
            .wait_for_messages(user, folder, n, timeout)
            .await
    }

    /// Feeds `input` to a fresh session of `kind` over an in-memory pipe (no TLS, peer
    /// 127.0.0.1) and returns everything the server wrote until the session ended or
    /// `limit` passed. For fuzzing and byte-exact protocol tests; STARTTLS fails over it.
    #[doc(hidden)]
    pub async fn replay(&self, kind: ListenerKind, input: &[u8], limit: Duration) -> Vec<u8> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut client, server_end) = tokio::io::duplex(64 * 1024);
        let stream = ServerStream::Memory(server_end);
        let peer = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
        let shared = self.shared.clone();
        let session = self.handle.spawn(async move {
            if kind.is_imap() {
                let open = shared.imap_connections.fetch_add(1, Ordering::SeqCst) + 1;
                let _guard = CountGuard(&shared.imap_connections);
                imap::session::run(shared.clone(), stream, kind, peer, open).await;
            } else {
                smtp::session::run(shared.clone(), stream, kind, peer).await;
            }
        });
        let mut out = Vec::new();
        let io = async {
            // Write and read at once: a session may answer before it has read everything.
            let (mut r, mut w) = tokio::io::split(&mut client);
            let write = async {
                let _ = w.write_all(input).await;
                let _ = w.shutdown().await;
            };
            let read = async {
                let _ = r.read_to_end(&mut out).await;
            };
            tokio::join!(write, read);
        };
        let _ = tokio::time::timeout(limit, io).await;
        session.abort();
        let _ = session.await;
        out
    }

    /// Stops accepting, ends every session, and waits for all tasks to finish.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown_tx.send(true);
        self.http.stop().await;
        for handle in std::mem::take(&mut self.listeners) {
            let _ = handle.await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.shutdown_tx.send(true);
        for handle in &self.listeners {
            handle.abort();
        }
    }
}

/// How long sessions get to finish after shutdown is signalled before they are aborted.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

async fn serve(shared: Arc<Shared>, kind: ListenerKind, listener: TcpListener) {
    let mut shutdown = shared.shutdown();
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            _ = until_shutdown(&mut shutdown) => break,
            accepted = listener.accept() => {
                match accepted {
                    Ok((tcp, peer)) => {
                        sessions.spawn(session(shared.clone(), kind, tcp, peer));
                    }
                    Err(e) => {
                        // Too many open files and the like: back off instead of spinning.
                        tracing::warn!(?kind, error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
    drop(listener);
    let drain = async { while sessions.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
        sessions.shutdown().await;
    }
}

async fn session(shared: Arc<Shared>, kind: ListenerKind, tcp: TcpStream, peer: SocketAddr) {
    let _ = tcp.set_nodelay(true);
    let mut stream = ServerStream::Plain(tcp);
    if kind.implicit_tls() && shared.faults().tls_stall {
        shared.fault_fired("tls_stall");
        stall(&shared, &mut stream).await;
        return;
    }
    if kind.implicit_tls() {
        let handshake = stream.upgrade(shared.tls.acceptor());
        match tokio::time::timeout(Duration::from_secs(30), handshake).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::debug!(%peer, ?kind, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, ?kind, "TLS handshake timed out");
                return;
            }
        }
    }
    if kind.is_imap() {
        let open = shared.imap_connections.fetch_add(1, Ordering::SeqCst) + 1;
        let _guard = CountGuard(&shared.imap_connections);
        imap::session::run(shared.clone(), stream, kind, peer, open).await;
    } else {
        smtp::session::run(shared.clone(), stream, kind, peer).await;
    }
}

/// The `tls_stall` fault: read and discard (the ClientHello) until the peer closes or the
/// server shuts down, never answering.
async fn stall(shared: &Shared, stream: &mut ServerStream) {
    use tokio::io::AsyncReadExt;
    let mut shutdown = shared.shutdown();
    let mut buf = [0u8; 4096];
    loop {
        tokio::select! {
            _ = until_shutdown(&mut shutdown) => return,
            r = stream.read(&mut buf) => if !matches!(r, Ok(n) if n > 0) { return },
        }
    }
}

/// Takes one use of a counted fault: `Some(0)` or `None` means no.
pub fn take_count(count: &mut Option<usize>) -> bool {
    match count {
        Some(n) if *n > 0 => {
            *n -= 1;
            true
        }
        _ => false,
    }
}

/// Resolves once shutdown is signalled (or the server is gone).
pub async fn until_shutdown(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Decrements its counter when dropped.
pub(crate) struct CountGuard<'a>(&'a AtomicUsize);

impl Drop for CountGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
