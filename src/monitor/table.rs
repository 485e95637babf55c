//! The monitor's table of probes by tag: what the schedulers registered and the watchers
//! report sightings, fetched bodies and deletions to. A probe past its timeout stays in the
//! table as lost for a while, so a late arrival is counted as late and still deleted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use super::metrics::{FolderLabels, Metrics};
use crate::probe::Failure;
use crate::probe::message::Probe;
use crate::probe::verify;
use crate::probe::watch::tags::{Place, Tags};

/// How long a lost or failed probe is remembered at least (to count it late and delete it).
const RETENTION_MIN: Duration = Duration::from_secs(3600);

/// Where a watched mailbox's INBOX watch stands; probes wait for `Up`.
#[derive(Debug, Clone)]
pub enum Status {
    Connecting,
    Up,
    Down(Failure),
}

/// A probe was seen: when, where.
#[derive(Debug)]
pub struct Sighting {
    pub at: Instant,
    pub junk: bool,
}

/// What the watcher's fetch of the probe showed.
#[derive(Debug)]
pub struct Checked {
    pub fetch: Duration,
    pub verify: Duration,
    /// The server returned no body for the UID.
    pub missing: bool,
    /// What differs from what was sent, if anything.
    pub problem: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Registered; SMTP has not accepted it yet (a fast server may deliver before the 250).
    Sending,
    /// Accepted; waiting for a watcher.
    Waiting,
    Seen,
    /// Past its timeout without a sighting.
    Lost,
    /// Lost, then seen after all (counted late once).
    LateSeen,
    /// The submission failed; a copy that lands anyway is only deleted.
    Failed,
}

struct Entry {
    route: usize,
    state: State,
    forget_at: Instant,
    probe: Arc<Probe>,
    seen: Option<oneshot::Sender<Sighting>>,
    checked: Option<oneshot::Sender<Checked>>,
}

/// The receiving ends a probe task waits on.
pub struct Waiters {
    pub seen: oneshot::Receiver<Sighting>,
    pub checked: oneshot::Receiver<Checked>,
}

/// A watched mailbox: its label and the INBOX watch status.
pub struct Mailbox {
    pub label: String,
    pub status: watch::Sender<Status>,
}

pub struct Table {
    entries: Mutex<HashMap<u128, Entry>>,
    metrics: Arc<Metrics>,
    /// Route names by index.
    routes: Vec<String>,
    pub mailboxes: Vec<Mailbox>,
}

impl Table {
    pub fn new(metrics: Arc<Metrics>, routes: Vec<String>, mailboxes: Vec<String>) -> Table {
        Table {
            entries: Mutex::new(HashMap::new()),
            metrics,
            routes,
            mailboxes: mailboxes
                .into_iter()
                .map(|label| Mailbox {
                    label,
                    status: watch::Sender::new(Status::Connecting),
                })
                .collect(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u128, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a probe about to be sent (from now on a watcher may see it), dropping entries
    /// remembered long enough.
    pub fn register(
        &self,
        tag: u128,
        route: usize,
        probe: Arc<Probe>,
        timeout: Duration,
    ) -> Waiters {
        let (seen_tx, seen) = oneshot::channel();
        let (checked_tx, checked) = oneshot::channel();
        let now = Instant::now();
        let mut entries = self.lock();
        entries.retain(|_, e| e.forget_at > now);
        entries.insert(
            tag,
            Entry {
                route,
                state: State::Sending,
                forget_at: now + RETENTION_MIN.max(timeout * 10),
                probe,
                seen: Some(seen_tx),
                checked: Some(checked_tx),
            },
        );
        Waiters { seen, checked }
    }

    /// SMTP accepted the probe.
    pub fn accepted(&self, tag: u128) {
        if let Some(e) = self.lock().get_mut(&tag)
            && e.state == State::Sending
        {
            e.state = State::Waiting;
        }
    }

    /// The submission failed.
    pub fn failed(&self, tag: u128) {
        if let Some(e) = self.lock().get_mut(&tag)
            && matches!(e.state, State::Sending | State::Waiting)
        {
            e.state = State::Failed;
        }
    }

    /// The timeout passed: marks the probe lost unless a watcher saw it first (then the
    /// sighting is waiting in the channel). Returns whether it is lost.
    pub fn expire(&self, tag: u128) -> bool {
        match self.lock().get_mut(&tag) {
            Some(e) if matches!(e.state, State::Sending | State::Waiting) => {
                e.state = State::Lost;
                e.seen = None;
                e.checked = None;
                true
            }
            Some(_) => false,
            None => true,
        }
    }

    pub fn set_status(&self, mailbox: usize, status: Status) {
        if let Some(m) = self.mailboxes.get(mailbox) {
            m.status.send_replace(status);
        }
    }

    pub fn status(&self, mailbox: usize) -> Option<watch::Receiver<Status>> {
        self.mailboxes.get(mailbox).map(|m| m.status.subscribe())
    }

    fn route_name(&self, route: usize) -> &str {
        self.routes.get(route).map(String::as_str).unwrap_or("?")
    }

    /// Sets the watch gauge for a folder (and counts a drop).
    pub fn watch_state(&self, mailbox: usize, folder: &str, up: bool) {
        let Some(m) = self.mailboxes.get(mailbox) else {
            return;
        };
        let l = FolderLabels {
            mailbox: m.label.clone(),
            folder: folder.to_string(),
        };
        self.metrics.watch_up.get_or_create(&l).set(i64::from(up));
        if !up {
            self.metrics.watch_reconnects.get_or_create(&l).inc();
        }
    }
}

impl Tags for Table {
    fn matched(&self, hits: &[(u128, u32)], place: &Place, _by: crate::report::SeenBy) -> Vec<u32> {
        let junk = place.junk;
        let now = Instant::now();
        let mut ours = Vec::new();
        let mut late = Vec::new();
        {
            let mut entries = self.lock();
            for &(tag, uid) in hits {
                let Some(e) = entries.get_mut(&tag) else {
                    continue;
                };
                ours.push(uid);
                match e.state {
                    State::Sending | State::Waiting => {
                        e.state = State::Seen;
                        if let Some(tx) = e.seen.take() {
                            let _ = tx.send(Sighting { at: now, junk });
                        }
                    }
                    State::Lost => {
                        e.state = State::LateSeen;
                        late.push(e.route);
                    }
                    State::Seen | State::LateSeen | State::Failed => {}
                }
            }
        }
        for route in late {
            let name = self.route_name(route);
            tracing::warn!(
                route = name,
                "monitor: a probe arrived after its timeout (late)"
            );
            self.metrics.late.get_or_create(&Metrics::route(name)).inc();
        }
        ours
    }

    fn fetched(&self, tag: u128, raw: Option<&[u8]>, took: Duration) {
        let (probe, tx) = {
            let mut entries = self.lock();
            let Some(e) = entries.get_mut(&tag) else {
                return;
            };
            let Some(tx) = e.checked.take() else { return };
            (e.probe.clone(), tx)
        };
        let t = std::time::Instant::now();
        let (missing, problem) = match raw {
            None => (true, None),
            Some(raw) => {
                let v = verify::verify(raw, &probe);
                let changes = verify::changes(raw, &probe);
                let problem = match (&v.problem, changes.is_empty()) {
                    (Some(p), _) if !(v.tag_ok && v.message_id_ok) => Some(p.clone()),
                    (_, false) => Some(changes.join("; ")),
                    (p, true) => p.clone(),
                };
                (false, problem)
            }
        };
        let _ = tx.send(Checked {
            fetch: took,
            verify: t.elapsed(),
            missing,
            problem,
        });
    }

    fn cleaned(&self, tags: &[u128], took: Duration, result: Result<usize, String>) {
        let routes: Vec<usize> = {
            let mut entries = self.lock();
            tags.iter()
                .filter_map(|t| entries.remove(t).map(|e| e.route))
                .collect()
        };
        if let Err(e) = &result {
            tracing::warn!(error = %e, "monitor: cleanup failed");
        }
        for route in routes {
            let name = self.route_name(route);
            self.metrics
                .observe_phase(name, crate::report::Phase::Cleanup, took.as_secs_f64());
            if result.is_err() {
                self.metrics
                    .cleanup_failures
                    .get_or_create(&Metrics::route(name))
                    .inc();
            }
        }
    }

    fn connection(&self, target: usize, folder: &str, status: Result<(), &Failure>) {
        self.watch_state(target, folder, status.is_ok());
        if folder == "INBOX" {
            match status {
                Ok(()) => self.set_status(target, Status::Up),
                Err(f) => self.set_status(target, Status::Down(f.clone())),
            }
        }
    }
}
