//! Mailbox-level store operations: LIST, STATUS and roles, CREATE with implied parents,
//! DELETE, RENAME, subscriptions and `\Recent` claims. Kept apart from message operations
//! so each file holds one room.

use super::{
    Inner, Mailbox, MailboxInfo, SpecialUse, Store, StoreError, User, info, key, same_mailbox,
};

/// The hierarchy delimiter of every mailbox name.
pub const DELIMITER: char = '/';

/// Whether `name` is `parent` or lies below it (`a/b` under `a`), INBOX case-insensitively.
fn is_under(name: &str, parent: &str) -> bool {
    same_mailbox(name, parent)
        || name
            .strip_prefix(parent)
            .is_some_and(|rest| rest.starts_with(DELIMITER))
        || (parent.eq_ignore_ascii_case("INBOX")
            && name
                .get(..5)
                .is_some_and(|p| p.eq_ignore_ascii_case("INBOX"))
            && name[5..].starts_with(DELIMITER))
}

/// `a/b/c` → `["a", "a/b"]`.
fn parents(name: &str) -> Vec<&str> {
    name.match_indices(DELIMITER)
        .map(|(i, _)| &name[..i])
        .filter(|p| !p.is_empty())
        .collect()
}

fn next_validity(inner: &mut Inner) -> u32 {
    inner.next_validity = inner.next_validity.wrapping_add(1).max(1);
    inner.next_validity
}

impl User {
    fn has_children(&self, name: &str) -> bool {
        self.mailboxes
            .iter()
            .any(|m| !same_mailbox(&m.name, name) && is_under(&m.name, name))
    }
}

impl Store {
    /// The name of the user's folder with this role.
    pub fn folder_with_role(&self, user: &str, role: SpecialUse) -> Option<String> {
        self.lock().users.get(&key(user))?.role(role)
    }

    /// LIST: every folder of the user, in order.
    pub fn list(&self, user: &str) -> Result<Vec<MailboxInfo>, StoreError> {
        let inner = self.lock();
        let u = inner.user(user)?;
        Ok(u.mailboxes.iter().map(|m| info(u, m)).collect())
    }

    /// STATUS / SELECT counters of one folder.
    pub fn status(&self, user: &str, mailbox: &str) -> Result<MailboxInfo, StoreError> {
        let inner = self.lock();
        let u = inner.user(user)?;
        let m = u.folder(mailbox)?;
        Ok(info(u, m))
    }

    /// CREATE: a new, empty, selectable folder, and any missing parents (RFC 3501 6.3.3).
    pub fn create(&self, user: &str, name: &str) -> Result<(), StoreError> {
        self.create_with_parents(user, name)
    }

    /// CREATE: the mailbox plus any missing parents. An existing `\Noselect` placeholder left
    /// by DELETE becomes selectable again.
    pub(super) fn create_with_parents(&self, user: &str, name: &str) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let validity = next_validity(&mut inner);
        let u = inner.user_mut(user)?;
        if let Some(m) = u.mailbox_mut(name) {
            if m.selectable || m.special_use.is_some() {
                return Err(StoreError::MailboxExists);
            }
            m.selectable = true;
        } else {
            for p in parents(name) {
                if u.mailbox(p).is_none() {
                    u.mailboxes
                        .push(Mailbox::new(p.to_string(), None, true, validity));
                }
            }
            u.mailboxes
                .push(Mailbox::new(name.to_string(), None, true, validity));
        }
        drop(inner);
        self.changed();
        Ok(())
    }

    /// DELETE (RFC 3501 6.3.4): removes the mailbox and its messages. One with inferiors
    /// loses its messages and becomes `\Noselect` instead; a `\Noselect` one with inferiors,
    /// and INBOX, cannot be deleted. `\Noselect` parents left without children go too.
    pub fn delete(&self, user: &str, name: &str) -> Result<(), StoreError> {
        if name.eq_ignore_ascii_case("INBOX") {
            return Err(StoreError::Cannot("INBOX cannot be deleted"));
        }
        let mut inner = self.lock();
        let u = inner.user_mut(user)?;
        let m = u.folder(name)?;
        let selectable = m.selectable;
        if u.has_children(name) {
            if !selectable {
                return Err(StoreError::Cannot(
                    "Mailbox has children and cannot hold messages; delete the children first",
                ));
            }
            if let Some(m) = u.mailbox_mut(name) {
                m.selectable = false;
                m.messages.clear();
                m.special_use = None;
            }
        } else {
            u.mailboxes.retain(|m| !same_mailbox(&m.name, name));
            // Placeholders that only existed to hold this one go with it.
            for p in parents(name).into_iter().rev() {
                let empty_placeholder = u
                    .mailbox(p)
                    .is_some_and(|m| !m.selectable && m.special_use.is_none());
                if empty_placeholder && !u.has_children(p) {
                    u.mailboxes.retain(|m| !same_mailbox(&m.name, p));
                }
            }
        }
        drop(inner);
        self.changed();
        Ok(())
    }

    /// RENAME (RFC 3501 6.3.5): the mailbox and its inferiors get the new name, keeping their
    /// messages and UIDVALIDITY. Renaming INBOX moves its messages to a new mailbox and leaves
    /// INBOX empty.
    pub fn rename(&self, user: &str, from: &str, to: &str) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let validity = next_validity(&mut inner);
        let u = inner.user_mut(user)?;
        let src = u.folder(from)?;
        if !src.selectable && from.eq_ignore_ascii_case("INBOX") {
            return Err(StoreError::NotSelectable);
        }
        if u.mailbox(to).is_some() {
            return Err(StoreError::MailboxExists);
        }
        if to.eq_ignore_ascii_case("INBOX") || is_under(to, from) {
            return Err(StoreError::Cannot(
                "Cannot rename a mailbox to INBOX or below itself",
            ));
        }
        let new_parents: Vec<String> = parents(to)
            .into_iter()
            .filter(|p| u.mailbox(p).is_none())
            .map(str::to_string)
            .collect();
        if from.eq_ignore_ascii_case("INBOX") {
            let inbox = u.folder_mut("INBOX")?;
            let mut moved = Mailbox::new(to.to_string(), None, true, validity);
            moved.messages = std::mem::take(&mut inbox.messages);
            moved.uid_next = inbox.uid_next;
            moved.keywords = inbox.keywords.clone();
            moved.first_recent = inbox.first_recent;
            u.mailboxes.push(moved);
        } else {
            for m in u.mailboxes.iter_mut() {
                if is_under(&m.name, from) {
                    m.name = format!("{to}{}", &m.name[from.len()..]);
                }
            }
        }
        for p in new_parents {
            u.mailboxes.push(Mailbox::new(p, None, true, validity));
        }
        drop(inner);
        self.changed();
        Ok(())
    }

    /// SUBSCRIBE (`on`) or UNSUBSCRIBE. Subscribing needs no existing mailbox (RFC 3501
    /// 6.3.6 lets the name outlive it); unsubscribing a name not subscribed is an error.
    pub fn set_subscribed(&self, user: &str, name: &str, on: bool) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let u = inner.user_mut(user)?;
        let canonical = if name.eq_ignore_ascii_case("INBOX") {
            "INBOX".to_string()
        } else {
            name.to_string()
        };
        let at = u
            .subscriptions
            .iter()
            .position(|s| same_mailbox(s, &canonical));
        match (on, at) {
            (true, None) => u.subscriptions.push(canonical),
            (true, Some(_)) => {}
            (false, Some(i)) => {
                u.subscriptions.remove(i);
            }
            (false, None) => return Err(StoreError::Cannot("Mailbox is not subscribed")),
        }
        Ok(())
    }

    /// The subscribed names, in the order they were subscribed.
    pub fn subscriptions(&self, user: &str) -> Result<Vec<String>, StoreError> {
        let inner = self.lock();
        let u = inner.user(user)?;
        Ok(u.subscriptions.clone())
    }

    /// The UIDs that are `\Recent` for a session opening the mailbox now: every message no
    /// session has claimed yet. With `claim` (SELECT, or new mail in a read-write session),
    /// they are this session's alone from now on; EXAMINE only looks.
    pub fn claim_recent(
        &self,
        user: &str,
        mailbox: &str,
        claim: bool,
    ) -> Result<Vec<u32>, StoreError> {
        let mut inner = self.lock();
        let u = inner.user_mut(user)?;
        let m = u.folder_mut(mailbox)?;
        let from = m.messages.partition_point(|x| x.uid < m.first_recent);
        let uids = m.messages[from..].iter().map(|x| x.uid).collect();
        if claim {
            m.first_recent = m.uid_next;
        }
        Ok(uids)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::store;
    use super::*;
    use bytes::Bytes;

    fn names(s: &Store) -> Vec<String> {
        s.list("a@x.test")
            .expect("list")
            .into_iter()
            .map(|m| format!("{}{}", m.name, if m.selectable { "" } else { "*" }))
            .collect()
    }

    #[test]
    fn create_makes_parents_and_delete_prunes_placeholders() {
        let s = store();
        s.create("a@x.test", "p1/p2/p3").expect("create");
        assert!(names(&s).ends_with(&["p1".into(), "p1/p2".into(), "p1/p2/p3".into()]));
        s.delete("a@x.test", "p1").expect("delete with children");
        assert!(names(&s).contains(&"p1*".to_string()));
        assert_eq!(
            s.delete("a@x.test", "p1"),
            Err(StoreError::Cannot(
                "Mailbox has children and cannot hold messages; delete the children first"
            ))
        );
        s.delete("a@x.test", "p1/p2/p3").expect("delete leaf");
        s.delete("a@x.test", "p1/p2").expect("delete middle");
        assert!(
            !names(&s).iter().any(|n| n.starts_with("p1")),
            "{:?}",
            names(&s)
        );
        assert!(s.delete("a@x.test", "inbox").is_err());
    }

    #[test]
    fn rename_moves_children_and_keeps_validity() {
        let s = store();
        s.create("a@x.test", "a/b").expect("create");
        let v = s.status("a@x.test", "a/b").expect("status").uid_validity;
        s.rename("a@x.test", "a", "c/d").expect("rename");
        assert_eq!(
            s.status("a@x.test", "c/d/b").expect("moved").uid_validity,
            v
        );
        assert!(s.status("a@x.test", "c").is_ok());
        assert_eq!(s.status("a@x.test", "a"), Err(StoreError::NoSuchMailbox));
        s.append("a@x.test", "INBOX", Bytes::from_static(b"x"), vec![], None)
            .expect("append");
        s.rename("a@x.test", "INBOX", "old").expect("rename inbox");
        assert_eq!(s.status("a@x.test", "old").expect("old").exists, 1);
        assert_eq!(s.status("a@x.test", "INBOX").expect("inbox").exists, 0);
    }

    #[test]
    fn recent_is_claimed_once() {
        let s = store();
        for _ in 0..2 {
            s.append("a@x.test", "INBOX", Bytes::from_static(b"x"), vec![], None)
                .expect("append");
        }
        assert_eq!(s.claim_recent("a@x.test", "INBOX", false), Ok(vec![1, 2]));
        assert_eq!(s.status("a@x.test", "INBOX").expect("status").recent, 2);
        assert_eq!(s.claim_recent("a@x.test", "INBOX", true), Ok(vec![1, 2]));
        assert_eq!(s.claim_recent("a@x.test", "INBOX", true), Ok(vec![]));
        assert_eq!(s.status("a@x.test", "INBOX").expect("status").recent, 0);
    }

    #[test]
    fn subscriptions_outlive_mailboxes() {
        let s = store();
        s.set_subscribed("a@x.test", "gone", true).expect("sub");
        s.set_subscribed("a@x.test", "gone", true)
            .expect("twice is fine");
        assert_eq!(s.subscriptions("a@x.test"), Ok(vec!["gone".to_string()]));
        s.set_subscribed("a@x.test", "gone", false).expect("unsub");
        assert!(s.set_subscribed("a@x.test", "gone", false).is_err());
    }
}
