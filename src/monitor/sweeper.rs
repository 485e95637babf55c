//! The sweeper: deletes each sender's stale probes (older than the route's timeout) from the
//! watched mailboxes and the sender's own at start and hourly, so abandoned probes never pile up.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::Ctx;
use super::metrics;
use crate::config::Account;
use crate::probe::Sweep;

/// How often the stale-probe sweep runs after the one at start.
const SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// Deletes this sender's stale probes (older than the route's timeout) from each watched
/// mailbox at start and every hour, until `stop`.
pub(super) async fn sweeper(
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
                a.same_mailbox(mailbox) && s.eq_ignore_ascii_case(&route.from.address)
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
