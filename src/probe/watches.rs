//! The watches of one [`Check`]: INBOX, the spam folder, the archive folder and (for a probe
//! to another mailbox) the sender's INBOX for bounces, each on its own connection. INBOX's
//! is opened while the SMTP side connects and authenticates, and the probe goes out only once
//! every watermark is noted; after the 250 each is kicked onto the early-poll schedule and
//! they race: the first to see the probe (or a bounce) wins. The spam and archive folders'
//! connections open only if INBOX has not shown the probe soon after the 250.

use std::time::Duration;

use futures::future::select_all;
use tokio::time::Instant;

use super::imap::{self, Caps, Folders};
use super::leftovers::{self, Leftover};
use super::message::Probe;
use super::sent::SentCopies;
use super::smtp;
use super::watch::{self, Interest, Reconnect, Until, Want, Watcher, tags::One};
use super::{Check, Failure, Recorder, auth_or, net};
use crate::config::Account;
use crate::diagnose::{Code, Diagnosis};
use crate::report::{Phase, Placement, Report, Verdict};

/// What a watched folder is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Inbox,
    Junk,
    Archive,
    /// The sender's INBOX, watched for bounces when it is another mailbox.
    Sender,
}

/// How long after the 250 INBOX has to show the probe before the spam and archive folders'
/// connections open (a quarter of the timeout, if shorter): a probe found at once costs one
/// IMAP login, not three. Their watermarks were noted before the send, so a probe filed
/// there meanwhile is still found.
const SPARES_AFTER: Duration = Duration::from_millis(250);

/// How long INBOX gets to show a probe already seen in the archive folder.
const ARCHIVE_GRACE: Duration = Duration::from_millis(1500);

/// The watches in place before the send.
pub(super) struct Watches {
    pub list: Vec<(Role, Watcher<One>)>,
    /// The receiving mailbox's capabilities and folders (from INBOX's connection).
    pub caps: Caps,
    pub folders: Folders,
    /// The receiving mailbox's `\Sent` and its UIDNEXT, for a send-to-self.
    pub sent_mark: Option<(String, u32)>,
    /// The sender's `\Sent` and its UIDNEXT, for a probe to another mailbox.
    pub sender_sent: Option<SentCopies>,
}

impl Watches {
    /// Logs every watch out.
    pub(super) async fn close(self) {
        for (_, mut w) in self.list {
            imap::logout(w.session.take()).await;
        }
    }

    /// Kicks every watch at `accepted` and runs them all until one finds the tag or a
    /// bounce, or all reach `deadline`. When only the archive folder has it, INBOX gets a
    /// moment more: Gmail's All Mail holds INBOX mail too.
    pub(super) async fn race(&mut self, accepted: Instant, deadline: Instant) {
        let spares_after = SPARES_AFTER.min(deadline.saturating_duration_since(accepted) / 4);
        for (role, w) in &mut self.list {
            w.kick(accepted);
            if matches!(role, Role::Junk | Role::Archive) {
                w.open_at(accepted + spares_after);
            }
        }
        {
            let mut futs: Vec<_> = self
                .list
                .iter_mut()
                .map(|(_, w)| {
                    Box::pin(async move {
                        w.run(&mut Until::Deadline(deadline)).await;
                        w.interest.done()
                    })
                })
                .collect();
            while !futs.is_empty() {
                let (found, _, rest) = select_all(futs).await;
                if found {
                    break;
                }
                futs = rest;
            }
        }
        if self.has(Role::Archive) && !self.has(Role::Inbox) && !self.has(Role::Junk) {
            let left = deadline.saturating_duration_since(Instant::now());
            let grace = Instant::now() + ARCHIVE_GRACE.min(left.max(Duration::from_millis(200)));
            if let Some((_, w)) = self.list.iter_mut().find(|(r, _)| *r == Role::Inbox) {
                w.run(&mut Until::Deadline(grace)).await;
            }
        }
    }

    /// A warning for each folder whose connection could not be opened (it was not watched).
    pub(super) fn unwatched(&self) -> Vec<String> {
        self.list
            .iter()
            .filter_map(|(role, w)| {
                let what = match role {
                    Role::Junk => "spam",
                    Role::Archive => "archive",
                    _ => return None,
                };
                let f = w.unopened.as_ref()?;
                Some(format!(
                    "the {what} folder {} is not watched: {}",
                    w.folder, f.diagnosis.summary
                ))
            })
            .collect()
    }

    /// Whether the watch of `role` found the probe.
    pub(super) fn has(&self, role: Role) -> bool {
        self.list
            .iter()
            .any(|(r, w)| *r == role && !w.interest.matches.is_empty())
    }

    /// Where the probe was found, by precedence: INBOX, spam, archive.
    pub(super) fn placement(&self) -> Option<(Role, Placement)> {
        [
            (Role::Inbox, Placement::Inbox),
            (Role::Junk, Placement::Spam),
            (Role::Archive, Placement::Archive),
        ]
        .into_iter()
        .find(|(r, _)| self.has(*r))
    }

    /// Takes the winning watch out (the folder where the probe was placed, else the one with a
    /// bounce, else INBOX), the sender's watch, and the other folders' connections.
    pub(super) fn winner(
        mut self,
        placement: Option<Role>,
    ) -> (Role, Watcher<One>, Option<Watcher<One>>, Rest) {
        let index = match placement {
            Some(role) => self.list.iter().position(|(r, _)| *r == role),
            None => self
                .list
                .iter()
                .position(|(_, w)| w.interest.bounce.is_some()),
        }
        .unwrap_or(0);
        let (role, winner) = self.list.remove(index);
        let mut sender = None;
        let mut rest = Vec::new();
        for (r, mut w) in self.list {
            if r == Role::Sender {
                sender = Some(w);
            } else {
                rest.extend(w.session.take().map(|s| (w.folder.clone(), s)));
            }
        }
        (role, winner, sender, Rest(rest))
    }
}

/// The other folders' connections once the race is over, each with the folder it has selected.
pub(super) struct Rest(Vec<(String, imap::Session)>);

impl Rest {
    /// Logs them all out at once.
    pub(super) async fn close(self) {
        futures::future::join_all(self.0.into_iter().map(|(_, s)| imap::logout(Some(s)))).await;
    }

    /// In the background, while the probe is fetched and deleted on the winner's connection:
    /// looks for late probes of earlier runs from `from` in `look_in` on one of these
    /// connections and logs them all out. `None` when no other connection was opened.
    pub(super) fn find_leftovers(
        self,
        look_in: Vec<String>,
        from: String,
        step: Duration,
    ) -> Option<tokio::task::JoinHandle<Vec<Leftover>>> {
        let mut sessions = self.0;
        let (selected, mut first) = sessions.pop()?;
        Some(tokio::spawn(async move {
            let search = async {
                // Its own folder is searched in place: STATUS is not for the selected mailbox.
                let here = Some(selected.as_str());
                let found = leftovers::find(&mut first, &look_in, &from, step, here).await;
                imap::logout(Some(first)).await;
                found
            };
            let (found, ()) = tokio::join!(search, Rest(sessions).close());
            found
        }))
    }
}

impl Check {
    /// Opens the watches (INBOX timed in `rec`) while the SMTP side connects and authenticates
    /// (timed in a recorder of its own, merged into `rec`); sends the probe once every
    /// watermark is noted. A watch that cannot be set up fails the check before anything is
    /// sent; its failure wins over the SMTP side's.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn watch_and_send(
        &self,
        rec: &mut Recorder,
        report: &mut Report,
        probe: &Probe,
        tag: &str,
        step: Duration,
        deadline: Instant,
    ) -> Result<(Watches, smtp::Sent), (Verdict, Failure)> {
        let to = &self.to;
        let same_account = self.from.same_mailbox(to);
        let mut smtp_rec = Recorder::new(self.progress.clone());
        let (gate_tx, gate) = tokio::sync::watch::channel(None);
        let watch_step = net::watch_step(step, self.timeout);
        let ((receiving, sending), sent) = {
            let receiving = watch::open_mailbox(
                to,
                step,
                Some(&mut *rec),
                Want {
                    archive: true,
                    sent: same_account,
                },
            );
            // Bounces come back to the sender: watch its INBOX too when it is another
            // mailbox. Its server may file a copy of the probe in its Sent: note where.
            let sending = async {
                if same_account {
                    return None;
                }
                Some(match watch::open_folder(&self.from, "INBOX", step).await {
                    Ok((mut session, caps, mark)) => {
                        let sent = SentCopies::note(&mut session, step).await;
                        Ok(((session, caps, mark), sent))
                    }
                    Err(f) => Err(f.diagnosis),
                })
            };
            let set_up = async {
                let (receiving, sending) = tokio::join!(receiving, sending);
                let _ = gate_tx.send(Some(receiving.is_ok()));
                (receiving, sending)
            };
            let send = smtp::send(&mut smtp_rec, &self.from, probe, step, deadline, gate);
            tokio::pin!(set_up, send);
            tokio::select! {
                set = &mut set_up => {
                    // Nothing goes out when the watch failed: drop the SMTP side where it is.
                    let sent = if set.0.is_ok() { Some((&mut send).await) } else { None };
                    (set, sent)
                }
                sent = &mut send => ((&mut set_up).await, Some(sent)),
            }
        };
        let opened = match receiving {
            Ok(o) => o,
            Err(f) => {
                if let Some(Ok((s, _))) = sending {
                    imap::logout(Some(s.0)).await;
                }
                rec.fail_late(&f);
                return Err((auth_or(&f, Verdict::Error), f));
            }
        };
        rec.absorb(smtp_rec);

        let (session, caps, inbox_mark) = opened.inbox;
        if same_account && (caps.gmail || to.is_gmail()) {
            report.warnings.push(
                "a send-to-self on Gmail never crosses the inbound path (Gmail files it \
                 directly), so this check cannot show spam filtering; use --to-account with a \
                 mailbox elsewhere"
                    .into(),
            );
        }
        report.evidence.idle = Some(caps.idle);
        let watcher = |account: &Account, folder: &str, selected: watch::Selected, one: One| {
            let reconnect = Reconnect::until_deadline();
            Watcher::selected(account, folder, selected, one, watch_step, reconnect)
        };
        let mut inbox_one = One::new(tag);
        if same_account {
            inbox_one = inbox_one.bounces_of(&probe.message_id);
        }
        let mut list = vec![(
            Role::Inbox,
            watcher(to, "INBOX", (session, caps.clone(), inbox_mark), inbox_one),
        )];
        // The spam folder, and the archive folder a filter may file the probe into past INBOX
        // (\Archive or \All): their connections open in the race, if INBOX is slow to show it.
        let opening = |spare| {
            let one = One::new(tag);
            let reconnect = Reconnect::until_deadline();
            Watcher::opening(to, spare, caps.clone(), one, watch_step, reconnect)
        };
        match opened.junk {
            Some(spare) => list.push((Role::Junk, opening(spare))),
            None => report.warnings.push(
                "no folder has the \\Junk SPECIAL-USE attribute; only INBOX is watched".into(),
            ),
        }
        if let Some(spare) = opened.archive {
            list.push((Role::Archive, opening(spare)));
        }
        let mut sender_sent = None;
        match sending {
            Some(Ok((s, sent))) => {
                sender_sent = sent;
                let one = One::new(tag).bounces_of(&probe.message_id);
                list.push((Role::Sender, watcher(&self.from, "INBOX", s, one)));
            }
            Some(Err(d)) => report.warnings.push(format!(
                "the sender's INBOX is not watched for bounces: {}",
                d.summary
            )),
            None => {}
        }
        for (_, w) in list.iter_mut().filter(|(r, _)| *r != Role::Sender) {
            w.folders = opened.folders.clone();
        }
        let watches = Watches {
            list,
            caps,
            folders: opened.folders,
            sent_mark: opened.sent,
            sender_sent,
        };
        match sent {
            Some(Ok(Some(sent))) => Ok((watches, sent)),
            Some(Err(f)) => {
                watches.close().await;
                Err((auth_or(&f, Verdict::SendFailed), f))
            }
            // The gate opened (the watches are up), so the SMTP side did not stop there.
            Some(Ok(None)) | None => {
                watches.close().await;
                Err((
                    Verdict::Error,
                    Failure {
                        phase: Phase::SmtpSubmit,
                        diagnosis: Diagnosis::new(
                            Code::ServerError,
                            "internal: the probe was not sent",
                            String::new(),
                        ),
                    },
                ))
            }
        }
    }
}
