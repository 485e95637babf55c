//! Handlers for the Authenticated and Selected states (LIST, SELECT, STATUS, APPEND, FETCH,
//! SEARCH, STORE, COPY, MOVE, EXPUNGE, ...) and the untagged-update sync that keeps the
//! client's sequence-number ↔ UID map in step with the shared store.

use bytes::Bytes;
use imap_codec::imap_types::IntoStatic;
use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::core::Charset;
use imap_codec::imap_types::extensions::binary::LiteralOrLiteral8;
use imap_codec::imap_types::fetch::{MacroOrMessageDataItemNames, MessageDataItemName};
use imap_codec::imap_types::flag::{Flag, StoreResponse, StoreType};
use imap_codec::imap_types::mailbox::{ListMailbox, Mailbox};
use imap_codec::imap_types::search::SearchKey;
use imap_codec::imap_types::sequence::SequenceSet;
use imap_codec::imap_types::status::StatusDataItemName;

use super::fetch;
use super::search::{Candidate, matches};
use super::sequence;
use super::session::{Selected, Session};
use super::wire::{flag_list, push_string, uid_set};
use crate::server::{FlagOp, StoreError};

const SYSTEM_FLAGS: &str = "(\\Answered \\Flagged \\Deleted \\Seen \\Draft)";

fn mailbox_name(m: &Mailbox<'_>) -> String {
    match m {
        Mailbox::Inbox => "INBOX".to_string(),
        Mailbox::Other(o) => {
            let name = String::from_utf8_lossy(o.as_ref()).into_owned();
            name.trim_end_matches('/').to_string()
        }
    }
}

fn quoted(name: &str) -> String {
    let mut v = Vec::new();
    push_string(&mut v, name.as_bytes());
    String::from_utf8_lossy(&v).into_owned()
}

fn same_flags(a: &[String], b: &[String]) -> bool {
    a.len() == b.len()
        && a.iter()
            .all(|f| b.iter().any(|g| g.eq_ignore_ascii_case(f)))
}

/// LIST wildcard match: `*` matches anything, `%` anything but the hierarchy delimiter.
pub fn wildcard(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|i| wildcard(rest, &name[i..])),
        Some((b'%', rest)) => (0..=name.len())
            .take_while(|&i| i == 0 || name[i - 1] != b'/')
            .any(|i| wildcard(rest, &name[i..])),
        Some((&c, rest)) => name.first() == Some(&c) && wildcard(rest, &name[1..]),
    }
}

fn store_error(e: StoreError) -> &'static str {
    match e {
        StoreError::NoSuchMailbox => "NO [TRYCREATE] Mailbox doesn't exist",
        StoreError::MailboxExists => "NO [ALREADYEXISTS] Mailbox already exists",
        StoreError::NotSelectable => "NO [CANNOT] Mailbox cannot hold messages",
        StoreError::Cannot(_) => "NO [CANNOT] Operation not permitted",
        StoreError::NoSuchUser | StoreError::Timeout => "NO [SERVERBUG] Internal error",
    }
}

impl Session {
    fn user(&self) -> String {
        self.user.clone().unwrap_or_default()
    }

    /// Commands of the Authenticated and Selected states; the caller checked authentication.
    pub(super) fn mailbox_command(&mut self, tag: &str, body: CommandBody<'static>) {
        // RFC 3501 7.4.1: no EXPUNGE responses while answering FETCH, STORE or SEARCH.
        let allow_expunge = !matches!(
            body,
            CommandBody::Fetch { uid: false, .. }
                | CommandBody::Store { uid: false, .. }
                | CommandBody::Search { uid: false, .. }
        );
        let reply = self.execute(body);
        self.sync(allow_expunge);
        self.tagged(tag, &reply);
    }

    /// Runs one command, writing untagged data to `out`; returns the tagged reply's text.
    fn execute(&mut self, body: CommandBody<'static>) -> String {
        let name = body.name();
        let needs_selection = matches!(
            body,
            CommandBody::Fetch { .. }
                | CommandBody::Store { .. }
                | CommandBody::Search { .. }
                | CommandBody::Copy { .. }
                | CommandBody::Move { .. }
                | CommandBody::Expunge
                | CommandBody::ExpungeUid { .. }
                | CommandBody::Close
                | CommandBody::Unselect
        );
        if needs_selection && self.selected.is_none() {
            return "BAD No mailbox selected".into();
        }
        match body {
            CommandBody::Select { mailbox, .. } => self.select(&mailbox_name(&mailbox), false),
            CommandBody::Examine { mailbox, .. } => self.select(&mailbox_name(&mailbox), true),
            CommandBody::List {
                reference,
                mailbox_wildcard,
            } => self.list(&reference, &mailbox_wildcard, false),
            CommandBody::Lsub {
                reference,
                mailbox_wildcard,
            } => self.list(&reference, &mailbox_wildcard, true),
            CommandBody::Status {
                mailbox,
                item_names,
            } => self.status(&mailbox_name(&mailbox), &item_names),
            CommandBody::Create { mailbox } => {
                let name = mailbox_name(&mailbox);
                if name.eq_ignore_ascii_case("INBOX") || name.is_empty() {
                    return "NO [ALREADYEXISTS] Mailbox already exists".into();
                }
                match self.shared.store.create(&self.user(), &name) {
                    Ok(()) => "OK CREATE completed".into(),
                    Err(e) => store_error(e).into(),
                }
            }
            CommandBody::Subscribe { .. } | CommandBody::Unsubscribe { .. } => {
                format!("OK {name} completed")
            }
            CommandBody::Delete { .. } | CommandBody::Rename { .. } => {
                format!("NO [CANNOT] {name} is not supported")
            }
            CommandBody::Append {
                mailbox,
                flags,
                date,
                message,
            } => {
                let raw = match message {
                    LiteralOrLiteral8::Literal(l) => l.into_inner(),
                    LiteralOrLiteral8::Literal8(l) => l.data,
                };
                let date = date.map(|d| *d.as_ref());
                self.append(&mailbox_name(&mailbox), &flags, date, raw.into_owned())
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
                self.fetch(&sequence_set, items, uid)
            }
            CommandBody::Search {
                charset,
                criteria,
                uid,
            } => self.search(charset.as_ref(), criteria.as_ref(), uid),
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

    /// Reports changes other sessions (or SMTP) made to the selected mailbox: EXPUNGE with
    /// descending sequence numbers, FETCH FLAGS, then EXISTS; updates the view to match.
    pub(super) fn sync(&mut self, allow_expunge: bool) {
        let user = self.user();
        let Some(sel) = self.selected.as_mut() else {
            return;
        };
        let Ok(current) = self.shared.store.with_mailbox(&user, &sel.name, |m| {
            m.messages
                .iter()
                .map(|x| (x.uid, x.flags.clone()))
                .collect::<Vec<_>>()
        }) else {
            return;
        };
        let find = |uid: u32| current.binary_search_by_key(&uid, |(u, _)| *u).ok();
        let mut out = String::new();
        if allow_expunge {
            for i in (0..sel.view.len()).rev() {
                if find(sel.view[i].0).is_none() {
                    out.push_str(&format!("* {} EXPUNGE\r\n", i + 1));
                    sel.view.remove(i);
                }
            }
        }
        for (i, (uid, flags)) in sel.view.iter_mut().enumerate() {
            if let Some(j) = find(*uid)
                && !same_flags(flags, &current[j].1)
            {
                *flags = current[j].1.clone();
                out.push_str(&format!(
                    "* {} FETCH (UID {uid} FLAGS {})\r\n",
                    i + 1,
                    flag_list(flags)
                ));
            }
        }
        let last = sel.view.last().map_or(0, |(u, _)| *u);
        let before = sel.view.len();
        sel.view
            .extend(current.into_iter().filter(|(u, _)| *u > last));
        if sel.view.len() != before {
            out.push_str(&format!("* {} EXISTS\r\n", sel.view.len()));
        }
        self.out.extend_from_slice(out.as_bytes());
    }

    fn select(&mut self, name: &str, examine: bool) -> String {
        // RFC 3501 6.3.1: a failed SELECT leaves no mailbox selected.
        self.selected = None;
        let verb = if examine { "EXAMINE" } else { "SELECT" };
        let r = self.shared.store.with_mailbox(&self.user(), name, |m| {
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
            )
        });
        let (name, selectable, validity, next, view, first_unseen) = match r {
            Ok(v) => v,
            Err(StoreError::NoSuchMailbox) => return "NO Mailbox doesn't exist".into(),
            Err(e) => return store_error(e).into(),
        };
        if !selectable {
            return "NO [CANNOT] Mailbox cannot be selected".into();
        }
        self.untagged(&format!("FLAGS {SYSTEM_FLAGS}"));
        if examine {
            self.untagged("OK [PERMANENTFLAGS ()] Read-only mailbox.");
        } else {
            self.untagged(
                "OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.",
            );
        }
        self.untagged(&format!("{} EXISTS", view.len()));
        self.untagged("0 RECENT");
        if let Some(i) = first_unseen {
            self.untagged(&format!("OK [UNSEEN {}] First unseen.", i + 1));
        }
        self.untagged(&format!("OK [UIDVALIDITY {validity}] UIDs valid"));
        self.untagged(&format!("OK [UIDNEXT {next}] Predicted next UID"));
        self.selected = Some(Selected {
            name,
            read_only: examine,
            view,
        });
        if examine {
            format!("OK [READ-ONLY] {verb} completed")
        } else {
            format!("OK [READ-WRITE] {verb} completed")
        }
    }

    fn list(&mut self, reference: &Mailbox<'_>, pattern: &ListMailbox<'_>, lsub: bool) -> String {
        let verb = if lsub { "LSUB" } else { "LIST" };
        let reference = match reference {
            Mailbox::Inbox => b"INBOX".to_vec(),
            Mailbox::Other(o) => o.as_ref().to_vec(),
        };
        let pattern: &[u8] = match pattern {
            ListMailbox::Token(t) => t.as_ref(),
            ListMailbox::String(s) => s.as_ref(),
        };
        if pattern.is_empty() {
            if !lsub {
                self.untagged("LIST (\\Noselect) \"/\" \"\"");
            }
            return format!("OK {verb} completed");
        }
        let mut full = reference;
        if !full.is_empty() && !full.ends_with(b"/") && !pattern.starts_with(b"/") {
            full.push(b'/');
        }
        full.extend_from_slice(pattern);
        let folders = match self.shared.store.list(&self.user()) {
            Ok(f) => f,
            Err(e) => return store_error(e).into(),
        };
        for f in folders {
            let inbox = f.name.eq_ignore_ascii_case("INBOX");
            let hit = if inbox {
                wildcard(&full.to_ascii_uppercase(), b"INBOX")
            } else {
                wildcard(&full, f.name.as_bytes())
            };
            if !hit {
                continue;
            }
            let mut attrs = vec![if f.has_children {
                "\\HasChildren"
            } else {
                "\\HasNoChildren"
            }];
            if !f.selectable {
                attrs.push("\\Noselect");
            }
            if let Some(role) = f.special_use {
                attrs.push(role.attribute());
            }
            self.untagged(&format!(
                "{verb} ({}) \"/\" {}",
                attrs.join(" "),
                quoted(&f.name)
            ));
        }
        format!("OK {verb} completed")
    }

    fn status(&mut self, name: &str, items: &[StatusDataItemName]) -> String {
        let r = self.shared.store.with_mailbox(&self.user(), name, |m| {
            let mut parts = Vec::new();
            for item in items {
                let deleted = || m.messages.iter().filter(|x| x.has_flag("\\Deleted"));
                parts.push(match item {
                    StatusDataItemName::Messages => format!("MESSAGES {}", m.messages.len()),
                    StatusDataItemName::Recent => "RECENT 0".to_string(),
                    StatusDataItemName::UidNext => format!("UIDNEXT {}", m.uid_next),
                    StatusDataItemName::UidValidity => format!("UIDVALIDITY {}", m.uid_validity),
                    StatusDataItemName::Unseen => format!(
                        "UNSEEN {}",
                        m.messages.iter().filter(|x| !x.has_flag("\\Seen")).count()
                    ),
                    StatusDataItemName::Deleted => format!("DELETED {}", deleted().count()),
                    StatusDataItemName::DeletedStorage => format!(
                        "DELETED-STORAGE {}",
                        deleted().map(|x| x.size()).sum::<usize>()
                    ),
                });
            }
            (m.name.clone(), m.selectable, parts.join(" "))
        });
        match r {
            Ok((_, false, _)) => "NO [CANNOT] Mailbox has no status".into(),
            Ok((name, true, parts)) => {
                self.untagged(&format!("STATUS {} ({parts})", quoted(&name)));
                "OK STATUS completed".into()
            }
            Err(StoreError::NoSuchMailbox) => "NO Mailbox doesn't exist".into(),
            Err(e) => store_error(e).into(),
        }
    }

    fn append(
        &mut self,
        name: &str,
        flags: &[Flag<'_>],
        date: Option<chrono::DateTime<chrono::FixedOffset>>,
        raw: Vec<u8>,
    ) -> String {
        let limit = self.shared.config.max_message_size;
        if raw.len() > limit {
            return format!("NO [TOOBIG] Message exceeds the {limit}-byte limit");
        }
        if let Some(bad) = refuse_recent(flags) {
            return bad;
        }
        let flags: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
        match self
            .shared
            .store
            .append(&self.user(), name, Bytes::from(raw), flags, date)
        {
            Ok((validity, uid)) => format!("OK [APPENDUID {validity} {uid}] APPEND completed"),
            Err(e) => store_error(e).into(),
        }
    }

    /// Resolves a set against the view: (indexes, UIDs), or the BAD reply.
    fn resolve(&self, set: &SequenceSet, by_uid: bool) -> Result<(Vec<usize>, Vec<u32>), String> {
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
    ) -> String {
        if let Err(fetch::Unsupported(why)) = fetch::check(&items) {
            return format!("BAD {why}");
        }
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
        let mut out = Vec::new();
        for (i, msg) in &msgs {
            let report_flags = newly_seen.contains(&msg.uid);
            let these = if report_flags { &with_flags } else { &items };
            fetch::render(&mut out, *i as u32 + 1, msg, these);
            if (report_flags || items.contains(&MessageDataItemName::Flags))
                && let Some(sel) = self.selected.as_mut()
                && let Some(entry) = sel.view.get_mut(*i)
            {
                entry.1 = msg.flags.clone();
            }
        }
        self.out.extend_from_slice(&out);
        format!("OK {}FETCH completed", if by_uid { "UID " } else { "" })
    }

    fn search(
        &mut self,
        charset: Option<&Charset<'_>>,
        criteria: &[SearchKey<'_>],
        by_uid: bool,
    ) -> String {
        if let Some(cs) = charset {
            let cs: &str = cs.as_ref();
            if !cs.eq_ignore_ascii_case("UTF-8") && !cs.eq_ignore_ascii_case("US-ASCII") {
                return "NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset".into();
            }
        }
        let Some(sel) = self.selected.as_ref() else {
            return "BAD No mailbox selected".into();
        };
        let msgs = self
            .shared
            .store
            .messages(&self.user(), &sel.name)
            .unwrap_or_default();
        let max_seq = sel.view.len() as u32;
        let max_uid = sel.view.last().map_or(0, |(u, _)| *u);
        let mut hits = Vec::new();
        for (i, (uid, _)) in sel.view.iter().enumerate() {
            let Ok(p) = msgs.binary_search_by_key(uid, |m| m.uid) else {
                continue;
            };
            let c = Candidate {
                seq: i as u32 + 1,
                msg: &msgs[p],
                max_seq,
                max_uid,
            };
            if criteria.iter().all(|k| matches(k, &c)) {
                hits.push(if by_uid { *uid } else { i as u32 + 1 });
            }
        }
        let mut line = String::from("SEARCH");
        for h in hits {
            line.push_str(&format!(" {h}"));
        }
        self.untagged(&line);
        format!("OK {}SEARCH completed", if by_uid { "UID " } else { "" })
    }

    fn store(
        &mut self,
        set: &SequenceSet,
        kind: StoreType,
        response: StoreResponse,
        flags: &[Flag<'_>],
        by_uid: bool,
    ) -> String {
        if self.selected.as_ref().is_some_and(|s| s.read_only) {
            return "NO [READ-ONLY] Mailbox is read-only".into();
        }
        if let Some(bad) = refuse_recent(flags) {
            return bad;
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
        let flags: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
        let user = self.user();
        let Some(sel) = self.selected.as_mut() else {
            return "BAD No mailbox selected".into();
        };
        let changed = match self
            .shared
            .store
            .store_flags(&user, &sel.name, &uids, op, &flags)
        {
            Ok(c) => c,
            Err(e) => return store_error(e).into(),
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
                    flag_list(&sel.view[i].1)
                ));
            }
        }
        self.out.extend_from_slice(out.as_bytes());
        format!("OK {}STORE completed", if by_uid { "UID " } else { "" })
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
            Err(e) => return store_error(e).into(),
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
        let mut out = format!("* OK [{code}] Moved\r\n");
        for i in (0..sel.view.len()).rev() {
            if src.contains(&sel.view[i].0) {
                out.push_str(&format!("* {} EXPUNGE\r\n", i + 1));
                sel.view.remove(i);
            }
        }
        self.out.extend_from_slice(out.as_bytes());
        format!("OK {prefix}MOVE completed")
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
        let Some(sel) = self.selected.as_mut() else {
            return "BAD No mailbox selected".into();
        };
        let removed = match self.shared.store.expunge(&user, &sel.name, uids.as_deref()) {
            Ok(r) => r,
            Err(e) => return store_error(e).into(),
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
fn refuse_recent(flags: &[Flag<'_>]) -> Option<String> {
    flags
        .iter()
        .any(|f| f.to_string().eq_ignore_ascii_case("\\Recent"))
        .then(|| "BAD Invalid system flag \\Recent".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_wildcards() {
        assert!(wildcard(b"*", b"[Gmail]/Spam"));
        assert!(!wildcard(b"%", b"[Gmail]/Spam"));
        assert!(wildcard(b"%", b"[Gmail]"));
        assert!(wildcard(b"[Gmail]/%", b"[Gmail]/All Mail"));
        assert!(wildcard(b"J*", b"Junk"));
        assert!(!wildcard(b"J", b"Junk"));
        assert!(wildcard(b"%/%", b"a/b"));
    }
}
