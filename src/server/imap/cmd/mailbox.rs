//! The mailbox-level commands other than LIST: CREATE (missing parents too), DELETE, RENAME
//! (a selected mailbox follows its new name), SUBSCRIBE / UNSUBSCRIBE and STATUS.

use super::store_error;
use crate::server::imap::session::Session;
use crate::server::imap::wire::quoted;

impl Session {
    /// CREATE (RFC 3501 6.3.3): missing parents are created too.
    pub(super) fn create(&mut self, name: &str) -> String {
        if name.eq_ignore_ascii_case("INBOX") {
            return "NO [ALREADYEXISTS] Mailbox already exists".into();
        }
        if name.is_empty() || name.contains(['*', '%']) || name.contains("//") {
            return "NO [CANNOT] Invalid mailbox name".into();
        }
        match self.shared.store.create(&self.user(), name) {
            Ok(()) => "OK CREATE completed".into(),
            Err(e) => store_error(e),
        }
    }

    /// DELETE (RFC 3501 6.3.4). Deleting the selected mailbox unselects it.
    pub(super) fn delete(&mut self, name: &str) -> String {
        match self.shared.store.delete(&self.user(), name) {
            Ok(()) => {
                if self
                    .selected
                    .as_ref()
                    .is_some_and(|s| crate::server::store::same_mailbox(&s.name, name))
                {
                    self.selected = None;
                }
                "OK DELETE completed".into()
            }
            Err(e) => store_error(e),
        }
    }

    /// RENAME (RFC 3501 6.3.5); a selected mailbox that moved stays selected under its new name.
    pub(super) fn rename(&mut self, from: &str, to: &str) -> String {
        if to.is_empty() || to.contains(['*', '%']) {
            return "NO [CANNOT] Invalid mailbox name".into();
        }
        match self.shared.store.rename(&self.user(), from, to) {
            Ok(()) => {
                if let Some(sel) = self.selected.as_mut()
                    && !from.eq_ignore_ascii_case("INBOX")
                {
                    if sel.name == from {
                        sel.name = to.to_string();
                    } else if let Some(rest) = sel.name.strip_prefix(&format!("{from}/")) {
                        sel.name = format!("{to}/{rest}");
                    }
                }
                "OK RENAME completed".into()
            }
            Err(e) => store_error(e),
        }
    }

    /// SUBSCRIBE / UNSUBSCRIBE (RFC 3501 6.3.6, 6.3.7).
    pub(super) fn subscribe(&mut self, name: &str, on: bool) -> String {
        let verb = if on { "SUBSCRIBE" } else { "UNSUBSCRIBE" };
        if on && self.shared.store.status(&self.user(), name).is_err() {
            return "NO [NONEXISTENT] Mailbox doesn't exist".into();
        }
        match self.shared.store.set_subscribed(&self.user(), name, on) {
            Ok(()) => format!("OK {verb} completed"),
            Err(e) => store_error(e),
        }
    }

    /// STATUS with upper-cased item names; `Err` is the tagged NO.
    pub(super) fn status_items(&mut self, name: &str, items: &[String]) -> Result<(), String> {
        let info = self
            .shared
            .store
            .status(&self.user(), name)
            .map_err(store_error)?;
        if !info.selectable {
            return Err("NO [CANNOT] Mailbox has no status".into());
        }
        let deleted = self
            .shared
            .store
            .with_mailbox(&self.user(), name, |m| {
                let d = m.messages.iter().filter(|x| x.has_flag("\\Deleted"));
                (d.clone().count(), d.map(|x| x.size()).sum::<usize>())
            })
            .unwrap_or_default();
        let mut parts = Vec::new();
        for item in items {
            parts.push(match item.as_str() {
                "MESSAGES" => format!("MESSAGES {}", info.exists),
                "RECENT" => format!("RECENT {}", info.recent),
                "UIDNEXT" => format!("UIDNEXT {}", info.uid_next),
                "UIDVALIDITY" => format!("UIDVALIDITY {}", info.uid_validity),
                "UNSEEN" => format!("UNSEEN {}", info.unseen),
                "DELETED" => format!("DELETED {}", deleted.0),
                "DELETED-STORAGE" => format!("DELETED-STORAGE {}", deleted.1),
                other => return Err(format!("BAD Unknown STATUS item {other}")),
            });
        }
        self.untagged(&format!(
            "STATUS {} ({})",
            quoted(&info.name),
            parts.join(" ")
        ));
        Ok(())
    }
}
