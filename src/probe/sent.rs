//! The copies of probes a server files in the sending account's `\Sent` (Gmail does, for
//! every message a user submits): its UIDNEXT is noted before sending, and afterwards exactly
//! the copies above it that are this run's are deleted. `check` and `load` both use it.

use std::time::Duration;

use super::cleanup::{self, Bin, Ours};
use super::imap::{self, Caps, Folders, Session};
use crate::config::Account;

/// Where the sender's copies of the probes would land: the `\Sent` folder and its UIDNEXT
/// before sending, with the mailbox's folder list (cleanup needs its `\Trash`).
#[derive(Debug, Clone)]
pub(crate) struct SentCopies {
    pub folder: String,
    mark: u32,
    folders: Folders,
}

impl SentCopies {
    /// The `\Sent` folder of `folders` with its UIDNEXT `mark`, already noted.
    pub(crate) fn at(folder: String, mark: u32, folders: Folders) -> SentCopies {
        SentCopies {
            folder,
            mark,
            folders,
        }
    }

    /// Notes the sender's `\Sent` folder and its UIDNEXT (LIST + STATUS on a connection to
    /// the sender's mailbox; the selected folder stays as it was). `None` when the server has
    /// no `\Sent` folder or will not say.
    pub(crate) async fn note(session: &mut Session, step: Duration) -> Option<SentCopies> {
        let folders = imap::folders(session, step).await.ok()?;
        let folder = folders.sent.clone()?;
        let mark = imap::uid_next(session, &folder, step).await.ok()?;
        Some(SentCopies::at(folder, mark, folders))
    }

    /// [`SentCopies::note`] over a connection of its own, logged out again (`load`, whose
    /// targets may all be other mailboxes).
    #[cfg(feature = "load")]
    pub(crate) async fn note_apart(account: &Account, step: Duration) -> Option<SentCopies> {
        let (mut session, _) = imap::connect(account, step, None).await.ok()?;
        let noted = SentCopies::note(&mut session, step).await;
        imap::logout(Some(session)).await;
        noted
    }

    /// Deletes our copies above the mark over `session` (which ends with `\Sent` selected
    /// when there was something to look at). STATUS first: most servers file no copy, and
    /// then nothing is selected or fetched. Returns how many went and any warning.
    pub(crate) async fn delete(
        &self,
        session: &mut Session,
        account: &Account,
        caps: &Caps,
        ours: Ours<'_>,
        step: Duration,
    ) -> async_imap::error::Result<(usize, Option<String>)> {
        if imap::uid_next(session, &self.folder, step).await? <= self.mark {
            return Ok((0, None));
        }
        imap::select(session, &self.folder, step).await?;
        let found = cleanup::copies(session, self.mark, ours, step).await?;
        let bin = Bin::new(account, caps, &self.folders);
        cleanup::delete_exactly(session, bin, &self.folder, &found, ours, step).await
    }

    /// [`SentCopies::delete`] over `conn` (the sender's watch's connection) when it still has
    /// one, else a fresh one, then logs out; all within `budget`. Returns how many were
    /// deleted and any warning, or what went wrong in words.
    pub(crate) async fn clean(
        &self,
        account: &Account,
        conn: Option<(Session, Caps)>,
        ours: Ours<'_>,
        step: Duration,
        budget: Duration,
    ) -> Result<(usize, Option<String>), String> {
        let deadline = tokio::time::Instant::now() + budget;
        let (mut session, caps) = match conn {
            Some(c) => c,
            None => {
                match tokio::time::timeout_at(deadline, imap::connect(account, step, None)).await {
                    Ok(connected) => connected.map_err(|f| f.diagnosis.summary)?,
                    Err(_) => return Err("timed out".into()),
                }
            }
        };
        let work = self.delete(&mut session, account, &caps, ours, step);
        let done = tokio::time::timeout_at(deadline, work).await;
        imap::logout(Some(session)).await;
        match done {
            Ok(done) => done.map_err(|e| e.to_string()),
            Err(_) => Err("timed out".into()),
        }
    }
}
