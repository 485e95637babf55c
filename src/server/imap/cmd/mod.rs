//! The handlers of the Authenticated and Selected states, one file per command group as
//! mini-redis keeps `cmd/`. This file dispatches them (imap-codec's commands and the `ext`
//! ones), checks the state each needs, and follows each reply with the untagged updates.

mod append;
mod auth;
mod copy_move;
mod expunge;
mod fetch;
mod idle;
mod list;
mod mailbox;
mod search;
mod select;
mod store;

use imap_codec::imap_types::IntoStatic;
use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::extensions::binary::LiteralOrLiteral8;
use imap_codec::imap_types::fetch::{MacroOrMessageDataItemNames, MessageDataItemName};
use imap_codec::imap_types::mailbox::{ListMailbox, Mailbox};
use imap_codec::imap_types::sequence::SequenceSet;
use imap_codec::imap_types::status::StatusDataItemName;

use super::ext::{AppendMessage, ExtCommand, ListCommand};
use super::sequence;
use super::session::Session;
use super::wire::name_of;
use crate::server::{StoreError, Transfer};

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
            // The `imap_sync_on_noop` fault: only NOOP, CHECK, IDLE (and SELECT) look for new mail.
            let news = !self.shared.faults().imap_sync_on_noop;
            self.sync(allow_expunge, news);
            self.search_updates(before);
        }
        self.tagged(tag, reply);
    }

    /// NOOP, CHECK and IDLE: untagged updates (new mail included), search contexts too.
    pub(super) fn refresh(&mut self, allow_expunge: bool) {
        let before = self.context_snapshot();
        self.sync(allow_expunge, true);
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
            } => self.transfer(&sequence_set, &mailbox_name(&mailbox), uid, Transfer::Copy),
            CommandBody::Move {
                sequence_set,
                mailbox,
                uid,
            } => self.transfer(&sequence_set, &mailbox_name(&mailbox), uid, Transfer::Move),
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
}

/// The tagged NO for a store error.
pub(super) fn store_error(e: StoreError) -> String {
    match e {
        StoreError::NoSuchMailbox => "NO [NONEXISTENT] Mailbox doesn't exist".into(),
        StoreError::MailboxExists => "NO [ALREADYEXISTS] Mailbox already exists".into(),
        StoreError::NotSelectable => "NO [CANNOT] Mailbox cannot hold messages".into(),
        StoreError::Cannot(why) => format!("NO [CANNOT] {why}"),
        StoreError::NoSuchUser | StoreError::Timeout => "NO [SERVERBUG] Internal error".into(),
    }
}

/// `\Recent` is the server's to set (RFC 3501 2.3.2); a client naming it in APPEND or STORE
/// gets BAD, as from Dovecot, instead of it being stored as a permanent flag.
fn refuse_recent() -> String {
    "BAD Invalid system flag \\Recent".to_string()
}
