//! SELECT and EXAMINE (RFC 3501 6.3.1, 6.3.2): the mailbox's FLAGS, EXISTS, RECENT, UIDVALIDITY
//! and UIDNEXT, and the [`Selected`] view the session keeps from then on (read-only for EXAMINE).

use super::store_error;
use crate::server::imap::session::Session;
use crate::server::imap::view::{Selected, flag_lines};

impl Session {
    /// SELECT / EXAMINE (RFC 3501 6.3.1, 6.3.2). SELECT claims the mailbox's recent messages
    /// for this session; EXAMINE only shows them, so they stay recent for the next SELECT
    /// (what Dovecot does, and what imaptest's `select` test expects).
    pub(super) fn select(&mut self, name: &str, examine: bool) -> String {
        // RFC 3501 6.3.1: a failed SELECT leaves no mailbox selected.
        self.selected = None;
        let verb = if examine { "EXAMINE" } else { "SELECT" };
        let user = self.user();
        let store = &self.shared.store;
        let r = store.with_mailbox(&user, name, |m| {
            let view: Vec<(u32, Vec<String>)> = m
                .messages
                .iter()
                .map(|x| (x.uid, x.flags.clone()))
                .collect();
            let first_unseen = m.messages.iter().position(|x| !x.has_flag("\\Seen"));
            (
                m.name.clone(),
                m.selectable,
                m.uid_validity,
                m.uid_next,
                view,
                first_unseen,
                m.keywords.clone(),
            )
        });
        let (name, selectable, validity, next, view, first_unseen, keywords) = match r {
            Ok(v) => v,
            Err(e) => return store_error(e),
        };
        if !selectable {
            return "NO [CANNOT] Mailbox cannot be selected".into();
        }
        let recent = store
            .claim_recent(&user, &name, !examine)
            .unwrap_or_default();
        let mut sel = Selected {
            name,
            read_only: examine,
            view,
            validity,
            recent: Vec::new(),
            keywords,
            contexts: Vec::new(),
        };
        sel.add_recent(recent);
        let (flags, permanent) = flag_lines(&sel);
        self.untagged(&flags);
        self.untagged(&permanent);
        self.untagged(&format!("{} EXISTS", sel.view.len()));
        self.untagged(&format!("{} RECENT", sel.recent_in_view()));
        if let Some(i) = first_unseen {
            self.untagged(&format!("OK [UNSEEN {}] First unseen.", i + 1));
        }
        self.untagged(&format!("OK [UIDVALIDITY {validity}] UIDs valid"));
        self.untagged(&format!("OK [UIDNEXT {next}] Predicted next UID"));
        self.selected = Some(sel);
        if examine {
            format!("OK [READ-ONLY] {verb} completed")
        } else {
            format!("OK [READ-WRITE] {verb} completed")
        }
    }
}
