//! The IMAP side of a load run: ONE connection per watched folder (INBOX and `\Junk` of each
//! target) fetches only the tag header of messages above its UID watermark, matches every
//! outstanding tag at once through the shared map, then IDLEs (or polls) until the next
//! change; at the end it deletes exactly the probes' UIDs with one STORE + one UID EXPUNGE.
//! The monitor runs the same watcher in "settle" mode: each probe is fetched, handed back and
//! deleted right after it is matched, and the connection is re-opened forever, with backoff.

use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use tokio::sync::watch as signal;

use super::{Cleanup, LoadError, Shared};
use crate::config::Account;
use crate::diagnose::{self, Code, Diagnosis, Protocol, Stage};
use crate::probe::Failure;
use crate::probe::imap::{self, Caps, Folders, Session};
use crate::probe::message::TAG_HEADER;
use crate::probe::verify::header_field;
use crate::report::Phase;

/// Longest single IDLE before re-checking anyway (also a guard against a missed wake-up).
const IDLE_CYCLE: Duration = Duration::from_secs(60);
/// Polling interval right after something arrived, and at most when nothing does.
const POLL_MIN: Duration = Duration::from_millis(5);
const POLL_MAX: Duration = Duration::from_millis(250);
/// Reconnects a watcher tries before giving up on its folder.
const MAX_RECONNECTS: u32 = 5;
/// The longest a refused login is held off in settle mode.
pub const AUTH_HOLD_MAX: Duration = Duration::from_secs(3600);
/// Longest wait between reconnects (load; the monitor sets its own).
const BACKOFF_MAX: Duration = Duration::from_secs(4);
/// What the watcher fetches: the UID and the two headers that carry the whole tag (a gateway
/// may strip `X-Mailtrip-Probe`; the Message-ID is `<tag@domain>`).
const FETCH_ITEMS: &str = "(UID BODY.PEEK[HEADER.FIELDS (X-MAILTRIP-PROBE MESSAGE-ID)])";

/// The tag a fetched header block carries: the tag header, else the Message-ID's local part.
/// Only tags of this run's probes count (the shared map decides), so a look-alike never does.
fn tag_of(header: &[u8]) -> Option<u128> {
    let parse = |v: &str| uuid::Uuid::parse_str(v.trim()).ok();
    header_field(header, TAG_HEADER)
        .and_then(|v| parse(&v))
        .or_else(|| {
            header_field(header, "Message-ID")
                .and_then(|v| imap::message_id_tag(&v).and_then(parse))
        })
        .map(|u| u.as_u128())
}

/// What a watcher reports to: the table of outstanding tags (a load run's [`Shared`], the
/// monitor's probes). Only `matched` is required; the rest serve settle mode.
pub(crate) trait Tags: Send + Sync + 'static {
    /// Records sightings from one scan; returns the UIDs that are ours (to clean up).
    fn matched(&self, hits: &[(u128, u32)], target: usize, folder: &str, junk: bool) -> Vec<u32>;

    /// Settle mode: a matched probe's whole message (`None`: the server returned no body).
    fn fetched(&self, _tag: u128, _raw: Option<&[u8]>, _took: Duration) {}

    /// Settle mode: the probes just deleted (how many went), or why they could not be.
    fn cleaned(&self, _tags: &[u128], _took: Duration, _result: Result<usize, String>) {}

    /// The watcher's connection is up (`Ok`) or failed, and in which phase.
    fn connection(&self, _target: usize, _folder: &str, _status: Result<(), &Failure>) {}
}

impl Tags for Shared {
    fn matched(&self, hits: &[(u128, u32)], target: usize, folder: &str, junk: bool) -> Vec<u32> {
        Shared::matched(self, hits, target, folder, junk)
    }
}

/// The watchers for one target, plus where its Sent copies would appear.
pub(crate) struct Opened {
    pub watchers: Vec<Watcher>,
    pub sent_mark: Option<SentMark>,
    pub warnings: Vec<String>,
}

/// The Sent folder's UIDNEXT before sending, when the sender watches its own mailbox (the
/// server may file a copy of each probe there, as Gmail does).
pub(crate) struct SentMark {
    folder: String,
    uid: u32,
}

/// Watches one folder of one target account.
pub(crate) struct Watcher {
    target: usize,
    account: Account,
    pub folder: String,
    junk: bool,
    pub session: Option<Session>,
    caps: Caps,
    folders: Folders,
    /// The next UID to look at: everything below has been matched or ignored.
    next_uid: u32,
    force_poll: bool,
    /// UIDs of this run's probes seen here (every copy).
    found: Vec<u32>,
    reconnects: u32,
    pub last_error: Option<Diagnosis>,
    max_reconnects: u32,
    backoff_max: Duration,
    /// Settle mode: the least wait after the server refused the credentials on a reconnect.
    auth_hold: Option<Duration>,
    /// Settle mode: fetch, report and delete each probe as soon as it is matched.
    settle: bool,
    /// Settle mode: matched probes not yet deleted (tag, UID, fetched already).
    pending: Vec<(u128, u32, bool)>,
}

fn setup_error(account: &Account, what: &str, e: &async_imap::error::Error) -> LoadError {
    LoadError::Setup {
        phase: Phase::ImapConnect,
        diagnosis: diagnose::transport(
            Code::ServerError,
            Protocol::Imap,
            &account.imap.authority(),
            &format!("{what} failed: {e}"),
        ),
    }
}

/// Logs in to `target`, notes the watermarks, and opens a watcher on INBOX and one on the
/// `\Junk` folder if there is one.
pub(crate) async fn open(
    index: usize,
    target: &Account,
    from: &Account,
    step: Duration,
    force_poll: bool,
) -> Result<Opened, LoadError> {
    let setup = |f: crate::probe::Failure| LoadError::Setup {
        phase: f.phase,
        diagnosis: f.diagnosis,
    };
    let (mut session, caps) = imap::connect(target, step, None).await.map_err(setup)?;
    let folders = imap::folders(&mut session, step)
        .await
        .map_err(|e| setup_error(target, "listing folders", &e))?;
    let mut warnings = Vec::new();
    let same_account = from.user == target.user && from.imap == target.imap;
    let sent_mark = match (&folders.sent, same_account) {
        (Some(sent), true) => imap::uid_next(&mut session, sent, step)
            .await
            .ok()
            .map(|uid| SentMark {
                folder: sent.clone(),
                uid,
            }),
        _ => None,
    };
    let mark = imap::select(&mut session, "INBOX", step)
        .await
        .map_err(|e| setup_error(target, "SELECT INBOX", &e))?;
    let new = |folder: &str, junk: bool, session: Session, caps: Caps, mark: u32| Watcher {
        target: index,
        account: target.clone(),
        folder: folder.to_string(),
        junk,
        session: Some(session),
        caps,
        folders: folders.clone(),
        next_uid: mark,
        force_poll,
        found: Vec::new(),
        reconnects: 0,
        last_error: None,
        max_reconnects: MAX_RECONNECTS,
        backoff_max: BACKOFF_MAX,
        auth_hold: None,
        settle: false,
        pending: Vec::new(),
    };
    let mut watchers = vec![new("INBOX", false, session, caps, mark)];
    match &folders.junk {
        Some(junk) => {
            let (mut s, caps) = imap::connect(target, step, None).await.map_err(setup)?;
            let mark = imap::select(&mut s, junk, step)
                .await
                .map_err(|e| setup_error(target, &format!("SELECT {junk}"), &e))?;
            watchers.push(new(junk, true, s, caps, mark));
        }
        None => warnings.push(format!(
            "{}: no folder has the \\Junk SPECIAL-USE attribute; only INBOX is watched",
            target.address
        )),
    }
    Ok(Opened {
        watchers,
        sent_mark,
        warnings,
    })
}

impl Watcher {
    /// Settle mode for a long-running monitor: every matched probe is fetched, handed to
    /// [`Tags::fetched`] and deleted at once, and a dropped connection is re-opened forever
    /// with backoff up to `backoff_max`.
    #[cfg(feature = "monitor")]
    pub fn settle(mut self, backoff_max: Duration) -> Watcher {
        self.settle = true;
        self.max_reconnects = u32::MAX;
        self.backoff_max = backoff_max;
        self
    }

    /// After a reconnect whose login the server refused, wait at least `hold` (doubling up to
    /// an hour) instead of the usual backoff: providers lock accounts that keep trying.
    #[cfg(feature = "monitor")]
    pub fn auth_hold(mut self, hold: Duration) -> Watcher {
        self.auth_hold = Some(hold);
        self
    }

    /// Whether this watcher waits with IDLE (rather than polling).
    pub fn uses_idle(&self) -> bool {
        self.caps.idle && !self.force_poll
    }

    /// Watches until `stop` turns true, then scans once more and returns itself (for cleanup).
    pub async fn run<T: Tags>(
        mut self,
        shared: Arc<T>,
        mut stop: signal::Receiver<bool>,
        step: Duration,
    ) -> Watcher {
        let mut backoff = Duration::from_millis(100);
        loop {
            if self.session.is_none() {
                if self.reconnects >= self.max_reconnects || *stop.borrow() {
                    return self;
                }
                self.reconnects = self.reconnects.saturating_add(1);
                match self.reconnect(step).await {
                    Ok(()) => {
                        backoff = Duration::from_millis(100);
                        shared.connection(self.target, &self.folder, Ok(()));
                    }
                    Err(f) => {
                        shared.connection(self.target, &self.folder, Err(&f));
                        let mut cap = self.backoff_max;
                        if let Some(hold) = self.auth_hold
                            && f.diagnosis.code.is_credential_refusal()
                        {
                            backoff = backoff.max(hold);
                            cap = cap.max(AUTH_HOLD_MAX);
                            tracing::warn!(
                                folder = %self.folder,
                                "the IMAP server refused the credentials ({}); not logging in \
                                 again for {:.0} s",
                                f.diagnosis.code,
                                backoff.as_secs_f64()
                            );
                        }
                        self.last_error = Some(f.diagnosis);
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {}
                            _ = stop.changed() => {}
                        }
                        backoff = (backoff * 2).min(cap);
                        continue;
                    }
                }
            }
            match self.watch_connected(&*shared, &mut stop, step).await {
                Ok(()) => return self,
                Err(e) => {
                    tracing::debug!(folder = %self.folder, error = %e, "load watch lost its connection");
                    let d = imap::classify(&self.account, Stage::Other, &e);
                    let failure = Failure {
                        phase: Phase::ImapConnect,
                        diagnosis: d.clone(),
                    };
                    shared.connection(self.target, &self.folder, Err(&failure));
                    self.last_error = Some(d);
                    self.session = None;
                }
            }
        }
    }

    async fn reconnect(&mut self, step: Duration) -> Result<(), Failure> {
        let (mut session, caps) = imap::connect(&self.account, step, None).await?;
        imap::select(&mut session, &self.folder, step)
            .await
            .map_err(|e| Failure {
                phase: Phase::ImapConnect,
                diagnosis: imap::classify(&self.account, Stage::Select, &e),
            })?;
        self.caps = caps;
        self.session = Some(session);
        Ok(())
    }

    /// Scan, then IDLE (or sleep) until something changes or `stop`; repeat.
    async fn watch_connected<T: Tags>(
        &mut self,
        shared: &T,
        stop: &mut signal::Receiver<bool>,
        step: Duration,
    ) -> async_imap::error::Result<()> {
        let mut poll = POLL_MIN;
        loop {
            let stopping = *stop.borrow_and_update();
            let news = self.scan(shared, step).await?;
            if self.settle {
                self.settle_pending(shared, step).await?;
            }
            if stopping {
                return Ok(());
            }
            // An EXISTS that came with the FETCH's responses would not wake IDLE (the server
            // thinks we know): look again first.
            if let Some(session) = self.session.as_mut()
                && imap::drain_news(session)
            {
                continue;
            }
            if self.uses_idle() {
                let session = self
                    .session
                    .take()
                    .ok_or(async_imap::error::Error::ConnectionLost)?;
                let mut idle = session.idle();
                imap::within(step, idle.init()).await?;
                {
                    let (wait, interrupt) = idle.wait_with_timeout(IDLE_CYCLE);
                    tokio::pin!(wait);
                    tokio::select! {
                        r = &mut wait => { r?; }
                        _ = stop.changed() => {
                            drop(interrupt);
                            (&mut wait).await?;
                        }
                    }
                }
                self.session = Some(imap::within(step, idle.done()).await?);
            } else {
                poll = if news {
                    POLL_MIN
                } else {
                    (poll * 2).min(POLL_MAX)
                };
                tokio::select! {
                    _ = tokio::time::sleep(poll) => {}
                    _ = stop.changed() => {}
                }
            }
        }
    }

    /// Fetches the tag header of every message above the watermark and reports the tags to
    /// the shared map. Returns whether anything new was there.
    async fn scan<T: Tags>(
        &mut self,
        shared: &T,
        step: Duration,
    ) -> async_imap::error::Result<bool> {
        let session = self
            .session
            .as_mut()
            .ok_or(async_imap::error::Error::ConnectionLost)?;
        imap::drain_news(session);
        let next = self.next_uid;
        let fetches: Vec<_> = imap::within(step, async {
            session
                .uid_fetch(format!("{next}:*"), FETCH_ITEMS)
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
        let mut hits = Vec::new();
        let mut highest = None;
        for f in &fetches {
            // `N:*` also returns the highest message when its UID is below N.
            let Some(uid) = f.uid.filter(|u| *u >= next) else {
                continue;
            };
            highest = highest.max(Some(uid));
            if let Some(tag) = f.header().and_then(tag_of) {
                hits.push((tag, uid));
            }
        }
        if let Some(h) = highest {
            self.next_uid = h.saturating_add(1);
        }
        if !hits.is_empty() {
            let ours = shared.matched(&hits, self.target, &self.folder, self.junk);
            if self.settle {
                let mine = hits.iter().filter(|(_, uid)| ours.contains(uid));
                self.pending
                    .extend(mine.map(|&(tag, uid)| (tag, uid, false)));
            } else {
                self.found.extend(ours);
            }
        }
        Ok(highest.is_some())
    }

    /// Settle mode: fetches each pending probe (once), reports it, then deletes them all by
    /// UID. A lost connection keeps them pending for the next connection; a refusal is
    /// reported and dropped (the monitor's restart sweep gets what is left).
    async fn settle_pending<T: Tags>(
        &mut self,
        shared: &T,
        step: Duration,
    ) -> async_imap::error::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let session = self
            .session
            .as_mut()
            .ok_or(async_imap::error::Error::ConnectionLost)?;
        for (tag, uid, fetched) in self.pending.iter_mut().filter(|p| !p.2) {
            let t = std::time::Instant::now();
            let got = imap::fetch_raw(session, *uid, step).await?;
            shared.fetched(*tag, got.as_ref().map(|f| f.raw.as_slice()), t.elapsed());
            *fetched = true;
        }
        let t = std::time::Instant::now();
        let uids: Vec<u32> = self.pending.iter().map(|p| p.1).collect();
        let tags: Vec<u128> = self.pending.iter().map(|p| p.0).collect();
        let archives = self.account.expunge_archives || self.caps.gmail;
        let leaves_folder = (archives || !self.caps.uidplus)
            && self.folders.trash.as_deref() != Some(self.folder.as_str());
        let done = imap::delete_exactly(
            session,
            &self.caps,
            &self.folders,
            &self.folder,
            &uids,
            "",
            archives,
            step,
        )
        .await;
        let result = match done {
            Ok((n, None)) => Ok(n),
            Ok((_, Some(warning))) => Err(warning),
            Err(
                e @ (async_imap::error::Error::Io(_) | async_imap::error::Error::ConnectionLost),
            ) => {
                return Err(e);
            }
            Err(e) => Err(format!("cleanup in {} failed: {e}", self.folder)),
        };
        shared.cleaned(&tags, t.elapsed(), result);
        self.pending.clear();
        if leaves_folder {
            // The MOVE to Trash selected Trash: back to the watched folder.
            imap::select(session, &self.folder, step).await?;
        }
        Ok(())
    }

    /// Deletes every copy of this run's probes seen here: one `UID STORE +FLAGS.SILENT
    /// (\Deleted)` and one `UID EXPUNGE` over exactly those UIDs (or MOVE to Trash where
    /// expunge archives).
    pub async fn cleanup(&mut self, out: &mut Cleanup, step: Duration) {
        if self.found.is_empty() {
            return;
        }
        let step = step.max(Duration::from_secs(5));
        if self.session.is_none()
            && let Err(d) = self.reconnect(step).await
        {
            out.problems.push(format!(
                "could not reconnect to clean {}; {} probe(s) left there: {}",
                self.folder,
                self.found.len(),
                d.diagnosis.summary
            ));
            return;
        }
        let Some(session) = self.session.as_mut() else {
            return;
        };
        let archives = self.account.expunge_archives || self.caps.gmail;
        let result = imap::delete_exactly(
            session,
            &self.caps,
            &self.folders,
            &self.folder,
            &self.found,
            "",
            archives,
            step,
        )
        .await;
        match result {
            Ok((n, warning)) => {
                out.deleted += n as u64;
                out.problems.extend(warning);
            }
            Err(e) => out.problems.push(format!(
                "cleanup in {} failed; {} probe(s) may be left there: {e}",
                self.folder,
                self.found.len()
            )),
        }
    }
}

/// The sender's Sent folder and its UIDNEXT, over a connection of its own (logged out
/// again), for a run whose targets are all other mailboxes: the sender's server may still
/// file a copy of every probe there, as Gmail does. `None` when there is no `\Sent` folder
/// or the server will not say.
pub(crate) async fn sender_sent_mark(from: &Account, step: Duration) -> Option<SentMark> {
    let (mut session, _) = imap::connect(from, step, None).await.ok()?;
    let folders = imap::folders(&mut session, step).await.ok();
    let folder = folders.and_then(|f| f.sent);
    let uid = match &folder {
        Some(sent) => imap::uid_next(&mut session, sent, step).await.ok(),
        None => None,
    };
    imap::logout(Some(session)).await;
    Some(SentMark {
        folder: folder?,
        uid: uid?,
    })
}

/// Deletes the copies the server filed in the sender's Sent folder, found by tag above the
/// mark, over a fresh connection.
pub(super) async fn cleanup_sent(
    account: &Account,
    mark: &SentMark,
    shared: &Shared,
    step: Duration,
    out: &mut Cleanup,
) {
    let step = step.max(Duration::from_secs(5));
    let work = async {
        let (mut session, caps) = imap::connect(account, step, None)
            .await
            .map_err(|f| f.diagnosis.summary)?;
        let folders = imap::folders(&mut session, step)
            .await
            .map_err(|e| e.to_string())?;
        imap::select(&mut session, &mark.folder, step)
            .await
            .map_err(|e| e.to_string())?;
        let fetches: Vec<_> = imap::within(step, async {
            session
                .uid_fetch(format!("{}:*", mark.uid), FETCH_ITEMS)
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await
        .map_err(|e| e.to_string())?;
        let uids: Vec<u32> = fetches
            .iter()
            .filter_map(|f| {
                let uid = f.uid.filter(|u| *u >= mark.uid)?;
                let tag = tag_of(f.header()?)?;
                shared.is_ours(tag).then_some(uid)
            })
            .collect();
        let archives = account.expunge_archives || caps.gmail;
        let done = imap::delete_exactly(
            &mut session,
            &caps,
            &folders,
            &mark.folder,
            &uids,
            "",
            archives,
            step,
        )
        .await
        .map_err(|e| e.to_string());
        imap::logout(Some(session)).await;
        done
    };
    match work.await {
        Ok((n, warning)) => {
            out.deleted += n as u64;
            out.problems.extend(warning);
        }
        Err(e) => out.problems.push(format!(
            "could not clean the Sent copies in {}: {e}",
            mark.folder
        )),
    }
}
