//! The sender's own copy of a cross-account probe: Gmail (and other servers that file what a
//! user submits) put one in the sender's `\Sent`. Its UIDNEXT is noted before sending, and
//! afterwards exactly the copies carrying this run's tag above it are deleted.

use std::time::Duration;

use super::cleanup;
use super::imap::{self, Caps, Folders, Session};
use crate::config::Account;

/// Where the sender's copy of the probe would land: the `\Sent` folder and its UIDNEXT
/// before sending, with the sender's folder list (cleanup needs its `\Trash`).
#[derive(Debug, Clone)]
pub(crate) struct SenderSent {
    pub folder: String,
    mark: u32,
    folders: Folders,
}

impl SenderSent {
    /// Notes the sender's `\Sent` folder and its UIDNEXT (LIST + STATUS on a connection to
    /// the sender's mailbox; the selected folder stays as it was). `None` when the server has
    /// no `\Sent` folder or will not say.
    pub(crate) async fn note(session: &mut Session, step: Duration) -> Option<SenderSent> {
        let folders = imap::folders(session, step).await.ok()?;
        let folder = folders.sent.clone()?;
        let mark = imap::uid_next(session, &folder, step).await.ok()?;
        Some(SenderSent {
            folder,
            mark,
            folders,
        })
    }

    /// Deletes the copies tagged `tag` above the mark, over `conn` (the sender's watch's
    /// connection) when it still has one, else a fresh one, then logs out. Returns how
    /// many were deleted, or what went wrong in words for a warning.
    pub(crate) async fn clean(
        &self,
        sender: &Account,
        conn: Option<(Session, Caps)>,
        tag: &str,
        step: Duration,
        budget: Duration,
    ) -> Result<usize, String> {
        let (mut session, caps) = match conn {
            Some(c) => c,
            None => imap::connect(sender, step, None)
                .await
                .map_err(|f| f.diagnosis.summary)?,
        };
        let archives = sender.expunge_archives || caps.gmail;
        let work = async {
            imap::select(&mut session, &self.folder, step).await?;
            let found = cleanup::copies(&mut session, self.mark, tag, step).await?;
            cleanup::delete_exactly(
                &mut session,
                &caps,
                &self.folders,
                &self.folder,
                &found,
                tag,
                archives,
                step,
            )
            .await
        };
        let done = tokio::time::timeout(budget, work).await;
        imap::logout(Some(session)).await;
        match done {
            Ok(Ok((n, None))) => Ok(n),
            Ok(Ok((_, Some(warning)))) => Err(warning),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timed out".into()),
        }
    }
}
