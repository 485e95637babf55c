//! Users and how they sign in: declared users with passwords, XOAUTH2 bearer tokens (with the
//! embedded OAuth2 server's expiry), the catch-all that makes a mailbox for any address, and
//! the `user+tag@` owner lookup. Kept apart from folders and messages so each file holds one room.

use secrecy::{ExposeSecret, SecretString};

use super::{FolderLayout, Inner, Mailbox, Store, StoreError, User, key};

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
    /// The user's address.
    pub address: String,
    /// Created by the catch-all on first delivery or login, not declared.
    pub auto_created: bool,
}

impl Store {
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
        let user = inner.user_mut(address)?;
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
}

/// The key of the user owning `address`: exact, else the `+tag`-less address.
fn owner_key(inner: &Inner, address: &str) -> Option<String> {
    let k = key(address);
    if inner.users.contains_key(&k) {
        return Some(k);
    }
    let base = key(&crate::server::recipients::without_tag(address)?);
    inner.users.contains_key(&base).then_some(base)
}

/// Creates the catch-all mailbox for `address` (tag removed); `None` without a catch-all or
/// for something that is not an address.
fn create_auto(inner: &mut Inner, address: &str) -> Option<String> {
    let auto = inner.auto.clone()?;
    let address = address.trim();
    if !crate::server::recipients::is_mailbox_address(address) {
        return None;
    }
    let address =
        crate::server::recipients::without_tag(address).unwrap_or_else(|| address.to_string());
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

/// Equality that takes as long whatever the first difference (passwords, tokens, secrets).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::super::tests::store;
    use crate::server::store::SpecialUse;

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
}
