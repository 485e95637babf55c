//! [`Sweep`]: find mailtrip's own probes left behind by earlier runs (kept, late, or a cleanup
//! that failed) in INBOX, `\Junk`, `\Sent`, `\Archive` and `\All`, and delete exactly those by
//! UID. A message counts only when it is provably a probe of the sender (see `leftovers`): a
//! UUID tag in the tag header or the Message-ID, the subject carrying it, one From that is the
//! sender, and a body that matches its digest.

use std::time::Duration;

use serde::Serialize;

use super::cleanup::{self, Bin, Ours};
use super::imap;
use super::leftovers::{self, Leftover};
use crate::config::Account;
use crate::diagnose::{self, Code, Diagnosis, Protocol};

/// Finds and deletes leftover probes in one mailbox.
#[derive(Debug, Clone)]
pub struct Sweep {
    mailbox: Account,
    sender: String,
    older_than: Option<Duration>,
    step: Duration,
}

/// What a sweep found (and deleted).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepReport {
    /// The mailbox swept (login name).
    pub account: String,
    /// The sender whose probes count.
    pub sender: String,
    /// Folders looked in.
    pub folders: Vec<String>,
    /// Only probes older than this many seconds were listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub older_than_s: Option<u64>,
    /// The probes found (all of them, deleted or not).
    pub found: Vec<Leftover>,
    /// How many were deleted (0 for a dry run).
    pub deleted: usize,
    /// True when nothing was to be deleted (`--dry-run`, no confirmation).
    pub dry_run: bool,
    /// What went wrong without stopping the sweep.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Sweep {
    /// Sweeps `mailbox` for probes sent by its own address.
    pub fn new(mailbox: Account) -> Sweep {
        let sender = mailbox.address.clone();
        Sweep {
            mailbox,
            sender,
            older_than: None,
            step: Duration::from_secs(30),
        }
    }

    /// Count probes sent by this address instead (an A → B setup sweeps B for A's probes).
    pub fn sender(mut self, address: impl Into<String>) -> Sweep {
        self.sender = address.into();
        self
    }

    /// Only probes sent longer ago than this.
    pub fn older_than(mut self, age: Duration) -> Sweep {
        self.older_than = Some(age);
        self
    }

    fn fail(&self, detail: &str) -> Diagnosis {
        diagnose::transport(
            Code::ServerError,
            Protocol::Imap,
            &self.mailbox.imap.authority(),
            detail,
        )
    }

    /// Lists the leftovers without changing anything.
    pub async fn list(&self) -> Result<SweepReport, Diagnosis> {
        let (mut session, _caps) = imap::connect(&self.mailbox, self.step, None)
            .await
            .map_err(|f| f.diagnosis)?;
        let result = self.list_on(&mut session).await;
        imap::logout(Some(session)).await;
        result.map(|(report, _)| report)
    }

    async fn list_on(
        &self,
        session: &mut imap::Session,
    ) -> Result<(SweepReport, imap::Folders), Diagnosis> {
        let folders = imap::folders(session, self.step)
            .await
            .map_err(|e| self.fail(&format!("LIST failed: {e}")))?;
        let mut names = vec!["INBOX".to_string()];
        for f in [&folders.junk, &folders.sent, &folders.archive, &folders.all]
            .into_iter()
            .flatten()
        {
            if !names.contains(f) {
                names.push(f.clone());
            }
        }
        let mut found = Vec::new();
        let mut warnings = Vec::new();
        let now = chrono::Utc::now().fixed_offset();
        for name in &names {
            match leftovers::find_in(session, name, &self.sender, self.step).await {
                Ok(list) => found.extend(list.into_iter().filter(|l| {
                    match self.older_than {
                        Some(min) => l
                            .age(now)
                            .and_then(|a| a.to_std().ok())
                            .is_some_and(|a| a >= min),
                        None => true,
                    }
                })),
                Err(e) => warnings.push(format!("could not search {name}: {e}")),
            }
        }
        Ok((
            SweepReport {
                account: self.mailbox.user.clone(),
                sender: self.sender.clone(),
                folders: names,
                older_than_s: self.older_than.map(|d| d.as_secs()),
                found,
                deleted: 0,
                dry_run: true,
                warnings,
            },
            folders,
        ))
    }

    /// Deletes what `listed` holds, each message re-checked by UID against every criterion
    /// first; nothing else is touched.
    pub async fn delete(&self, listed: &SweepReport) -> Result<SweepReport, Diagnosis> {
        let (mut session, caps) = imap::connect(&self.mailbox, self.step, None)
            .await
            .map_err(|f| f.diagnosis)?;
        let result = async {
            let (now, folders) = self.list_on(&mut session).await?;
            let mut report = listed.clone();
            report.dry_run = false;
            let bin = Bin::new(&self.mailbox, &caps, &folders);
            for name in &now.folders {
                // Still there and still a probe: the intersection of then and now.
                let targets: Vec<&Leftover> = listed
                    .found
                    .iter()
                    .filter(|l| &l.folder == name)
                    .filter(|l| {
                        now.found
                            .iter()
                            .any(|n| n.folder == l.folder && n.uid == l.uid && n.tag == l.tag)
                    })
                    .collect();
                if targets.is_empty() {
                    continue;
                }
                if let Err(e) = imap::select(&mut session, name, self.step).await {
                    report.warnings.push(format!("could not open {name}: {e}"));
                    continue;
                }
                for l in targets {
                    let ours = Ours::Tag(&l.tag);
                    let done =
                        cleanup::delete_exactly(&mut session, bin, name, &[l.uid], ours, self.step)
                            .await;
                    match done {
                        Ok((n, warning)) => {
                            report.deleted += n;
                            report.warnings.extend(warning);
                        }
                        Err(e) => report
                            .warnings
                            .push(format!("deleting {name} UID {} failed: {e}", l.uid)),
                    }
                    // delete_exactly may have left the folder (MOVE to Trash): back to it.
                    if imap::select(&mut session, name, self.step).await.is_err() {
                        break;
                    }
                }
            }
            Ok(report)
        }
        .await;
        imap::logout(Some(session)).await;
        result
    }
}
