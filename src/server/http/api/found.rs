//! Finding messages for the API: every folder of every mailbox searched under the store's
//! lock, a message by its `<UIDVALIDITY>-<UID>` id, and a cache of parsed messages (bodies
//! never change, so an entry never goes stale).

use std::collections::HashMap;
use std::sync::Arc;

use super::super::query::Filter;
use super::super::view::Parsed;
use super::Api;
use crate::server::StoredMessage;

/// Parsed messages kept, by id; the cache is dropped whole past this (bodies never change).
const CACHE_LIMIT: usize = 20_000;

/// A stored message and where it is.
#[derive(Debug, Clone)]
pub(super) struct Found {
    pub(super) owner: String,
    pub(super) folder: String,
    pub(super) validity: u32,
    pub(super) msg: StoredMessage,
}

impl Found {
    pub(super) fn id(&self) -> String {
        format!("{}-{}", self.validity, self.msg.uid)
    }
}

impl Api {
    /// The messages of every folder of every mailbox that pass the filter's cheap criteria
    /// (mailbox, folder, arrival), copied out under the store's lock (bodies are shared).
    pub(super) fn stored(&self, filter: &Filter) -> Vec<Found> {
        let store = &self.shared.store;
        let mut out = Vec::new();
        for user in store.user_infos() {
            let Ok(folders) = store.list(&user.address) else {
                continue;
            };
            for f in folders.into_iter().filter(|f| f.selectable && f.exists > 0) {
                let _ = store.with_mailbox(&user.address, &f.name, |m| {
                    for msg in &m.messages {
                        if filter.matches_stored(&user.address, &f.name, &msg.internal_date) {
                            out.push(Found {
                                owner: user.address.clone(),
                                folder: f.name.clone(),
                                validity: f.uid_validity,
                                msg: msg.clone(),
                            });
                        }
                    }
                });
            }
        }
        out
    }

    /// The message with this id.
    pub(super) fn find(&self, id: &str) -> Option<Found> {
        let (validity, uid) = id.split_once('-')?;
        let (validity, uid): (u32, u32) = (validity.parse().ok()?, uid.parse().ok()?);
        let store = &self.shared.store;
        for user in store.user_infos() {
            let Ok(folders) = store.list(&user.address) else {
                continue;
            };
            if let Some(f) = folders.into_iter().find(|f| f.uid_validity == validity) {
                let msg = store
                    .with_mailbox(&user.address, &f.name, |m| {
                        m.position(uid).map(|i| m.messages[i].clone())
                    })
                    .ok()
                    .flatten()?;
                return Some(Found {
                    owner: user.address,
                    folder: f.name,
                    validity,
                    msg,
                });
            }
        }
        None
    }

    pub(super) fn parsed(&self, f: &Found) -> Arc<Parsed> {
        let key = (f.validity, f.msg.uid);
        if let Some(p) = self.lock_cache().get(&key) {
            return p.clone();
        }
        let p = Arc::new(Parsed::new(&f.msg.raw));
        let mut cache = self.lock_cache();
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(key, p.clone());
        p
    }

    pub(super) fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<(u32, u32), Arc<Parsed>>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Matches, newest first.
    pub(super) fn search(&self, filter: &Filter) -> Vec<(Found, Arc<Parsed>)> {
        let mut out: Vec<(Found, Arc<Parsed>)> = self
            .stored(filter)
            .into_iter()
            .filter_map(|f| {
                let p = self.parsed(&f);
                filter.matches_parsed(&p).then_some((f, p))
            })
            .collect();
        out.sort_by(|(a, _), (b, _)| {
            (b.msg.internal_date, b.validity, b.msg.uid).cmp(&(
                a.msg.internal_date,
                a.validity,
                a.msg.uid,
            ))
        });
        out
    }
}
