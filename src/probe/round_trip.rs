//! The check's orchestration: build the probe, open the watched folders alongside the SMTP
//! side, race them for the first sighting, fetch and verify what arrived, and pick the verdict.

use std::time::Duration;

use tokio::time::Instant;

use super::tidy::Tidy;
use super::watches::Role;
use super::{
    CLEANUP_BUDGET, Check, Failure, Recorder, analysis, cleanup, imap, leftovers, message, net,
    smtp, verify, watch,
};
use crate::diagnose::{self, Code, Diagnosis, Protocol, Stage};
use crate::report::{Phase, Placement, Report, Verdict};

impl Check {
    pub(super) async fn round_trip(
        &self,
        rec: &mut Recorder,
        report: &mut Report,
        tag: &str,
        run_id: &str,
    ) -> Result<Verdict, (Verdict, Failure)> {
        let step = self
            .timeout
            .clamp(Duration::from_millis(500), net::STEP_MAX);
        let to = &self.to;
        let probe = message::build_with(
            &self.from.address,
            &to.address,
            tag,
            run_id,
            self.payload,
            Some(self.timeout),
            &self.headers,
        )
        .map_err(|e| (Verdict::Error, e.failure("check the from/to addresses")))?;
        report.evidence.message_id = probe.message_id.clone();
        report.evidence.subject = probe.subject.clone();

        // 1. Log in to the mailbox, find its folders and note the watermarks while the SMTP
        // side connects and authenticates; 2. then send.
        smtp::prewarm(&self.from);
        let deadline = Instant::now() + self.timeout;
        let (mut watches, sent) = self
            .watch_and_send(rec, report, &probe, tag, step, deadline)
            .await?;
        let (accepted_at, unanswered) = match sent {
            smtp::Sent::Accepted { reply, at } => {
                report.evidence.smtp_reply = Some(reply);
                (at, None)
            }
            smtp::Sent::Unknown { failure, at } => (at, Some(failure)),
        };

        // 3. Wait in INBOX, Junk, the archive and the sender's INBOX at once; the first to
        // see the tag (or a bounce) wins. The clock started at the reply to the end of DATA
        // (or when that reply was given up on), not after QUIT.
        rec.start(Phase::Delivery);
        let t = accepted_at;
        let deadline = accepted_at + self.timeout;
        watches.race(accepted_at, deadline).await;
        report.warnings.extend(watches.unwatched());
        let waited = t.elapsed().as_secs_f64();
        let reconnects: u32 = watches.list.iter().map(|(_, w)| w.reconnects).sum();
        let seen: usize = watches.list.iter().map(|(_, w)| w.examined).sum();
        let placement = watches.placement();
        let (caps, folders) = (watches.caps.clone(), watches.folders.clone());
        let (sent_mark, sender_sent) = (watches.sent_mark.take(), watches.sender_sent.take());
        let (winner_role, mut winner, mut sender_watch, rest) =
            watches.winner(placement.map(|(r, _)| r));
        let tidy = Tidy {
            caps: &caps,
            folders: &folders,
            sent_mark: sent_mark.as_ref(),
            sender_sent: sender_sent.as_ref(),
            tag,
            step: cleanup::step(step).min(CLEANUP_BUDGET),
        };
        let placement = placement.map(|(_, p)| p);
        let in_junk = placement == Some(Placement::Spam);
        let reconnect_note = if reconnects > 0 {
            format!("; {reconnects} IMAP reconnect(s)")
        } else {
            String::new()
        };
        if winner.interest.matches.is_empty() {
            let bounce = winner.interest.bounce.take();
            let bounced = bounce.is_some();
            let (failure, clean_sent) = match bounce {
                Some((uid, raw)) => {
                    let bounce = analysis::bounce(&raw, &winner.folder, uid);
                    let mut d = analysis::bounce_diagnosis(&bounce);
                    d.summary = format!("the probe bounced: {}", d.summary);
                    report.warnings.push(format!(
                        "the bounce is left in the sender's {} (UID {uid}); mailtrip deletes only \
                         its own probes",
                        winner.folder
                    ));
                    report.evidence.bounce = Some(bounce);
                    let clean_sent = !self.keep && winner_role != Role::Sender;
                    (rec.fail(Phase::Delivery, t, d), clean_sent)
                }
                None => {
                    let d = self.not_arrived(&mut winner, waited, seen, &reconnect_note);
                    (rec.fail(Phase::Delivery, t, d), !self.keep)
                }
            };
            self.end_unfound(&mut winner, clean_sent, &mut sender_watch, &tidy, report)
                .await;
            if bounced {
                return Err((Verdict::Bounced, failure));
            }
            if let Some(mut lost) = unanswered {
                // Unknown, not "not delivered": the server may still hold it.
                lost.diagnosis.summary = format!(
                    "{}; the probe did not arrive within {waited:.1} s",
                    lost.diagnosis.summary
                );
                report.warnings.push(
                    "if the server did accept the probe and it arrives later, it is left in the \
                     mailbox: `mailtrip sweep` removes leftover probes"
                        .into(),
                );
                return Err((Verdict::SendFailed, lost));
            }
            let verdict = if winner.session.is_none() && failure.diagnosis.code != Code::Timeout {
                Verdict::Error
            } else {
                Verdict::NotDelivered
            };
            return Err((verdict, failure));
        }
        let placement = placement.unwrap_or(Placement::Inbox);
        if placement == Placement::Archive {
            report.warnings.push(format!(
                "the probe skipped INBOX: it was filed in {} (a filter or rule archives it)",
                winner.folder
            ));
        }
        rec.ok(
            Phase::Delivery,
            t,
            format!(
                "found in {} after {waited:.1} s (UID {}){reconnect_note}",
                winner.folder, winner.interest.matches[0]
            ),
        );
        if let Some(lost) = &unanswered {
            report.warnings.push(format!(
                "the SMTP server never answered the end of DATA, yet the probe arrived, so it \
                 was accepted: {}",
                lost.diagnosis.summary
            ));
        }
        report.placement = Some(placement);
        report.evidence.mailbox = Some(winner.folder.clone());
        report.evidence.uid = winner.interest.matches.first().copied();
        report.evidence.seen_by = winner.interest.seen_by;
        report.evidence.copies = winner.interest.matches.len() as u32;

        // Probes of earlier runs that arrived after their run gave up: looked for on another
        // folder's connection (if one was opened) while this one fetches and cleans up, else
        // on this one afterwards.
        let mut look_in = vec!["INBOX".to_string()];
        look_in.extend(folders.junk.iter().cloned());
        look_in.extend(folders.archive.iter().cloned());
        let leftovers = rest.find_leftovers(look_in.clone(), self.from.address.clone(), step);

        // 4. Fetch and verify.
        let t = rec.start(Phase::Fetch);
        let uid = winner.interest.matches[0];
        let mut raw = match winner.session.as_mut() {
            Some(s) => imap::fetch_raw(s, uid, step).await,
            None => Err(async_imap::error::Error::ConnectionLost),
        };
        if raw.is_err() {
            // The connection went between the look that found the probe and this fetch (a
            // server restart's BYE, a dropped socket): the probe is there, so fetch it by UID
            // on a new connection (which cleanup then uses) rather than call the run an error.
            // Should UIDVALIDITY have changed, verify's tag check catches the wrong message.
            imap::logout(winner.session.take()).await;
            if let Ok((mut session, _caps, _next)) =
                watch::open_folder(&winner.account, &winner.folder, step).await
            {
                raw = imap::fetch_raw(&mut session, uid, step).await;
                winner.session = Some(session);
            }
        }
        let fetched = match raw {
            Ok(Some(f)) => f,
            Ok(None) | Err(_) => {
                let d = match &raw {
                    Err(e) => {
                        let mut d = imap::classify(to, Stage::Other, e);
                        d.summary = format!("fetching the probe failed: {}", d.summary);
                        d
                    }
                    _ => diagnose::transport(
                        Code::ServerError,
                        Protocol::Imap,
                        &to.imap.authority(),
                        &format!("fetching the probe failed: UID {uid} returned no body"),
                    ),
                };
                let failure = rec.fail(Phase::Fetch, t, d);
                let clean_sent = !self.keep;
                self.end_unfound(&mut winner, clean_sent, &mut sender_watch, &tidy, report)
                    .await;
                return Err((Verdict::Error, failure));
            }
        };
        let raw = &fetched.raw;
        rec.ok(Phase::Fetch, t, format!("UID {uid}, {} bytes", raw.len()));
        let t = rec.start(Phase::Verify);
        let v = verify::verify(raw, &probe);
        report.evidence.digest_ok = Some(v.digest_ok);
        report.evidence.carriers = Some(v.carriers);
        if !v.carriers.header && v.carriers.message_id {
            report.warnings.push(format!(
                "the {} header was removed in transit (the probe was matched by its \
                 Message-ID): a gateway or filter strips it; `mailtrip sweep` still finds such \
                 probes",
                message::TAG_HEADER
            ));
        }
        if v.carriers.header && !v.carriers.message_id {
            report.warnings.push(
                "the Message-ID was rewritten in transit (the probe was matched by its \
                 X-Mailtrip-Probe header): a gateway replaces it"
                    .into(),
            );
        }
        report.evidence.received_hops = Some(v.received_hops);
        report.evidence.authentication_results = v.authentication_results.clone();
        report.timeline = analysis::timeline(raw, fetched.internal_date);
        report.auth = Some(analysis::auth(&v.authentication_results));
        report.evidence.changes = verify::changes(raw, &probe);
        let problem = match (&v.problem, report.evidence.changes.is_empty()) {
            // Another tag, or no carrier of ours left: that is the news.
            (Some(p), _) if v.identity_wrong() => Some(p.clone()),
            (_, false) => Some(report.evidence.changes.join("; ")),
            (p, true) => p.clone(),
        };
        let mismatch = problem.map(|problem| {
            rec.fail(
                Phase::Verify,
                t,
                Diagnosis::new(
                    Code::ContentMismatch,
                    format!("the probe arrived changed: {problem}"),
                    "something between sender and mailbox rewrites messages (a footer, \
                           disclaimer or re-encoding); check gateways and list settings",
                ),
            )
        });
        if mismatch.is_none() {
            let matched = match (v.carriers.header, v.carriers.message_id) {
                (true, true) => "tag, Message-ID and digest match",
                (false, _) => "Message-ID and digest match (the tag header was removed)",
                (true, false) => "tag and digest match (the Message-ID was rewritten)",
            };
            rec.ok(
                Phase::Verify,
                t,
                format!("{matched}; {} Received hop(s)", v.received_hops),
            );
        }

        // Without another connection, the found folder is searched for leftovers now, while it
        // is still selected (leaving it after the cleanup's EXPUNGE costs the server most).
        let mut found_here = None;
        if let (None, Some(session)) = (&leftovers, winner.session.as_mut()) {
            let here = [winner.folder.clone()];
            let from = &self.from.address;
            found_here = Some(leftovers::find(session, &here, from, step, Some(&here[0])).await);
        }

        // 5. Clean up.
        if !self.keep {
            self.cleanup(&mut winner, sender_watch.take(), &tidy, rec, report)
                .await;
        } else {
            // With --keep this only closes the sender's watch.
            self.finish_sender(&mut sender_watch, &tidy, report).await;
        }
        let elsewhere = match leftovers {
            Some(task) => task.await.ok(),
            None => None,
        };
        let found = match (elsewhere, winner.session.as_mut()) {
            (Some(found), _) => found,
            // No other connection to search on: this one, last.
            (_, Some(session)) => {
                let others: Vec<String> = look_in
                    .iter()
                    .filter(|f| found_here.is_none() || **f != winner.folder)
                    .cloned()
                    .collect();
                let mut all = found_here.unwrap_or_default();
                let rest = leftovers::find(session, &others, &self.from.address, step, None);
                leftovers::merge(&mut all, rest.await);
                all
            }
            _ => found_here.unwrap_or_default(),
        };
        for l in found.iter().filter(|l| l.late && l.tag != tag) {
            report.warnings.push(l.late_warning());
        }
        imap::logout(winner.session.take()).await;

        if report.evidence.copies > 1 {
            report.warnings.push(format!(
                "duplicate: {} copies of the probe arrived in {}; something delivers twice \
                 (a forwarding loop, two delivery paths or a retried submission)",
                report.evidence.copies, winner.folder
            ));
        }
        match mismatch {
            Some(f) => Err((Verdict::ContentMismatch, f)),
            None if in_junk => Ok(Verdict::DeliveredToSpam),
            None => Ok(Verdict::Delivered),
        }
    }

    /// Why nothing arrived: the watch's last connection error if it ended without a
    /// connection, else a timeout (worded for an alias when `--alias`).
    fn not_arrived(
        &self,
        winner: &mut super::CheckWatch,
        waited: f64,
        seen: usize,
        reconnect_note: &str,
    ) -> Diagnosis {
        let detail = format!(
            "waited {waited:.1} s; saw {seen} new message{}, none with tag{reconnect_note}",
            if seen == 1 { "" } else { "s" }
        );
        let to = &self.to.address;
        match (winner.last_error.take(), &self.alias_of) {
            (Some(d), _) if winner.session.is_none() => d,
            (_, Some(mailbox)) => Diagnosis::new(
                Code::Timeout,
                format!(
                    "the probe to {to} did not arrive in {mailbox}'s mailbox: {detail}; if {to} \
                     is not an alias delivered there, the probe may sit in its own mailbox"
                ),
                format!(
                    "to watch {to}'s own mailbox give --to-account with its credentials; \
                     otherwise check the alias and the receiving side's filters"
                ),
            ),
            (_, None) => Diagnosis::new(
                Code::Timeout,
                format!("the probe did not arrive: {detail}"),
                "the SMTP server accepted it; check the receiving side's filters, quarantine \
                 and the sender's queue, or try a longer --timeout",
            ),
        }
    }
}
