//! EXPUNGE and UID EXPUNGE (UIDPLUS): removes `\Deleted` messages and reports each with an
//! untagged EXPUNGE, plus the `imap_foreign_expunge` fault that makes others vanish first.

use imap_codec::imap_types::sequence::SequenceSet;

use super::store_error;
use crate::server::imap::session::Session;

impl Session {
    /// The `imap_foreign_expunge` fault: other messages vanish just before this UID EXPUNGE,
    /// as if concurrent sessions expunged them; `sync` then reports them in this reply.
    fn foreign_expunge(&mut self, user: &str, ours: &[u32]) {
        let Some(n) = self.shared.consume_fault(|f| f.imap_foreign_expunge.take()) else {
            return;
        };
        let Some(sel) = self.selected.as_ref() else {
            return;
        };
        let others: Vec<u32> = sel
            .view
            .iter()
            .map(|(uid, _)| *uid)
            .filter(|uid| !ours.contains(uid))
            .take(n)
            .collect();
        self.shared.fault_fired("imap_foreign_expunge");
        let name = sel.name.clone();
        let _ = self.shared.store.store_flags(
            user,
            &name,
            &others,
            crate::server::store::FlagOp::Add,
            &["\\Deleted".to_string()],
        );
        let _ = self.shared.store.expunge(user, &name, Some(&others));
    }

    pub(super) fn expunge(&mut self, set: Option<&SequenceSet>) -> String {
        if self.selected.as_ref().is_some_and(|s| s.read_only) {
            return "NO [READ-ONLY] Mailbox is read-only".into();
        }
        let uids = match set {
            Some(set) => match self.resolve(set, true) {
                Ok((_, uids)) => Some(uids),
                Err(bad) => return bad,
            },
            None => None,
        };
        let user = self.user();
        if let Some(ours) = uids.as_deref() {
            self.foreign_expunge(&user, ours);
        }
        let Some(sel) = self.selected.as_mut() else {
            return "BAD No mailbox selected".into();
        };
        let removed = match self.shared.store.expunge(&user, &sel.name, uids.as_deref()) {
            Ok(r) => r,
            Err(e) => return store_error(e),
        };
        self.contexts_forget(&removed);
        let Some(sel) = self.selected.as_mut() else {
            return "BAD No mailbox selected".into();
        };
        let mut out = String::new();
        for i in (0..sel.view.len()).rev() {
            if removed.binary_search(&sel.view[i].0).is_ok() {
                out.push_str(&format!("* {} EXPUNGE\r\n", i + 1));
                sel.view.remove(i);
            }
        }
        self.out.extend_from_slice(out.as_bytes());
        format!(
            "OK {}EXPUNGE completed",
            if set.is_some() { "UID " } else { "" }
        )
    }
}
