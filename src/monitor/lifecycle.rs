//! A [`Monitor`]'s life: its settings, then [`Monitor::start`] (one watcher per mailbox, one
//! scheduler per route, the HTTP server, certificate checks, the sweeper) and
//! [`MonitorHandle::shutdown`], which stops them in that order within about two seconds.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

use super::metrics::Metrics;
use super::schedule::schedule;
use super::sender::SmtpSlot;
use super::sweeper::sweeper;
use super::table::Table;
use super::{
    Ctx, DEFAULT_AUTH_HOLD, DEFAULT_PROBE_CONCURRENCY, Monitor, MonitorError, MonitorHandle, Route,
    SHUTDOWN_GRACE, certs, health, http, mailbox,
};
use crate::config::Account;
use crate::probe::watch::Kicker;

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

    setters! { Monitor;
        /// Whether to probe each route every interval (default). Off, routes are probed only when
        /// `/probe?route=NAME` is scraped, so Prometheus schedules the probes (blackbox-style).
        interval_probes(yes: bool);
    }

    /// How many `/probe` probes of one route may run at once (default 1); a scrape beyond
    /// that is answered 429 at once instead of sending another probe.
    pub fn probe_concurrency(mut self, n: usize) -> Monitor {
        self.probe_concurrency = n.max(1);
        self
    }

    setters! { Monitor;
        /// How long to wait before logging in again after a server refused the credentials
        /// (default 5 min, doubling up to an hour while it keeps refusing).
        auth_hold(hold: Duration);

        /// Where `/metrics`, `/probe`, `/readyz` and `/healthz` are served (port 0: any free port).
        listen(addr: SocketAddr);

        /// Whether to delete this sender's stale probes (older than the route's timeout) at start
        /// and hourly; on by default.
        sweep(yes: bool);
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
            route_mailbox.push(index_or_push(&mut mailboxes, &r.to, |a| {
                a.same_mailbox(&r.to)
            }));
            route_sender.push(index_or_push(&mut senders, &r.from, |a| {
                a.smtp == r.from.smtp && a.user == r.from.user
            }));
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

/// The index of the first account in `list` that `same` holds for; `new` is pushed (and its
/// index returned) when none does.
fn index_or_push(list: &mut Vec<Account>, new: &Account, same: impl Fn(&Account) -> bool) -> usize {
    list.iter().position(same).unwrap_or_else(|| {
        list.push(new.clone());
        list.len() - 1
    })
}
