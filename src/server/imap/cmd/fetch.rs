//! FETCH and UID FETCH: sets `\Seen` where the items ask for it (not in a read-only mailbox),
//! renders each message with the sans-I/O [`fetch`](crate::server::imap::fetch) module plus any
//! X-GM-EXT-1 items, and reports messages another session expunged (RFC 2180 4.1.2).

use imap_codec::imap_types::fetch::MessageDataItemName;
use imap_codec::imap_types::sequence::SequenceSet;

use crate::server::FlagOp;
use crate::server::imap::fetch;
use crate::server::imap::gmail::{self, GmItem};
use crate::server::imap::session::Session;

impl Session {
    pub(super) fn fetch(
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
}
