//! The one mailbox watcher that `check`, `wait`, `load` and `monitor` share: one connection
//! per folder, a look above a UID watermark (`UID FETCH <next>:*` of the headers an
//! [`Interest`] asks for), then a wait for the next look: the early-poll [`Schedule`] after a
//! probe is sent, IDLE (or a poll every second without it) for the long wait. A dropped
//! connection is re-opened with [`Backoff`] and resumes from the watermark, so nothing that
//! arrived in the gap is missed. What differs between the four is the [`Interest`]: which
//! messages count and what happens when one arrives (`tags`: one probe, or a table of many).

mod open;
mod schedule;
pub(crate) mod tags;

use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use async_imap::types::Fetch;
use tokio::sync::watch as signal;
use tokio::time::Instant;

use super::Failure;
use super::backoff::Backoff;
use super::imap::{self, Caps, Folders, Session, within};
use crate::config::Account;
use crate::diagnose::{Diagnosis, Stage};
use crate::report::{Phase, SeenBy};

pub(crate) use open::{Selected, Spare, Want, open_folder, open_mailbox};
pub(crate) use schedule::Kicker;

/// Longest single IDLE before looking anyway (RFC 2177 asks for less than 29 minutes; a short
/// cycle also guards against a server that misses a wake-up).
const IDLE_CYCLE: Duration = Duration::from_secs(60);
/// Without IDLE, how often to look once the early-poll schedule is over.
pub(crate) const POLL_EVERY: Duration = Duration::from_secs(1);
/// Early looks at least this far apart wait in IDLE between them (a server that does not batch
/// its notifications is heard at once); closer ones just sleep.
const IDLE_BETWEEN: Duration = Duration::from_millis(40);
/// A connection that lived at least this long resets the reconnect backoff.
const STABLE: Duration = Duration::from_secs(10);
/// The longest a refused login is held off.
pub(crate) const AUTH_HOLD_MAX: Duration = Duration::from_secs(3600);

/// What a watcher looks for and what it does with what it finds: the part of a watch that
/// differs between check, wait, load and monitor.
pub(crate) trait Interest: Send {
    /// The FETCH items of each look (UID included): the headers [`seen`](Interest::seen)
    /// reads.
    fn items(&self) -> &'static str;

    /// The messages of one look, UID ascending, each new to this watch and at or above
    /// where it started; `by` says what made the watcher look.
    fn seen(&mut self, by: SeenBy, fetched: &[Fetch]);

    /// Work on the connection after each look (fetch a body, delete). An `Err` is a lost
    /// connection: the watcher reconnects, and the work waits for the next connection.
    fn settle(
        &mut self,
        _conn: Conn<'_>,
    ) -> impl Future<Output = async_imap::error::Result<()>> + Send {
        async { Ok(()) }
    }

    /// Whether the watch is over: what it waited for has been found.
    fn done(&self) -> bool {
        false
    }

    /// The connection came up (`Ok`), or failed and in which phase.
    fn connection(&mut self, _folder: &str, _status: Result<(), &Failure>) {}
}

/// The live connection, for [`Interest::settle`].
pub(crate) struct Conn<'a> {
    pub session: &'a mut Session,
    pub account: &'a Account,
    pub caps: &'a Caps,
    pub folders: &'a Folders,
    pub folder: &'a str,
    pub step: Duration,
}

/// When a watch ends: at a deadline (check, wait) or when told to stop (load, monitor);
/// either way after one last look.
pub(crate) enum Until {
    Deadline(Instant),
    Stop(signal::Receiver<bool>),
}

impl Until {
    fn deadline(&self) -> Option<Instant> {
        match self {
            Until::Deadline(d) => Some(*d),
            Until::Stop(_) => None,
        }
    }

    /// Whether the end has come.
    fn over(&self) -> bool {
        match self {
            Until::Deadline(d) => Instant::now() >= *d,
            Until::Stop(rx) => *rx.borrow() || rx.has_changed().is_err(),
        }
    }

    /// Resolves when told to stop (never for a deadline: waits are cut at it instead).
    async fn stopped(&mut self) {
        match self {
            Until::Deadline(_) => std::future::pending().await,
            Until::Stop(rx) => {
                let _ = rx.wait_for(|stop| *stop).await;
            }
        }
    }
}

/// How a watcher gets its connection back.
#[derive(Debug, Clone)]
pub(crate) struct Reconnect {
    /// Reconnects to try before giving up on the folder (`u32::MAX`: forever).
    pub max: u32,
    pub backoff: Backoff,
    /// After a refused login, wait at least this long (doubling up to [`AUTH_HOLD_MAX`]).
    pub auth_hold: Option<Duration>,
}

impl Reconnect {
    /// A check or a wait: until the deadline, 250 ms doubling to 4 s.
    pub(crate) fn until_deadline() -> Reconnect {
        Reconnect {
            max: u32::MAX,
            backoff: Backoff::new(Duration::from_millis(250), Duration::from_secs(4)),
            auth_hold: None,
        }
    }

    /// After a failed open: a refused login holds the next try off for at least `auth_hold`
    /// (providers lock accounts that keep trying). Returns whether it did.
    pub(crate) fn refused(&mut self, failure: &Diagnosis) -> bool {
        let Some(hold) = self.auth_hold else {
            return false;
        };
        let refused = failure.code.is_credential_refusal();
        if refused {
            self.backoff.hold(hold, AUTH_HOLD_MAX);
        }
        refused
    }
}

/// Why the watcher stopped waiting.
enum Woke {
    /// The planned time came.
    Time,
    /// The server said something changed (IDLE).
    Server,
    /// A probe was sent at this instant: plan again.
    Kick(Instant),
    /// Told to stop.
    Stop,
}

/// Watches one folder of one account for what its [`Interest`] wants.
pub(crate) struct Watcher<I> {
    pub account: Account,
    pub folder: String,
    pub session: Option<Session>,
    pub caps: Caps,
    /// The account's special-use folders (cleanup needs `\Trash`).
    pub folders: Folders,
    /// UIDNEXT when the watch began: everything at or above it arrived afterwards.
    pub watermark: u32,
    /// The next UID to look at: everything below has been seen (or is outside the window).
    next_uid: u32,
    /// The server said EXISTS (or RECENT) since the last fetch: the next look must fetch.
    news: bool,
    pub interest: I,
    /// Connections re-opened after a drop.
    pub reconnects: u32,
    /// The last connection error, if any.
    pub last_error: Option<Diagnosis>,
    /// How many messages the looks have seen.
    pub examined: usize,
    /// Wait by polling even where the server offers IDLE (benchmarks).
    pub force_poll: bool,
    /// The connection could not be opened in the first place: the watch never ran.
    pub unopened: Option<Failure>,
    /// The connection, not opened yet ([`Watcher::opening`]).
    opening: Option<open::Opening>,
    /// When to open it ([`Watcher::open_at`]; at once when `None`).
    open_at: Option<Instant>,
    step: Duration,
    schedule: schedule::Schedule,
    kicks: Option<signal::Receiver<Option<Instant>>>,
    reconnect: Reconnect,
    connected_at: Instant,
}

impl<I: Interest> Watcher<I> {
    /// A watch of `folder` on the connection `open_folder` (or `open_mailbox`) left with it
    /// selected, looking from its watermark.
    pub(crate) fn selected(
        account: &Account,
        folder: &str,
        (session, caps, mark): Selected,
        interest: I,
        step: Duration,
        reconnect: Reconnect,
    ) -> Watcher<I> {
        let connection = Some((session, caps));
        Watcher::new(
            account, folder, connection, mark, mark, interest, step, reconnect,
        )
    }

    /// A watch of `folder` on a connection that has it selected, looking from `from_uid`
    /// (the watermark, or lower to look back) with `step` as each command's limit.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        account: &Account,
        folder: &str,
        connection: Option<(Session, Caps)>,
        watermark: u32,
        from_uid: u32,
        interest: I,
        step: Duration,
        reconnect: Reconnect,
    ) -> Watcher<I> {
        let (session, caps) = connection.unzip();
        Watcher {
            account: account.clone(),
            folder: folder.to_string(),
            session,
            caps: caps.unwrap_or_default(),
            folders: Folders::default(),
            watermark,
            next_uid: from_uid.min(watermark),
            news: false,
            interest,
            reconnects: 0,
            last_error: None,
            examined: 0,
            force_poll: false,
            unopened: None,
            opening: None,
            open_at: None,
            step,
            schedule: schedule::Schedule::default(),
            kicks: None,
            reconnect,
            connected_at: Instant::now(),
        }
    }

    /// A watch of `spare`, whose connection is not open yet: [`run`](Watcher::run) opens it
    /// (at [`open_at`](Watcher::open_at), if set) and looks from the spare's watermark; the
    /// watch never runs if it fails (`unopened`). `caps` stand in until then (the same
    /// server's, from INBOX's connection).
    pub(crate) fn opening(
        account: &Account,
        spare: Spare,
        caps: Caps,
        interest: I,
        step: Duration,
        reconnect: Reconnect,
    ) -> Watcher<I> {
        let Spare {
            folder,
            mark,
            connection,
        } = spare;
        let mut w = Watcher::new(
            account, &folder, None, mark, mark, interest, step, reconnect,
        );
        w.caps = caps;
        w.opening = Some(connection);
        w
    }

    /// Opens a not yet opened connection ([`Watcher::opening`]) only at `at`, or at the end
    /// of the watch if sooner (then for one last look); a watch the race ends before then
    /// never connects. Nothing that arrives meanwhile is missed: the looks start from the
    /// watermark noted before the send.
    pub(crate) fn open_at(&mut self, at: Instant) {
        self.open_at = Some(at);
    }

    /// Whether this watcher waits with IDLE (rather than polling).
    pub(crate) fn uses_idle(&self) -> bool {
        self.caps.idle && !self.force_poll
    }

    /// A probe was sent (accepted) at `at`: look on the early-poll schedule from then.
    pub(crate) fn kick(&mut self, at: Instant) {
        self.schedule.kick(at);
    }

    /// Takes kicks from `kicker` from now on (a long-running watch).
    pub(crate) fn listen(&mut self, kicker: &Kicker) {
        self.kicks = Some(kicker.subscribe());
    }

    /// Gives up the connection after `e` (a follow-up of the caller's failed on it); the
    /// next [`run`](Watcher::run) reconnects.
    pub(crate) fn lost(&mut self, e: &async_imap::error::Error) {
        tracing::debug!(folder = %self.folder, error = %e, "IMAP watch connection lost");
        let d = imap::classify(&self.account, Stage::Other, e);
        let failure = Failure {
            phase: Phase::ImapConnect,
            diagnosis: d.clone(),
        };
        self.interest.connection(&self.folder, Err(&failure));
        self.last_error = Some(d);
        self.session = None;
    }

    /// Watches until the interest is done or `until` ends (then after one last look),
    /// reconnecting as needed. The connection stays open for the caller's follow-ups.
    pub(crate) async fn run(&mut self, until: &mut Until) {
        if let Some(at) = self.open_at.filter(|_| self.opening.is_some()) {
            let at = until.deadline().map_or(at, |d| at.min(d));
            tokio::select! {
                _ = tokio::time::sleep_until(at) => self.open_at = None,
                _ = until.stopped() => return,
            }
        }
        if let Some(opening) = self.opening.take() {
            match opening.await {
                Ok((session, caps)) => {
                    self.session = Some(session);
                    self.caps = caps;
                    self.connected_at = Instant::now();
                }
                Err(f) => {
                    self.interest.connection(&self.folder, Err(&f));
                    self.last_error = Some(f.diagnosis.clone());
                    self.unopened = Some(f);
                }
            }
        }
        if self.unopened.is_some() {
            return;
        }
        loop {
            if self.session.is_none() {
                if until.over() || self.reconnects >= self.reconnect.max {
                    return;
                }
                if !self.reopen(until).await {
                    continue;
                }
            }
            match self.watch_connected(until).await {
                Ok(()) => return,
                Err(e) => {
                    self.lost(&e);
                    // Reconnect at once after a connection that lived; back off when they keep
                    // dying young, so a server that drops every connection is not hammered.
                    if self.connected_at.elapsed() >= STABLE {
                        self.reconnect.backoff.reset();
                    } else {
                        let deadline = until.deadline();
                        let stop = until.stopped();
                        self.reconnect.backoff.wait(deadline, stop).await;
                    }
                }
            }
        }
    }

    /// One reconnect: `true` when the folder is selected again; otherwise after the pause.
    async fn reopen(&mut self, until: &mut Until) -> bool {
        self.reconnects = self.reconnects.saturating_add(1);
        match open_folder(&self.account, &self.folder, self.step).await {
            Ok((session, caps, _)) => {
                self.caps = caps;
                self.session = Some(session);
                self.connected_at = Instant::now();
                self.last_error = None;
                self.interest.connection(&self.folder, Ok(()));
                true
            }
            Err(f) => {
                tracing::debug!(folder = %self.folder, error = %f.diagnosis.summary, "IMAP reconnect failed");
                self.interest.connection(&self.folder, Err(&f));
                if self.reconnect.refused(&f.diagnosis) {
                    tracing::warn!(
                        folder = %self.folder,
                        "the IMAP server refused the credentials ({}); not logging in again \
                         for {:.0} s",
                        f.diagnosis.code,
                        self.reconnect.backoff.step().as_secs_f64()
                    );
                }
                self.last_error = Some(f.diagnosis);
                let deadline = until.deadline();
                let stop = until.stopped();
                self.reconnect.backoff.wait(deadline, stop).await;
                false
            }
        }
    }

    /// The loop on a live connection: look, settle, then wait for the next look.
    async fn watch_connected(&mut self, until: &mut Until) -> async_imap::error::Result<()> {
        let mut by = SeenBy::FirstLook;
        loop {
            let stopping = until.over();
            self.look(by).await?;
            self.settle().await?;
            if stopping || self.interest.done() {
                return Ok(());
            }
            // An EXISTS that came with the look's answers would not wake IDLE (the server
            // thinks we know): look again first, as part of the same look.
            let session = self
                .session
                .as_mut()
                .ok_or(async_imap::error::Error::ConnectionLost)?;
            if imap::drain_news(session) {
                self.news = true;
                continue;
            }
            by = self.wait(until).await?;
        }
    }

    /// Fetches what the interest needs of every message from the next UID on, and hands the
    /// new ones over.
    ///
    /// A poll (early or not) first sends NOOP: Dovecot answers `UID FETCH` from its index
    /// without looking for newly delivered files (maildir), so a FETCH-only poll missed some
    /// messages for seconds (`load` p99 4.6 s on Postfix + Dovecot), while NOOP syncs the
    /// mailbox and says EXISTS. An early poll then fetches only when the server said EXISTS
    /// (or RECENT) since the last fetch; IDLE and the plain poll cover a server that does not.
    async fn look(&mut self, by: SeenBy) -> async_imap::error::Result<()> {
        let session = self
            .session
            .as_mut()
            .ok_or(async_imap::error::Error::ConnectionLost)?;
        let mut news = std::mem::take(&mut self.news) | imap::drain_news(session);
        self.schedule.looked(Instant::now());
        if matches!(by, SeenBy::EarlyPoll | SeenBy::Poll) {
            imap::noop(session, self.step).await?;
            news |= imap::drain_news(session);
            if by == SeenBy::EarlyPoll && !news {
                return Ok(());
            }
        }
        let next = self.next_uid;
        let fetched = imap::fetch_from(session, next, self.interest.items(), self.step).await?;
        let Some(highest) = fetched.last().and_then(|f| f.uid) else {
            return Ok(());
        };
        self.next_uid = highest.saturating_add(1);
        self.examined += fetched.len();
        self.interest.seen(by, &fetched);
        Ok(())
    }

    async fn settle(&mut self) -> async_imap::error::Result<()> {
        let session = self
            .session
            .as_mut()
            .ok_or(async_imap::error::Error::ConnectionLost)?;
        let conn = Conn {
            session,
            account: &self.account,
            caps: &self.caps,
            folders: &self.folders,
            folder: &self.folder,
            step: self.step,
        };
        self.interest.settle(conn).await
    }

    /// Waits until the next look is due; returns what it is due to.
    async fn wait(&mut self, until: &mut Until) -> async_imap::error::Result<SeenBy> {
        loop {
            self.take_kicks();
            let now = Instant::now();
            let (at, by, idle) = match self.schedule.next() {
                Some(at) => (
                    at,
                    SeenBy::EarlyPoll,
                    self.uses_idle() && at.saturating_duration_since(now) >= IDLE_BETWEEN,
                ),
                None if self.uses_idle() => (now + IDLE_CYCLE, SeenBy::Poll, true),
                None => (now + POLL_EVERY, SeenBy::Poll, false),
            };
            let at = until.deadline().map_or(at, |d| at.min(d));
            if at <= now {
                return Ok(by);
            }
            let woke = if idle {
                let woke = self.idle_until(at, until).await?;
                // An EXISTS that came with the answer to DONE: look now. A look that was due
                // anyway keeps its name; otherwise the server told us.
                let session = self
                    .session
                    .as_mut()
                    .ok_or(async_imap::error::Error::ConnectionLost)?;
                if matches!(woke, Woke::Kick(_)) && imap::drain_news(session) {
                    return Ok(SeenBy::Idle);
                }
                woke
            } else {
                self.sleep_until(at, until).await
            };
            match woke {
                Woke::Time | Woke::Stop => return Ok(by),
                Woke::Server => return Ok(SeenBy::Idle),
                Woke::Kick(at) => self.schedule.kick(at),
            }
        }
    }

    /// Moves kicks that arrived meanwhile into the schedule.
    fn take_kicks(&mut self) {
        if let Some(rx) = self.kicks.as_mut() {
            match rx.has_changed() {
                Ok(true) => {
                    if let Some(at) = *rx.borrow_and_update() {
                        self.schedule.kick(at);
                    }
                }
                Ok(false) => {}
                Err(_) => self.kicks = None,
            }
        }
    }

    /// Resolves with the next kick (never without a kicker).
    async fn kicked(kicks: &mut Option<signal::Receiver<Option<Instant>>>) -> Instant {
        if let Some(rx) = kicks.as_mut() {
            while rx.changed().await.is_ok() {
                if let Some(at) = *rx.borrow_and_update() {
                    return at;
                }
            }
        }
        std::future::pending().await
    }

    async fn sleep_until(&mut self, at: Instant, until: &mut Until) -> Woke {
        tokio::select! {
            _ = tokio::time::sleep_until(at) => Woke::Time,
            at = Self::kicked(&mut self.kicks) => Woke::Kick(at),
            _ = until.stopped() => Woke::Stop,
        }
    }

    /// One IDLE until `at`, a server notice, a kick or the stop; gives the session back.
    async fn idle_until(
        &mut self,
        at: Instant,
        until: &mut Until,
    ) -> async_imap::error::Result<Woke> {
        let session = self
            .session
            .take()
            .ok_or(async_imap::error::Error::ConnectionLost)?;
        let mut idle = session.idle();
        within(self.step, idle.init()).await?;
        let woke = {
            let (wait, interrupt) =
                idle.wait_with_timeout(at.saturating_duration_since(Instant::now()));
            tokio::pin!(wait);
            let answer = |r: IdleResponse| match r {
                IdleResponse::NewData(_) => Woke::Server,
                IdleResponse::Timeout | IdleResponse::ManualInterrupt => Woke::Time,
            };
            tokio::select! {
                r = &mut wait => answer(r?),
                at = Self::kicked(&mut self.kicks) => {
                    drop(interrupt);
                    self.schedule.kick(at);
                    match (&mut wait).await? {
                        IdleResponse::NewData(_) => Woke::Server,
                        _ => Woke::Kick(at),
                    }
                }
                _ = until.stopped() => {
                    drop(interrupt);
                    (&mut wait).await?;
                    Woke::Stop
                }
            }
        };
        tracing::trace!(folder = %self.folder, "IDLE ends");
        self.session = Some(within(self.step, idle.done()).await?);
        Ok(woke)
    }
}
