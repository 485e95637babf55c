//! STORE and UID STORE: flags (`\Recent` refused, as Dovecot does) with FETCH FLAGS answers
//! unless `.SILENT`, and Gmail's `X-GM-LABELS` (a label is a folder holding a copy).

use imap_codec::imap_types::flag::{Flag, StoreResponse, StoreType};
use imap_codec::imap_types::sequence::SequenceSet;

use super::{refuse_recent, store_error};
use crate::server::imap::gmail::{folder_of, label_list, labels, same_message};
use crate::server::imap::session::Session;
use crate::server::{FlagOp, StoredMessage, Transfer};

impl Session {
    pub(super) fn store(
        &mut self,
        set: &SequenceSet,
        kind: StoreType,
        response: StoreResponse,
        flags: &[Flag<'_>],
        by_uid: bool,
    ) -> String {
        let verb = if by_uid { "UID STORE" } else { "STORE" };
        if self.selected.as_ref().is_some_and(|s| s.read_only) {
            return "NO [READ-ONLY] Mailbox is read-only".into();
        }
        let flags: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
        if flags.iter().any(|f| f.eq_ignore_ascii_case("\\Recent")) {
            return refuse_recent();
        }
        let (_, uids) = match self.resolve(set, by_uid) {
            Ok(v) => v,
            Err(bad) => return bad,
        };
        let op = match kind {
            StoreType::Add => FlagOp::Add,
            StoreType::Remove => FlagOp::Remove,
            StoreType::Replace => FlagOp::Replace,
        };
        let user = self.user();
        let Some(name) = self.selected.as_ref().map(|s| s.name.clone()) else {
            return "BAD No mailbox selected".into();
        };
        let changed = match self
            .shared
            .store
            .store_flags(&user, &name, &uids, op, &flags)
        {
            Ok(c) => c,
            Err(e) => return store_error(e),
        };
        self.announce_keywords();
        let Some(sel) = self.selected.as_mut() else {
            return "BAD No mailbox selected".into();
        };
        let mut out = String::new();
        for (uid, new) in changed {
            let Ok(i) = sel.view.binary_search_by_key(&uid, |(u, _)| *u) else {
                continue;
            };
            sel.view[i].1 = new;
            if response == StoreResponse::Answer {
                let uid_item = if by_uid {
                    format!("UID {uid} ")
                } else {
                    String::new()
                };
                out.push_str(&format!(
                    "* {} FETCH ({uid_item}FLAGS {})\r\n",
                    i + 1,
                    sel.flag_list(uid, &sel.view[i].1)
                ));
            }
        }
        self.out.extend_from_slice(out.as_bytes());
        format!("OK {verb} completed")
    }

    /// `STORE set [+|-]X-GM-LABELS[.SILENT] (labels)`: adding a label copies the message to
    /// that folder (created if needed), removing one takes the copy out of it.
    pub(super) fn store_labels(
        &mut self,
        set: &imap_codec::imap_types::sequence::SequenceSet,
        by_uid: bool,
        op: FlagOp,
        silent: bool,
        wanted: &[String],
    ) -> String {
        let verb = if by_uid { "UID STORE" } else { "STORE" };
        let (idx, uids) = match self.resolve(set, by_uid) {
            Ok(v) => v,
            Err(bad) => return bad,
        };
        let user = self.user();
        let Some(current) = self.selected.as_ref().map(|s| s.name.clone()) else {
            return "BAD No mailbox selected".into();
        };
        let msgs: Vec<(usize, StoredMessage)> = self
            .shared
            .store
            .with_mailbox(&user, &current, |m| {
                idx.iter()
                    .zip(&uids)
                    .filter_map(|(&i, &u)| m.position(u).map(|p| (i, m.messages[p].clone())))
                    .collect()
            })
            .unwrap_or_default();
        for (_, msg) in &msgs {
            let have = labels(self, msg);
            let (add, remove): (Vec<String>, Vec<String>) = match op {
                FlagOp::Add => (wanted.to_vec(), Vec::new()),
                FlagOp::Remove => (Vec::new(), wanted.to_vec()),
                FlagOp::Replace => (
                    wanted.to_vec(),
                    have.iter()
                        .filter(|h| !wanted.iter().any(|w| w.eq_ignore_ascii_case(h)))
                        .cloned()
                        .collect(),
                ),
            };
            for label in add {
                if have.iter().any(|h| h.eq_ignore_ascii_case(&label)) {
                    continue;
                }
                let Some(folder) = folder_of(self, &label) else {
                    continue;
                };
                if self.shared.store.status(&user, &folder).is_err()
                    && let Err(e) = self.shared.store.create(&user, &folder)
                {
                    return store_error(e);
                }
                if let Err(e) =
                    self.shared
                        .store
                        .transfer(&user, &current, &[msg.uid], &folder, Transfer::Copy)
                {
                    return store_error(e);
                }
            }
            for label in remove {
                let Some(folder) = folder_of(self, &label) else {
                    continue;
                };
                let copies: Vec<u32> = self
                    .shared
                    .store
                    .with_mailbox(&user, &folder, |m| {
                        m.messages
                            .iter()
                            .filter(|x| same_message(x, msg))
                            .map(|x| x.uid)
                            .collect()
                    })
                    .unwrap_or_default();
                if copies.is_empty() {
                    continue;
                }
                let store = &self.shared.store;
                let _ =
                    store.store_flags(&user, &folder, &copies, FlagOp::Add, &["\\Deleted".into()]);
                let _ = store.expunge(&user, &folder, Some(&copies));
            }
        }
        if !silent {
            let mut out = String::new();
            for (i, msg) in &msgs {
                let uid = if by_uid {
                    format!(" UID {}", msg.uid)
                } else {
                    String::new()
                };
                out.push_str(&format!(
                    "* {} FETCH (X-GM-LABELS {}{uid})\r\n",
                    i + 1,
                    label_list(&labels(self, msg))
                ));
            }
            self.out.extend_from_slice(out.as_bytes());
        }
        format!("OK {verb} completed")
    }
}
