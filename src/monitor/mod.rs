//! [`Monitor`]: a long-running exporter. Each [`Route`] (a sender and a mailbox) is probed
//! every interval (±10 % jitter) over ONE kept SMTP connection per sender, while ONE IMAP
//! connection per watched folder (the shared `probe::watch` watcher: early polls after each
//! send, IDLE between) matches every outstanding probe; `/metrics` serves OpenMetrics text,
//! and `/probe?route=NAME` runs one probe during a scrape. Layout: `table` (probes by tag),
//! `mailbox` (the watchers), `sender` (kept SMTP connections), `metrics`, `http` (hyper),
//! `blackbox` (`/probe`), `health` (`/readyz`), `certs` (the certificate-expiry gauge).

mod blackbox;
mod certs;
mod health;
mod http;
mod mailbox;
mod metrics;
mod sender;
mod table;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::config::Account;
use crate::diagnose::{self, Code, Diagnosis, Protocol};
use crate::probe::watch::Kicker;
use crate::probe::{Failure, Recorder, Sweep, message};
use crate::report::{Phase, Verdict};

pub use http::OPENMETRICS;
pub use metrics::BUCKETS;
use metrics::Metrics;
use sender::SmtpSlot;
use table::{Status, Table};

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
/// How often the stale-probe sweep runs after the one at start.
const SWEEP_EVERY: Duration = Duration::from_secs(3600);
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

impl Monitor {
    /// A monitor of `routes`, listening on 127.0.0.1:9599 unless told otherwise.
    pub fn new(routes: Vec<Route>) -> Monitor {
        Monitor {
            routes,
            listen: SocketAddr::from(([127, 0, 0, 1], 9599)),
            sweep: true,
            run_id: None,
            auth_hold: DEFAULT_AUTH_HOLD,
            interval_probes: true,
            probe_concurrency: DEFAULT_PROBE_CONCURRENCY,
        }
    }

    /// Whether to probe each route every interval (default). Off, routes are probed only when
    /// `/probe?route=NAME` is scraped, so Prometheus schedules the probes (blackbox-style).
    pub fn interval_probes(mut self, yes: bool) -> Monitor {
        self.interval_probes = yes;
        self
    }

    /// How many `/probe` probes of one route may run at once (default 1); a scrape beyond
    /// that is answered 429 at once instead of sending another probe.
    pub fn probe_concurrency(mut self, n: usize) -> Monitor {
        self.probe_concurrency = n.max(1);
        self
    }

    /// How long to wait before logging in again after a server refused the credentials
    /// (default 5 min, doubling up to an hour while it keeps refusing).
    pub fn auth_hold(mut self, hold: Duration) -> Monitor {
        self.auth_hold = hold;
        self
    }

    /// Where `/metrics`, `/probe`, `/readyz` and `/healthz` are served (port 0: any free port).
    pub fn listen(mut self, addr: SocketAddr) -> Monitor {
        self.listen = addr;
        self
    }

    /// Whether to delete this sender's stale probes (older than the route's timeout) at start
    /// and hourly; on by default.
    pub fn sweep(mut self, yes: bool) -> Monitor {
        self.sweep = yes;
        self
    }

    /// Sets the run id written to each probe's `X-Mailtrip-Run` (default: a fresh UUID v7).
    pub fn run_id(mut self, id: impl Into<String>) -> Monitor {
        self.run_id = Some(id.into());
        self
    }

    fn validate(&self) -> Result<(), MonitorError> {
        if self.routes.is_empty() {
            return Err(MonitorError::Invalid("no route to monitor".into()));
        }
        for (i, r) in self.routes.iter().enumerate() {
            if r.name.is_empty() {
                return Err(MonitorError::Invalid(format!(
                    "route {} has no name",
                    i + 1
                )));
            }
            if self.routes[..i].iter().any(|o| o.name == r.name) {
                return Err(MonitorError::Invalid(format!(
                    "two routes are named {:?}; give each its own name",
                    r.name
                )));
            }
            if r.interval.is_zero() || r.timeout.is_zero() {
                return Err(MonitorError::Invalid(format!(
                    "route {:?}: interval and timeout must be positive",
                    r.name
                )));
            }
        }
        Ok(())
    }

    /// Binds the listener and starts probing, watching and serving in the background.
    pub async fn start(self) -> Result<MonitorHandle, MonitorError> {
        self.validate()?;
        let listener =
            TcpListener::bind(self.listen)
                .await
                .map_err(|source| MonitorError::Bind {
                    addr: self.listen,
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| MonitorError::Bind {
            addr: self.listen,
            source,
        })?;

        // One watched mailbox per (IMAP server, login); one sender per (SMTP server, login).
        let mut mailboxes: Vec<Account> = Vec::new();
        let mut senders: Vec<Account> = Vec::new();
        let mut route_mailbox = Vec::new();
        let mut route_sender = Vec::new();
        for r in &self.routes {
            let same_box = |a: &Account| a.imap == r.to.imap && a.user == r.to.user;
            let m = match mailboxes.iter().position(same_box) {
                Some(m) => m,
                None => {
                    mailboxes.push(r.to.clone());
                    mailboxes.len() - 1
                }
            };
            route_mailbox.push(m);
            let same_sender = |a: &Account| a.smtp == r.from.smtp && a.user == r.from.user;
            let s = match senders.iter().position(same_sender) {
                Some(s) => s,
                None => {
                    senders.push(r.from.clone());
                    senders.len() - 1
                }
            };
            route_sender.push(s);
        }
        for s in &senders {
            crate::probe::smtp::prewarm(s);
        }
        let metrics = Arc::new(Metrics::new(&self.routes));
        let table = Arc::new(Table::new(
            metrics.clone(),
            self.routes.iter().map(|r| r.name.clone()).collect(),
            mailboxes.iter().map(|m| m.address.clone()).collect(),
        ));
        let ctx = Arc::new(Ctx {
            routes: self.routes.clone(),
            route_mailbox,
            route_sender,
            senders: senders
                .into_iter()
                .map(|a| SmtpSlot::new(a, self.auth_hold))
                .collect(),
            table,
            metrics: metrics.clone(),
            run_id: self
                .run_id
                .clone()
                .unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
            auth_hold: self.auth_hold,
            probe_slots: self
                .routes
                .iter()
                .map(|_| Arc::new(Semaphore::new(self.probe_concurrency)))
                .collect(),
            probe_concurrency: self.probe_concurrency,
            last: health::Outcomes::new(self.routes.len()),
            kickers: mailboxes.iter().map(|_| Kicker::default()).collect(),
        });

        let (stop_probes, probes_rx) = watch::channel(false);
        let (stop_watch, watch_rx) = watch::channel(false);
        let (stop_rest, rest_rx) = watch::channel(false);
        let rest = vec![
            tokio::spawn(http::serve(listener, ctx.clone(), rest_rx.clone())),
            tokio::spawn(certs::refresh(
                ctx.clone(),
                mailboxes.clone(),
                rest_rx.clone(),
            )),
            tokio::spawn(sweeper(ctx.clone(), mailboxes.clone(), self.sweep, rest_rx)),
        ];
        let watchers = mailboxes
            .into_iter()
            .enumerate()
            .map(|(m, account)| {
                tokio::spawn(mailbox::watch_mailbox(
                    ctx.clone(),
                    m,
                    account,
                    watch_rx.clone(),
                ))
            })
            .collect();
        let schedulers = (0..ctx.routes.len())
            .filter(|_| self.interval_probes)
            .map(|r| tokio::spawn(schedule(ctx.clone(), r, probes_rx.clone())))
            .collect();
        Ok(MonitorHandle {
            addr,
            ctx,
            stop_probes,
            stop_watch,
            stop_rest,
            schedulers,
            watchers,
            rest,
        })
    }
}

impl MonitorHandle {
    /// The address `/metrics` is served on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The metrics as `/metrics` would serve them right now.
    pub fn metrics_text(&self) -> String {
        self.ctx.metrics.encode()
    }

    /// Stops: no new probes; in-flight ones get about a second to arrive (and be deleted),
    /// then are abandoned (the next start's sweep deletes them); the watchers scan and clean
    /// once more and log out; SMTP says QUIT; the HTTP server stops. Takes about two seconds
    /// at most.
    pub async fn shutdown(mut self) {
        let _ = self.stop_probes.send(true);
        join_within(
            &mut self.schedulers,
            SHUTDOWN_GRACE + Duration::from_millis(300),
        )
        .await;
        let _ = self.stop_watch.send(true);
        let quit = futures::future::join_all(self.ctx.senders.iter().map(|s| s.close()));
        let _ = tokio::time::timeout(Duration::from_millis(500), quit).await;
        join_within(&mut self.watchers, Duration::from_millis(700)).await;
        let _ = self.stop_rest.send(true);
        join_within(&mut self.rest, Duration::from_millis(300)).await;
    }
}

impl Drop for MonitorHandle {
    fn drop(&mut self) {
        // Dropped without shutdown(): the tasks end on their own.
        let _ = self.stop_probes.send(true);
        let _ = self.stop_watch.send(true);
        let _ = self.stop_rest.send(true);
    }
}

/// Waits for `tasks` until `limit`, then aborts what is left.
async fn join_within(tasks: &mut Vec<JoinHandle<()>>, limit: Duration) {
    let all = futures::future::join_all(tasks.iter_mut());
    if tokio::time::timeout(limit, all).await.is_err() {
        for t in tasks.iter() {
            t.abort();
        }
    }
    tasks.clear();
}

/// Starts a probe for route `r` every interval (jittered) until `stop`; then gives the ones
/// in flight a grace period.
async fn schedule(ctx: Arc<Ctx>, r: usize, mut stop: watch::Receiver<bool>) {
    let interval = ctx.routes[r].interval;
    let mut probes = JoinSet::new();
    // The first probe soon, but not every route at the same instant.
    let mut wait = interval.mul_f64(rand::rng().random_range(0.0..0.1));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => break,
        }
        while probes.try_join_next().is_some() {}
        let budget = Budget::scheduled(&ctx.routes[r]);
        probes.spawn(probe(ctx.clone(), r, budget));
        wait = interval.mul_f64(rand::rng().random_range(0.9..1.1));
    }
    let finish = async { while probes.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, finish).await.is_err() {
        tracing::info!(
            route = ctx.routes[r].name,
            left = probes.len(),
            "monitor: abandoning probes in flight at shutdown (the next start sweeps them)"
        );
        probes.abort_all();
    }
}

/// One probe of route `r`, with its outcome counted and remembered for `/readyz`.
async fn probe(ctx: Arc<Ctx>, r: usize, budget: Budget) -> Outcome {
    let name = ctx.routes[r].name.as_str();
    let m = &ctx.metrics;
    let label = Metrics::route(name);
    m.in_flight.get_or_create(&label).inc();
    // Decrement even when the task is aborted at shutdown.
    struct InFlight<'a>(&'a Metrics, &'a metrics::RouteLabel);
    impl Drop for InFlight<'_> {
        fn drop(&mut self) {
            self.0.in_flight.get_or_create(self.1).dec();
        }
    }
    let _guard = InFlight(m, &label);
    let started = Instant::now();
    let mut phases = Vec::new();
    let (verdict, failure) = match round_trip(&ctx, r, budget, &mut phases).await {
        Ok(verdict) => {
            tracing::debug!(
                route = name,
                verdict = verdict.as_str(),
                "monitor: probe done"
            );
            (verdict, None)
        }
        Err((verdict, f)) => {
            tracing::warn!(
                route = name,
                phase = f.phase.as_str(),
                code = f.diagnosis.code.as_str(),
                "monitor: probe failed: {}",
                f.diagnosis.summary
            );
            m.failure(name, f.phase, f.diagnosis.code);
            (verdict, Some(f))
        }
    };
    m.verdict(name, verdict);
    ctx.last.record(r, verdict, failure.as_ref());
    Outcome {
        verdict,
        failure,
        phases,
        took: started.elapsed(),
    }
}

/// Sends one probe and waits for the watcher to see, fetch and verify it, within `budget`;
/// each phase's time goes to the route's histograms and to `phases`.
async fn round_trip(
    ctx: &Arc<Ctx>,
    r: usize,
    budget: Budget,
    phases: &mut Vec<(Phase, f64)>,
) -> Result<Verdict, (Verdict, Failure)> {
    let route = &ctx.routes[r];
    let name = route.name.as_str();
    let m = &ctx.metrics;
    let mut observe = |phase: Phase, secs: f64| {
        m.observe_phase(name, phase, secs);
        phases.push((phase, secs));
    };
    let mailbox = ctx.route_mailbox[r];
    let step = budget.step;
    let out_of_time = |phase: Phase, protocol: Protocol, endpoint: String, what: &str| Failure {
        phase,
        diagnosis: diagnose::transport(
            Code::Timeout,
            protocol,
            &endpoint,
            &format!(
                "{what} within the probe's {:.1} s (the scrape timeout, or the route's)",
                budget.timeout.as_secs_f64()
            ),
        ),
    };

    // 1. The watch must be up, or the probe could arrive unseen. While it is still
    // connecting, wait; when it is down, the probe fails in the watch's phase at once.
    if let Some(mut status) = ctx.table.status(mailbox) {
        let settled = status.wait_for(|s| !matches!(s, Status::Connecting));
        let _ =
            tokio::time::timeout_at(budget.until(Instant::now(), budget.timeout), settled).await;
        let up = matches!(&*status.borrow(), Status::Up);
        if !up {
            let f = match &*status.borrow() {
                Status::Down(f) => f.clone(),
                _ => Failure {
                    phase: Phase::ImapConnect,
                    diagnosis: diagnose::transport(
                        Code::Timeout,
                        Protocol::Imap,
                        &route.to.imap.authority(),
                        &format!(
                            "the IMAP watch was not connected within {:.1} s",
                            budget.timeout.as_secs_f64()
                        ),
                    ),
                },
            };
            let verdict = if crate::probe::login_refused(&f) {
                Verdict::AuthFailed
            } else {
                Verdict::Error
            };
            return Err((verdict, f));
        }
    }

    // 2. Build, register, send.
    let uuid = uuid::Uuid::now_v7();
    let tag = uuid.as_u128();
    let probe = message::build_with(
        &route.from.address,
        &route.to.address,
        &uuid.to_string(),
        &ctx.run_id,
        message::Payload::Plain,
        Some(budget.timeout),
        &[],
    )
    .map_err(|e| {
        let d = Diagnosis {
            code: Code::SenderRejected,
            summary: e.to_string(),
            hint: "check the route's from/to addresses".into(),
            link: None,
            server_text: None,
        };
        (
            Verdict::Error,
            Failure {
                phase: Phase::SmtpSubmit,
                diagnosis: d,
            },
        )
    })?;
    let probe = Arc::new(probe);
    let waiters = ctx.table.register(tag, r, probe.clone(), budget.timeout);
    let started = Instant::now();
    // The submission runs as its own task: a scrape's deadline must not cut a kept SMTP
    // connection off mid-command. It marks the probe accepted or failed itself.
    let submit = {
        let ctx = ctx.clone();
        let slot = ctx.route_sender[r];
        tokio::spawn(async move {
            let mut rec = Recorder::new(None);
            let sent = ctx.senders[slot].submit(&mut rec, &probe, step).await;
            match &sent {
                Ok(_) => {
                    ctx.table.accepted(tag);
                    ctx.kickers[mailbox].kick();
                }
                Err(_) => ctx.table.failed(tag),
            }
            (rec.into_phases(), sent)
        })
    };
    let joined = match budget.deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, submit).await,
        None => Ok(submit.await),
    };
    let (rec_phases, sent) = match joined {
        Ok(Ok(done)) => done,
        Ok(Err(join)) => {
            ctx.table.expire(tag);
            let f = Failure {
                phase: Phase::SmtpSubmit,
                diagnosis: diagnose::transport(
                    Code::ServerError,
                    Protocol::Smtp,
                    &route.from.smtp.authority(),
                    &format!("the submission task ended abnormally: {join}"),
                ),
            };
            return Err((Verdict::Error, f));
        }
        Err(_) => {
            // Still sending: a copy that lands later is counted late and deleted.
            ctx.table.expire(tag);
            let f = out_of_time(
                Phase::SmtpSubmit,
                Protocol::Smtp,
                route.from.smtp.authority(),
                "the SMTP submission did not finish",
            );
            return Err((Verdict::Error, f));
        }
    };
    for p in rec_phases.iter().filter(|p| p.ok) {
        observe(p.name, p.ms / 1000.0);
    }
    if let Err(f) = sent {
        let verdict = if crate::probe::login_refused(&f) {
            Verdict::AuthFailed
        } else {
            Verdict::SendFailed
        };
        return Err((verdict, f));
    }
    let accepted = Instant::now();

    // 3. Wait for a watcher to see it.
    let mut seen_rx = waiters.seen;
    let wait_until = budget.until(accepted, budget.timeout);
    let seen = match tokio::time::timeout_at(wait_until, &mut seen_rx).await {
        Ok(Ok(s)) => Some(s),
        Ok(Err(_)) => None,
        Err(_) if ctx.table.expire(tag) => None,
        Err(_) => seen_rx.await.ok(),
    };
    let Some(seen) = seen else {
        ctx.table.expire(tag);
        let waited = wait_until.saturating_duration_since(accepted);
        let d = Diagnosis {
            code: Code::Timeout,
            summary: format!(
                "the probe did not arrive in {}'s INBOX or spam folder within {:.1} s of being \
                 accepted",
                route.to.address,
                waited.as_secs_f64()
            ),
            hint: "delivery is slow or the message was dropped; if it arrives later it is \
                   counted in mailtrip_monitor_late_arrivals_total"
                .into(),
            link: None,
            server_text: None,
        };
        return Err((
            Verdict::NotDelivered,
            Failure {
                phase: Phase::Delivery,
                diagnosis: d,
            },
        ));
    };
    let delivery = seen.at.saturating_duration_since(accepted);
    observe(Phase::Delivery, delivery.as_secs_f64());
    m.round_trip
        .get_or_create(&Metrics::route(name))
        .observe(seen.at.saturating_duration_since(started).as_secs_f64());

    // 4. The watcher fetches and verifies it, then deletes it.
    let fetch_limit = step.max(Duration::from_secs(5)) * 2;
    let fetched =
        tokio::time::timeout_at(budget.until(Instant::now(), fetch_limit), waiters.checked).await;
    let checked = match fetched {
        Ok(Ok(c)) => c,
        Err(_) if budget.spent() => {
            let f = out_of_time(
                Phase::Fetch,
                Protocol::Imap,
                route.to.imap.authority(),
                "the probe arrived but was not fetched and verified",
            );
            return Err((Verdict::Error, f));
        }
        _ => {
            return Err((
                Verdict::Error,
                Failure {
                    phase: Phase::Fetch,
                    diagnosis: diagnose::transport(
                        Code::ServerError,
                        Protocol::Imap,
                        &route.to.imap.authority(),
                        "the probe was seen but could not be fetched (the watch connection \
                         dropped)",
                    ),
                },
            ));
        }
    };
    observe(Phase::Fetch, checked.fetch.as_secs_f64());
    if checked.missing {
        return Err((
            Verdict::Error,
            Failure {
                phase: Phase::Fetch,
                diagnosis: diagnose::transport(
                    Code::ServerError,
                    Protocol::Imap,
                    &route.to.imap.authority(),
                    "the server returned no body for the probe's UID",
                ),
            },
        ));
    }
    observe(Phase::Verify, checked.verify.as_secs_f64());
    if let Some(problem) = checked.problem {
        return Err((
            Verdict::ContentMismatch,
            Failure {
                phase: Phase::Verify,
                diagnosis: Diagnosis {
                    code: Code::MessageRejected,
                    summary: format!("the probe arrived changed: {problem}"),
                    hint: "something between sender and mailbox rewrites messages (a footer, \
                           disclaimer or re-encoding); check gateways and list settings"
                        .into(),
                    link: None,
                    server_text: None,
                },
            },
        ));
    }
    Ok(if seen.junk {
        Verdict::DeliveredToSpam
    } else {
        Verdict::Delivered
    })
}

/// Deletes this sender's stale probes (older than the route's timeout) from each watched
/// mailbox at start and every hour, until `stop`.
async fn sweeper(
    ctx: Arc<Ctx>,
    mailboxes: Vec<Account>,
    enabled: bool,
    mut stop: watch::Receiver<bool>,
) {
    if !enabled {
        return;
    }
    // (mailbox, sender address, oldest timeout) without repeats. A route to another mailbox
    // also sweeps the sender's own, where its server may file a Sent copy of every probe
    // (Gmail does).
    let mut jobs: Vec<(Account, String, Duration)> = Vec::new();
    for (r, route) in ctx.routes.iter().enumerate() {
        for mailbox in [&mailboxes[ctx.route_mailbox[r]], &route.from] {
            let same = |(a, s, _): &&mut (Account, String, Duration)| {
                a.imap == mailbox.imap
                    && a.user == mailbox.user
                    && s.eq_ignore_ascii_case(&route.from.address)
            };
            match jobs.iter_mut().find(same) {
                Some(job) => job.2 = job.2.max(route.timeout),
                None => jobs.push((mailbox.clone(), route.from.address.clone(), route.timeout)),
            }
        }
    }
    loop {
        for (mailbox, sender, older_than) in &jobs {
            let sweep = Sweep::new(mailbox.clone())
                .sender(sender.clone())
                .older_than(*older_than);
            let run = async {
                let listed = sweep.list().await?;
                if listed.found.is_empty() {
                    return Ok(0);
                }
                sweep.delete(&listed).await.map(|r| r.deleted)
            };
            let done = tokio::select! {
                r = run => r,
                _ = stop.changed() => return,
            };
            match done {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(mailbox = mailbox.address, n, "monitor: swept stale probes");
                    ctx.metrics
                        .swept
                        .get_or_create(&metrics::MailboxLabel {
                            mailbox: mailbox.address.clone(),
                        })
                        .inc_by(n as u64);
                }
                Err(d) => tracing::warn!(
                    mailbox = mailbox.address,
                    "monitor: sweeping stale probes failed: {}",
                    d.summary
                ),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(SWEEP_EVERY) => {}
            _ = stop.changed() => return,
        }
    }
}
