//! The run's accounting: each probe registered, accepted, refused, seen or lost (the reaper
//! marks deadlines), and the counts turned into a [`LoadReport`] with latency percentiles and
//! this process's CPU and memory.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::sync::{Notify, OwnedSemaphorePermit};
use tokio::time::Instant;

use super::{
    Cleanup, DeliveredFn, FailureCount, Harness, LOAD_SCHEMA, Latency, Load, LoadProgress,
    LoadReport, ProbeState, SeenByCounts, Settings, Shared, State,
};
use crate::diagnose::Diagnosis;
use crate::probe::watch::Kicker;

/// Most lost tags listed in the report.
const LOST_LISTED: usize = 100;
/// Probe counts at which RSS is sampled.
const RSS_MILESTONES: &[u64] = &[100, 1_000, 5_000, 10_000, 50_000, 100_000, 1_000_000];

impl Load {
    pub(super) fn report(&self, p: ReportParts<'_>) -> LoadReport {
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

pub(super) struct ReportParts<'a> {
    pub(super) shared: &'a Shared,
    pub(super) run_id: String,
    pub(super) started_at: String,
    pub(super) elapsed: Duration,
    pub(super) idle: bool,
    pub(super) rate: Option<f64>,
    pub(super) connections: usize,
    pub(super) cleanup: Cleanup,
    pub(super) warnings: Vec<String>,
}

impl Shared {
    pub(super) fn new(delivered_hook: Option<DeliveredFn>, kickers: Vec<Kicker>) -> Shared {
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

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn progress(&self, started: Instant) -> LoadProgress {
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
    pub(super) fn register(
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
    pub(super) fn unseen_lost(&self) -> u64 {
        self.lock()
            .probes
            .values()
            .filter(|p| p.lost && p.copies == 0)
            .count() as u64
    }

    /// SMTP accepted the registered probe.
    pub(super) fn accepted(&self, tag: u128) {
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
    pub(super) fn failed(&self, tag: Option<u128>, d: &Diagnosis) {
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
    pub(super) fn is_ours(&self, tag: u128) -> bool {
        self.lock().probes.contains_key(&tag)
    }
}

impl State {
    fn in_flight(&self) -> u64 {
        // Registered and neither seen, lost nor failed (failed ones are removed).
        (self.attempted - self.send_failed).saturating_sub(self.delivered + self.lost)
    }
}

/// Marks probes lost at their deadline (freeing their slot) and returns once sending is done
/// and nothing is in flight.
pub(super) async fn reap(shared: Arc<Shared>) {
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
