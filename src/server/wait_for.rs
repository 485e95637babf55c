//! [`WaitFor`]: wait until the embedded server's store holds a message matching criteria and
//! return it parsed, the same `Message` `Wait` gives over IMAP, without the IMAP round trip.
//! Woken by the store's change notifier, run on the server's own runtime.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::time::Instant;

use super::{Shared, StoreError};
use crate::analyze::filter::{self, Fields, Filter, SAMPLES, filter_methods};
use crate::analyze::{Message, PatternError, Seen};

/// A wait for mail the server caught, built by [`TestServer::wait_for`](super::TestServer::wait_for).
///
/// Every message in the folder counts, whether it arrived before or after the wait started;
/// narrow it with criteria (and [`since`](WaitFor::since) for arrival time). The earliest
/// match (lowest UID) wins; others are named in its warnings.
///
/// ```no_run
/// # async fn f(server: mailtrip::server::TestServer) -> Result<(), Box<dyn std::error::Error>> {
/// let mail = server.wait_for("new-user@test.local").subject("(?i)confirm").await?;
/// assert!(mail.links.iter().any(|l| l.contains("/confirm")));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct WaitFor {
    shared: Arc<Shared>,
    handle: Handle,
    user: String,
    folder: String,
    filter: Filter,
    timeout: Duration,
}

impl std::fmt::Debug for WaitFor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitFor")
            .field("user", &self.user)
            .field("folder", &self.folder)
            .field("filter", &self.filter)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Why [`WaitFor`] returned no message.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WaitForError {
    /// No such user or folder.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A subject or header pattern is not a valid regular expression.
    #[error(transparent)]
    Pattern(#[from] PatternError),
    /// Nothing matched before the timeout.
    #[error("{}", filter::timeout_text(&format!("{}'s {}", .user, .folder), .waited, *.seen, .others, .earlier, None))]
    Timeout {
        /// Whose mailbox.
        user: String,
        /// The folder looked in.
        folder: String,
        /// How long the wait lasted.
        waited: Duration,
        /// How many messages did not match the criteria.
        seen: usize,
        /// A few of those, for the error text.
        others: Vec<Seen>,
        /// Messages that met every criterion but `since` (at most 3, most recent last).
        earlier: Vec<Seen>,
    },
    /// The server was dropped or shut down during the wait.
    #[error("the embedded server shut down during the wait")]
    Stopped,
}

impl WaitForError {
    /// Whether nothing matched in time.
    pub fn is_timeout(&self) -> bool {
        matches!(self, WaitForError::Timeout { .. })
    }
}

impl WaitFor {
    pub(super) fn new(shared: Arc<Shared>, handle: Handle, user: &str) -> WaitFor {
        WaitFor {
            shared,
            handle,
            user: user.to_string(),
            folder: "INBOX".into(),
            filter: Filter::default(),
            timeout: Duration::from_secs(10),
        }
    }

    filter_methods!();

    /// Waits on the calling thread, for synchronous code (a plain `#[test]`). Inside async
    /// code, `.await` the `WaitFor` instead.
    pub fn blocking(self) -> Result<Message, WaitForError> {
        futures::executor::block_on(self.into_future())
    }

    async fn run(self) -> Result<Message, WaitForError> {
        self.filter.check()?;
        let started = Instant::now();
        let deadline = started + self.timeout;
        let store = &self.shared.store;
        let mut changes = store.subscribe();
        let mut examined = std::collections::HashSet::new();
        let (mut seen, mut others, mut earlier) = (0, Vec::new(), Vec::new());
        loop {
            let _ = changes.borrow_and_update();
            let mut hits = Vec::new();
            // Under the catch-all, `user+tag@` mail is `user@`'s, and a mailbox that does not
            // exist yet is one nothing has been delivered to so far: keep waiting.
            let owner = store.owner(&self.user).unwrap_or_else(|| self.user.clone());
            let stored = match store.messages(&owner, &self.folder) {
                Err(super::StoreError::NoSuchUser) if store.auto_creates() => Vec::new(),
                r => r?,
            };
            for m in stored {
                if !examined.insert(m.uid) {
                    continue;
                }
                let Some(fields) = Fields::read(&m.raw) else {
                    continue;
                };
                let arrived = Some(m.internal_date);
                match (self.filter.admits(arrived), self.filter.matches(&fields)) {
                    (true, true) => hits.push(m),
                    (true, false) => {
                        seen += 1;
                        if others.len() < SAMPLES {
                            others.push(fields.seen(m.uid, arrived));
                        }
                    }
                    (false, true) => {
                        earlier.push(fields.seen(m.uid, arrived));
                        if earlier.len() > SAMPLES {
                            earlier.remove(0);
                        }
                    }
                    (false, false) => {}
                }
            }
            if let Some(first) = hits.first() {
                let mut message = Message::parse(&first.raw);
                message.folder = self.folder.clone();
                message.uid = first.uid;
                message.internal_date = Some(first.internal_date.to_rfc3339());
                message.waited_ms = started.elapsed().as_secs_f64() * 1000.0;
                if hits.len() > 1 {
                    let rest: Vec<String> = hits[1..].iter().map(|m| m.uid.to_string()).collect();
                    message.warnings.push(format!(
                        "{} messages matched; this is the earliest (UID {}), the others are UID {}",
                        hits.len(),
                        first.uid,
                        rest.join(", ")
                    ));
                }
                return Ok(message);
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                _ => break,
            }
        }
        Err(WaitForError::Timeout {
            user: self.user.clone(),
            folder: self.folder.clone(),
            waited: started.elapsed(),
            seen,
            others,
            earlier,
        })
    }
}

impl IntoFuture for WaitFor {
    type Output = Result<Message, WaitForError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<Message, WaitForError>> + Send>>;

    /// Runs on the server's runtime (its timer and threads), whichever executor awaits it.
    fn into_future(self) -> Self::IntoFuture {
        let handle = self.handle.clone();
        let task = handle.spawn(self.run());
        Box::pin(async move {
            match task.await {
                Ok(result) => result,
                Err(e) => match e.try_into_panic() {
                    Ok(panic) => std::panic::resume_unwind(panic),
                    Err(_) => Err(WaitForError::Stopped),
                },
            }
        })
    }
}
