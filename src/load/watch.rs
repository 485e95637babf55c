//! The IMAP side of a load run: ONE [`Watcher`] per watched folder (INBOX and `\Junk` of each
//! target) whose [`Many`] interest matches every outstanding tag at once through the shared
//! map; each accepted probe kicks its target's watchers onto the early-poll schedule. At the
//! end each deletes exactly the probes' UIDs with one STORE + one UID EXPUNGE.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::{Cleanup, Delivered, LoadError, Shared};
use crate::config::Account;
use crate::probe::backoff::Backoff;
use crate::probe::cleanup::{self, Bin, Ours};
use crate::probe::imap;
use crate::probe::sent::SentCopies;
use crate::probe::watch::tags::{Many, Place, Tags};
use crate::probe::watch::{self, Kicker, Reconnect, Spare, Want, Watcher};
use crate::report::SeenBy;

/// A load run's watcher of one folder.
pub(crate) type LoadWatcher = Watcher<Many<Shared>>;

/// A Sent folder's cleanup takes at most this many steps in all: connect, STATUS, SELECT,
/// FETCH, STORE and EXPUNGE, or MOVE to Trash, SELECT and the purge there.
const SENT_CLEANUP_STEPS: u32 = 10;

/// Reconnects a watcher tries before giving up on its folder, and its backoff.
fn reconnect() -> Reconnect {
    Reconnect {
        max: 5,
        backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(4)),
        auth_hold: None,
    }
}

impl Tags for Shared {
    /// Records sightings from one look: counts, latency, misplacement, the delivered hook.
    /// Returns the UIDs that are ours (to clean up).
    fn matched(&self, hits: &[(u128, u32)], place: &Place, by: SeenBy) -> Vec<u32> {
        let (target, folder, junk) = (place.target, &place.folder, place.junk);
        let now = Instant::now();
        let mut ours = Vec::with_capacity(hits.len());
        let mut events = Vec::new();
        {
            let mut st = self.lock();
            let st = &mut *st;
            for &(tag, uid) in hits {
                let Some(p) = st.probes.get_mut(&tag) else {
                    continue;
                };
                ours.push(uid);
                if p.failed {
                    continue;
                }
                p.copies += 1;
                let first = p.copies == 1;
                if !first {
                    st.duplicated += 1;
                } else if p.lost {
                    st.late += 1;
                } else {
                    st.delivered += 1;
                    st.seen_by.count(by);
                    // A probe for one target found in another's mailbox is misplaced too.
                    if junk || p.target != target {
                        st.misplaced += 1;
                    }
                    let us = now.saturating_duration_since(p.sent_at).as_micros();
                    let _ = st.histogram.record((us as u64).max(1));
                    p.permit = None;
                    if let Some(t) = &mut st.timeline {
                        t.delivered(p.sent_at, now);
                    }
                }
                if self.delivered_hook.is_some() {
                    events.push((tag, uid, first));
                }
            }
        }
        if let Some(hook) = &self.delivered_hook {
            let at = now.into_std();
            for (tag, uid, first) in events {
                hook(&Delivered {
                    tag: uuid::Uuid::from_u128(tag).to_string(),
                    target,
                    folder: folder.to_string(),
                    uid,
                    at,
                    first,
                });
            }
        }
        if !ours.is_empty() {
            self.changed.notify_one();
        }
        ours
    }
}

/// The watchers for one target, plus where its Sent copies would appear when the sender
/// watches its own mailbox (the server may file a copy of each probe there, as Gmail does).
pub(crate) struct Opened {
    pub watchers: Vec<LoadWatcher>,
    pub sent: Option<SentCopies>,
    pub warnings: Vec<String>,
}

/// Logs in to `target`, notes the watermarks, and opens a watcher on INBOX and one on the
/// `\Junk` folder if there is one, each listening to `kicker`.
pub(crate) async fn open(
    index: usize,
    target: &Account,
    from: &Account,
    (shared, kicker): (&Arc<Shared>, &Kicker),
    step: Duration,
    force_poll: bool,
) -> Result<Opened, LoadError> {
    let setup = |f: crate::probe::Failure| LoadError::Setup {
        phase: f.phase,
        diagnosis: f.diagnosis,
    };
    let want = Want {
        archive: false,
        sent: from.same_mailbox(target),
    };
    let o = watch::open_mailbox(target, step, None, want)
        .await
        .map_err(setup)?;
    let new = |folder: &str, junk: bool, selected: watch::Selected| {
        let interest = Many::new(shared.clone(), index, folder, junk);
        let mut w = Watcher::selected(target, folder, selected, interest, step, reconnect());
        w.folders = o.folders.clone();
        w.force_poll = force_poll;
        w.listen(kicker);
        w
    };
    let mut watchers = vec![new("INBOX", false, o.inbox)];
    let mut warnings = Vec::new();
    match o.junk.map(Spare::ready) {
        Some(opening) => match opening.await {
            Ok((junk, s)) => watchers.push(new(&junk, true, s)),
            Err(f) => {
                for mut w in watchers {
                    imap::logout(w.session.take()).await;
                }
                return Err(setup(f));
            }
        },
        None => warnings.push(format!(
            "{}: no folder has the \\Junk SPECIAL-USE attribute; only INBOX is watched",
            target.address
        )),
    }
    Ok(Opened {
        watchers,
        sent: o
            .sent
            .map(|(folder, mark)| SentCopies::at(folder, mark, o.folders.clone())),
        warnings,
    })
}

/// Deletes every copy of this run's probes `w` saw: one `UID STORE +FLAGS.SILENT
/// (\Deleted)` and one `UID EXPUNGE` over exactly those UIDs (or MOVE to Trash where expunge
/// archives), reconnecting first if the watch lost its connection.
pub(crate) async fn cleanup(
    w: &mut LoadWatcher,
    shared: &Shared,
    out: &mut Cleanup,
    step: Duration,
) {
    let found = &w.interest.found;
    if found.is_empty() {
        return;
    }
    let step = cleanup::step(step);
    if w.session.is_none() {
        match watch::open_folder(&w.account, &w.folder, step).await {
            Ok((s, caps, _)) => {
                w.session = Some(s);
                w.caps = caps;
            }
            Err(f) => {
                out.problems.push(format!(
                    "could not reconnect to clean {}; {} probe(s) left there: {}",
                    w.folder,
                    found.len(),
                    f.diagnosis.summary
                ));
                return;
            }
        }
    }
    let Some(session) = w.session.as_mut() else {
        return;
    };
    let bin = Bin::new(&w.account, &w.caps, &w.folders);
    let ours = |tag| shared.is_ours(tag);
    let result =
        cleanup::delete_exactly(session, bin, &w.folder, found, Ours::AnyOf(&ours), step).await;
    match result {
        Ok((n, warning)) => {
            out.deleted += n as u64;
            out.problems.extend(warning);
        }
        Err(e) => out.problems.push(format!(
            "cleanup in {} failed; {} probe(s) may be left there: {e}",
            w.folder,
            found.len()
        )),
    }
}

/// Deletes the copies of this run's probes the server filed in a Sent folder, over a fresh
/// connection.
pub(super) async fn cleanup_sent(
    account: &Account,
    sent: &SentCopies,
    shared: &Shared,
    out: &mut Cleanup,
    step: Duration,
) {
    let step = cleanup::step(step);
    let ours = |tag| shared.is_ours(tag);
    let budget = step.saturating_mul(SENT_CLEANUP_STEPS);
    match sent
        .clean(account, None, Ours::AnyOf(&ours), step, budget)
        .await
    {
        Ok((n, warning)) => {
            out.deleted += n as u64;
            out.problems.extend(warning);
        }
        Err(e) => out.problems.push(format!(
            "could not clean the Sent copies in {}: {e}",
            sent.folder
        )),
    }
}
