//! Exact cleanup: find every copy of a probe above a mark (`copies`) and delete exactly those
//! UIDs (`UID STORE` + `UID EXPUNGE`, or `UID MOVE` to `\Trash` and a purge there where expunge
//! archives), never a bare EXPUNGE or CLOSE; COPYUID and compact UID sets.

use std::collections::HashSet;
use std::time::Duration;

use async_imap::imap_proto::rfc4315::UidSetMember;
use async_imap::imap_proto::{Response, ResponseCode};
use async_imap::types::UnsolicitedResponse;
use futures::TryStreamExt;

use super::imap::{
    Caps, Folders, Session, collected, drain_news, fetch_from, select, uid_next, within,
};
use super::watch::tags::{TAG_ITEMS, carries, tag_of};
use crate::config::Account;

/// Each cleanup command's limit: at least 5 s, however short the watch's steps were (a
/// deletion is worth waiting for).
pub(crate) fn step(watch_step: Duration) -> Duration {
    watch_step.max(Duration::from_secs(5))
}

/// Which messages are this run's to delete, read from their headers.
#[derive(Clone, Copy)]
pub(crate) enum Ours<'a> {
    /// One check's probe: the tag whole, in either carrier.
    Tag(&'a str),
    /// Any probe of a load run's or a monitor's table: the table says which tags are its own.
    AnyOf(&'a (dyn Fn(u128) -> bool + Sync)),
    /// A message that is not a probe (what a wait matched): known by UID only, so once moved
    /// it cannot be found again without the server's COPYUID.
    Unmarked,
}

impl Ours<'_> {
    /// Whether a header block is one of ours.
    pub(crate) fn owns(&self, header: &[u8]) -> bool {
        match self {
            Ours::Tag(tag) => carries(header, tag),
            Ours::AnyOf(is_ours) => tag_of(header).is_some_and(is_ours),
            Ours::Unmarked => false,
        }
    }
}

/// What deleting safely in one mailbox depends on: what the server can do, its folders (the
/// `\Trash`), and whether an expunge there archives instead of deleting.
#[derive(Clone, Copy)]
pub(crate) struct Bin<'a> {
    pub caps: &'a Caps,
    pub folders: &'a Folders,
    pub archives: bool,
}

impl<'a> Bin<'a> {
    pub(crate) fn new(account: &Account, caps: &'a Caps, folders: &'a Folders) -> Bin<'a> {
        Bin {
            caps,
            folders,
            archives: expunge_archives(account, caps),
        }
    }

    /// Whether deleting from `folder` goes by `\Trash` (MOVE there, then a purge there),
    /// which leaves `\Trash` selected.
    pub(crate) fn via_trash(&self, folder: &str) -> bool {
        goes_by_trash(self.archives, self.caps) && self.folders.trash.as_deref() != Some(folder)
    }
}

/// Whether deleting goes by `\Trash` (outside it): where an expunge archives, or there is
/// no UIDPLUS to expunge exactly.
pub(crate) fn goes_by_trash(archives: bool, caps: &Caps) -> bool {
    archives || !caps.uidplus
}

/// Whether an expunge in `account`'s mailbox archives the message instead of deleting it
/// (Gmail's default, or the account says so): deleting then goes by `\Trash`.
pub(crate) fn expunge_archives(account: &Account, caps: &Caps) -> bool {
    account.expunge_archives || caps.gmail
}

/// The UIDs of every copy of our probes at or above `mark` in the selected folder, matched
/// locally by either carrier (never server-side SEARCH, which indexes late).
pub(crate) async fn copies(
    session: &mut Session,
    mark: u32,
    ours: Ours<'_>,
    step: Duration,
) -> async_imap::error::Result<Vec<u32>> {
    let fetched = fetch_from(session, mark, TAG_ITEMS, step).await?;
    Ok(fetched
        .iter()
        .filter(|f| f.header().is_some_and(|h| ours.owns(h)))
        .filter_map(|f| f.uid)
        .collect())
}

/// Deletes exactly `uids` from the selected `folder`. Returns how many were removed and any
/// warning. Uses `UID STORE +FLAGS.SILENT (\Deleted)` + `UID EXPUNGE`, or `UID MOVE` to
/// `\Trash` and a purge there when the server archives on expunge; never EXPUNGE or CLOSE.
/// A message moved to `\Trash` is found there again by COPYUID, else by `ours`.
pub(crate) async fn delete_exactly(
    session: &mut Session,
    bin: Bin<'_>,
    folder: &str,
    uids: &[u32],
    ours: Ours<'_>,
    step: Duration,
) -> async_imap::error::Result<(usize, Option<String>)> {
    let Bin {
        caps,
        folders,
        archives,
    } = bin;
    if uids.is_empty() {
        return Ok((0, None));
    }
    let set = uid_set(uids);
    if bin.via_trash(folder) {
        let Some(trash) = folders.trash.as_deref() else {
            return Ok((
                0,
                Some(format!(
                    "left the probe in {folder}: the server archives on expunge or lacks \
                     UIDPLUS, and has no \\Trash folder"
                )),
            ));
        };
        if !caps.mv {
            return Ok((
                0,
                Some(format!(
                    "left the probe in {folder}: deleting it safely needs {} (never a bare EXPUNGE)",
                    if archives { "MOVE" } else { "UIDPLUS or MOVE" }
                )),
            ));
        }
        let trash_next = uid_next(session, trash, step).await?;
        drain_news(session);
        within(step, session.uid_mv(&set, trash)).await?;
        let mut moved: Vec<u32> = copyuid(session);
        select(session, trash, step).await?;
        // A message that is not a probe cannot be told apart there: no FETCH to look.
        if moved.is_empty() && !matches!(ours, Ours::Unmarked) {
            moved = copies(session, trash_next, ours, step).await?;
        }
        if moved.is_empty() {
            return Ok((
                0,
                Some(format!(
                    "moved {} message(s) to {trash} but left them there: the server did not \
                     say their new UIDs (COPYUID) and they could not be told apart there; \
                     delete them from {trash} by hand (UID {trash_next} or above)",
                    uids.len()
                )),
            ));
        }
        if !caps.uidplus {
            return Ok((
                0,
                Some(format!(
                    "moved the probe to {trash} but left it there: the server lacks UIDPLUS"
                )),
            ));
        }
        let n = expunge_uids(session, &moved, step).await?;
        return Ok((n.min(uids.len()), None));
    }
    if !caps.uidplus {
        return Ok((
            0,
            Some(format!(
                "left the probe in {folder}: the server lacks UIDPLUS"
            )),
        ));
    }
    let n = expunge_uids(session, uids, step).await?;
    Ok((n, None))
}

/// `UID STORE <uids> +FLAGS (\Deleted)` then `UID EXPUNGE <uids>` in the selected folder.
/// Returns how many of `uids` it removed, counted from the FETCH responses the (non-silent)
/// STORE gives for each of them: the EXPUNGE responses in the same reply as UID EXPUNGE also
/// report other sessions' expunges, so they are not a count of ours.
pub(crate) async fn expunge_uids(
    session: &mut Session,
    uids: &[u32],
    step: Duration,
) -> async_imap::error::Result<usize> {
    if uids.is_empty() {
        return Ok(0);
    }
    let set = uid_set(uids);
    let stored = collected(session, step, async |s: &mut Session| {
        s.uid_store(&set, "+FLAGS (\\Deleted)")
            .await?
            .try_collect()
            .await
    })
    .await?;
    let ours: HashSet<u32> = stored
        .iter()
        .filter_map(|f| f.uid)
        .filter(|u| uids.contains(u))
        .collect();
    // A server that leaves UID out of its FETCH responses: one response per message stored.
    let marked = if ours.is_empty() {
        stored.len().min(uids.len())
    } else {
        ours.len()
    };
    collected(session, step, async |s: &mut Session| {
        s.uid_expunge(&set).await?.try_collect().await
    })
    .await?;
    Ok(marked)
}

/// Destination UIDs from a `COPYUID` response code left by the last MOVE, if the server sent one.
fn copyuid(session: &mut Session) -> Vec<u32> {
    let mut out = Vec::new();
    while let Ok(r) = session.unsolicited_responses.try_recv() {
        if let UnsolicitedResponse::Other(data) = r
            && let Response::Data { outcome, .. } = data.parsed()
            && let Some(ResponseCode::CopyUid(_, _, dest)) = &outcome.code
        {
            for m in dest {
                match m {
                    UidSetMember::Uid(u) => out.push(*u),
                    UidSetMember::UidRange(r) => out.extend(r.clone()),
                }
            }
        }
    }
    out
}

/// A UID set with runs collapsed (`3,9:11`), so thousands of consecutive probes fit one line.
pub(crate) fn uid_set(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if end == start {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_collapse_runs() {
        assert_eq!(uid_set(&[3, 9, 10]), "3,9:10");
        assert_eq!(uid_set(&[12, 4, 5, 6, 4, 20]), "4:6,12,20");
        assert_eq!(uid_set(&[]), "");
    }
}
