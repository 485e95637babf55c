//! Many probes at once: [`Load`] sends N tagged probes over a small pool of SMTP connections
//! while ONE IMAP connection per watched folder matches every outstanding tag at once, and
//! returns a [`LoadReport`] with throughput, latency percentiles, loss, duplicates and spam.
//!
//! Layout: `send` (SMTP workers, several messages per connection), `watch` (one
//! `probe::watch` watcher per folder matching every tag, kicked by each accepted probe; bulk
//! cleanup), `state` here (tags → probes, histogram, deadlines), `report` (plain data).

mod report;
mod send;
pub mod timeline;
pub(crate) mod watch;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, watch as signal};
use tokio::time::Instant;

use crate::config::Account;
use crate::diagnose::{Code, Diagnosis};
use crate::probe::imap;
use crate::probe::watch::{Kicker, Until};
use crate::report::Phase;

pub use report::{
    Cleanup, FailureCount, Harness, LOAD_SCHEMA, Latency, LoadProgress, LoadReport, SeenByCounts,
    Settings,
};
pub use timeline::Timeline;

/// Default per-probe delivery deadline.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Rate used for a provider preset when no `min_probe_interval_secs` is known.
const CONSERVATIVE_INTERVAL_SECS: u32 = 60;
/// Most lost tags listed in the report.
const LOST_LISTED: usize = 100;
/// Probe counts at which RSS is sampled.
const RSS_MILESTONES: &[u64] = &[100, 1_000, 5_000, 10_000, 50_000, 100_000, 1_000_000];

type ProgressFn = Arc<dyn Fn(&LoadProgress) + Send + Sync>;
type DeliveredFn = Arc<dyn Fn(&Delivered) + Send + Sync>;

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
#[derive(Clone)]
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

impl fmt::Debug for Load {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Load")
            .field("from", &self.from)
            .field("targets", &self.targets)
            .field("probes", &self.probes)
            .field("concurrency", &self.concurrency)
            .field("rate", &self.rate)
            .field("duration", &self.duration)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Load {
    /// 100 probes from `from`, spread round-robin over `targets`, 8 in flight.
    pub fn new(from: Account, targets: Vec<Account>) -> Load {
        Load {
            from,
            targets,
            probes: Some(100),
            concurrency: 8,
            smtp_connections: None,
            rate: None,
            duration: None,
            timeout: DEFAULT_TIMEOUT,
            keep: false,
            i_own_this_account: false,
            force_poll: false,
            timeline: false,
            run_id: None,
            progress: None,
            delivered: None,
        }
    }

    /// How many probes to send (`None`: until [`Load::duration`] ends).
    pub fn probes(mut self, n: impl Into<Option<u64>>) -> Load {
        self.probes = n.into();
        self
    }

    /// Most probes in flight (sent, not yet seen or timed out) at once.
    pub fn concurrency(mut self, c: usize) -> Load {
        self.concurrency = c;
        self
    }

    /// SMTP connections to send over (default: `min(concurrency, 4)`).
    pub fn smtp_connections(mut self, n: usize) -> Load {
        self.smtp_connections = Some(n);
        self
    }

    /// Send at most this many probes per second. Defaults to the provider preset's pace when
    /// an account uses one, else unlimited.
    pub fn rate(mut self, per_sec: f64) -> Load {
        self.rate = Some(per_sec);
        self
    }

    /// Stop sending new probes after this long.
    pub fn duration(mut self, d: Duration) -> Load {
        self.duration = Some(d);
        self
    }

    /// Per-probe delivery deadline, counted from its send (default 30 s); also caps each
    /// connect and command wait.
    pub fn timeout(mut self, t: Duration) -> Load {
        self.timeout = t;
        self
    }

    /// Leave the probes in the mailboxes.
    pub fn keep(mut self, keep: bool) -> Load {
        self.keep = keep;
        self
    }

    /// Allow servers that are not on loopback.
    pub fn i_own_this_account(mut self, yes: bool) -> Load {
        self.i_own_this_account = yes;
        self
    }

    /// Poll with UID FETCH instead of IDLE even when the server offers IDLE (benchmarks).
    #[doc(hidden)]
    pub fn force_poll(mut self, yes: bool) -> Load {
        self.force_poll = yes;
        self
    }

    /// Records what happened over time (sends, arrivals, losses per second; each probe's
    /// latency) into [`LoadReport::timeline`], for `--html`.
    pub fn timeline(mut self, yes: bool) -> Load {
        self.timeline = yes;
        self
    }

    /// Sets the run id written to `X-Mailtrip-Run` (default: a fresh UUID v7).
    pub fn run_id(mut self, run_id: impl Into<String>) -> Load {
        self.run_id = Some(run_id.into());
        self
    }

    /// Called about five times a second with counts so far (for a progress line).
    pub fn on_progress(mut self, f: impl Fn(&LoadProgress) + Send + Sync + 'static) -> Load {
        self.progress = Some(Arc::new(f));
        self
    }

    /// Called on the watcher's task each time a probe copy is matched (keep it cheap).
    pub fn on_delivered(mut self, f: impl Fn(&Delivered) + Send + Sync + 'static) -> Load {
        self.delivered = Some(Arc::new(f));
        self
    }

    /// The refusal for servers that are not on loopback, checked before any connection.
    fn guard(&self) -> Result<(), LoadError> {
        if self.i_own_this_account {
            return Ok(());
        }
        let endpoints =
            std::iter::once(&self.from.smtp).chain(self.targets.iter().map(|t| &t.imap));
        for ep in endpoints {
            if !ep.is_loopback() {
                return Err(LoadError::NotLoopback {
                    host: ep.authority(),
                });
            }
        }
        Ok(())
    }

    /// The rate to use and why: explicit, or a provider preset's pace.
    fn effective_rate(&self) -> (Option<f64>, Option<String>) {
        if self.rate.is_some() {
            return (self.rate, None);
        }
        let preset = std::iter::once(&self.from)
            .chain(&self.targets)
            .filter_map(|a| a.provider.as_deref())
            .next();
        let Some(name) = preset else {
            return (None, None);
        };
        let secs = crate::providers::find(name)
            .map(|p| p.min_probe_interval_secs)
            .filter(|s| *s > 0)
            .unwrap_or(CONSERVATIVE_INTERVAL_SECS);
        (
            Some(1.0 / f64::from(secs)),
            Some(format!(
                "rate-limited to one probe every {secs} s because the {name} preset is in use; \
                 pass --rate to choose another pace"
            )),
        )
    }

    /// Runs the load. Setup problems (refusal, a watch that cannot log in) are errors; once
    /// sending starts, every failure is counted in the report instead.
    pub async fn run(self) -> Result<LoadReport, LoadError> {
        self.guard()?;
        if self.targets.is_empty() {
            return Err(LoadError::Invalid("no target account to send to".into()));
        }
        if self.concurrency == 0 || self.probes == Some(0) {
            return Err(LoadError::Invalid(
                "--probes and --concurrency must be at least 1".into(),
            ));
        }
        if self.probes.is_none() && self.duration.is_none() {
            return Err(LoadError::Invalid(
                "give --probes, --duration or both".into(),
            ));
        }
        if let Some(r) = self.rate
            && !(r.is_finite() && r > 0.0)
        {
            return Err(LoadError::Invalid(format!("rate {r} is not positive")));
        }
        let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let run_id = self
            .run_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        let step = self
            .timeout
            .clamp(Duration::from_millis(500), Duration::from_secs(15));
        let (rate, rate_note) = self.effective_rate();
        let mut warnings: Vec<String> = rate_note.into_iter().collect();
        let tls_verified = !(self.from.tls.insecure_skip_verify
            || self.targets.iter().any(|t| t.tls.insecure_skip_verify));
        if !tls_verified {
            warnings.push(crate::report::INSECURE_WARNING.into());
        }

        // 1. Watches first, so no probe can arrive unwatched.
        crate::probe::smtp::prewarm(&self.from);
        let kickers: Vec<Kicker> = self.targets.iter().map(|_| Kicker::default()).collect();
        let shared = Arc::new(Shared::new(self.delivered.clone(), kickers.clone()));
        let mut watchers = Vec::new();
        let mut sent_marks = Vec::new();
        let opening = self.targets.iter().enumerate().map(|(i, target)| {
            let ends = (&shared, &kickers[i]);
            watch::open(i, target, &self.from, ends, step, self.force_poll)
        });
        for (i, opened) in futures::future::try_join_all(opening)
            .await?
            .into_iter()
            .enumerate()
        {
            warnings.extend(opened.warnings);
            watchers.extend(opened.watchers);
            if let Some(mark) = opened.sent_mark {
                sent_marks.push((i, mark));
            }
        }
        // With no target in the sender's own mailbox, its Sent copies (Gmail files one per
        // probe) are noted on the sender's account instead.
        let mut sender_mark = None;
        let same = |t: &Account| t.user == self.from.user && t.imap == self.from.imap;
        if !self.targets.iter().any(same) {
            sender_mark = watch::sender_sent_mark(&self.from, step).await;
        }
        let idle = watchers.iter().all(|w| w.uses_idle());

        // 2. One SMTP connection before starting the clock: a bad password is a setup error.
        let connections = self
            .smtp_connections
            .unwrap_or(self.concurrency.min(4))
            .clamp(1, self.concurrency);
        let first = send::connect(&self.from, step).await?;

        let (stop_tx, stop_rx) = signal::channel(false);
        let watch_tasks: Vec<_> = watchers
            .into_iter()
            .map(|mut w| {
                let mut until = Until::Stop(stop_rx.clone());
                tokio::spawn(async move {
                    w.run(&mut until).await;
                    w
                })
            })
            .collect();

        let started = Instant::now();
        if self.timeline {
            shared.lock().timeline = Some(timeline::Recorder::new(started));
        }
        let ticker = self.progress.clone().map(|p| {
            let shared = shared.clone();
            let mut stop = stop_rx.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(200));
                loop {
                    tokio::select! {
                        _ = tick.tick() => p(&shared.progress(started)),
                        _ = stop.changed() => break,
                    }
                }
            })
        });

        // 3. Dispatch: a permit per probe in flight, the rate limit, the duration.
        let window = Arc::new(Semaphore::new(self.concurrency));
        let (job_tx, job_rx) = mpsc::channel::<Job>(connections * 2);
        let job_rx = Arc::new(tokio::sync::Mutex::new(job_rx));
        let sender = Arc::new(send::Sender {
            from: self.from.clone(),
            targets: self.targets.iter().map(|t| t.address.clone()).collect(),
            run_id: run_id.clone(),
            step,
            timeout: self.timeout,
        });
        let mut first = Some(first);
        let workers: Vec<_> = (0..connections)
            .map(|_| {
                tokio::spawn(send::worker(
                    sender.clone(),
                    shared.clone(),
                    job_rx.clone(),
                    first.take(),
                ))
            })
            .collect();
        let dispatch = {
            let limit = self.probes;
            let duration = self.duration;
            let window = window.clone();
            async move {
                let mut pace = rate.map(|r| {
                    let mut i = tokio::time::interval(Duration::from_secs_f64(1.0 / r));
                    i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    i
                });
                let end = duration.map(|d| started + d);
                let mut n = 0u64;
                while limit.is_none_or(|l| n < l) {
                    let permit = match end {
                        Some(end) => tokio::select! {
                            p = window.clone().acquire_owned() => p,
                            _ = tokio::time::sleep_until(end) => break,
                        },
                        None => window.clone().acquire_owned().await,
                    };
                    let Ok(permit) = permit else { break };
                    if let Some(p) = pace.as_mut() {
                        match end {
                            Some(end) => tokio::select! {
                                _ = p.tick() => {},
                                _ = tokio::time::sleep_until(end) => break,
                            },
                            None => {
                                p.tick().await;
                            }
                        }
                    }
                    if end.is_some_and(|e| Instant::now() >= e) {
                        break;
                    }
                    if job_tx.send(Job { index: n, permit }).await.is_err() {
                        break;
                    }
                    n += 1;
                }
            }
        };
        let reaper = tokio::spawn(reap(shared.clone()));
        dispatch.await;
        for w in workers {
            let _ = w.await;
        }
        shared.lock().sending_done = true;
        shared.changed.notify_one();
        let _ = reaper.await;
        let elapsed = started.elapsed();
        // Lost probes may still arrive: keep watching a little so they are cleaned up too.
        let grace = late_grace(self.timeout);
        if !self.keep && shared.unseen_lost() > 0 {
            let end = Instant::now() + grace;
            while shared.unseen_lost() > 0 {
                tokio::select! {
                    _ = tokio::time::sleep_until(end) => break,
                    _ = shared.changed.notified() => {}
                }
            }
        }

        // 4. Stop the watches (each does one last scan) and clean up in bulk.
        let _ = stop_tx.send(true);
        if let Some(t) = ticker {
            let _ = t.await;
            if let Some(p) = &self.progress {
                p(&shared.progress(started));
            }
        }
        let mut finished = Vec::new();
        for t in watch_tasks {
            match t.await {
                Ok(w) => finished.push(w),
                Err(e) => warnings.push(format!("a watcher stopped unexpectedly: {e}")),
            }
        }
        let mut cleanup = Cleanup::default();
        if !self.keep {
            cleanup.ran = true;
            for w in &mut finished {
                watch::cleanup(w, &mut cleanup, step).await;
            }
            for (i, mark) in &sent_marks {
                watch::cleanup_sent(&self.targets[*i], mark, &shared, step, &mut cleanup).await;
            }
            if let Some(mark) = &sender_mark {
                watch::cleanup_sent(&self.from, mark, &shared, step, &mut cleanup).await;
            }
        }
        for w in &mut finished {
            if let Some(e) = w.last_error.take() {
                warnings.push(format!("watching {}: {}", w.folder, e.summary));
            }
            imap::logout(w.session.take()).await;
        }
        let late = shared.lock().late;
        if late > 0 {
            warnings.push(format!(
                "{late} probe(s) arrived after their {:.1} s deadline",
                self.timeout.as_secs_f64()
            ));
        }
        let unseen = shared.unseen_lost();
        if unseen > 0 && !self.keep {
            warnings.push(format!(
                "{unseen} lost probe(s) never showed up in a watched folder, even {:.1} s past \
                 their deadline: any that arrive later (or landed in a mailbox that is not \
                 watched) are left there; `mailtrip sweep` removes leftover probes",
                grace.as_secs_f64()
            ));
        }
        warnings.extend(cleanup.problems.iter().cloned());

        Ok(self.report(ReportParts {
            shared: &shared,
            run_id,
            started_at,
            elapsed,
            idle,
            rate,
            connections,
            cleanup,
            warnings,
        }))
    }

    fn report(&self, p: ReportParts<'_>) -> LoadReport {
        let st = p.shared.lock();
        let h = &st.histogram;
        let ms = |us: u64| us as f64 / 1000.0;
        let latency = if h.is_empty() {
            Latency::default()
        } else {
            Latency {
                count: h.len(),
                min: ms(h.min()),
                mean: h.mean() / 1000.0,
                p50: ms(h.value_at_quantile(0.50)),
                p90: ms(h.value_at_quantile(0.90)),
                p99: ms(h.value_at_quantile(0.99)),
                max: ms(h.max()),
            }
        };
        let mut failures: Vec<FailureCount> = st
            .failures
            .iter()
            .map(|(code, (count, example))| FailureCount {
                code: *code,
                count: *count,
                example: example.clone(),
            })
            .collect();
        failures.sort_by_key(|f| std::cmp::Reverse(f.count));
        let mut lost_probes: Vec<String> = st
            .probes
            .iter()
            .filter(|(_, p)| p.lost)
            .map(|(tag, _)| uuid::Uuid::from_u128(*tag).to_string())
            .collect();
        lost_probes.sort();
        lost_probes.truncate(LOST_LISTED);
        let secs = p.elapsed.as_secs_f64();
        LoadReport {
            schema: LOAD_SCHEMA,
            run_id: p.run_id,
            started_at: p.started_at,
            from: self.from.address.clone(),
            to: self.targets.iter().map(|t| t.address.clone()).collect(),
            smtp: self.from.smtp.to_string(),
            imap: self.targets.iter().map(|t| t.imap.to_string()).collect(),
            embedded: false,
            settings: Settings {
                probes: self.probes,
                concurrency: self.concurrency,
                smtp_connections: p.connections,
                rate_per_sec: p.rate,
                duration_s: self.duration.map(|d| d.as_secs_f64()),
                timeout_s: self.timeout.as_secs_f64(),
            },
            idle: p.idle,
            attempted: st.attempted,
            sent: st.sent,
            delivered: st.delivered,
            lost: st.lost,
            late: st.late,
            duplicated: st.duplicated,
            misplaced: st.misplaced,
            send_failed: st.send_failed,
            send_failures: failures,
            elapsed_ms: secs * 1000.0,
            throughput_per_sec: if secs > 0.0 {
                st.delivered as f64 / secs
            } else {
                0.0
            },
            latency_ms: latency,
            seen_by: st.seen_by,
            cleanup: p.cleanup,
            lost_probes,
            harness: harness(st.attempted, &st.rss_samples),
            timeline: st.timeline.as_ref().map(|t| t.finish(&st.histogram)),
            warnings: p.warnings,
        }
    }
}

struct ReportParts<'a> {
    shared: &'a Shared,
    run_id: String,
    started_at: String,
    elapsed: Duration,
    idle: bool,
    rate: Option<f64>,
    connections: usize,
    cleanup: Cleanup,
    warnings: Vec<String>,
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

impl Shared {
    fn new(delivered_hook: Option<DeliveredFn>, kickers: Vec<Kicker>) -> Shared {
        Shared {
            state: Mutex::new(State {
                probes: HashMap::new(),
                deadlines: VecDeque::new(),
                // 1 µs .. 1 h, 3 significant digits; fixed size, never resized.
                histogram: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                    .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!())),
                attempted: 0,
                sent: 0,
                delivered: 0,
                lost: 0,
                late: 0,
                duplicated: 0,
                misplaced: 0,
                send_failed: 0,
                failures: HashMap::new(),
                sending_done: false,
                rss_samples: Vec::new(),
                seen_by: SeenByCounts::default(),
                timeline: None,
            }),
            changed: Notify::new(),
            delivered_hook,
            kickers,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn progress(&self, started: Instant) -> LoadProgress {
        let st = self.lock();
        LoadProgress {
            elapsed_s: started.elapsed().as_secs_f64(),
            sent: st.sent,
            delivered: st.delivered,
            lost: st.lost,
            send_failed: st.send_failed,
            in_flight: st.in_flight(),
            p50_ms: if st.histogram.is_empty() {
                0.0
            } else {
                st.histogram.value_at_quantile(0.5) as f64 / 1000.0
            },
        }
    }

    /// A probe is about to get its body: from now on a watcher may see it.
    fn register(
        &self,
        tag: u128,
        target: usize,
        permit: OwnedSemaphorePermit,
        timeout: Duration,
    ) -> Instant {
        let now = Instant::now();
        let mut st = self.lock();
        st.attempted += 1;
        st.probes.insert(
            tag,
            ProbeState {
                target,
                sent_at: now,
                accepted: false,
                copies: 0,
                lost: false,
                failed: false,
                permit: Some(permit),
            },
        );
        st.deadlines.push_back((now + timeout, tag));
        let n = st.attempted;
        if RSS_MILESTONES.contains(&n)
            && let Some(rss) = proc_status_kib("VmRSS:")
        {
            st.rss_samples.push((n, rss as f64 / 1024.0));
        }
        drop(st);
        // The reaper may be asleep with no deadline at all: it must learn of this one, or a
        // probe that never arrives would never free its slot.
        self.changed.notify_one();
        now
    }

    /// Lost probes not seen since (when not kept, still in a mailbox or never delivered).
    fn unseen_lost(&self) -> u64 {
        self.lock()
            .probes
            .values()
            .filter(|p| p.lost && p.copies == 0)
            .count() as u64
    }

    /// SMTP accepted the registered probe.
    fn accepted(&self, tag: u128) {
        let mut st = self.lock();
        st.sent += 1;
        let mut target = None;
        if let Some(p) = st.probes.get_mut(&tag) {
            p.accepted = true;
            target = Some(p.target);
        }
        if let Some(t) = &mut st.timeline {
            t.sent(Instant::now());
        }
        drop(st);
        // Its target's watchers look early from now on, not when the server's IDLE says.
        if let Some(k) = target.and_then(|t| self.kickers.get(t)) {
            k.kick();
        }
    }

    /// Counts a probe that never got to the server or was refused; `tag` when registered.
    fn failed(&self, tag: Option<u128>, d: &Diagnosis) {
        let mut st = self.lock();
        let st = &mut *st;
        match tag.and_then(|t| st.probes.get_mut(&t)) {
            // Seen in the mailbox although the reply went wrong: it was delivered.
            Some(p) if p.copies > 0 => {
                p.accepted = true;
                st.sent += 1;
                return;
            }
            Some(p) => {
                p.failed = true;
                p.permit = None;
                if p.lost {
                    p.lost = false;
                    st.lost -= 1;
                    if let Some(t) = &mut st.timeline {
                        t.unlost(p.sent_at);
                    }
                }
            }
            None => st.attempted += 1,
        }
        st.send_failed += 1;
        if let Some(t) = &mut st.timeline {
            t.failed(Instant::now());
        }
        let example = match &d.server_text {
            Some(t) => format!("{} ({})", d.summary, t.replace('\n', " ")),
            None => d.summary.clone(),
        };
        st.failures.entry(d.code).or_insert((0, example)).0 += 1;
        self.changed.notify_one();
    }

    /// Whether `tag` is one of this run's probes.
    fn is_ours(&self, tag: u128) -> bool {
        self.lock().probes.contains_key(&tag)
    }
}

impl State {
    fn in_flight(&self) -> u64 {
        // Registered and neither seen, lost nor failed (failed ones are removed).
        (self.attempted - self.send_failed).saturating_sub(self.delivered + self.lost)
    }
}

/// How long a run keeps watching after the last deadline for lost probes that arrive late:
/// as long as the per-probe timeout, at most 5 s (it ends early once all have shown up).
fn late_grace(timeout: Duration) -> Duration {
    timeout.min(Duration::from_secs(5))
}

/// Marks probes lost at their deadline (freeing their slot) and returns once sending is done
/// and nothing is in flight.
async fn reap(shared: Arc<Shared>) {
    loop {
        let next = {
            let mut st = shared.lock();
            let now = Instant::now();
            while let Some(&(deadline, tag)) = st.deadlines.front() {
                let resolved = st
                    .probes
                    .get(&tag)
                    .is_none_or(|p| p.copies > 0 || p.lost || p.failed);
                if resolved {
                    st.deadlines.pop_front();
                    continue;
                }
                if deadline > now {
                    break;
                }
                st.deadlines.pop_front();
                let st = &mut *st;
                if let Some(p) = st.probes.get_mut(&tag) {
                    // Counted lost even while still inside DATA: if the send then fails,
                    // `failed` moves it over (a deadline is a deadline).
                    p.lost = true;
                    p.permit = None;
                    st.lost += 1;
                    if let Some(t) = &mut st.timeline {
                        t.lost(p.sent_at);
                    }
                }
            }
            if st.sending_done && st.in_flight() == 0 {
                return;
            }
            st.deadlines.front().map(|(d, _)| *d)
        };
        let wait = async {
            match next {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = wait => {}
            _ = shared.changed.notified() => {}
        }
    }
}

/// This process's CPU time and memory, from `/proc/self` (Linux only).
fn harness(attempted: u64, samples: &[(u64, f64)]) -> Option<Harness> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // USER_HZ is 100 on every Linux ABI that exposes /proc/<pid>/stat.
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok().map(|t| t / 100.0);
    let user = ticks(11)?;
    let sys = ticks(12)?;
    Some(Harness {
        cpu_user_s: user,
        cpu_sys_s: sys,
        cpu_ms_per_probe: if attempted > 0 {
            (user + sys) * 1000.0 / attempted as f64
        } else {
            0.0
        },
        peak_rss_mib: proc_status_kib("VmHWM:").unwrap_or(0) as f64 / 1024.0,
        rss_samples: samples.to_vec(),
    })
}

/// A `kB` field of `/proc/self/status`.
fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
