//! A load run's orchestration: refuse what is not on loopback, open the watches, connect
//! SMTP, dispatch probes within the window, rate and duration, then stop, clean up and report.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, watch as signal};
use tokio::time::Instant;

use super::tally::{ReportParts, reap};
use super::{Cleanup, Job, Load, LoadError, LoadReport, Shared, send, timeline, watch};
use crate::probe::imap;
use crate::probe::sent::SentCopies;
use crate::probe::watch::{Kicker, Until};

/// Rate used for a provider preset when no `min_probe_interval_secs` is known.
const CONSERVATIVE_INTERVAL_SECS: u32 = 60;

impl Load {
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
            if let Some(sent) = opened.sent {
                sent_marks.push((i, sent));
            }
        }
        // With no target in the sender's own mailbox, its Sent copies (Gmail files one per
        // probe) are noted on the sender's account instead.
        let mut sender_mark = None;
        if !self.targets.iter().any(|t| self.from.same_mailbox(t)) {
            sender_mark = SentCopies::note_apart(&self.from, step).await;
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
                watch::cleanup(w, &shared, &mut cleanup, step).await;
            }
            for (i, sent) in &sent_marks {
                watch::cleanup_sent(&self.targets[*i], sent, &shared, &mut cleanup, step).await;
            }
            if let Some(sent) = &sender_mark {
                watch::cleanup_sent(&self.from, sent, &shared, &mut cleanup, step).await;
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
}

/// How long a run keeps watching after the last deadline for lost probes that arrive late:
/// as long as the per-probe timeout, at most 5 s (it ends early once all have shown up).
fn late_grace(timeout: Duration) -> Duration {
    timeout.min(Duration::from_secs(5))
}
