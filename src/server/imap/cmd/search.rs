//! SEARCH, SORT and THREAD over the selected mailbox, with ESEARCH / ESORT results
//! (RFC 4731, 5267: MIN, MAX, ALL, COUNT, PARTIAL) and CONTEXT=SEARCH updates: a
//! `RETURN (UPDATE)` search is re-run after each command and reports ADDTO / REMOVEFROM
//! until CANCELUPDATE or the mailbox is closed.

use imap_codec::imap_types::IntoStatic;
use imap_codec::imap_types::core::Charset;
use imap_codec::imap_types::extensions::sort::SortCriterion;
use imap_codec::imap_types::extensions::thread::ThreadingAlgorithm;
use imap_codec::imap_types::search::SearchKey;

use crate::server::StoredMessage;
use crate::server::imap::ext::ReturnOpts;
use crate::server::imap::gmail::{self as gm, GmKey};
use crate::server::imap::search::{Candidate, matches, sent_date};
use crate::server::imap::session::Session;
use crate::server::imap::sort::{Keys, order};
use crate::server::imap::thread::{self, Item};
use crate::server::imap::view::SearchContext;
use crate::server::imap::wire::uid_set;
use crate::server::imap::{decode, message};

const BADCHARSET: &str = "NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset";

/// One hit: (sequence number, message).
type Hit = (u32, StoredMessage);

/// The ESEARCH response for `ids` (in result order; `sorted` for ESORT, where MIN and MAX
/// are the first and last in sort order).
fn esearch(tag: &str, uid: bool, ret: &ReturnOpts, ids: &[u32], sorted: bool) -> String {
    let mut line = format!("ESEARCH (TAG \"{tag}\")");
    if uid {
        line.push_str(" UID");
    }
    let (min, max) = if sorted {
        (ids.first().copied(), ids.last().copied())
    } else {
        (ids.iter().min().copied(), ids.iter().max().copied())
    };
    if ret.min
        && let Some(m) = min
    {
        line.push_str(&format!(" MIN {m}"));
    }
    if ret.max
        && let Some(m) = max
    {
        line.push_str(&format!(" MAX {m}"));
    }
    if ret.all && !ids.is_empty() {
        line.push_str(&format!(" ALL {}", uid_set(ids)));
    }
    if ret.count {
        line.push_str(&format!(" COUNT {}", ids.len()));
    }
    if let Some((a, b)) = ret.partial {
        let from = (a as usize - 1).min(ids.len());
        let to = (b as usize).min(ids.len());
        let part = &ids[from..to];
        let set = if part.is_empty() {
            "NIL".to_string()
        } else {
            uid_set(part)
        };
        line.push_str(&format!(" PARTIAL ({a}:{b} {set})"));
    }
    line
}

/// `uids` as the client addresses them: the UIDs themselves, or their sequence numbers in
/// `view` (those not in it left out).
fn numbers(uids: &[u32], by_uid: bool, view: &[u32]) -> Vec<u32> {
    if by_uid {
        return uids.to_vec();
    }
    uids.iter()
        .filter_map(|u| view.iter().position(|b| b == u).map(|p| p as u32 + 1))
        .collect()
}

/// `SEARCH 1 2 3` / `SORT 3 1 2`: the untagged answer when no RETURN options were given.
fn id_list(word: &str, ids: &[u32]) -> String {
    let mut line = String::from(word);
    for id in ids {
        line.push_str(&format!(" {id}"));
    }
    line
}

impl Session {
    /// The charset's name, or the BADCHARSET reply.
    fn charset_of(charset: Option<&Charset<'_>>) -> Result<String, String> {
        let cs = charset.map_or("UTF-8", |c| c.as_ref()).to_string();
        if decode::known_charset(&cs) {
            Ok(cs)
        } else {
            Err(BADCHARSET.into())
        }
    }

    /// Messages of the view matching every key, in sequence order.
    fn hits(&self, charset: &str, criteria: &[SearchKey<'_>]) -> Vec<Hit> {
        self.hits_with(charset, criteria, &[])
    }

    /// Like `hits`, with X-GM-EXT-1 keys too.
    fn hits_with(&self, charset: &str, criteria: &[SearchKey<'_>], gmail: &[GmKey]) -> Vec<Hit> {
        let Some(sel) = self.selected.as_ref() else {
            return Vec::new();
        };
        let msgs = self
            .shared
            .store
            .messages(&self.user(), &sel.name)
            .unwrap_or_default();
        let max_seq = sel.view.len() as u32;
        let max_uid = sel.view.last().map_or(0, |(u, _)| *u);
        let mut out = Vec::new();
        for (i, (uid, _)) in sel.view.iter().enumerate() {
            let Ok(p) = msgs.binary_search_by_key(uid, |m| m.uid) else {
                continue;
            };
            let seq = i as u32 + 1;
            let c = Candidate::new(
                seq,
                &msgs[p],
                max_seq,
                max_uid,
                sel.is_recent(*uid),
                charset,
            );
            if criteria.iter().all(|k| matches(k, &c))
                && gmail.iter().all(|k| gm::key_matches(self, k, &c))
            {
                out.push((seq, msgs[p].clone()));
            }
        }
        out
    }

    pub(super) fn search(
        &mut self,
        tag: &str,
        charset: Option<&Charset<'_>>,
        criteria: &[SearchKey<'_>],
        by_uid: bool,
        ret: Option<ReturnOpts>,
        gmail: &[GmKey],
    ) -> String {
        let verb = if by_uid { "UID SEARCH" } else { "SEARCH" };
        let charset = match Self::charset_of(charset) {
            Ok(c) => c,
            Err(no) => return no,
        };
        if !gmail.is_empty() && !self.gmail() {
            return "BAD X-GM-EXT-1 search keys need the Gmail profile".into();
        }
        let hits = self.hits_with(&charset, criteria, gmail);
        let ids: Vec<u32> = hits
            .iter()
            .map(|(seq, m)| if by_uid { m.uid } else { *seq })
            .collect();
        match ret {
            None => self.untagged(&id_list("SEARCH", &ids)),
            Some(ret) => {
                self.untagged(&esearch(tag, by_uid, &ret, &ids, false));
                if ret.update
                    && let Some(sel) = self.selected.as_mut()
                {
                    sel.contexts.retain(|c| c.tag != tag);
                    sel.contexts.push(SearchContext {
                        tag: tag.to_string(),
                        uid: by_uid,
                        charset,
                        criteria: criteria.iter().map(|k| k.clone().into_static()).collect(),
                        hits: hits.iter().map(|(_, m)| m.uid).collect(),
                    });
                }
            }
        }
        format!("OK {verb} completed")
    }

    pub(super) fn sort(
        &mut self,
        tag: &str,
        criteria: &[SortCriterion],
        search: &[SearchKey<'_>],
        by_uid: bool,
        ret: Option<ReturnOpts>,
    ) -> String {
        let verb = if by_uid { "UID SORT" } else { "SORT" };
        if ret.as_ref().is_some_and(|r| r.update) {
            return "BAD SORT RETURN (UPDATE) is not supported".into();
        }
        let hits = self.hits("UTF-8", search);
        let mut keys: Vec<Keys> = hits.iter().map(|(seq, m)| Keys::new(*seq, m)).collect();
        order(&mut keys, criteria);
        let ids: Vec<u32> = keys
            .iter()
            .map(|k| if by_uid { k.uid } else { k.seq })
            .collect();
        match ret {
            None => self.untagged(&id_list("SORT", &ids)),
            Some(ret) => self.untagged(&esearch(tag, by_uid, &ret, &ids, true)),
        }
        format!("OK {verb} completed")
    }

    pub(super) fn thread(
        &mut self,
        algorithm: &ThreadingAlgorithm<'_>,
        search: &[SearchKey<'_>],
        by_uid: bool,
    ) -> String {
        let verb = if by_uid { "UID THREAD" } else { "THREAD" };
        let hits = self.hits("UTF-8", search);
        let items: Vec<Item> = hits
            .iter()
            .map(|(seq, m)| {
                let head = message::header(&m.raw);
                let first = |name: &str| message::values(head, name).into_iter().next();
                let mut references = first("References")
                    .map(|r| thread::message_ids(&r))
                    .unwrap_or_default();
                if references.is_empty() {
                    references = first("In-Reply-To")
                        .map(|r| thread::message_ids(&r).into_iter().take(1).collect())
                        .unwrap_or_default();
                }
                Item {
                    id: if by_uid { m.uid } else { *seq },
                    seq: *seq,
                    date: sent_date(m).map_or(m.internal_date.timestamp(), |d| d.timestamp()),
                    subject: first("Subject").unwrap_or_default(),
                    message_id: first("Message-ID")
                        .and_then(|v| thread::message_ids(&v).into_iter().next()),
                    references,
                }
            })
            .collect();
        let threads = match algorithm {
            ThreadingAlgorithm::OrderedSubject => thread::ordered_subject(&items),
            ThreadingAlgorithm::References => thread::references(&items),
            ThreadingAlgorithm::Other(other) => {
                return format!("BAD Unknown threading algorithm {}", other.as_ref());
            }
        };
        let body = thread::render(&threads);
        if body.is_empty() {
            self.untagged("THREAD");
        } else {
            self.untagged(&format!("THREAD {body}"));
        }
        format!("OK {verb} completed")
    }

    /// CANCELUPDATE (RFC 5267 4.3).
    pub(super) fn cancel_update(&mut self, tags: &[String]) -> String {
        let Some(sel) = self.selected.as_mut() else {
            return "BAD No mailbox selected".into();
        };
        let before = sel.contexts.len();
        sel.contexts.retain(|c| !tags.contains(&c.tag));
        if sel.contexts.len() + tags.len() != before {
            return "NO Unknown search context".into();
        }
        "OK CANCELUPDATE completed".into()
    }

    /// REMOVEFROM for messages about to be reported expunged, sent before their EXPUNGE
    /// responses while their sequence numbers still hold (RFC 5267 4.2).
    pub(in crate::server::imap) fn contexts_forget(&mut self, expunged: &[u32]) {
        let Some(sel) = self.selected.as_mut() else {
            return;
        };
        let mut lines = Vec::new();
        for ctx in sel.contexts.iter_mut() {
            let gone: Vec<u32> = ctx
                .hits
                .iter()
                .copied()
                .filter(|u| expunged.contains(u))
                .collect();
            if gone.is_empty() {
                continue;
            }
            let pos = ctx.hits.iter().position(|u| *u == gone[0]).unwrap_or(0) + 1;
            let ids: Vec<u32> = if ctx.uid {
                gone.clone()
            } else {
                gone.iter()
                    .filter_map(|u| {
                        sel.view
                            .iter()
                            .position(|(v, _)| v == u)
                            .map(|p| p as u32 + 1)
                    })
                    .collect()
            };
            ctx.hits.retain(|u| !gone.contains(u));
            let uid = if ctx.uid { " UID" } else { "" };
            lines.push(format!(
                "ESEARCH (TAG \"{}\"){uid} REMOVEFROM ({pos} {})",
                ctx.tag,
                uid_set(&ids)
            ));
        }
        for l in lines {
            self.untagged(&l);
        }
    }

    /// The view's UIDs, when some search context will need them to name removed messages.
    pub(super) fn context_snapshot(&self) -> Option<Vec<u32>> {
        let sel = self.selected.as_ref()?;
        (!sel.contexts.is_empty()).then(|| sel.view.iter().map(|(u, _)| *u).collect())
    }

    /// Re-runs saved `RETURN (UPDATE)` searches and reports what changed (RFC 5267 4.2).
    /// `before` is the view before the command, so removed messages keep the sequence
    /// numbers the client knew them by.
    pub(super) fn search_updates(&mut self, before: Option<Vec<u32>>) {
        let Some(before) = before else {
            return;
        };
        let Some(contexts) = self.selected.as_ref().map(|s| s.contexts.clone()) else {
            return;
        };
        let mut updated = Vec::with_capacity(contexts.len());
        for mut ctx in contexts {
            let hits: Vec<u32> = self
                .hits(&ctx.charset, &ctx.criteria)
                .iter()
                .map(|(_, m)| m.uid)
                .collect();
            let removed: Vec<u32> = ctx
                .hits
                .iter()
                .copied()
                .filter(|u| !hits.contains(u))
                .collect();
            let added: Vec<u32> = hits
                .iter()
                .copied()
                .filter(|u| !ctx.hits.contains(u))
                .collect();
            let uid = if ctx.uid { " UID" } else { "" };
            if !removed.is_empty() {
                let pos = ctx.hits.iter().position(|u| *u == removed[0]).unwrap_or(0) + 1;
                let ids = numbers(&removed, ctx.uid, &before);
                if !ids.is_empty() {
                    self.untagged(&format!(
                        "ESEARCH (TAG \"{}\"){uid} REMOVEFROM ({pos} {})",
                        ctx.tag,
                        uid_set(&ids)
                    ));
                }
            }
            if !added.is_empty() {
                let pos = hits.iter().position(|u| *u == added[0]).unwrap_or(0) + 1;
                let view: Vec<u32> = self
                    .selected
                    .as_ref()
                    .map(|s| s.view.iter().map(|(u, _)| *u).collect())
                    .unwrap_or_default();
                let ids = numbers(&added, ctx.uid, &view);
                self.untagged(&format!(
                    "ESEARCH (TAG \"{}\"){uid} ADDTO ({pos} {})",
                    ctx.tag,
                    uid_set(&ids)
                ));
            }
            ctx.hits = hits;
            updated.push(ctx);
        }
        if let Some(sel) = self.selected.as_mut() {
            sel.contexts = updated;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn esearch_lines() {
        let all = ReturnOpts {
            all: true,
            ..ReturnOpts::default()
        };
        assert_eq!(
            esearch("a1", false, &all, &[1, 2, 3, 5], false),
            "ESEARCH (TAG \"a1\") ALL 1:3,5"
        );
        assert_eq!(
            esearch("a1", true, &all, &[], false),
            "ESEARCH (TAG \"a1\") UID"
        );
        let r = ReturnOpts {
            min: true,
            max: true,
            count: true,
            partial: Some((2, 4)),
            ..ReturnOpts::default()
        };
        assert_eq!(
            esearch("t", false, &r, &[5, 3, 4, 2, 1], true),
            "ESEARCH (TAG \"t\") MIN 5 MAX 1 COUNT 5 PARTIAL (2:4 3:4,2)"
        );
        let r = ReturnOpts {
            partial: Some((6, 6)),
            ..ReturnOpts::default()
        };
        assert_eq!(
            esearch("t", false, &r, &[1, 2], false),
            "ESEARCH (TAG \"t\") PARTIAL (6:6 NIL)"
        );
    }
}
