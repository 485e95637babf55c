//! Many probes at once: [`Load`] sends N tagged probes over a small pool of SMTP connections
//! while ONE IMAP connection per watched folder matches every outstanding tag at once, and
//! returns a [`LoadReport`] with throughput, latency percentiles, loss, duplicates and spam.
//!
//! Layout: `builder` (the [`Load`] settings), `run` (the run's orchestration: watches, SMTP
//! workers, dispatch, stop, cleanup), `send` (SMTP workers, several messages per connection),
//! `watch` (one `probe::watch` watcher per folder matching every tag, kicked by each accepted
//! probe; bulk cleanup), the shared state here and its accounting in `tally` (tags → probes,
//! histogram, deadlines, the reaper, the report's figures), `report` (plain data).

mod builder;
mod report;
mod run;
mod send;
mod tally;
pub mod timeline;
pub(crate) mod watch;

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::sync::{Notify, OwnedSemaphorePermit};
use tokio::time::Instant;

use crate::config::Account;
use crate::diagnose::{Code, Diagnosis};
use crate::probe::hook::Hook;
use crate::probe::watch::Kicker;
use crate::report::Phase;

pub use report::{
    Cleanup, FailureCount, Harness, LOAD_SCHEMA, Latency, LoadProgress, LoadReport, SeenByCounts,
    Settings,
};
pub use timeline::Timeline;

type ProgressFn = Hook<dyn Fn(&LoadProgress) + Send + Sync>;
type DeliveredFn = Hook<dyn Fn(&Delivered) + Send + Sync>;

/// A probe the watcher just matched (for [`Load::on_delivered`]).
#[derive(Debug, Clone)]
pub struct Delivered {
    /// The probe's tag (`X-Mailtrip-Probe`, a UUID v7).
    pub tag: String,
    /// Index into the target accounts.
    pub target: usize,
    /// The folder it was found in.
    pub folder: String,
    /// Its UID there.
    pub uid: u32,
    /// When the watcher matched it.
    pub at: std::time::Instant,
    /// The first sighting (not a duplicate copy).
    pub first: bool,
}

/// Why a load run could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A server is not on loopback and `i_own_this_account` was not given.
    #[error(
        "refusing to load {host}: it is not on loopback, and providers throttle and may lock \
         accounts that send many messages; pass --i-own-this-account if you own the account and \
         the server"
    )]
    NotLoopback {
        /// The host that is not on loopback.
        host: String,
    },
    /// The settings make no sense (zero probes, zero concurrency, no target).
    #[error("{0}")]
    Invalid(String),
    /// Setting up a watch or the first SMTP connection failed.
    #[error("{phase}: {}", diagnosis.summary)]
    Setup {
        /// The phase that failed.
        phase: Phase,
        /// What the failure was.
        diagnosis: Diagnosis,
    },
}

impl LoadError {
    /// A refusal or bad settings (the caller's to fix), rather than a server problem.
    pub fn is_usage(&self) -> bool {
        matches!(self, LoadError::NotLoopback { .. } | LoadError::Invalid(_))
    }
}

/// A load run: many probes from one account to one or more target mailboxes.
///
/// ```no_run
/// use mailtrip::server::{ServerConfig, TestServer};
/// use mailtrip::{Account, Load};
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let server = TestServer::start(
///     ServerConfig::default().with_user("a@test.local", "pw").with_user("b@test.local", "pw"),
/// ).await?;
/// let report = Load::new(
///     Account::embedded(&server, "a@test.local", "pw"),
///     vec![Account::embedded(&server, "b@test.local", "pw")],
/// )
/// .probes(200)
/// .concurrency(16)
/// .run()
/// .await?;
/// assert_eq!(report.lost, 0);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Load {
    from: Account,
    targets: Vec<Account>,
    probes: Option<u64>,
    concurrency: usize,
    smtp_connections: Option<usize>,
    rate: Option<f64>,
    duration: Option<Duration>,
    timeout: Duration,
    keep: bool,
    i_own_this_account: bool,
    force_poll: bool,
    timeline: bool,
    run_id: Option<String>,
    progress: Option<ProgressFn>,
    delivered: Option<DeliveredFn>,
}

/// One probe to send, holding its place in the in-flight window.
struct Job {
    index: u64,
    permit: OwnedSemaphorePermit,
}

/// A probe the SMTP server has its body for.
struct ProbeState {
    target: usize,
    sent_at: Instant,
    /// SMTP accepted it (250 after DATA).
    accepted: bool,
    copies: u32,
    lost: bool,
    /// SMTP refused it or the connection failed (kept so a copy that lands anyway is cleaned).
    failed: bool,
    /// The in-flight slot, released when the probe is seen, lost, or refused.
    permit: Option<OwnedSemaphorePermit>,
}

/// Everything the senders, watchers and the reaper share, behind one short-held lock.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Poked when a probe is resolved, so the reaper notices the end at once.
    changed: Notify,
    delivered_hook: Option<DeliveredFn>,
    /// Per target: tells its watchers a probe was accepted (they look early).
    kickers: Vec<Kicker>,
}

struct State {
    /// By tag (a UUID v7 as u128: 16 bytes instead of a 36-byte string).
    probes: HashMap<u128, ProbeState>,
    /// Deadlines in send order (the timeout is the same for all, so this is sorted).
    deadlines: VecDeque<(Instant, u128)>,
    histogram: Histogram<u64>,
    attempted: u64,
    sent: u64,
    delivered: u64,
    lost: u64,
    late: u64,
    duplicated: u64,
    misplaced: u64,
    send_failed: u64,
    failures: HashMap<Code, (u64, String)>,
    sending_done: bool,
    rss_samples: Vec<(u64, f64)>,
    /// First sightings by what made the watcher look.
    seen_by: SeenByCounts,
    /// Recorded when [`Load::timeline`] asked for it.
    timeline: Option<timeline::Recorder>,
}
