//! [`Monitor`]: a long-running exporter. Each [`Route`] (a sender and a mailbox) is probed
//! every interval (±10 % jitter) over ONE kept SMTP connection per sender, while ONE IMAP
//! connection per watched folder (the shared `probe::watch` watcher: early polls after each
//! send, IDLE between) matches every outstanding probe; `/metrics` serves OpenMetrics text,
//! and `/probe?route=NAME` runs one probe during a scrape. Layout: `lifecycle` (start and
//! shutdown), `schedule` (the per-route scheduler and one probe's round trip), `table` (probes
//! by tag), `mailbox` (the watchers), `sender` (kept SMTP connections), `metrics`, `http`
//! (hyper), `blackbox` (`/probe`), `health` (`/readyz`), `certs` (the certificate-expiry
//! gauge), `sweeper` (stale probes).

mod blackbox;
mod certs;
mod health;
mod http;
mod lifecycle;
mod mailbox;
mod metrics;
mod schedule;
mod sender;
mod sweeper;
mod table;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::Account;
use crate::probe::Failure;
use crate::probe::watch::Kicker;
use crate::report::{Phase, Verdict};

pub use http::OPENMETRICS;
pub use metrics::BUCKETS;
use metrics::Metrics;
use sender::SmtpSlot;
use table::Table;

/// Default probe interval of a route.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// Default delivery timeout of a route.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// Default listen address (the port is in Prometheus's exporter port registry range).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9599";
/// How long in-flight probes get to finish at shutdown before they are abandoned.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(1000);
/// Longest wait between IMAP reconnects.
pub(crate) const RECONNECT_MAX: Duration = Duration::from_secs(60);
/// After a server refused a login, the first wait before logging in again (then doubling up
/// to an hour): providers lock accounts that keep trying a wrong password.
pub const DEFAULT_AUTH_HOLD: Duration = Duration::from_secs(300);
/// Default number of `/probe` probes of one route that may run at once.
pub const DEFAULT_PROBE_CONCURRENCY: usize = 1;

/// One monitored path: probes from `from` to `to`'s mailbox.
#[derive(Debug, Clone)]
pub struct Route {
    /// The `route` label of every series.
    pub name: String,
    /// The sending account.
    pub from: Account,
    /// The mailbox watched.
    pub to: Account,
    /// Time between probes.
    pub interval: Duration,
    /// How long a probe may take to arrive.
    pub timeout: Duration,
}

impl Route {
    /// A route probed every minute with a two-minute delivery timeout.
    pub fn new(name: impl Into<String>, from: Account, to: Account) -> Route {
        Route {
            name: name.into(),
            from,
            to,
            interval: DEFAULT_INTERVAL,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Time between probes (each one jittered by ±10 %).
    pub fn interval(mut self, d: Duration) -> Route {
        self.interval = d;
        self
    }

    /// How long a probe may take from SMTP acceptance to being seen; also caps each command.
    pub fn timeout(mut self, d: Duration) -> Route {
        self.timeout = d;
        self
    }

    fn step(&self) -> Duration {
        self.timeout
            .clamp(Duration::from_secs(1), Duration::from_secs(30))
    }
}

/// What one probe may spend: the delivery wait, the limit of each SMTP command, and for a
/// `/probe` scrape a deadline for the whole probe (the answer must beat Prometheus' timeout).
#[derive(Debug, Clone, Copy)]
struct Budget {
    timeout: Duration,
    step: Duration,
    deadline: Option<Instant>,
}

impl Budget {
    /// An interval probe: the route's timeout, no overall deadline.
    fn scheduled(route: &Route) -> Budget {
        Budget {
            timeout: route.timeout,
            step: route.step(),
            deadline: None,
        }
    }

    /// A probe that must end within `limit` (capped by the route's timeout).
    fn within(route: &Route, limit: Duration) -> Budget {
        let limit = limit.min(route.timeout);
        Budget {
            timeout: limit,
            step: route.step(),
            deadline: Some(Instant::now() + limit),
        }
    }

    /// `from + d`, but not past the deadline.
    fn until(&self, from: Instant, d: Duration) -> Instant {
        let t = from + d;
        self.deadline.map_or(t, |dl| t.min(dl))
    }

    /// Whether the deadline (if any) has passed.
    fn spent(&self) -> bool {
        self.deadline.is_some_and(|dl| Instant::now() >= dl)
    }
}

/// What one probe found: the verdict, the failure if any, and the phases it timed.
#[derive(Debug)]
struct Outcome {
    verdict: Verdict,
    failure: Option<Failure>,
    /// Seconds per phase, in the order the phases ended.
    phases: Vec<(Phase, f64)>,
    took: Duration,
}

/// Why a monitor could not start.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The settings make no sense (no routes, a duplicate name, ...).
    #[error("{0}")]
    Invalid(String),
}

/// The exporter, configured; [`Monitor::start`] runs it in the background.
///
/// ```no_run
/// use std::time::Duration;
/// use mailtrip::monitor::{Monitor, Route};
/// use mailtrip::server::{ServerConfig, TestServer};
/// use mailtrip::Account;
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let server = TestServer::start(
///     ServerConfig::default().with_user("a@test.local", "pw").with_user("b@test.local", "pw"),
/// ).await?;
/// let route = Route::new(
///     "a-to-b",
///     Account::embedded(&server, "a@test.local", "pw"),
///     Account::embedded(&server, "b@test.local", "pw"),
/// )
/// .interval(Duration::from_secs(1))
/// .timeout(Duration::from_secs(5));
/// let monitor = Monitor::new(vec![route])
///     .listen("127.0.0.1:0".parse()?)
///     .start()
///     .await?;
/// println!("scrape http://{}/metrics", monitor.local_addr());
/// monitor.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Monitor {
    routes: Vec<Route>,
    listen: SocketAddr,
    sweep: bool,
    run_id: Option<String>,
    auth_hold: Duration,
    interval_probes: bool,
    probe_concurrency: usize,
}

/// Everything the background tasks share.
struct Ctx {
    routes: Vec<Route>,
    route_mailbox: Vec<usize>,
    route_sender: Vec<usize>,
    senders: Vec<SmtpSlot>,
    table: Arc<Table>,
    metrics: Arc<Metrics>,
    run_id: String,
    auth_hold: Duration,
    /// Per route: the `/probe` probes allowed to run at once.
    probe_slots: Vec<Arc<Semaphore>>,
    probe_concurrency: usize,
    /// Per route: the last finished probe, for `/readyz`.
    last: health::Outcomes,
    /// Per watched mailbox: tells its watchers a probe was accepted (they look early).
    kickers: Vec<Kicker>,
}

/// A running monitor: where it listens, its metrics, and how to stop it.
pub struct MonitorHandle {
    addr: SocketAddr,
    ctx: Arc<Ctx>,
    stop_probes: watch::Sender<bool>,
    stop_watch: watch::Sender<bool>,
    stop_rest: watch::Sender<bool>,
    schedulers: Vec<JoinHandle<()>>,
    watchers: Vec<JoinHandle<()>>,
    rest: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for MonitorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitorHandle")
            .field("addr", &self.addr)
            .field("routes", &self.ctx.routes.len())
            .finish_non_exhaustive()
    }
}
