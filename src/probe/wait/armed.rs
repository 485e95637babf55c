//! A [`Wait`] armed and run: select the folder and note its watermark, look back for mail that
//! arrived in the window, then watch (IDLE or polling, reconnecting) for the first match, fetch
//! and parse it, and on a timeout say what did arrive.

use std::collections::HashSet;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::Duration;

use async_imap::types::Fetch;
use chrono::{DateTime, FixedOffset, SubsecRound, Utc};
use futures::TryStreamExt;
use tokio::time::Instant;

use super::{Wait, WaitError};
use crate::analyze::filter::{Fields, Filter, SAMPLES};
use crate::analyze::{Message, Seen};
use crate::diagnose::{self, Code, Protocol};
use crate::probe::cleanup::{self, Bin, Ours};
use crate::probe::imap::{self, Caps, Session, within};
use crate::probe::net;
use crate::probe::watch::{Interest, Reconnect, Until, Watcher};
use crate::report::SeenBy;

impl Wait {
    pub(super) async fn start(self, look_back: Duration) -> Result<Armed, WaitError> {
        self.filter.check()?;
        let started = Instant::now();
        let now = Utc::now();
        let step = self
            .timeout
            .clamp(Duration::from_millis(500), net::STEP_MAX);
        let (mut session, caps) = self.open(step).await?;
        // Not imap::select: EXISTS is needed too (earlier look-alikes on a timeout).
        let mbox = within(step, session.select(&self.folder))
            .await
            .and_then(|m| imap::alive(&session).map(|()| m))
            .map_err(|e| self.select_error(&e))?;
        let watermark = mbox.uid_next.unwrap_or(1);
        let window = self.filter.since().or_else(|| {
            let back = chrono::TimeDelta::from_std(look_back).ok()?;
            (!back.is_zero()).then(|| (now - back).trunc_subsecs(0))
        });
        let first = match window {
            Some(w) => self.first_since(&mut session, w, watermark, step).await?,
            None => watermark,
        };
        if let Some(ready) = &self.ready {
            ready(&self.folder, first);
        }
        Ok(Armed {
            session: Some(session),
            caps,
            watermark,
            first,
            window,
            exists: mbox.exists,
            started,
            step,
            wait: self,
        })
    }

    /// The lowest UID below `watermark` that arrived at or after `window`, else `watermark`:
    /// SEARCH SINCE has day granularity in the server's time zone, so ask from the day
    /// before, then read INTERNALDATE of those candidates.
    async fn first_since(
        &self,
        session: &mut Session,
        window: DateTime<Utc>,
        watermark: u32,
        step: Duration,
    ) -> Result<u32, WaitError> {
        let day = (window - chrono::Duration::days(1))
            .format("%d-%b-%Y")
            .to_string();
        let found = within(step, session.uid_search(format!("SINCE {day}")))
            .await
            .map_err(|e| self.imap_error(&format!("UID SEARCH SINCE {day} failed: {e}")))?;
        self.alive(session)?;
        let Some(low) = found.into_iter().filter(|u| *u < watermark).min() else {
            return Ok(watermark);
        };
        let range = format!("{low}:{}", watermark - 1);
        let dates = imap::uid_fetch(session, &range, "(UID INTERNALDATE)", step)
            .await
            .map_err(|e| match e {
                async_imap::error::Error::ConnectionLost => {
                    self.imap_error(&format!("the connection closed: {e}"))
                }
                e => self.imap_error(&format!("UID FETCH INTERNALDATE failed: {e}")),
            })?;
        Ok(dates
            .iter()
            .filter(|f| f.internal_date().is_some_and(|d| d >= window))
            .filter_map(|f| f.uid)
            .filter(|u| *u >= low && *u < watermark)
            .min()
            .unwrap_or(watermark))
    }

    /// Proves an answer was not cut short by a closed connection ([`imap::alive`]).
    fn alive(&self, session: &Session) -> Result<(), WaitError> {
        imap::alive(session).map_err(|e| self.imap_error(&format!("the connection closed: {e}")))
    }

    /// A refused SELECT in the server's own words, naming the folder (never async-imap's
    /// Debug rendering of the response).
    fn select_error(&self, e: &async_imap::error::Error) -> WaitError {
        let mut d = imap::classify(&self.account, crate::diagnose::Stage::Select, e);
        d.summary = format!("SELECT {:?}: {}", self.folder, d.summary);
        WaitError::Imap(d)
    }

    fn imap_error(&self, detail: &str) -> WaitError {
        WaitError::Imap(diagnose::transport(
            Code::ServerError,
            Protocol::Imap,
            &self.account.imap.authority(),
            detail,
        ))
    }

    async fn open(&self, step: Duration) -> Result<(Session, Caps), WaitError> {
        imap::connect(&self.account, step, None)
            .await
            .map_err(|f| WaitError::Imap(f.diagnosis))
    }

    async fn reopen(&self, step: Duration) -> Result<Session, WaitError> {
        let (mut s, _) = self.open(step).await?;
        imap::select(&mut s, &self.folder, step)
            .await
            .map_err(|e| self.select_error(&e))?;
        Ok(s)
    }
}

/// A [`Wait`] whose watch is in place ([`Wait::arm`]): await it (or call
/// [`finish`](Armed::finish)) for the first matching message.
pub struct Armed {
    wait: Wait,
    session: Option<Session>,
    caps: Caps,
    /// UIDNEXT when the watch started: anything at or above it arrived afterwards.
    watermark: u32,
    /// The first UID that can match (below the watermark when the window reaches back).
    first: u32,
    /// Mail below the watermark must have arrived at or after this.
    window: Option<DateTime<Utc>>,
    /// EXISTS when the folder was selected, to find earlier look-alikes on a timeout.
    exists: u32,
    started: Instant,
    step: Duration,
}

impl fmt::Debug for Armed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Armed")
            .field("wait", &self.wait)
            .field("first_uid", &self.first)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl IntoFuture for Armed {
    type Output = Result<Message, WaitError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<Message, WaitError>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.finish())
    }
}

/// What the watch looked at so far.
#[derive(Default)]
struct Tally {
    examined: HashSet<u32>,
    /// Matching messages, lowest UID first once sorted.
    hits: Vec<u32>,
    /// Non-matching messages in the window.
    others: usize,
    other_samples: Vec<Seen>,
    /// Messages that met the criteria but arrived before the window.
    earlier: Vec<Seen>,
}

/// What a wait looks for ([`Interest`]): messages meeting the criteria inside the window.
struct Looking {
    filter: Filter,
    /// UIDNEXT when the watch started: anything at or above it arrived afterwards.
    watermark: u32,
    /// Mail below the watermark must have arrived at or after this.
    window: Option<DateTime<Utc>>,
    tally: Tally,
}

impl Looking {
    /// Whether a message is inside the window: `since` when given, else anything new plus
    /// what arrived within the look-back.
    fn in_window(&self, uid: u32, arrived: Option<DateTime<FixedOffset>>) -> bool {
        if self.filter.since().is_some() {
            return self.filter.admits(arrived);
        }
        uid >= self.watermark
            || self
                .window
                .is_some_and(|w| arrived.is_some_and(|d| d.trunc_subsecs(0) >= w))
    }
}

impl Interest for Looking {
    fn items(&self) -> &'static str {
        "(UID INTERNALDATE BODY.PEEK[HEADER])"
    }

    /// Sorts each message into hits, others and earlier look-alikes.
    fn seen(&mut self, _by: SeenBy, fetched: &[Fetch]) {
        for f in fetched {
            let Some(uid) = f.uid else { continue };
            if !self.tally.examined.insert(uid) {
                continue;
            }
            let Some(fields) = f.header().and_then(Fields::read) else {
                continue;
            };
            let arrived = f.internal_date();
            let matches = self.filter.matches(&fields);
            let in_window = self.in_window(uid, arrived);
            let tally = &mut self.tally;
            match (in_window, matches) {
                (true, true) => tally.hits.push(uid),
                (true, false) => {
                    tally.others += 1;
                    if tally.other_samples.len() < SAMPLES {
                        tally.other_samples.push(fields.seen(uid, arrived));
                    }
                }
                (false, true) => push_earlier(&mut tally.earlier, fields.seen(uid, arrived)),
                (false, false) => {}
            }
        }
        self.tally.hits.sort_unstable();
    }

    fn done(&self) -> bool {
        !self.tally.hits.is_empty()
    }
}

impl Armed {
    /// The folder being watched.
    pub fn folder(&self) -> &str {
        &self.wait.folder
    }

    /// The first UID that can match: mail delivered from now on gets this or a higher one.
    pub fn first_uid(&self) -> u32 {
        self.first
    }

    /// Waits for the first matching message. The watch looks early right away (the mail is
    /// usually on its way when a wait starts), then waits on IDLE.
    pub async fn finish(mut self) -> Result<Message, WaitError> {
        let w = &self.wait;
        let deadline = self.started + w.timeout;
        let watch_step = net::watch_step(self.step, w.timeout);
        let looking = Looking {
            filter: w.filter.clone(),
            watermark: self.watermark,
            window: self.window,
            tally: Tally::default(),
        };
        let Some(session) = self.session.take() else {
            return Err(w.imap_error("internal: the watch has no connection"));
        };
        let mut watcher = Watcher::new(
            &w.account,
            &w.folder,
            Some((session, self.caps.clone())),
            self.watermark,
            self.first,
            looking,
            watch_step,
            Reconnect::until_deadline(),
        );
        watcher.kick(Instant::now());
        let mut until = Until::Deadline(deadline);
        loop {
            watcher.run(&mut until).await;
            if !watcher.interest.done() {
                break;
            }
            let Some(mut s) = watcher.session.take() else {
                break;
            };
            let uid = watcher.interest.tally.hits[0];
            let mut result = match self.fetch(&mut s, uid).await {
                Ok(result) => result,
                Err(e) => {
                    // Lost while fetching: reconnect and fetch the same UID again.
                    watcher.lost(&e);
                    continue;
                }
            };
            imap::logout(Some(s)).await;
            let (reconnects, hits) = (watcher.reconnects, &watcher.interest.tally.hits);
            if let Ok(m) = result.as_mut() {
                if reconnects > 0 {
                    m.warnings.push(format!(
                        "the IMAP connection was lost and re-established {reconnects} \
                         time(s); the watch resumed from its starting point, so nothing \
                         was missed"
                    ));
                }
                if hits.len() > 1 {
                    let rest: Vec<String> = hits[1..].iter().map(u32::to_string).collect();
                    m.warnings.push(format!(
                        "{} messages matched; this is the earliest (UID {uid}), the others \
                         are UID {}",
                        hits.len(),
                        rest.join(", ")
                    ));
                }
            }
            return result;
        }
        let mut session = watcher.session.take();
        let mut tally = std::mem::take(&mut watcher.interest.tally);
        if let Some(s) = session.as_mut() {
            self.look_earlier(s, &watcher.interest, &mut tally).await;
        }
        imap::logout(session).await;
        Err(WaitError::Timeout {
            folder: self.wait.folder.clone(),
            waited: self.started.elapsed(),
            seen: tally.others,
            others: tally.other_samples,
            earlier: tally.earlier,
            window: self.window.map(|w| w.to_rfc3339()),
        })
    }

    /// On a timeout, reads the headers of the last messages that were there before the
    /// window (by sequence number) for look-alikes the error can name. Best effort.
    async fn look_earlier(&self, session: &mut Session, looking: &Looking, tally: &mut Tally) {
        let n = self.exists;
        if n == 0 {
            return;
        }
        let low = n.saturating_sub(19).max(1);
        let fetched = within(self.step, async {
            session
                .fetch(format!("{low}:{n}"), "(UID INTERNALDATE BODY.PEEK[HEADER])")
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await;
        let Ok(fetched) = fetched else { return };
        let mut found: Vec<Seen> = fetched
            .iter()
            .filter_map(|f| {
                let uid = f.uid?;
                if tally.examined.contains(&uid) || looking.in_window(uid, f.internal_date()) {
                    return None;
                }
                let fields = Fields::read(f.header()?)?;
                self.wait
                    .filter
                    .matches(&fields)
                    .then(|| fields.seen(uid, f.internal_date()))
            })
            .collect();
        found.sort_by_key(|s| s.uid);
        for s in found {
            push_earlier(&mut tally.earlier, s);
        }
    }

    /// Deletes exactly `uid` from the watched folder: (how many went, a warning).
    async fn delete(
        &self,
        session: &mut Session,
        uid: u32,
    ) -> async_imap::error::Result<(usize, Option<String>)> {
        let (w, caps, step) = (&self.wait, &self.caps, self.step);
        let archives = cleanup::expunge_archives(&w.account, caps);
        let folders = if cleanup::goes_by_trash(archives, caps) {
            imap::folders(session, step).await?
        } else {
            imap::Folders::default()
        };
        let bin = Bin::new(&w.account, caps, &folders);
        cleanup::delete_exactly(session, bin, &w.folder, &[uid], Ours::Unmarked, step).await
    }

    /// Fetches, parses and (if asked) deletes the matched message. The outer error is a
    /// lost connection (reconnect and try again), the inner one final.
    async fn fetch(
        &self,
        session: &mut Session,
        uid: u32,
    ) -> async_imap::error::Result<Result<Message, WaitError>> {
        let w = &self.wait;
        let step = self.step;
        let Some(fetched) = imap::fetch_raw(session, uid, step).await? else {
            imap::alive(session)?;
            return Ok(Err(w.imap_error(&format!(
                "UID {uid} returned no body (deleted by someone else?)"
            ))));
        };
        let mut message = Message::parse(&fetched.raw);
        message.folder = w.folder.clone();
        message.uid = uid;
        message.internal_date = fetched.internal_date.map(|d| d.to_rfc3339());
        message.waited_ms = self.started.elapsed().as_secs_f64() * 1000.0;
        if w.delete {
            let mut done = self.delete(session, uid).await;
            if done.is_err() {
                // One retry on a fresh connection: a drop mid-delete must not leave it there.
                if let Ok(fresh) = w.reopen(step).await {
                    drop(std::mem::replace(session, fresh));
                    done = self.delete(session, uid).await;
                }
            }
            match done {
                Ok((n, warning)) => {
                    message.deleted = n > 0;
                    message.warnings.extend(warning);
                }
                Err(e) => message
                    .warnings
                    .push(format!("deleting UID {uid} failed: {e}")),
            }
        }
        Ok(Ok(message))
    }
}

/// Keeps the most recent few earlier look-alikes, oldest first.
fn push_earlier(earlier: &mut Vec<Seen>, seen: Seen) {
    earlier.push(seen);
    if earlier.len() > SAMPLES {
        earlier.remove(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::filter;

    #[test]
    fn timeout_text_names_what_was_seen() {
        use filter::timeout_text;
        let seen = |uid: u32, subject: &str| Seen {
            uid,
            internal_date: Some("2026-01-02T03:04:05+00:00".into()),
            from: vec!["noreply@app.test".into()],
            subject: subject.into(),
        };
        let plain = timeout_text("INBOX", &Duration::from_secs(3), 0, &[], &[], None);
        assert_eq!(
            plain,
            "no matching message arrived in INBOX within 3.0 s; no other mail arrived either"
        );
        let full = timeout_text(
            "INBOX",
            &Duration::from_secs(3),
            2,
            &[seen(7, "Weekly digest"), seen(8, "Hello")],
            &[seen(3, "Confirm your account")],
            Some("2026-01-02T03:05:00+00:00"),
        );
        assert_eq!(
            full,
            "no matching message arrived in INBOX within 3.0 s; 2 other messages arrived and \
             did not match (UID 7 from noreply@app.test \"Weekly digest\" at \
             2026-01-02T03:04:05+00:00; UID 8 from noreply@app.test \"Hello\" at \
             2026-01-02T03:04:05+00:00); 1 matching message arrived earlier, before \
             2026-01-02T03:05:00+00:00 (UID 3 from noreply@app.test \"Confirm your account\" \
             at 2026-01-02T03:04:05+00:00): widen the window with since / look_back \
             (mailtrip wait --since)"
        );
    }
}
