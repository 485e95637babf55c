//! The selected mailbox as one session sees it: `\Recent` (RFC 3501 2.3.2: a new message is
//! recent in exactly one session), FLAGS / PERMANENTFLAGS kept in step with the keywords in
//! use, and the untagged updates (EXPUNGE, FETCH FLAGS, EXISTS, RECENT) that keep the
//! client's sequence-number ↔ UID map in step with the shared store. SELECT is `cmd/select`.

use super::session::Session;
use crate::server::StoreError;

/// The selected mailbox as the client knows it.
#[derive(Debug, Clone)]
pub(super) struct Selected {
    /// The mailbox's canonical name.
    pub name: String,
    /// EXAMINE, or SELECT of a mailbox the session may not change.
    pub read_only: bool,
    /// UIDs in sequence-number order, with the flags last reported to the client.
    pub view: Vec<(u32, Vec<String>)>,
    /// UIDVALIDITY when selected: a different one means the mailbox was replaced.
    pub validity: u32,
    /// UIDs that are `\Recent` in this session, ascending.
    pub recent: Vec<u32>,
    /// Keywords announced in FLAGS so far.
    pub keywords: Vec<String>,
    /// Searches with `RETURN (UPDATE)` still reporting changes (CONTEXT=SEARCH).
    pub contexts: Vec<SearchContext>,
}

/// A saved `SEARCH RETURN (UPDATE)` (RFC 5267).
#[derive(Debug, Clone)]
pub(super) struct SearchContext {
    pub tag: String,
    pub uid: bool,
    pub charset: String,
    pub criteria: Vec<imap_codec::imap_types::search::SearchKey<'static>>,
    /// UIDs that matched when last reported.
    pub hits: Vec<u32>,
}

const SYSTEM_FLAGS: [&str; 5] = ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"];

fn same_flags(a: &[String], b: &[String]) -> bool {
    a.len() == b.len()
        && a.iter()
            .all(|f| b.iter().any(|g| g.eq_ignore_ascii_case(f)))
}

impl Selected {
    /// Whether the message is `\Recent` in this session.
    pub fn is_recent(&self, uid: u32) -> bool {
        self.recent.binary_search(&uid).is_ok()
    }

    /// The flag list as FETCH shows it: `\Recent` first when it applies.
    pub fn flag_list(&self, uid: u32, flags: &[String]) -> String {
        let mut all: Vec<&str> = Vec::with_capacity(flags.len() + 1);
        if self.is_recent(uid) {
            all.push("\\Recent");
        }
        all.extend(flags.iter().map(String::as_str));
        format!("({})", all.join(" "))
    }

    pub(super) fn add_recent(&mut self, uids: Vec<u32>) {
        self.recent.extend(uids);
        self.recent.sort_unstable();
        self.recent.dedup();
    }

    /// Recent messages among those the client knows.
    pub(super) fn recent_in_view(&self) -> usize {
        self.view.iter().filter(|(u, _)| self.is_recent(*u)).count()
    }
}

impl Session {
    /// Announces keywords that came into use since the client last heard FLAGS, so no FETCH
    /// shows a keyword the client was not told about (RFC 3501 7.2.6).
    pub(super) fn announce_keywords(&mut self) {
        let user = self.user();
        let Some(sel) = self.selected.as_mut() else {
            return;
        };
        let Ok(keywords) = self
            .shared
            .store
            .with_mailbox(&user, &sel.name, |m| m.keywords.clone())
        else {
            return;
        };
        if keywords.len() == sel.keywords.len() {
            return;
        }
        sel.keywords = keywords;
        let (flags, permanent) = flag_lines(sel);
        self.untagged(&flags);
        self.untagged(&permanent);
    }

    /// Reports changes other sessions (or SMTP) made to the selected mailbox: EXPUNGE with
    /// descending sequence numbers, FLAGS for new keywords, FETCH FLAGS, then EXISTS and
    /// RECENT; updates the view to match. A mailbox deleted (or replaced) under the session
    /// ends it with BYE, as Dovecot does. Without `news`, messages delivered since the last
    /// look stay out of the view (the `imap_sync_on_noop` fault).
    pub(super) fn sync(&mut self, allow_expunge: bool, news: bool) {
        let user = self.user();
        let Some(sel) = self.selected.as_ref() else {
            return;
        };
        let current = self.shared.store.with_mailbox(&user, &sel.name, |m| {
            let msgs: Vec<(u32, Vec<String>)> = m
                .messages
                .iter()
                .map(|x| (x.uid, x.flags.clone()))
                .collect();
            (m.uid_validity, msgs)
        });
        let current = match current {
            Ok((validity, msgs)) if validity == sel.validity => msgs,
            Ok(_) | Err(StoreError::NoSuchMailbox) => {
                self.untagged("BYE Selected mailbox was deleted, have to disconnect.");
                self.selected = None;
                self.closing = true;
                return;
            }
            Err(_) => return,
        };
        self.announce_keywords();
        let find = |uid: u32| current.binary_search_by_key(&uid, |(u, _)| *u).ok();
        if allow_expunge {
            let gone: Vec<u32> = sel_view_uids(self)
                .into_iter()
                .filter(|u| find(*u).is_none())
                .collect();
            if !gone.is_empty() {
                self.contexts_forget(&gone);
            }
        }
        let Some(sel) = self.selected.as_mut() else {
            return;
        };
        let mut out = String::new();
        if allow_expunge {
            for i in (0..sel.view.len()).rev() {
                if find(sel.view[i].0).is_none() {
                    out.push_str(&format!("* {} EXPUNGE\r\n", i + 1));
                    sel.view.remove(i);
                }
            }
        }
        for i in 0..sel.view.len() {
            let uid = sel.view[i].0;
            if let Some(j) = find(uid)
                && !same_flags(&sel.view[i].1, &current[j].1)
            {
                sel.view[i].1 = current[j].1.clone();
                out.push_str(&format!(
                    "* {} FETCH (UID {uid} FLAGS {})\r\n",
                    i + 1,
                    sel.flag_list(uid, &current[j].1)
                ));
            }
        }
        let last = sel.view.last().map_or(0, |(u, _)| *u);
        let before = sel.view.len();
        let mut new: Vec<(u32, Vec<String>)> =
            current.into_iter().filter(|(u, _)| *u > last).collect();
        if !news && !new.is_empty() {
            self.shared.fault_fired("imap_sync_on_noop");
            new.clear();
        }
        if !new.is_empty() {
            let claim = !sel.read_only;
            if let Ok(recent) = self.shared.store.claim_recent(&user, &sel.name, claim) {
                sel.add_recent(recent);
            }
            sel.view.extend(new);
        }
        if sel.view.len() != before {
            out.push_str(&format!("* {} EXISTS\r\n", sel.view.len()));
            out.push_str(&format!("* {} RECENT\r\n", sel.recent_in_view()));
        }
        self.out.extend_from_slice(out.as_bytes());
    }
}

fn sel_view_uids(s: &Session) -> Vec<u32> {
    s.selected
        .as_ref()
        .map(|sel| sel.view.iter().map(|(u, _)| *u).collect())
        .unwrap_or_default()
}

/// `FLAGS (...)` and `OK [PERMANENTFLAGS (...)]` for the session's known keywords.
pub(super) fn flag_lines(sel: &Selected) -> (String, String) {
    let mut flags: Vec<&str> = SYSTEM_FLAGS.to_vec();
    flags.extend(sel.keywords.iter().map(String::as_str));
    let list = flags.join(" ");
    let permanent = if sel.read_only {
        "OK [PERMANENTFLAGS ()] Read-only mailbox.".to_string()
    } else {
        format!("OK [PERMANENTFLAGS ({list} \\*)] Flags permitted.")
    };
    (format!("FLAGS ({list})"), permanent)
}
