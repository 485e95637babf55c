//! The probes: a scheduler per route starts one every interval (jittered), and one probe's
//! round trip (watch up → build, register, send → seen → fetched and verified), each phase
//! timed into the route's histograms.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::metrics::{self, Metrics};
use super::table::Status;
use super::{Budget, Ctx, Outcome, SHUTDOWN_GRACE};
use crate::config::Endpoint;
use crate::diagnose::{self, Code, Diagnosis, Protocol};
use crate::probe::{Failure, Recorder, message};
use crate::report::{Phase, Verdict};

/// Starts a probe for route `r` every interval (jittered) until `stop`; then gives the ones
/// in flight a grace period.
pub(super) async fn schedule(ctx: Arc<Ctx>, r: usize, mut stop: watch::Receiver<bool>) {
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
pub(super) async fn probe(ctx: Arc<Ctx>, r: usize, budget: Budget) -> Outcome {
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
    // `what` did not happen within the budget: an error in `phase`, in `ep`'s name.
    let out_of_time = |phase: Phase, ep: &Endpoint, what: &str| {
        let diagnosis = diagnose::transport(
            Code::Timeout,
            ep.protocol.into(),
            &ep.authority(),
            &format!(
                "{what} within the probe's {:.1} s (the scrape timeout, or the route's)",
                budget.timeout.as_secs_f64()
            ),
        );
        (Verdict::Error, Failure { phase, diagnosis })
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
        (
            Verdict::Error,
            e.failure("check the route's from/to addresses"),
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
            return Err(out_of_time(
                Phase::SmtpSubmit,
                &route.from.smtp,
                "the SMTP submission did not finish",
            ));
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
        let d = Diagnosis::new(
            Code::Timeout,
            format!(
                "the probe did not arrive in {}'s INBOX or spam folder within {:.1} s of being \
                 accepted",
                route.to.address,
                waited.as_secs_f64()
            ),
            "delivery is slow or the message was dropped; if it arrives later it is \
             counted in mailtrip_monitor_late_arrivals_total",
        );
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
            return Err(out_of_time(
                Phase::Fetch,
                &route.to.imap,
                "the probe arrived but was not fetched and verified",
            ));
        }
        _ => {
            return Err(fetch_failed(
                route,
                "the probe was seen but could not be fetched (the watch connection dropped)",
            ));
        }
    };
    observe(Phase::Fetch, checked.fetch.as_secs_f64());
    if checked.missing {
        return Err(fetch_failed(
            route,
            "the server returned no body for the probe's UID",
        ));
    }
    observe(Phase::Verify, checked.verify.as_secs_f64());
    if let Some(problem) = checked.problem {
        return Err((
            Verdict::ContentMismatch,
            Failure {
                phase: Phase::Verify,
                diagnosis: Diagnosis::new(
                    Code::ContentMismatch,
                    format!("the probe arrived changed: {problem}"),
                    "something between sender and mailbox rewrites messages (a footer, \
                     disclaimer or re-encoding); check gateways and list settings",
                ),
            },
        ));
    }
    Ok(if seen.junk {
        Verdict::DeliveredToSpam
    } else {
        Verdict::Delivered
    })
}

/// The probe was seen in `route`'s mailbox but not fetched: an error at the fetch phase, in the
/// IMAP server's name.
fn fetch_failed(route: &super::Route, detail: &str) -> (Verdict, Failure) {
    let diagnosis = diagnose::transport(
        Code::ServerError,
        Protocol::Imap,
        &route.to.imap.authority(),
        detail,
    );
    (
        Verdict::Error,
        Failure {
            phase: Phase::Fetch,
            diagnosis,
        },
    )
}
