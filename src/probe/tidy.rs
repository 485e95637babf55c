//! After the verdict: a check deletes every copy of its probe in the folder it was found in,
//! the Sent copy and the sender's Sent copy, within a fixed budget; problems become warnings.

use std::time::Duration;

use super::cleanup::{self, Bin, Ours};
use super::sent::SentCopies;
use super::{CLEANUP_BUDGET, Check, CheckWatch, Recorder, imap, watch};
use crate::report::{Phase, Report};

/// What every cleanup step of one check works from, fixed once the watch has opened.
pub(super) struct Tidy<'a> {
    /// The receiving server's capabilities.
    pub caps: &'a imap::Caps,
    /// The receiving mailbox's special-use folders.
    pub folders: &'a imap::Folders,
    /// The receiving mailbox's Sent and its UIDNEXT before the send (a send-to-self).
    pub sent_mark: Option<&'a (String, u32)>,
    /// The sender's Sent copies (a cross-account check).
    pub sender_sent: Option<&'a SentCopies>,
    /// This run's probe tag: only messages carrying it are deleted.
    pub tag: &'a str,
    /// Each cleanup command's limit: [`cleanup::step`] of the watch's, at most the budget.
    pub step: Duration,
}

impl Check {
    /// Deletes every copy of the probe in the folder it was found in, and the Sent copy: the
    /// receiving mailbox's own (`sent_mark`, a send-to-self) or the sender's (cross-account).
    pub(super) async fn cleanup(
        &self,
        w: &mut CheckWatch,
        sender_watch: Option<CheckWatch>,
        tidy: &Tidy<'_>,
        rec: &mut Recorder,
        report: &mut Report,
    ) {
        let &Tidy {
            tag, sender_sent, ..
        } = tidy;
        let t = rec.start(Phase::Cleanup);
        let step = tidy.step;
        let bin = Bin::new(&self.to, tidy.caps, tidy.folders);
        let result = async {
            // One retry on a fresh connection: a drop mid-cleanup must not leave the probe.
            let mut last = String::new();
            for attempt in 0..2 {
                if attempt > 0 || w.session.is_none() {
                    match watch::open_folder(&self.to, &w.folder, step).await {
                        Ok((s, _, _)) => w.session = Some(s),
                        Err(f) => {
                            last = f.diagnosis.summary;
                            continue;
                        }
                    }
                }
                let Some(session) = w.session.as_mut() else {
                    continue;
                };
                let found = (
                    w.folder.as_str(),
                    w.watermark,
                    w.interest.matches.as_slice(),
                );
                match delete_found(session, found, bin, tag, step).await {
                    Ok(done) => return Ok(done),
                    Err(e) => {
                        tracing::debug!(error = %e, attempt, "cleanup failed");
                        last = e.to_string();
                        w.session = None;
                    }
                }
            }
            Err(last)
        };
        let found = tokio::time::timeout(CLEANUP_BUDGET, result).await;
        let sent = self.cleanup_sent(w, tidy, report).await;
        let mut sender_watch = sender_watch;
        let sender_copies = self.finish_sender(&mut sender_watch, tidy, report).await;
        match found {
            Ok(Ok((n, total, warning))) => {
                report.evidence.copies = report.evidence.copies.max(total as u32);
                let mut detail = format!(
                    "deleted {n} of {total} cop{} from {}",
                    if total == 1 { "y" } else { "ies" },
                    w.folder
                );
                if sent > 0 {
                    detail.push_str(&format!(" and {sent} from Sent"));
                }
                if let Some(s) = sender_sent.filter(|_| sender_copies > 0) {
                    detail.push_str(&format!(
                        " and {sender_copies} from the sender's {}",
                        s.folder
                    ));
                }
                if let Some(warn) = warning {
                    detail.push_str(&format!("; {warn}"));
                    report.warnings.push(warn);
                    rec.push(Phase::Cleanup, t, false, detail);
                } else {
                    rec.ok(Phase::Cleanup, t, detail);
                }
            }
            Ok(Err(e)) => {
                report.warnings.push(format!(
                    "cleanup failed; the probe may still be in {}: {e}",
                    w.folder
                ));
                rec.push(Phase::Cleanup, t, false, format!("failed: {e}"));
            }
            Err(_) => {
                report.warnings.push(format!(
                    "cleanup timed out; the probe may still be in {}",
                    w.folder
                ));
                rec.push(Phase::Cleanup, t, false, "timed out".into());
            }
        }
    }

    /// For a cross-account probe: deletes the copy the sender's server filed in its Sent
    /// (unless `--keep`) and closes the sender's watch. Problems become warnings; returns how
    /// many copies were deleted. Safe to call again: the watch is taken.
    pub(super) async fn finish_sender(
        &self,
        watch: &mut Option<CheckWatch>,
        tidy: &Tidy<'_>,
        report: &mut Report,
    ) -> usize {
        let watch = watch.take();
        let tag = tidy.tag;
        match tidy.sender_sent {
            Some(s) if !self.keep => {
                let step = tidy.step;
                let conn = watch.and_then(|mut w| Some((w.session.take()?, w.caps)));
                match s
                    .clean(&self.from, conn, Ours::Tag(tag), step, CLEANUP_BUDGET)
                    .await
                {
                    Ok((n, warning)) => {
                        report.warnings.extend(warning);
                        n
                    }
                    Err(e) => {
                        report.warnings.push(format!(
                            "could not clean the sender's copy in {}: {e}",
                            s.folder
                        ));
                        0
                    }
                }
            }
            _ => {
                if let Some(mut w) = watch {
                    imap::logout(w.session.take()).await;
                }
                0
            }
        }
    }

    /// Ends a check that found no probe to fetch (a bounce, a timeout): deletes the Sent copy
    /// when `clean_sent`, logs the winning watch out and finishes the sender's watch.
    pub(super) async fn end_unfound(
        &self,
        winner: &mut CheckWatch,
        clean_sent: bool,
        sender_watch: &mut Option<CheckWatch>,
        tidy: &Tidy<'_>,
        report: &mut Report,
    ) {
        if clean_sent {
            self.cleanup_sent(winner, tidy, report).await;
        }
        imap::logout(winner.session.take()).await;
        self.finish_sender(sender_watch, tidy, report).await;
    }

    /// Deletes the copy the server filed in Sent (Gmail does), found by tag above the Sent
    /// watermark. Returns how many were deleted.
    pub(super) async fn cleanup_sent(
        &self,
        w: &mut CheckWatch,
        tidy: &Tidy<'_>,
        report: &mut Report,
    ) -> usize {
        let (Some((sent, mark)), Some(session)) = (tidy.sent_mark, w.session.as_mut()) else {
            return 0;
        };
        let copies = SentCopies::at(sent.clone(), *mark, tidy.folders.clone());
        let work = copies.delete(session, &self.to, tidy.caps, Ours::Tag(tidy.tag), tidy.step);
        match tokio::time::timeout(CLEANUP_BUDGET, work).await {
            Ok(Ok((n, warning))) => {
                if let Some(w) = warning {
                    report.warnings.push(w);
                }
                n
            }
            Ok(Err(e)) => {
                report
                    .warnings
                    .push(format!("could not clean the Sent copy: {e}"));
                0
            }
            Err(_) => {
                report
                    .warnings
                    .push("cleaning the Sent copy timed out".into());
                0
            }
        }
    }
}

/// Counts every copy of the probe in the found folder again (a duplicate may have landed
/// since the first sighting) and deletes exactly those. Returns (deleted, copies, warning).
async fn delete_found(
    session: &mut imap::Session,
    (folder, watermark, matches): (&str, u32, &[u32]),
    bin: Bin<'_>,
    tag: &str,
    step: Duration,
) -> async_imap::error::Result<(usize, usize, Option<String>)> {
    let again = cleanup::copies(session, watermark, Ours::Tag(tag), step).await?;
    let mut uids = matches.to_vec();
    for u in again {
        if !uids.contains(&u) {
            uids.push(u);
        }
    }
    let (n, warning) =
        cleanup::delete_exactly(session, bin, folder, &uids, Ours::Tag(tag), step).await?;
    Ok((n, uids.len(), warning))
}
