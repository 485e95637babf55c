//! [`Wait`]: wait for a message that something else sends (an app's signup mail), matched by
//! sender, recipient, subject and header patterns, then parse it and pull out a link or a
//! one-time code. `run` also matches mail that arrived within a look-back window before it
//! started; `arm` watches from the moment it returns, for tests that send afterwards.

use std::sync::Arc;
use std::time::Duration;

mod armed;

pub use armed::Armed;

use super::hook::Hook;
use crate::analyze::filter::{self, Filter, filter_methods};
use crate::analyze::{Message, PatternError, Seen};
use crate::config::Account;
use crate::diagnose::Diagnosis;

/// Called once the watch is in place, with the folder and the first UID that can match.
type Ready = Hook<dyn Fn(&str, u32) + Send + Sync>;

/// Waits for one message in an account's mailbox.
///
/// Two ways to use it, both safe against the race between your app sending and the wait
/// starting:
///
/// - [`run`](Wait::run) after the app has sent: it matches mail that arrived up to
///   [`Wait::LOOK_BACK`] (60 s, see [`look_back`](Wait::look_back)) before it started, and
///   anything that arrives later.
/// - [`arm`](Wait::arm) before the app sends, then await the [`Armed`] handle: only mail
///   that arrives after `arm` returned matches, so an older look-alike never does.
///
/// When several messages match, the earliest (lowest UID) is returned and the others are
/// named in its warnings. [`since`](Wait::since) replaces either window with an exact lower
/// bound on the arrival time.
///
/// ```no_run
/// # async fn f(account: mailtrip::Account) -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use mailtrip::probe::{Extract, Wait};
///
/// // The app has sent its mail already:
/// let mail = Wait::new(account.clone())
///     .subject("(?i)confirm")
///     .timeout(Duration::from_secs(30))
///     .run()
///     .await?;
/// let link = mail.extract(&"link:/confirm".parse::<Extract>()?);
///
/// // Or arm first, then make the app send:
/// let armed = Wait::new(account).subject("(?i)reset").arm().await?;
/// // app.request_password_reset().await;
/// let mail = armed.await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Wait {
    account: Account,
    folder: String,
    filter: Filter,
    look_back: Option<Duration>,
    timeout: Duration,
    delete: bool,
    ready: Option<Ready>,
}

/// Why no message came back.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WaitError {
    /// Connecting, logging in or selecting the folder failed.
    #[error("{}", .0.summary)]
    Imap(Diagnosis),
    /// A subject or header pattern is not a valid regular expression.
    #[error(transparent)]
    Pattern(#[from] PatternError),
    /// Nothing matched before the timeout.
    #[error("{}", filter::timeout_text(.folder, .waited, *.seen, .others, .earlier, .window.as_deref()))]
    Timeout {
        /// The folder watched.
        folder: String,
        /// How long the wait lasted.
        waited: Duration,
        /// How many messages in the window did not match the criteria.
        seen: usize,
        /// A few of those, for the error text.
        others: Vec<Seen>,
        /// Messages that matched the criteria but arrived before the window (at most 3,
        /// most recent last): widen the window with `since` or `look_back`.
        earlier: Vec<Seen>,
        /// Where the window started (RFC 3339), when it reached back before the wait.
        window: Option<String>,
    },
}

impl WaitError {
    /// The diagnosis, for IMAP failures.
    pub fn diagnosis(&self) -> Option<&Diagnosis> {
        match self {
            WaitError::Imap(d) => Some(d),
            _ => None,
        }
    }

    /// Whether nothing matched in time (as opposed to a connection or pattern error).
    pub fn is_timeout(&self) -> bool {
        matches!(self, WaitError::Timeout { .. })
    }
}

impl Wait {
    /// How far before its start [`run`](Wait::run) looks by default: mail your app sent just
    /// before the test started waiting still matches.
    pub const LOOK_BACK: Duration = Duration::from_secs(60);

    /// Waits in `account`'s INBOX for any message (add criteria to narrow it).
    pub fn new(account: Account) -> Wait {
        Wait {
            account,
            folder: "INBOX".into(),
            filter: Filter::default(),
            look_back: None,
            timeout: Duration::from_secs(60),
            delete: false,
            ready: None,
        }
    }

    filter_methods!();

    /// How far before the wait started mail may have arrived and still match, by its
    /// INTERNALDATE at one-second resolution: [`Wait::LOOK_BACK`] for `run`, zero for
    /// `arm`, unless set here. `Duration::ZERO` means only mail arriving after the start.
    /// Ignored when [`since`](Wait::since) is given.
    pub fn look_back(mut self, window: Duration) -> Wait {
        self.look_back = Some(window);
        self
    }

    setters! { Wait;
        /// Delete exactly the matched message (by UID) once it has been read.
        delete(delete: bool);
    }

    /// Called once the watch is in place (folder, first UID that can match): anything
    /// delivered from then on is seen. [`arm`](Wait::arm) is the simpler way to order a
    /// send after this point.
    pub fn on_ready(mut self, f: impl Fn(&str, u32) + Send + Sync + 'static) -> Wait {
        self.ready = Some(Hook(Arc::new(f)));
        self
    }

    /// Waits for the first matching message, including one that arrived within the
    /// look-back window before the call.
    pub async fn run(self) -> Result<Message, WaitError> {
        let look_back = self.look_back.unwrap_or(Wait::LOOK_BACK);
        self.start(look_back).await?.finish().await
    }

    /// Puts the watch in place and returns a handle to await: every message that arrives
    /// from now on is seen (with [`look_back`](Wait::look_back) or [`since`](Wait::since),
    /// earlier ones too). The timeout counts from here.
    pub async fn arm(self) -> Result<Armed, WaitError> {
        let look_back = self.look_back.unwrap_or(Duration::ZERO);
        self.start(look_back).await
    }
}
