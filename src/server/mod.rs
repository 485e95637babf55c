//! The embedded loopback SMTP + IMAP server: real sockets, real TLS, one shared in-memory
//! store, behaviour profiles (Gmail) and injectable faults, so the round trip and its failure
//! handling are tested for real without a mail account.
//!
//! Layering, as in mini-redis: bytes → codec (`smtp::codec`, imap-codec) → session state
//! machine (`smtp::session`, `imap::session`) → [`store::Store`]. Every listener binds port 0
//! unless told otherwise, and shuts down on [`TestServer::shutdown`] or drop. The server runs
//! on its own tokio runtime, so it keeps answering while the caller's thread blocks.
//!
//! This file holds what every part shares (profiles, listener kinds, the shared state and
//! its errors); `config`, `faults`, `test_server` and `listeners` hold the rest, re-exported
//! here.

pub(crate) mod conn;
pub(crate) mod deliver;
pub(crate) mod fault_spec;
pub mod http;
pub(crate) mod imap;
pub mod oauth;
pub(crate) mod recipients;
pub(crate) mod smtp;
pub(crate) mod store;
pub(crate) mod tls;

mod config;
mod faults;
mod listeners;
mod test_server;
mod wait_for;

use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::watch;

pub use config::{Ports, ServerConfig};
pub use fault_spec::{FaultSpec, FaultSpecError, Span, SpanError, SpanRange, Transient};
pub use faults::{DataReply, Faults, Quote};
pub use recipients::Recipients;
pub use store::{
    AutoCreate, FlagOp, FolderLayout, MailboxInfo, SpecialUse, Store, StoreError, StoredMessage,
    Transfer, UserInfo,
};
pub use test_server::TestServer;
pub use tls::CertKind;
pub use wait_for::{WaitFor, WaitForError};

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
    /// SMTP AUTH refused: wrong user or password.
    pub const SMTP_BAD_CREDENTIALS: &str = "535-5.7.8 Username and Password not accepted. For more information, go to\n535 5.7.8  https://support.google.com/mail/?p=BadCredentials mailtrip-embedded - gsmtp";
    /// SMTP AUTH refused: the account has 2-step verification and needs an app password.
    pub const SMTP_APP_PASSWORD_REQUIRED: &str = "534-5.7.9 Application-specific password required. For more information, go to\n534 5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor mailtrip-embedded - gsmtp";
    /// SMTP AUTH refused until the user signs in on the web.
    pub const SMTP_WEB_LOGIN_REQUIRED: &str = "534-5.7.14 <https://accounts.google.com/signin/continue?sarp=1&scc=1>\n534-5.7.14 Please log in via your web browser and then try again.\n534-5.7.14  Learn more at\n534 5.7.14  https://support.google.com/mail/answer/78754 mailtrip-embedded - gsmtp";
    /// IMAP LOGIN refused: wrong user or password.
    pub const IMAP_BAD_CREDENTIALS: &str =
        "NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)";
    /// IMAP LOGIN refused: an app password is required.
    pub const IMAP_APP_PASSWORD_REQUIRED: &str = "NO [ALERT] Application-specific password required: https://support.google.com/accounts/answer/185833 (Failure)";
    /// IMAP LOGIN refused until the user signs in on the web.
    pub const IMAP_WEB_LOGIN_REQUIRED: &str = "NO [ALERT] Please log in via your web browser: https://support.google.com/mail/accounts/answer/78754 (Failure)";
    /// IMAP LOGIN refused: too many connections at once.
    pub const IMAP_TOO_MANY_CONNECTIONS: &str =
        "NO [ALERT] Too many simultaneous connections. (Failure)";
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
pub(crate) struct Shared {
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
    /// A listener's port could not be bound.
    #[error("could not bind {kind:?} listener on {addr}")]
    Bind {
        /// Which listener.
        kind: ListenerKind,
        /// The address it tried.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The CA or leaf certificate could not be generated or loaded.
    #[error("could not set up TLS")]
    Tls(#[from] tls::TlsSetupError),
    /// The HTTP API's port could not be bound.
    #[error("could not bind the HTTP API on {addr}")]
    HttpBind {
        /// The address it tried.
        addr: SocketAddr,
        /// The OS error.
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
    /// SMTP relay port (plain, STARTTLS offered).
    pub smtp: SocketAddr,
    /// Submission port (STARTTLS required before AUTH).
    pub submission: SocketAddr,
    /// Implicit-TLS submission port.
    pub smtps: SocketAddr,
    /// IMAP port (plain, STARTTLS offered).
    pub imap: SocketAddr,
    /// Implicit-TLS IMAP port.
    pub imaps: SocketAddr,
}

/// Takes one use of a counted fault: `Some(0)` or `None` means no.
pub(crate) fn take_count(count: &mut Option<usize>) -> bool {
    match count {
        Some(n) if *n > 0 => {
            *n -= 1;
            true
        }
        _ => false,
    }
}

/// Resolves once shutdown is signalled (or the server is gone).
pub(crate) async fn until_shutdown(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Decrements its counter when dropped.
pub(crate) struct CountGuard<'a>(&'a AtomicUsize);

impl Drop for CountGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
