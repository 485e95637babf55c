//! The in-memory mail store shared by the SMTP and IMAP sides: users, their folders with
//! SPECIAL-USE roles, messages with UIDs and flags, and a change notifier that IDLE and the test
//! helpers wait on instead of polling. This file holds the types, the lock and the notifier;
//! the operations sit in `users` (sign-in, tokens, catch-all), `mailboxes` and `messages`.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, FixedOffset};
use secrecy::SecretString;
use tokio::sync::watch;

mod mailboxes;
mod messages;
mod users;

pub use messages::Transfer;
pub(crate) use users::constant_time_eq;
pub use users::{AutoCreate, UserInfo};

/// A folder's SPECIAL-USE role (RFC 6154).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpecialUse {
    /// `\All`: every message (Gmail's All Mail).
    All,
    /// `\Archive`.
    Archive,
    /// `\Drafts`.
    Drafts,
    /// `\Flagged` (Gmail's Starred).
    Flagged,
    /// `\Junk`: spam.
    Junk,
    /// `\Sent`.
    Sent,
    /// `\Trash`.
    Trash,
}

impl SpecialUse {
    /// The LIST attribute, e.g. `\Junk`.
    pub fn attribute(self) -> &'static str {
        match self {
            SpecialUse::All => "\\All",
            SpecialUse::Archive => "\\Archive",
            SpecialUse::Drafts => "\\Drafts",
            SpecialUse::Flagged => "\\Flagged",
            SpecialUse::Junk => "\\Junk",
            SpecialUse::Sent => "\\Sent",
            SpecialUse::Trash => "\\Trash",
        }
    }
}

/// The folders a new user gets, and how EXPUNGE behaves (Gmail archives instead of deleting).
#[derive(Debug, Clone)]
pub struct FolderLayout {
    /// (name, role, selectable) in LIST order; INBOX is always present and need not be listed.
    pub folders: Vec<(String, Option<SpecialUse>, bool)>,
    /// EXPUNGE in INBOX moves messages to the \All folder instead of deleting them.
    pub expunge_archives: bool,
}

impl FolderLayout {
    /// INBOX, Sent, Junk, Trash, Archive, Drafts: what Dovecot and most servers offer.
    pub fn standard() -> Self {
        let f = |n: &str, r| (n.to_string(), Some(r), true);
        FolderLayout {
            folders: vec![
                f("Drafts", SpecialUse::Drafts),
                f("Sent", SpecialUse::Sent),
                f("Junk", SpecialUse::Junk),
                f("Trash", SpecialUse::Trash),
                f("Archive", SpecialUse::Archive),
            ],
            expunge_archives: false,
        }
    }

    /// Gmail's `[Gmail]/...` folders; EXPUNGE in INBOX only archives.
    pub fn gmail() -> Self {
        let f = |n: &str, r| (format!("[Gmail]/{n}"), Some(r), true);
        FolderLayout {
            folders: vec![
                ("[Gmail]".to_string(), None, false),
                f("All Mail", SpecialUse::All),
                f("Drafts", SpecialUse::Drafts),
                f("Sent Mail", SpecialUse::Sent),
                f("Spam", SpecialUse::Junk),
                f("Starred", SpecialUse::Flagged),
                f("Trash", SpecialUse::Trash),
            ],
            expunge_archives: true,
        }
    }
}

/// One stored message. `raw` is shared, so cloning a message is cheap.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    /// Its UID in the folder.
    pub uid: u32,
    /// Flags as written on the wire, e.g. `\Seen`, `\Deleted`, `$Junk`.
    pub flags: Vec<String>,
    /// When it arrived (IMAP INTERNALDATE).
    pub internal_date: DateTime<FixedOffset>,
    /// The whole message as received.
    pub raw: Bytes,
}

impl StoredMessage {
    /// RFC822.SIZE.
    pub fn size(&self) -> usize {
        self.raw.len()
    }

    /// Case-insensitive flag test (`\Deleted` matches `\deleted`).
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f.eq_ignore_ascii_case(flag))
    }
}

/// A folder's state as STATUS / SELECT report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxInfo {
    /// Full name, e.g. `[Gmail]/Spam`.
    pub name: String,
    /// Its SPECIAL-USE role, if any.
    pub special_use: Option<SpecialUse>,
    /// False for a `\Noselect` container.
    pub selectable: bool,
    /// Whether other folders sit under it.
    pub has_children: bool,
    /// UIDVALIDITY.
    pub uid_validity: u32,
    /// UIDNEXT.
    pub uid_next: u32,
    /// How many messages it holds.
    pub exists: u32,
    /// How many lack `\Seen`.
    pub unseen: u32,
    /// Messages no session has yet seen as `\Recent` (STATUS RECENT).
    pub recent: u32,
}

/// A folder and its messages, sorted by UID.
#[derive(Debug, Clone)]
pub struct Mailbox {
    pub name: String,
    pub special_use: Option<SpecialUse>,
    pub selectable: bool,
    pub uid_validity: u32,
    pub uid_next: u32,
    pub messages: Vec<StoredMessage>,
    /// The lowest UID no session has claimed as `\Recent` yet (RFC 3501 2.3.2).
    pub first_recent: u32,
    /// Keywords ever set on a message here, announced in FLAGS and PERMANENTFLAGS.
    pub keywords: Vec<String>,
}

impl Mailbox {
    fn new(name: String, special_use: Option<SpecialUse>, selectable: bool, validity: u32) -> Self {
        Mailbox {
            name,
            special_use,
            selectable,
            uid_validity: validity,
            uid_next: 1,
            messages: Vec::new(),
            first_recent: 1,
            keywords: Vec::new(),
        }
    }

    /// Index of the message with this UID.
    pub fn position(&self, uid: u32) -> Option<usize> {
        self.messages.binary_search_by_key(&uid, |m| m.uid).ok()
    }

    /// Messages not yet claimed as `\Recent` by any session.
    pub fn recent_count(&self) -> u32 {
        let from = self.messages.partition_point(|m| m.uid < self.first_recent);
        (self.messages.len() - from) as u32
    }
}

/// How STORE changes flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOp {
    /// Add these flags.
    Add,
    /// Remove these flags.
    Remove,
    /// Set exactly these flags.
    Replace,
}

/// Errors from store operations; IMAP turns them into `NO` replies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The address has no mailbox here.
    #[error("no such user")]
    NoSuchUser,
    /// The user has no folder by that name.
    #[error("no such mailbox")]
    NoSuchMailbox,
    /// CREATE or RENAME to a name already taken.
    #[error("mailbox already exists")]
    MailboxExists,
    /// The folder is a `\Noselect` container.
    #[error("mailbox cannot be selected")]
    NotSelectable,
    /// `wait_for_messages` ran out of time.
    #[error("timed out waiting for messages")]
    Timeout,
    /// DELETE / RENAME refused; the text says why (`INBOX cannot be deleted`).
    #[error("{0}")]
    Cannot(&'static str),
}

struct User {
    address: String,
    password: SecretString,
    /// Created by the catch-all with no password set: any password logs in.
    any_password: bool,
    /// Created by the catch-all rather than declared.
    auto_created: bool,
    /// XOAUTH2 bearer tokens, each valid until its instant (`None`: forever).
    tokens: Vec<(SecretString, Option<std::time::Instant>)>,
    expunge_archives: bool,
    mailboxes: Vec<Mailbox>,
    /// LSUB / LIST (SUBSCRIBED) names; they outlive DELETE, as RFC 3501 6.3.6 allows.
    subscriptions: Vec<String>,
}

impl User {
    fn mailbox(&self, name: &str) -> Option<&Mailbox> {
        self.mailboxes.iter().find(|m| same_mailbox(&m.name, name))
    }
    fn mailbox_mut(&mut self, name: &str) -> Option<&mut Mailbox> {
        self.mailboxes
            .iter_mut()
            .find(|m| same_mailbox(&m.name, name))
    }
    fn role(&self, role: SpecialUse) -> Option<String> {
        self.mailboxes
            .iter()
            .find(|m| m.special_use == Some(role))
            .map(|m| m.name.clone())
    }
    /// The folder with this name, or [`StoreError::NoSuchMailbox`].
    fn folder(&self, name: &str) -> Result<&Mailbox, StoreError> {
        self.mailbox(name).ok_or(StoreError::NoSuchMailbox)
    }
    fn folder_mut(&mut self, name: &str) -> Result<&mut Mailbox, StoreError> {
        self.mailbox_mut(name).ok_or(StoreError::NoSuchMailbox)
    }
}

/// INBOX is case-insensitive (RFC 3501 5.1); other names are exact.
pub fn same_mailbox(a: &str, b: &str) -> bool {
    if a.eq_ignore_ascii_case("INBOX") {
        b.eq_ignore_ascii_case("INBOX")
    } else {
        a == b
    }
}

#[derive(Default)]
struct Inner {
    users: HashMap<String, User>,
    next_validity: u32,
    /// The catch-all, if on (see [`Store::set_auto_create`]).
    auto: Option<AutoCreate>,
}

impl Inner {
    /// The user with this address, or [`StoreError::NoSuchUser`].
    fn user(&self, address: &str) -> Result<&User, StoreError> {
        self.users.get(&key(address)).ok_or(StoreError::NoSuchUser)
    }
    fn user_mut(&mut self, address: &str) -> Result<&mut User, StoreError> {
        self.users
            .get_mut(&key(address))
            .ok_or(StoreError::NoSuchUser)
    }
}

/// Shared store; every mutation bumps a generation counter that watchers wait on.
pub struct Store {
    inner: Mutex<Inner>,
    changes: watch::Sender<u64>,
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

fn key(address: &str) -> String {
    address.trim().to_ascii_lowercase()
}

impl Store {
    /// An empty store.
    pub fn new() -> Self {
        let (changes, _) = watch::channel(0);
        Store {
            inner: Mutex::new(Inner {
                users: HashMap::new(),
                // Seed UIDVALIDITY from the clock so a restarted server never reuses one.
                next_validity: (chrono::Utc::now().timestamp() as u32) & 0x7fff_ffff,
                auto: None,
            }),
            changes,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters more than losing the server, so recover the guard instead of propagating.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn changed(&self) {
        self.changes.send_modify(|g| *g += 1);
    }

    /// Subscribes to change notifications (a generation counter).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Waits until the folder holds at least `n` messages, woken by the change notifier.
    pub async fn wait_for_messages(
        &self,
        user: &str,
        mailbox: &str,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let mut rx = self.subscribe();
        let wait = async {
            loop {
                let msgs = self.messages(user, mailbox)?;
                if msgs.len() >= n {
                    return Ok(msgs);
                }
                if rx.changed().await.is_err() {
                    return Err(StoreError::Timeout);
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .unwrap_or(Err(StoreError::Timeout))
    }
}

fn info(u: &User, m: &Mailbox) -> MailboxInfo {
    let prefix = format!("{}/", m.name);
    MailboxInfo {
        name: m.name.clone(),
        special_use: m.special_use,
        selectable: m.selectable,
        has_children: u.mailboxes.iter().any(|o| o.name.starts_with(&prefix)),
        uid_validity: m.uid_validity,
        uid_next: m.uid_next,
        exists: m.messages.len() as u32,
        unseen: m.messages.iter().filter(|x| !x.has_flag("\\Seen")).count() as u32,
        recent: m.recent_count(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// a@x.test (standard folders) and g@x.test (Gmail's); the other store files' tests use it.
    pub(super) fn store() -> Store {
        let s = Store::new();
        s.add_user(
            "a@x.test",
            SecretString::from("pw"),
            &FolderLayout::standard(),
        );
        s.add_user("g@x.test", SecretString::from("pw"), &FolderLayout::gmail());
        s
    }

    #[tokio::test]
    async fn wait_for_messages_wakes_on_append() {
        let s = std::sync::Arc::new(store());
        let s2 = s.clone();
        let waiter = tokio::spawn(async move {
            s2.wait_for_messages("a@x.test", "INBOX", 1, Duration::from_secs(5))
                .await
        });
        tokio::task::yield_now().await;
        s.append("a@x.test", "INBOX", Bytes::from_static(b"hi"), vec![], None)
            .expect("append");
        let got = waiter.await.expect("join").expect("wait");
        assert_eq!(got.len(), 1);
    }
}
