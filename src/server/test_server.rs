//! [`TestServer`]: a running embedded server on its own tokio runtime, and what callers do
//! with it: start and stop it, find its ports and CA, add users and tokens, set faults,
//! deliver and read mail, and replay raw bytes through a session.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::conn::ServerStream;
use super::listeners::{run_session, serve};
use super::{
    Addrs, Faults, ListenerKind, Profile, ServerConfig, ServerError, Shared, Store, StoreError,
    StoredMessage, WaitFor, http, oauth, recipients, tls,
};

/// A running embedded server. Dropping it stops every task.
///
/// It runs on its own tokio runtime (worker threads named `mailtrip-server`), not the
/// caller's: start it from a plain `#[test]` with [`start_blocking`](TestServer::start_blocking),
/// and point blocking clients at it (lettre's `SmtpTransport` inside a single-threaded
/// `#[tokio::test]`) without stalling it. [`wait_for`](TestServer::wait_for) returns what it
/// caught, parsed, without an IMAP round trip.
pub struct TestServer {
    pub(super) shared: Arc<Shared>,
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
    /// The SMTP relay listener.
    pub fn smtp_addr(&self) -> SocketAddr {
        self.addrs.smtp
    }
    /// The submission listener (STARTTLS).
    pub fn submission_addr(&self) -> SocketAddr {
        self.addrs.submission
    }
    /// The implicit-TLS submission listener.
    pub fn smtps_addr(&self) -> SocketAddr {
        self.addrs.smtps
    }
    /// The IMAP listener (STARTTLS).
    pub fn imap_addr(&self) -> SocketAddr {
        self.addrs.imap
    }
    /// The implicit-TLS IMAP listener.
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
        let session = self.handle.spawn(run_session(shared, stream, kind, peer));
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
