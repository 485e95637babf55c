//! The monitor's side of the shared mailbox watcher: for each watched mailbox, INBOX and the
//! spam folder each on a kept connection, in settle mode (each probe is fetched, handed to the
//! table and deleted as soon as it is seen), kicked onto the early-poll schedule by every
//! probe the mailbox's routes send, and re-opened forever with backoff (a refused login is
//! held off: providers lock accounts that keep trying).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::table::Status;
use super::{Ctx, RECONNECT_MAX};
use crate::config::Account;
use crate::probe::backoff::Backoff;
use crate::probe::watch::tags::Many;
use crate::probe::watch::{self as watcher, Reconnect, Spare, Until, Want, Watcher};

/// Keeps the watchers of mailbox `m` running: opens them (again and again, with backoff,
/// while that fails) and runs them in settle mode until `stop`.
pub(super) async fn watch_mailbox(
    ctx: Arc<Ctx>,
    m: usize,
    account: Account,
    mut stop: watch::Receiver<bool>,
) {
    let step = ctx
        .routes
        .iter()
        .zip(&ctx.route_mailbox)
        .filter(|(_, mb)| **mb == m)
        .map(|(r, _)| r.step())
        .min()
        .unwrap_or(Duration::from_secs(30));
    let mut reopen = Reconnect {
        max: u32::MAX,
        backoff: Backoff::new(Duration::from_millis(500), RECONNECT_MAX),
        auth_hold: Some(ctx.auth_hold),
    };
    let want = Want {
        archive: false,
        sent: false,
    };
    loop {
        if *stop.borrow() {
            return;
        }
        let opened = match watcher::open_mailbox(&account, step, None, want).await {
            Ok(o) => match o.junk.map(Spare::ready) {
                Some(opening) => match opening.await {
                    Ok(junk) => Ok((o.inbox, Some(junk), o.folders)),
                    // The spam folder could not be opened: start over, as for INBOX.
                    Err(f) => {
                        crate::probe::imap::logout(Some(o.inbox.0)).await;
                        Err(f)
                    }
                },
                None => Ok((o.inbox, None, o.folders)),
            },
            Err(f) => Err(f),
        };
        match opened {
            Ok((inbox, junk, folders_found)) => {
                let mut folders = vec![("INBOX".to_string(), false, inbox)];
                match junk {
                    Some((name, s)) => folders.push((name, true, s)),
                    None => tracing::info!(
                        mailbox = account.address,
                        "monitor: no folder has the \\Junk SPECIAL-USE attribute; only INBOX \
                         is watched"
                    ),
                }
                let mut tasks = Vec::new();
                for (folder, junk, selected) in folders {
                    ctx.table.watch_state(m, &folder, true);
                    let interest = Many::new(ctx.table.clone(), m, &folder, junk).settling();
                    let reconnect = Reconnect {
                        max: u32::MAX,
                        backoff: Backoff::new(Duration::from_millis(100), RECONNECT_MAX),
                        auth_hold: Some(ctx.auth_hold),
                    };
                    let mut w =
                        Watcher::selected(&account, &folder, selected, interest, step, reconnect);
                    w.folders = folders_found.clone();
                    w.listen(&ctx.kickers[m]);
                    let mut until = Until::Stop(stop.clone());
                    tasks.push(tokio::spawn(async move {
                        w.run(&mut until).await;
                        crate::probe::imap::logout(w.session.take()).await;
                    }));
                }
                ctx.table.set_status(m, Status::Up);
                for t in tasks {
                    let _ = t.await;
                }
                return;
            }
            Err(failure) => {
                let refused = reopen.refused(&failure.diagnosis);
                let pause = reopen.backoff.next();
                tracing::warn!(
                    mailbox = account.address,
                    "monitor: cannot watch the mailbox: {}; retrying in {:.0} s{}",
                    failure.diagnosis.summary,
                    pause.as_secs_f64(),
                    if refused {
                        " (held off: providers lock accounts that keep trying)"
                    } else {
                        ""
                    }
                );
                ctx.table.watch_state(m, "INBOX", false);
                ctx.table.set_status(m, Status::Down(failure));
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    }
}
