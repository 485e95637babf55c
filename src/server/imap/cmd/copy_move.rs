//! COPY and MOVE (RFC 6851), by sequence number or UID: COPYUID (UIDPLUS) in the reply, and
//! for MOVE the untagged EXPUNGEs of the messages that left.

use imap_codec::imap_types::sequence::SequenceSet;

use super::store_error;
use crate::server::Transfer;
use crate::server::imap::session::Session;
use crate::server::imap::wire::uid_set;

impl Session {
    pub(super) fn transfer(
        &mut self,
        set: &SequenceSet,
        dest: &str,
        by_uid: bool,
        how: Transfer,
    ) -> String {
        let remove = how == Transfer::Move;
        let verb = if remove { "MOVE" } else { "COPY" };
        let prefix = if by_uid { "UID " } else { "" };
        if remove && self.selected.as_ref().is_some_and(|s| s.read_only) {
            return "NO [READ-ONLY] Mailbox is read-only".into();
        }
        let (_, uids) = match self.resolve(set, by_uid) {
            Ok(v) => v,
            Err(bad) => return bad,
        };
        let user = self.user();
        let Some(sel) = self.selected.as_mut() else {
            return "BAD No mailbox selected".into();
        };
        let (validity, map) = match self
            .shared
            .store
            .transfer(&user, &sel.name, &uids, dest, how)
        {
            Ok(v) => v,
            Err(crate::server::StoreError::NoSuchMailbox) => {
                return "NO [TRYCREATE] Mailbox doesn't exist".into();
            }
            Err(e) => return store_error(e),
        };
        if map.is_empty() {
            return format!("OK {prefix}{verb} completed (no messages)");
        }
        let src: Vec<u32> = map.iter().map(|(s, _)| *s).collect();
        let dst: Vec<u32> = map.iter().map(|(_, d)| *d).collect();
        let code = if self.shared.faults().imap_no_copyuid {
            String::new()
        } else {
            format!("[COPYUID {validity} {} {}] ", uid_set(&src), uid_set(&dst))
        };
        if !remove {
            return format!("OK {code}{prefix}COPY completed");
        }
        self.untagged(&format!("OK {code}Moved"));
        self.contexts_forget(&src);
        let Some(sel) = self.selected.as_mut() else {
            return "BAD No mailbox selected".into();
        };
        let mut out = String::new();
        for i in (0..sel.view.len()).rev() {
            if src.contains(&sel.view[i].0) {
                out.push_str(&format!("* {} EXPUNGE\r\n", i + 1));
                sel.view.remove(i);
            }
        }
        self.out.extend_from_slice(out.as_bytes());
        format!("OK {prefix}MOVE completed")
    }
}
