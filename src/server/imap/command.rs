//! Dispatch for the Authenticated and Selected states, and the message commands: APPEND
//! (with MULTIAPPEND), FETCH, STORE, COPY, MOVE, EXPUNGE. Mailbox commands live in
//! `mailboxes`, SELECT and the untagged-update sync in `view`, SEARCH / SORT / THREAD in
//! `query`.

use bytes::Bytes;
use imap_codec::imap_types::IntoStatic;
use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::extensions::binary::LiteralOrLiteral8;
use imap_codec::imap_types::fetch::{MacroOrMessageDataItemNames, MessageDataItemName};
use imap_codec::imap_types::flag::{Flag, StoreResponse, StoreType};
use imap_codec::imap_types::mailbox::{ListMailbox, Mailbox};
use imap_codec::imap_types::sequence::SequenceSet;
use imap_codec::imap_types::status::StatusDataItemName;

use super::ext::{AppendMessage, ExtCommand, ListCommand};
use super::fetch;
use super::gmail::{self, GmItem};
use super::mailboxes::{name_of, store_error};
use super::sequence;
use super::session::Session;
use super::wire::uid_set;
use crate::server::FlagOp;

/// A mailbox argument as a canonical name.
pub fn mailbox_name(m: &Mailbox<'_>) -> String {
    match m {
        Mailbox::Inbox => "INBOX".to_string(),
        Mailbox::Other(o) => name_of(o.as_ref()),
    }
}

fn list_pattern(p: &ListMailbox<'_>) -> Vec<u8> {
    match p {
        ListMailbox::Token(t) => t.as_ref().to_vec(),
        ListMailbox::String(s) => s.as_ref().to_vec(),
    }
}

fn reference_bytes(m: &Mailbox<'_>) -> Vec<u8> {
    match m {
        Mailbox::Inbox => b"INBOX".to_vec(),
        Mailbox::Other(o) => o.as_ref().to_vec(),
    }
}

fn status_name(item: &StatusDataItemName) -> String {
    match item {
        StatusDataItemName::Messages => "MESSAGES",
        StatusDataItemName::Recent => "RECENT",
        StatusDataItemName::UidNext => "UIDNEXT",
        StatusDataItemName::UidValidity => "UIDVALIDITY",
        StatusDataItemName::Unseen => "UNSEEN",
        StatusDataItemName::Deleted => "DELETED",
        StatusDataItemName::DeletedStorage => "DELETED-STORAGE",
    }
    .to_string()
}

/// Commands that need a selected mailbox.
fn needs_selection(body: &CommandBody<'_>) -> bool {
    matches!(
        body,
        CommandBody::Fetch { .. }
            | CommandBody::Store { .. }
            | CommandBody::Search { .. }
            | CommandBody::Sort { .. }
            | CommandBody::Thread { .. }
            | CommandBody::Copy { .. }
            | CommandBody::Move { .. }
            | CommandBody::Expunge
            | CommandBody::ExpungeUid { .. }
            | CommandBody::Close
            | CommandBody::Unselect
    )
}

impl Session {
    /// Commands of the Authenticated and Selected states; the caller checked authentication.
    pub(super) fn mailbox_command(&mut self, tag: &str, body: CommandBody<'static>) {
        // RFC 3501 7.4.1: no EXPUNGE responses while answering FETCH, STORE or SEARCH.
        let allow_expunge = !matches!(
            body,
            CommandBody::Fetch { uid: false, .. }
                | CommandBody::Store { uid: false, .. }
                | CommandBody::Search { uid: false, .. }
                | CommandBody::Sort { uid: false, .. }
                | CommandBody::Thread { uid: false, .. }
        );
        let before = self.context_snapshot();
        let reply = self.execute(body);
        self.finish(tag, &reply, allow_expunge, before);
    }

    /// Extension commands (see `ext`) of the Authenticated and Selected states.
    pub(super) fn ext_command(&mut self, tag: &str, cmd: ExtCommand) {
        let allow_expunge = !matches!(
            cmd,
            ExtCommand::Search { uid: false, .. }
                | ExtCommand::Sort { uid: false, .. }
                | ExtCommand::Fetch {
                    body: CommandBody::Fetch { uid: false, .. },
                    ..
                }
                | ExtCommand::StoreLabels { uid: false, .. }
        );
        let needs_selection = matches!(
            cmd,
            ExtCommand::Search { .. }
                | ExtCommand::Sort { .. }
                | ExtCommand::Fetch { .. }
                | ExtCommand::StoreLabels { .. }
        );
        let gmail_only = matches!(
            cmd,
            ExtCommand::Fetch { .. } | ExtCommand::StoreLabels { .. }
        );
        let before = self.context_snapshot();
        let reply = if needs_selection && self.selected.is_none() {
            "BAD No mailbox selected".to_string()
        } else if gmail_only && !self.gmail() {
            "BAD X-GM-EXT-1 items need the Gmail profile".to_string()
        } else {
            match cmd {
                ExtCommand::Search {
                    uid,
                    ret,
                    charset,
                    criteria,
                    gmail,
                } => self.search(tag, charset.as_ref(), &criteria, uid, ret, &gmail),
                ExtCommand::Fetch {
                    body:
                        CommandBody::Fetch {
                            sequence_set,
                            macro_or_item_names,
                            uid,
                            ..
                        },
                    gmail,
                    drop_uid,
                } => {
                    let mut items = match macro_or_item_names {
                        MacroOrMessageDataItemNames::Macro(m) => m.expand().into_static(),
                        MacroOrMessageDataItemNames::MessageDataItemNames(v) => v,
                    };
                    if drop_uid {
                        items.retain(|i| *i != MessageDataItemName::Uid);
                    }
                    self.fetch(&sequence_set, items, uid, &gmail)
                }
                ExtCommand::Fetch { .. } => "BAD Syntax error in FETCH".into(),
                ExtCommand::StoreLabels {
                    uid,
                    set,
                    op,
                    silent,
                    labels,
                } => {
                    if self.selected.as_ref().is_some_and(|s| s.read_only) {
                        "NO [READ-ONLY] Mailbox is read-only".into()
                    } else {
                        self.store_labels(&set, uid, op, silent, &labels)
                    }
                }
                ExtCommand::Sort {
                    uid,
                    ret,
                    criteria,
                    search,
                } => self.sort(tag, &criteria, &search, uid, Some(ret)),
                ExtCommand::List(l) => self.list(&l),
                ExtCommand::Append { mailbox, messages } => {
                    self.append(&name_of(&mailbox), messages)
                }
                ExtCommand::CancelUpdate(tags) => self.cancel_update(&tags),
            }
        };
        self.finish(tag, &reply, allow_expunge, before);
    }

    /// Untagged updates, then the tagged reply.
    fn finish(&mut self, tag: &str, reply: &str, allow_expunge: bool, before: Option<Vec<u32>>) {
        if reply.starts_with("OK") || reply.starts_with("NO") {
            self.sync(allow_expunge);
            self.search_updates(before);
        }
        self.tagged(tag, reply);
    }

    /// NOOP, CHECK and IDLE: untagged updates, search contexts included.
    pub(super) fn refresh(&mut self, allow_expunge: bool) {
        let before = self.context_snapshot();
        self.sync(allow_expunge);
        self.search_updates(before);
    }

    /// Runs one command, writing untagged data to `out`; returns the tagged reply's text.
    fn execute(&mut self, body: CommandBody<'static>) -> String {
        let name = body.name();
        if needs_selection(&body) && self.selected.is_none() {
            return "BAD No mailbox selected".into();
        }
        match body {
            CommandBody::Select { mailbox, .. } => self.select(&mailbox_name(&mailbox), false),
            CommandBody::Examine { mailbox, .. } => self.select(&mailbox_name(&mailbox), true),
            CommandBody::List {
                reference,
                mailbox_wildcard,
            }
            | CommandBody::Lsub {
                reference,
                mailbox_wildcard,
            } => {
                let cmd = ListCommand {
                    lsub: name == "LSUB",
                    reference: reference_bytes(&reference),
                    patterns: vec![list_pattern(&mailbox_wildcard)],
                    ..ListCommand::default()
                };
                self.list(&cmd)
            }
            CommandBody::Status {
                mailbox,
                item_names,
            } => {
                let items: Vec<String> = item_names.iter().map(status_name).collect();
                match self.status_items(&mailbox_name(&mailbox), &items) {
                    Ok(()) => "OK STATUS completed".into(),
                    Err(no) => no,
                }
            }
            CommandBody::Create { mailbox } => self.create(&mailbox_name(&mailbox)),
            CommandBody::Delete { mailbox } => self.delete(&mailbox_name(&mailbox)),
            CommandBody::Rename { from, to } => {
                self.rename(&mailbox_name(&from), &mailbox_name(&to))
            }
            CommandBody::Subscribe { mailbox } => self.subscribe(&mailbox_name(&mailbox), true),
            CommandBody::Unsubscribe { mailbox } => self.subscribe(&mailbox_name(&mailbox), false),
            CommandBody::Append {
                mailbox,
                flags,
                date,
                message,
            } => {
                let (data, binary) = match message {
                    LiteralOrLiteral8::Literal(l) => (l.into_inner().into_owned(), false),
                    LiteralOrLiteral8::Literal8(l) => (l.data.into_owned(), true),
                };
                let msg = AppendMessage {
                    flags: flags.iter().map(|f| f.to_string()).collect(),
                    date: date.map(|d| *d.as_ref()),
                    data,
                    binary,
                    catenate: None,
                };
                self.append(&mailbox_name(&mailbox), vec![msg])
            }
            CommandBody::Fetch {
                sequence_set,
                macro_or_item_names,
                uid,
                ..
            } => {
                let items = match macro_or_item_names {
                    MacroOrMessageDataItemNames::Macro(m) => m.expand().into_static(),
                    MacroOrMessageDataItemNames::MessageDataItemNames(v) => v,
                };
                self.fetch(&sequence_set, items, uid, &[])
            }
            CommandBody::Search {
                charset,
                criteria,
                uid,
            } => self.search("", charset.as_ref(), criteria.as_ref(), uid, None, &[]),
            CommandBody::Sort {
                sort_criteria,
                search_criteria,
                uid,
                ..
            } => self.sort(
                "",
                sort_criteria.as_ref(),
                search_criteria.as_ref(),
                uid,
                None,
            ),
            CommandBody::Thread {
                algorithm,
                search_criteria,
                uid,
                ..
            } => self.thread(&algorithm, search_criteria.as_ref(), uid),
            CommandBody::Store {
                sequence_set,
                kind,
                response,
                flags,
                uid,
                ..
            } => self.store(&sequence_set, kind, response, &flags, uid),
            CommandBody::Copy {
                sequence_set,
                mailbox,
                uid,
            } => self.transfer(&sequence_set, &mailbox_name(&mailbox), uid, false),
            CommandBody::Move {
                sequence_set,
                mailbox,
                uid,
            } => self.transfer(&sequence_set, &mailbox_name(&mailbox), uid, true),
            CommandBody::Expunge => self.expunge(None),
            CommandBody::ExpungeUid { sequence_set } => self.expunge(Some(&sequence_set)),
            CommandBody::Close => {
                if let Some(sel) = self.selected.take()
                    && !sel.read_only
                {
                    let _ = self.shared.store.expunge(&self.user(), &sel.name, None);
                }
                "OK CLOSE completed".into()
            }
            CommandBody::Unselect => {
                self.selected = None;
                "OK UNSELECT completed".into()
            }
            CommandBody::Idle
            | CommandBody::Enable { .. }
            | CommandBody::Namespace
            | CommandBody::Capability
            | CommandBody::Noop
            | CommandBody::Check
            | CommandBody::Logout
            | CommandBody::StartTLS
            | CommandBody::Login { .. }
            | CommandBody::Authenticate { .. }
            | CommandBody::Id { .. } => "BAD Command not valid in this state".into(),
            _ => format!("BAD {name} is not supported"),
        }
    }

    /// APPEND, one message or several (MULTIAPPEND, RFC 3502: all or none are stored), each
    /// possibly assembled by CATENATE (RFC 4469).
    fn append(&mut self, name: &str, messages: Vec<AppendMessage>) -> String {
        let user = self.user();
        match self.shared.store.status(&user, name) {
            Ok(info) if !info.selectable => {
                return store_error(crate::server::StoreError::NotSelectable);
            }
            Ok(_) => {}
            Err(crate::server::StoreError::NoSuchMailbox) => {
                return "NO [TRYCREATE] Mailbox doesn't exist".into();
            }
            Err(e) => return store_error(e),
        }
        let limit = self.shared.config.max_message_size;
        let mut prepared = Vec::with_capacity(messages.len());
        for mut m in messages {
            if let Some(parts) = m.catenate.take() {
                match self.catenate(&parts) {
                    Ok(data) => m.data = data,
                    Err(no) => return no,
                }
            }
            if m.data.len() > limit {
                return format!("NO [TOOBIG] Message exceeds the {limit}-byte limit");
            }
            if m.flags.iter().any(|f| f.eq_ignore_ascii_case("\\Recent")) {
                return refuse_recent();
            }
            if !m.binary && m.data.contains(&0) {
                return "NO [UNKNOWN-CTE] NUL in a literal; send the message as a literal8 (~{n})"
                    .into();
            }
            let data = if m.binary {
                super::binary::storable(&m.data)
            } else {
                m.data
            };
            prepared.push((data, m.flags, m.date));
        }
        let mut validity = 0;
        let mut uids = Vec::with_capacity(prepared.len());
        for (data, flags, date) in prepared {
            match self
                .shared
                .store
                .append(&user, name, Bytes::from(data), flags, date)
            {
                Ok((v, uid)) => {
                    validity = v;
                    uids.push(uid);
                }
                Err(e) => return store_error(e),
            }
        }
        format!(
            "OK [APPENDUID {validity} {}] APPEND completed",
            uid_set(&uids)
        )
    }

    /// Whether the Gmail profile (and so X-GM-EXT-1) is on.
    pub(super) fn gmail(&self) -> bool {
        self.shared.config.profile == crate::server::Profile::Gmail
    }

    /// Resolves a set against the view: (indexes, UIDs), or the BAD reply.
    pub(super) fn resolve(
        &self,
        set: &SequenceSet,
        by_uid: bool,
    ) -> Result<(Vec<usize>, Vec<u32>), String> {
        let view = self.selected.as_ref().map(|s| &s.view[..]).unwrap_or(&[]);
        let uids: Vec<u32> = view.iter().map(|(u, _)| *u).collect();
        let idx = sequence::resolve(set, &uids, by_uid)
            .map_err(|_| "BAD Invalid message sequence number".to_string())?;
        let picked = idx.iter().map(|&i| uids[i]).collect();
        Ok((idx, picked))
    }

    fn fetch(
        &mut self,
        set: &SequenceSet,
        mut items: Vec<MessageDataItemName<'_>>,
        by_uid: bool,
        gmail: &[GmItem],
    ) -> String {
        let verb = if by_uid { "UID FETCH" } else { "FETCH" };
        if by_uid && !items.contains(&MessageDataItemName::Uid) {
            items.insert(0, MessageDataItemName::Uid);
        }
        let (idx, uids) = match self.resolve(set, by_uid) {
            Ok(v) => v,
            Err(bad) => return bad,
        };
        let Some(sel) = self.selected.as_ref() else {
            return "BAD No mailbox selected".into();
        };
        let (name, read_only) = (sel.name.clone(), sel.read_only);
        let user = self.user();
        let store = &self.shared.store;
        let mut newly_seen: Vec<u32> = Vec::new();
        if fetch::sets_seen(&items) && !read_only {
            let unseen: Vec<u32> = store
                .with_mailbox(&user, &name, |m| {
                    uids.iter()
                        .copied()
                        .filter(|&u| {
                            m.position(u)
                                .is_some_and(|p| !m.messages[p].has_flag("\\Seen"))
                        })
                        .collect()
                })
                .unwrap_or_default();
            if !unseen.is_empty() {
                let _ = store.store_flags(&user, &name, &unseen, FlagOp::Add, &["\\Seen".into()]);
                newly_seen = unseen;
            }
        }
        let msgs = store
            .with_mailbox(&user, &name, |m| {
                idx.iter()
                    .zip(&uids)
                    .filter_map(|(&i, &u)| m.position(u).map(|p| (i, m.messages[p].clone())))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        let mut with_flags = items.clone();
        if !with_flags.contains(&MessageDataItemName::Flags) {
            with_flags.push(MessageDataItemName::Flags);
        }
        if items.contains(&MessageDataItemName::Flags) || !newly_seen.is_empty() {
            self.announce_keywords();
        }
        let extras: Vec<String> = msgs
            .iter()
            .map(|(_, m)| gmail::items(self, m, gmail))
            .collect();
        let mut out = Vec::new();
        let mut failure = None;
        let Some(sel) = self.selected.as_mut() else {
            return "BAD No mailbox selected".into();
        };
        for ((i, msg), extra) in msgs.iter().zip(&extras) {
            let report_flags = newly_seen.contains(&msg.uid);
            let these = if report_flags { &with_flags } else { &items };
            let flags = sel.flag_list(msg.uid, &msg.flags);
            if let Err(e) = fetch::render(&mut out, *i as u32 + 1, msg, &flags, these) {
                failure.get_or_insert(e);
                continue;
            }
            gmail::append_to_fetch(&mut out, extra);
            if (report_flags || items.contains(&MessageDataItemName::Flags))
                && let Some(entry) = sel.view.get_mut(*i)
            {
                entry.1 = msg.flags.clone();
            }
        }
        self.out.extend_from_slice(&out);
        if let Some(fetch::FetchError(why)) = failure {
            return format!("NO {why}");
        }
        if msgs.len() < uids.len() {
            // Expunged by another session and not yet reported (RFC 2180 4.1.2).
            return format!(
                "NO [EXPUNGEISSUED] Some of the requested messages no longer exist ({verb})"
            );
        }
        format!("OK {verb} completed")
    }

    fn store(
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

    fn transfer(&mut self, set: &SequenceSet, dest: &str, by_uid: bool, remove: bool) -> String {
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
        let r = if remove {
            self.shared
                .store
                .move_messages(&user, &sel.name, &uids, dest)
        } else {
            self.shared.store.copy(&user, &sel.name, &uids, dest)
        };
        let (validity, map) = match r {
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
        let code = format!("COPYUID {validity} {} {}", uid_set(&src), uid_set(&dst));
        if !remove {
            return format!("OK [{code}] {prefix}COPY completed");
        }
        self.untagged(&format!("OK [{code}] Moved"));
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

    fn expunge(&mut self, set: Option<&SequenceSet>) -> String {
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

/// `\Recent` is the server's to set (RFC 3501 2.3.2); a client naming it in APPEND or STORE
/// gets BAD, as from Dovecot, instead of it being stored as a permanent flag.
fn refuse_recent() -> String {
    "BAD Invalid system flag \\Recent".to_string()
}
