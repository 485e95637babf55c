//! Message operations on the store: reading a folder under the lock, APPEND (by name or by
//! role), STORE flags with the keywords they bring, EXPUNGE (archiving to All Mail on a Gmail
//! layout), COPY / MOVE with their UID maps, and the HTTP API's immediate remove.

use bytes::Bytes;
use chrono::{DateTime, FixedOffset};

use super::{FlagOp, Mailbox, SpecialUse, Store, StoreError, StoredMessage};

/// What [`Store::transfer`] does with the originals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transfer {
    /// COPY: the originals stay.
    Copy,
    /// MOVE: the originals leave the source folder.
    Move,
}

impl Store {
    /// Runs `f` over a folder under the lock (read access without copying messages).
    pub fn with_mailbox<R>(
        &self,
        user: &str,
        mailbox: &str,
        f: impl FnOnce(&Mailbox) -> R,
    ) -> Result<R, StoreError> {
        let inner = self.lock();
        let u = inner.user(user)?;
        let m = u.folder(mailbox)?;
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
        let u = inner.user_mut(user)?;
        let m = u.folder_mut(mailbox)?;
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
        let u = inner.user_mut(user)?;
        let m = u.folder_mut(mailbox)?;
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
        let u = inner.user_mut(user)?;
        let archive_to = (u.expunge_archives && mailbox.eq_ignore_ascii_case("INBOX"))
            .then(|| u.role(SpecialUse::All))
            .flatten();
        let m = u.folder_mut(mailbox)?;
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

    /// COPY or MOVE (which also removes the originals) of the given UIDs to another folder;
    /// returns (dest UIDVALIDITY, [(src, dest)]).
    pub fn transfer(
        &self,
        user: &str,
        from: &str,
        uids: &[u32],
        to: &str,
        how: Transfer,
    ) -> Result<(u32, Vec<(u32, u32)>), StoreError> {
        let mut inner = self.lock();
        let u = inner.user_mut(user)?;
        let dest = u.folder(to)?;
        if !dest.selectable {
            return Err(StoreError::NotSelectable);
        }
        let src = u.folder_mut(from)?;
        let mut moving = Vec::new();
        if how == Transfer::Move {
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
        let dest = u.folder_mut(to)?;
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

    /// Removes the given UIDs from a folder at once (no `\Deleted` flag, no archiving):
    /// what the HTTP API's DELETE does. Returns the UIDs removed.
    pub fn remove(&self, user: &str, mailbox: &str, uids: &[u32]) -> Result<Vec<u32>, StoreError> {
        let mut inner = self.lock();
        let u = inner.user_mut(user)?;
        let m = u.folder_mut(mailbox)?;
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

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::super::tests::store;
    use super::*;

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
}
