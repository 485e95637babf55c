//! The in-memory mail store shared by the SMTP and IMAP sides: users, their folders with
//! SPECIAL-USE roles, messages with UIDs and flags, and a change notifier that IDLE and the test
//! helpers wait on instead of polling.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, FixedOffset};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::watch;

mod mailboxes;

/// A folder's SPECIAL-USE role (RFC 6154).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpecialUse {
    All,
    Archive,
    Drafts,
    Flagged,
    Junk,
    Sent,
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
    pub uid: u32,
    /// Flags as written on the wire, e.g. `\Seen`, `\Deleted`, `$Junk`.
    pub flags: Vec<String>,
    pub internal_date: DateTime<FixedOffset>,
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
    pub name: String,
    pub special_use: Option<SpecialUse>,
    pub selectable: bool,
    pub has_children: bool,
    pub uid_validity: u32,
    pub uid_next: u32,
    pub exists: u32,
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
    Add,
    Remove,
    Replace,
}

/// Errors from store operations; IMAP turns them into `NO` replies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("no such user")]
    NoSuchUser,
    #[error("no such mailbox")]
    NoSuchMailbox,
    #[error("mailbox already exists")]
    MailboxExists,
    #[error("mailbox cannot be selected")]
    NotSelectable,
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

    /// Adds (or replaces the password of) a user with the given folder layout.
    pub fn add_user(&self, address: &str, password: SecretString, layout: &FolderLayout) {
        let mut inner = self.lock();
        if let Some(user) = inner.users.get_mut(&key(address)) {
            user.password = password;
            user.any_password = false;
            user.auto_created = false;
            return;
        }
        insert_user(&mut inner, address, password, layout);
        drop(inner);
        self.changed();
    }

    /// Adds an XOAUTH2 bearer token the user may authenticate with.
    pub fn add_token(&self, address: &str, token: SecretString) -> Result<(), StoreError> {
        self.add_token_until(address, token, None)
    }

    /// Adds an XOAUTH2 bearer token that stops working at `expires` (the embedded OAuth2
    /// server's access tokens); expired tokens are forgotten as new ones arrive.
    pub fn add_token_until(
        &self,
        address: &str,
        token: SecretString,
        expires: Option<std::time::Instant>,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let user = inner
            .users
            .get_mut(&key(address))
            .ok_or(StoreError::NoSuchUser)?;
        let now = std::time::Instant::now();
        user.tokens.retain(|(_, e)| e.is_none_or(|e| e > now));
        user.tokens.push((token, expires));
        Ok(())
    }

    /// Withdraws a bearer token (a revoked grant); unknown tokens are ignored.
    pub fn revoke_token(&self, address: &str, token: &str) {
        if let Some(user) = self.lock().users.get_mut(&key(address)) {
            user.tokens
                .retain(|(t, _)| !constant_time_eq(t.expose_secret().as_bytes(), token.as_bytes()));
        }
    }

    /// Whether the address is a local user.
    pub fn is_user(&self, address: &str) -> bool {
        self.lock().users.contains_key(&key(address))
    }

    /// The canonical address for a login name, if the password matches.
    ///
    /// A `user+tag@` login is `user@`'s unless declared itself. Under a catch-all, an unknown
    /// address logs in with the catch-all password (any password when it has none), which
    /// creates its mailbox.
    pub fn check_password(&self, login: &str, password: &str) -> Option<String> {
        let mut inner = self.lock();
        let Some(k) = owner_key(&inner, login) else {
            let auto = inner.auto.as_ref()?;
            let ok = auto.password.as_ref().is_none_or(|want| {
                constant_time_eq(want.expose_secret().as_bytes(), password.as_bytes())
            });
            if !ok {
                return None;
            }
            let address = create_auto(&mut inner, login)?;
            drop(inner);
            self.changed();
            return Some(address);
        };
        let user = inner.users.get(&k)?;
        (user.any_password
            || constant_time_eq(
                user.password.expose_secret().as_bytes(),
                password.as_bytes(),
            ))
        .then(|| user.address.clone())
    }

    /// The canonical address for a login name, if the bearer token is one of the user's.
    pub fn check_token(&self, login: &str, token: &str) -> Option<String> {
        let inner = self.lock();
        let user = inner.users.get(&key(login))?;
        let now = std::time::Instant::now();
        user.tokens
            .iter()
            .filter(|(_, expires)| expires.is_none_or(|e| e > now))
            .any(|(t, _)| constant_time_eq(t.expose_secret().as_bytes(), token.as_bytes()))
            .then(|| user.address.clone())
    }

    /// All user addresses.
    pub fn users(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .lock()
            .users
            .values()
            .map(|u| u.address.clone())
            .collect();
        v.sort();
        v
    }

    /// The name of the user's folder with this role.
    pub fn folder_with_role(&self, user: &str, role: SpecialUse) -> Option<String> {
        self.lock().users.get(&key(user))?.role(role)
    }

    /// LIST: every folder of the user, in order.
    pub fn list(&self, user: &str) -> Result<Vec<MailboxInfo>, StoreError> {
        let inner = self.lock();
        let u = inner.users.get(&key(user)).ok_or(StoreError::NoSuchUser)?;
        Ok(u.mailboxes.iter().map(|m| info(u, m)).collect())
    }

    /// STATUS / SELECT counters of one folder.
    pub fn status(&self, user: &str, mailbox: &str) -> Result<MailboxInfo, StoreError> {
        let inner = self.lock();
        let u = inner.users.get(&key(user)).ok_or(StoreError::NoSuchUser)?;
        let m = u.mailbox(mailbox).ok_or(StoreError::NoSuchMailbox)?;
        Ok(info(u, m))
    }

    /// Runs `f` over a folder under the lock (read access without copying messages).
    pub fn with_mailbox<R>(
        &self,
        user: &str,
        mailbox: &str,
        f: impl FnOnce(&Mailbox) -> R,
    ) -> Result<R, StoreError> {
        let inner = self.lock();
        let u = inner.users.get(&key(user)).ok_or(StoreError::NoSuchUser)?;
        let m = u.mailbox(mailbox).ok_or(StoreError::NoSuchMailbox)?;
        Ok(f(m))
    }

    /// A copy of the folder's messages (bodies are shared, not copied).
    pub fn messages(&self, user: &str, mailbox: &str) -> Result<Vec<StoredMessage>, StoreError> {
        self.with_mailbox(user, mailbox, |m| m.messages.clone())
    }

    /// Appends a message; returns (UIDVALIDITY, UID).
    pub fn append(
        &self,
        user: &str,
        mailbox: &str,
        raw: Bytes,
        flags: Vec<String>,
        internal_date: Option<DateTime<FixedOffset>>,
    ) -> Result<(u32, u32), StoreError> {
        let mut inner = self.lock();
        let u = inner
            .users
            .get_mut(&key(user))
            .ok_or(StoreError::NoSuchUser)?;
        let m = u.mailbox_mut(mailbox).ok_or(StoreError::NoSuchMailbox)?;
        if !m.selectable {
            return Err(StoreError::NotSelectable);
        }
        let uid = push(m, raw, flags, internal_date);
        let validity = m.uid_validity;
        drop(inner);
        self.changed();
        Ok((validity, uid))
    }

    /// Appends to the folder with the given role (INBOX when `role` is None).
    pub fn append_to_role(
        &self,
        user: &str,
        role: Option<SpecialUse>,
        raw: Bytes,
        flags: Vec<String>,
    ) -> Result<(String, u32), StoreError> {
        let name = match role {
            None => "INBOX".to_string(),
            Some(r) => self
                .folder_with_role(user, r)
                .ok_or(StoreError::NoSuchMailbox)?,
        };
        let (_, uid) = self.append(user, &name, raw, flags, None)?;
        Ok((name, uid))
    }

    /// STORE: changes flags of the given UIDs; returns (uid, new flags) for those that exist.
    pub fn store_flags(
        &self,
        user: &str,
        mailbox: &str,
        uids: &[u32],
        op: FlagOp,
        flags: &[String],
    ) -> Result<Vec<(u32, Vec<String>)>, StoreError> {
        let mut inner = self.lock();
        let u = inner
            .users
            .get_mut(&key(user))
            .ok_or(StoreError::NoSuchUser)?;
        let m = u.mailbox_mut(mailbox).ok_or(StoreError::NoSuchMailbox)?;
        let mut out = Vec::new();
        for &uid in uids {
            let Some(i) = m.position(uid) else { continue };
            let msg = &mut m.messages[i];
            match op {
                FlagOp::Replace => msg.flags = dedup_flags(flags),
                FlagOp::Add => {
                    for f in flags {
                        if !msg.has_flag(f) {
                            msg.flags.push(f.clone());
                        }
                    }
                }
                FlagOp::Remove => msg
                    .flags
                    .retain(|have| !flags.iter().any(|f| f.eq_ignore_ascii_case(have))),
            }
            out.push((uid, msg.flags.clone()));
        }
        if !out.is_empty() && op != FlagOp::Remove {
            note_keywords(m, flags);
        }
        drop(inner);
        self.changed();
        Ok(out)
    }

    /// EXPUNGE (uids None) or UID EXPUNGE (uids Some): removes messages flagged `\Deleted`
    /// (and, for UID EXPUNGE, in the set). Returns the removed UIDs in ascending order. On a
    /// Gmail-like layout, messages expunged from INBOX are archived to the \All folder.
    pub fn expunge(
        &self,
        user: &str,
        mailbox: &str,
        uids: Option<&[u32]>,
    ) -> Result<Vec<u32>, StoreError> {
        let mut inner = self.lock();
        let u = inner
            .users
            .get_mut(&key(user))
            .ok_or(StoreError::NoSuchUser)?;
        let archive_to = (u.expunge_archives && mailbox.eq_ignore_ascii_case("INBOX"))
            .then(|| u.role(SpecialUse::All))
            .flatten();
        let m = u.mailbox_mut(mailbox).ok_or(StoreError::NoSuchMailbox)?;
        let mut removed = Vec::new();
        let mut kept = Vec::with_capacity(m.messages.len());
        for msg in std::mem::take(&mut m.messages) {
            let in_set = uids.is_none_or(|set| set.contains(&msg.uid));
            if in_set && msg.has_flag("\\Deleted") {
                removed.push(msg);
            } else {
                kept.push(msg);
            }
        }
        m.messages = kept;
        let removed_uids: Vec<u32> = removed.iter().map(|m| m.uid).collect();
        if let Some(all) = archive_to
            && let Some(dest) = u.mailbox_mut(&all)
        {
            for mut msg in removed {
                msg.flags.retain(|f| !f.eq_ignore_ascii_case("\\Deleted"));
                push(dest, msg.raw, msg.flags, Some(msg.internal_date));
            }
        }
        drop(inner);
        if !removed_uids.is_empty() {
            self.changed();
        }
        Ok(removed_uids)
    }

    /// COPY: copies the given UIDs to another folder; returns (dest UIDVALIDITY, [(src, dest)]).
    pub fn copy(
        &self,
        user: &str,
        from: &str,
        uids: &[u32],
        to: &str,
    ) -> Result<(u32, Vec<(u32, u32)>), StoreError> {
        self.transfer(user, from, uids, to, false)
    }

    /// MOVE: like COPY, then removes the originals; returns (dest UIDVALIDITY, [(src, dest)]).
    pub fn move_messages(
        &self,
        user: &str,
        from: &str,
        uids: &[u32],
        to: &str,
    ) -> Result<(u32, Vec<(u32, u32)>), StoreError> {
        self.transfer(user, from, uids, to, true)
    }

    fn transfer(
        &self,
        user: &str,
        from: &str,
        uids: &[u32],
        to: &str,
        remove: bool,
    ) -> Result<(u32, Vec<(u32, u32)>), StoreError> {
        let mut inner = self.lock();
        let u = inner
            .users
            .get_mut(&key(user))
            .ok_or(StoreError::NoSuchUser)?;
        let dest = u.mailbox(to).ok_or(StoreError::NoSuchMailbox)?;
        if !dest.selectable {
            return Err(StoreError::NotSelectable);
        }
        let src = u.mailbox_mut(from).ok_or(StoreError::NoSuchMailbox)?;
        let mut moving = Vec::new();
        if remove {
            let mut kept = Vec::with_capacity(src.messages.len());
            for msg in std::mem::take(&mut src.messages) {
                if uids.contains(&msg.uid) {
                    moving.push(msg);
                } else {
                    kept.push(msg);
                }
            }
            src.messages = kept;
        } else {
            moving = src
                .messages
                .iter()
                .filter(|m| uids.contains(&m.uid))
                .cloned()
                .collect();
        }
        let dest = u.mailbox_mut(to).ok_or(StoreError::NoSuchMailbox)?;
        let mut map = Vec::with_capacity(moving.len());
        for msg in moving {
            let old = msg.uid;
            let new = push(dest, msg.raw, msg.flags, Some(msg.internal_date));
            map.push((old, new));
        }
        let validity = dest.uid_validity;
        drop(inner);
        self.changed();
        Ok((validity, map))
    }

    /// CREATE: a new, empty, selectable folder, and any missing parents (RFC 3501 6.3.3).
    pub fn create(&self, user: &str, name: &str) -> Result<(), StoreError> {
        self.create_with_parents(user, name)
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

/// How [`Store`] creates a mailbox for an address nobody declared (the catch-all).
#[derive(Debug, Clone)]
pub struct AutoCreate {
    /// The password such a mailbox accepts; `None`: any password.
    pub password: Option<SecretString>,
    /// The folders it gets.
    pub layout: FolderLayout,
}

/// A declared or auto-created user, for listings (the HTTP API's mailboxes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub address: String,
    /// Created by the catch-all on first delivery or login, not declared.
    pub auto_created: bool,
}

impl Store {
    /// Turns the catch-all on (`Some`) or off.
    pub fn set_auto_create(&self, auto: Option<AutoCreate>) {
        self.lock().auto = auto;
    }

    /// Whether undeclared addresses get a mailbox.
    pub fn auto_creates(&self) -> bool {
        self.lock().auto.is_some()
    }

    /// The user whose INBOX receives mail for `address`: the user itself, or for an
    /// undeclared `user+tag@domain`, the user `user@domain`.
    pub fn owner(&self, address: &str) -> Option<String> {
        let inner = self.lock();
        let k = owner_key(&inner, address)?;
        inner.users.get(&k).map(|u| u.address.clone())
    }

    /// [`owner`](Self::owner), or under the catch-all a new mailbox for the address (its
    /// `+tag` removed). `None` when strict and unknown, or not a mailbox address.
    pub fn owner_or_create(&self, address: &str) -> Option<String> {
        let mut inner = self.lock();
        if let Some(k) = owner_key(&inner, address) {
            return inner.users.get(&k).map(|u| u.address.clone());
        }
        inner.auto.as_ref()?;
        let created = create_auto(&mut inner, address)?;
        drop(inner);
        self.changed();
        Some(created)
    }

    /// Every user, declared or auto-created, sorted by address.
    pub fn user_infos(&self) -> Vec<UserInfo> {
        let mut v: Vec<UserInfo> = self
            .lock()
            .users
            .values()
            .map(|u| UserInfo {
                address: u.address.clone(),
                auto_created: u.auto_created,
            })
            .collect();
        v.sort_by(|a, b| a.address.cmp(&b.address));
        v
    }

    /// Removes the given UIDs from a folder at once (no `\Deleted` flag, no archiving):
    /// what the HTTP API's DELETE does. Returns the UIDs removed.
    pub fn remove(&self, user: &str, mailbox: &str, uids: &[u32]) -> Result<Vec<u32>, StoreError> {
        let mut inner = self.lock();
        let u = inner
            .users
            .get_mut(&key(user))
            .ok_or(StoreError::NoSuchUser)?;
        let m = u.mailbox_mut(mailbox).ok_or(StoreError::NoSuchMailbox)?;
        let mut removed = Vec::new();
        m.messages.retain(|msg| {
            let gone = uids.contains(&msg.uid);
            if gone {
                removed.push(msg.uid);
            }
            !gone
        });
        drop(inner);
        if !removed.is_empty() {
            self.changed();
        }
        Ok(removed)
    }
}

/// The key of the user owning `address`: exact, else the `+tag`-less address.
fn owner_key(inner: &Inner, address: &str) -> Option<String> {
    let k = key(address);
    if inner.users.contains_key(&k) {
        return Some(k);
    }
    let base = key(&super::recipients::without_tag(address)?);
    inner.users.contains_key(&base).then_some(base)
}

/// Creates the catch-all mailbox for `address` (tag removed); `None` without a catch-all or
/// for something that is not an address.
fn create_auto(inner: &mut Inner, address: &str) -> Option<String> {
    let auto = inner.auto.clone()?;
    let address = address.trim();
    if !super::recipients::is_mailbox_address(address) {
        return None;
    }
    let address = super::recipients::without_tag(address).unwrap_or_else(|| address.to_string());
    let password = auto
        .password
        .clone()
        .unwrap_or_else(|| SecretString::from(String::new()));
    let user = insert_user(inner, &address, password, &auto.layout);
    user.any_password = auto.password.is_none();
    user.auto_created = true;
    tracing::debug!(%address, "catch-all: created a mailbox");
    Some(address)
}

fn insert_user<'a>(
    inner: &'a mut Inner,
    address: &str,
    password: SecretString,
    layout: &FolderLayout,
) -> &'a mut User {
    let mut next = || {
        inner.next_validity = inner.next_validity.wrapping_add(1).max(1);
        inner.next_validity
    };
    let mut mailboxes = vec![Mailbox::new("INBOX".into(), None, true, next())];
    for (name, role, selectable) in &layout.folders {
        mailboxes.push(Mailbox::new(name.clone(), *role, *selectable, next()));
    }
    let user = User {
        address: address.trim().to_string(),
        password,
        any_password: false,
        auto_created: false,
        tokens: Vec::new(),
        expunge_archives: layout.expunge_archives,
        mailboxes,
        subscriptions: Vec::new(),
    };
    inner
        .users
        .entry(key(address))
        .insert_entry(user)
        .into_mut()
}

fn push(
    m: &mut Mailbox,
    raw: Bytes,
    flags: Vec<String>,
    internal_date: Option<DateTime<FixedOffset>>,
) -> u32 {
    let uid = m.uid_next;
    m.uid_next += 1;
    note_keywords(m, &flags);
    m.messages.push(StoredMessage {
        uid,
        flags: dedup_flags(&flags),
        internal_date: internal_date.unwrap_or_else(|| chrono::Local::now().fixed_offset()),
        raw,
    });
    uid
}

/// Adds keywords (flags without a backslash) the mailbox has not seen before to its list.
fn note_keywords(m: &mut Mailbox, flags: &[String]) {
    for f in flags {
        if !f.starts_with('\\') && !m.keywords.iter().any(|k| k.eq_ignore_ascii_case(f)) {
            m.keywords.push(f.clone());
        }
    }
}

fn dedup_flags(flags: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(flags.len());
    for f in flags {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(f)) {
            out.push(f.clone());
        }
    }
    out
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

/// Equality that takes as long whatever the first difference (passwords, tokens, secrets).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// a@x.test (standard folders) and g@x.test (Gmail's); store/mailboxes.rs uses it too.
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

    #[test]
    fn uids_ascend_and_expunge_takes_only_flagged_in_set() {
        let s = store();
        for i in 0..5 {
            s.append(
                "a@x.test",
                "INBOX",
                Bytes::from(format!("m{i}")),
                vec![],
                None,
            )
            .expect("append");
        }
        s.store_flags(
            "a@x.test",
            "INBOX",
            &[1, 2, 3],
            FlagOp::Add,
            &["\\Deleted".into()],
        )
        .expect("store");
        let removed = s
            .expunge("a@x.test", "inbox", Some(&[2, 4]))
            .expect("expunge");
        assert_eq!(removed, vec![2]);
        let left: Vec<u32> = s
            .messages("a@x.test", "INBOX")
            .expect("msgs")
            .iter()
            .map(|m| m.uid)
            .collect();
        assert_eq!(left, vec![1, 3, 4, 5]);
        assert_eq!(s.status("a@x.test", "INBOX").expect("status").uid_next, 6);
    }

    #[test]
    fn gmail_expunge_archives_to_all_mail() {
        let s = store();
        s.append(
            "g@x.test",
            "INBOX",
            Bytes::from_static(b"x"),
            vec!["\\Deleted".into()],
            None,
        )
        .expect("append");
        assert_eq!(
            s.expunge("g@x.test", "INBOX", None).expect("expunge"),
            vec![1]
        );
        let all = s.messages("g@x.test", "[Gmail]/All Mail").expect("all");
        assert_eq!(all.len(), 1);
        assert!(!all[0].has_flag("\\Deleted"));
    }

    #[test]
    fn passwords_and_roles() {
        let s = store();
        assert_eq!(
            s.check_password("A@X.test", "pw").as_deref(),
            Some("a@x.test")
        );
        assert!(s.check_password("a@x.test", "nope").is_none());
        assert_eq!(
            s.folder_with_role("g@x.test", SpecialUse::Junk).as_deref(),
            Some("[Gmail]/Spam")
        );
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
