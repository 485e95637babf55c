//! How a probe is recognised in a look's headers (by `X-Mailtrip-Probe`, or by its Message-ID
//! `<tag@domain>` when a gateway stripped the header; never by a look-alike), and the two
//! [`Interest`]s built on that: [`One`] probe (check, with bounces on the sender's side) and
//! [`Many`] probes in a shared table (load, and the monitor's settle mode that fetches and
//! deletes each probe as soon as it is seen).

use std::sync::Arc;
use std::time::Duration;

use async_imap::types::Fetch;

use super::{Conn, Interest};
use crate::probe::Failure;
use crate::probe::cleanup::{self, Bin, Ours};
use crate::probe::imap;
use crate::probe::message::TAG_HEADER;
use crate::probe::verify::header_field;
use crate::report::SeenBy;

/// What a look fetches to recognise probes: the two headers that carry the whole tag.
pub(crate) const TAG_ITEMS: &str = "(UID BODY.PEEK[HEADER.FIELDS (X-MAILTRIP-PROBE MESSAGE-ID)])";
/// The same, plus Content-Type to spot delivery status notifications.
const TAG_AND_TYPE_ITEMS: &str =
    "(UID BODY.PEEK[HEADER.FIELDS (X-MAILTRIP-PROBE MESSAGE-ID CONTENT-TYPE)])";

/// The local part of a Message-ID (`<tag@domain>` → `tag`), which is the tag for a probe.
pub fn message_id_tag(value: &str) -> Option<&str> {
    let id = value.trim().strip_prefix('<')?.strip_suffix('>')?;
    let (local, domain) = id.split_once('@')?;
    (!local.is_empty() && !domain.is_empty()).then_some(local)
}

/// Whether a header block carries `tag` whole, in either carrier: a gateway may strip the
/// tag header, and a look-alike that only shares the subject never counts.
pub(crate) fn carries(header: &[u8], tag: &str) -> bool {
    header_field(header, TAG_HEADER).is_some_and(|v| v == tag)
        || header_field(header, "Message-ID").is_some_and(|v| message_id_tag(&v) == Some(tag))
}

/// The tag a header block carries as a UUID: the tag header, else the Message-ID's local part.
/// Only tags of this run's probes count (the table decides), so a look-alike never does.
pub(crate) fn tag_of(header: &[u8]) -> Option<u128> {
    let parse = |v: &str| uuid::Uuid::parse_str(v.trim()).ok();
    header_field(header, TAG_HEADER)
        .and_then(|v| parse(&v))
        .or_else(|| {
            header_field(header, "Message-ID").and_then(|v| message_id_tag(&v).and_then(parse))
        })
        .map(|u| u.as_u128())
}

/// Whether a Content-Type value is an RFC 3464 delivery status notification.
pub fn is_delivery_report(content_type: &str) -> bool {
    let v = content_type.to_ascii_lowercase();
    v.contains("multipart/report")
        && v.replace([' ', '"'], "")
            .contains("report-type=delivery-status")
}

/// Whether `raw` mentions the Message-ID `id` (with or without angle brackets) as a whole.
fn quotes_message_id(raw: &[u8], id: &str) -> bool {
    let bare = id.trim_matches(|c| c == '<' || c == '>');
    let needle = format!("<{bare}>");
    raw.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// One probe (`check`): its copies by tag, and, watching the sender's mailbox, a delivery
/// status notification that quotes its Message-ID.
#[derive(Debug)]
pub(crate) struct One {
    tag: String,
    /// Also stop on a bounce that quotes this Message-ID.
    bounce_for: Option<String>,
    /// UIDs of the probe's copies.
    pub matches: Vec<u32>,
    /// What made the watcher look when it first saw the probe.
    pub seen_by: Option<SeenBy>,
    /// The bounce found: its UID and bytes.
    pub bounce: Option<(u32, Vec<u8>)>,
    /// Delivery status notifications not read yet.
    reports: Vec<u32>,
}

impl One {
    pub(crate) fn new(tag: &str) -> One {
        One {
            tag: tag.to_string(),
            bounce_for: None,
            matches: Vec::new(),
            seen_by: None,
            bounce: None,
            reports: Vec::new(),
        }
    }

    /// Also ends on a bounce quoting `message_id`.
    pub(crate) fn bounces_of(mut self, message_id: &str) -> One {
        self.bounce_for = Some(message_id.to_string());
        self
    }
}

impl Interest for One {
    fn items(&self) -> &'static str {
        if self.bounce_for.is_some() {
            TAG_AND_TYPE_ITEMS
        } else {
            TAG_ITEMS
        }
    }

    fn seen(&mut self, by: SeenBy, fetched: &[Fetch]) {
        for f in fetched {
            let (Some(uid), Some(h)) = (f.uid, f.header()) else {
                continue;
            };
            if carries(h, &self.tag) {
                self.matches.push(uid);
                self.seen_by.get_or_insert(by);
            } else if self.bounce_for.is_some()
                && header_field(h, "Content-Type").is_some_and(|v| is_delivery_report(&v))
            {
                self.reports.push(uid);
            }
        }
    }

    async fn settle(&mut self, conn: Conn<'_>) -> async_imap::error::Result<()> {
        let Some(id) = self.bounce_for.as_deref() else {
            return Ok(());
        };
        if !self.matches.is_empty() {
            return Ok(());
        }
        while let Some(&uid) = self.reports.first() {
            if let Some(f) = imap::fetch_raw(conn.session, uid, conn.step).await?
                && quotes_message_id(&f.raw, id)
            {
                self.bounce = Some((uid, f.raw));
                self.reports.clear();
                return Ok(());
            }
            self.reports.remove(0);
        }
        Ok(())
    }

    fn done(&self) -> bool {
        !self.matches.is_empty() || self.bounce.is_some()
    }
}

/// What a watcher of many probes reports to: a load run's table of outstanding tags, or the
/// monitor's. Only `matched` is required; `fetched` and `cleaned` serve settle mode.
pub(crate) trait Tags: Send + Sync + 'static {
    /// Records sightings from one look (tag, UID) in `place`; returns the UIDs that are ours.
    fn matched(&self, hits: &[(u128, u32)], place: &Place, by: SeenBy) -> Vec<u32>;

    /// Settle mode: a matched probe's whole message (`None`: the server returned no body).
    fn fetched(&self, _tag: u128, _raw: Option<&[u8]>, _took: Duration) {}

    /// Settle mode: the probes just deleted (how many went), or why they could not be.
    fn cleaned(&self, _tags: &[u128], _took: Duration, _result: Result<usize, String>) {}

    /// The watcher's connection is up (`Ok`) or failed, and in which phase.
    fn connection(&self, _target: usize, _folder: &str, _status: Result<(), &Failure>) {}
}

/// The folder a [`Many`] watcher looks in, as its table knows it.
pub(crate) struct Place {
    /// The target (mailbox) it belongs to, by index.
    pub target: usize,
    /// The folder's name.
    pub folder: String,
    /// It is the target's spam folder.
    pub junk: bool,
}

/// Many probes at once (`load`, `monitor`): every look's tags go to a shared table.
pub(crate) struct Many<T> {
    table: Arc<T>,
    place: Place,
    /// Settle mode: fetch, report and delete each probe as soon as it is matched.
    settle: bool,
    /// UIDs of this run's probes seen here (every copy), for the bulk cleanup at the end.
    pub found: Vec<u32>,
    /// Settle mode: matched probes not yet deleted (tag, UID, fetched already).
    pending: Vec<(u128, u32, bool)>,
}

impl<T: Tags> Many<T> {
    /// Reports to `table` as the watcher of target `target`'s `folder` (`junk`: its spam
    /// folder).
    pub(crate) fn new(table: Arc<T>, target: usize, folder: &str, junk: bool) -> Many<T> {
        Many {
            table,
            place: Place {
                target,
                folder: folder.to_string(),
                junk,
            },
            settle: false,
            found: Vec::new(),
            pending: Vec::new(),
        }
    }

    /// Settle mode for a long-running monitor: every matched probe is fetched, handed to
    /// [`Tags::fetched`] and deleted at once.
    #[cfg(feature = "monitor")]
    pub(crate) fn settling(mut self) -> Many<T> {
        self.settle = true;
        self
    }
}

impl<T: Tags> Interest for Many<T> {
    fn items(&self) -> &'static str {
        TAG_ITEMS
    }

    fn seen(&mut self, by: SeenBy, fetched: &[Fetch]) {
        let hits: Vec<(u128, u32)> = fetched
            .iter()
            .filter_map(|f| Some((f.header().and_then(tag_of)?, f.uid?)))
            .collect();
        if hits.is_empty() {
            return;
        }
        let ours = self.table.matched(&hits, &self.place, by);
        if self.settle {
            let mine = hits.iter().filter(|(_, uid)| ours.contains(uid));
            self.pending
                .extend(mine.map(|&(tag, uid)| (tag, uid, false)));
        } else {
            self.found.extend(ours);
        }
    }

    /// Settle mode: fetches each pending probe (once), reports it, then deletes them all by
    /// UID. A lost connection keeps them pending for the next connection; a refusal is
    /// reported and dropped (the monitor's restart sweep gets what is left).
    async fn settle(&mut self, conn: Conn<'_>) -> async_imap::error::Result<()> {
        if !self.settle || self.pending.is_empty() {
            return Ok(());
        }
        let Conn {
            session,
            account,
            caps,
            folders,
            folder,
            step,
        } = conn;
        for (tag, uid, fetched) in self.pending.iter_mut().filter(|p| !p.2) {
            let t = std::time::Instant::now();
            let got = imap::fetch_raw(session, *uid, step).await?;
            self.table
                .fetched(*tag, got.as_ref().map(|f| f.raw.as_slice()), t.elapsed());
            *fetched = true;
        }
        let t = std::time::Instant::now();
        let uids: Vec<u32> = self.pending.iter().map(|p| p.1).collect();
        let tags: Vec<u128> = self.pending.iter().map(|p| p.0).collect();
        let bin = Bin::new(account, caps, folders);
        let leaves_folder = bin.via_trash(folder);
        let ours = |tag| tags.contains(&tag);
        let done =
            cleanup::delete_exactly(session, bin, folder, &uids, Ours::AnyOf(&ours), step).await;
        let result = match done {
            Ok((n, None)) => Ok(n),
            Ok((_, Some(warning))) => Err(warning),
            Err(
                e @ (async_imap::error::Error::Io(_) | async_imap::error::Error::ConnectionLost),
            ) => return Err(e),
            Err(e) => Err(format!("cleanup in {folder} failed: {e}")),
        };
        self.table.cleaned(&tags, t.elapsed(), result);
        self.pending.clear();
        if leaves_folder {
            // The MOVE to Trash selected Trash: back to the watched folder.
            imap::select(session, folder, step).await?;
        }
        Ok(())
    }

    fn connection(&mut self, folder: &str, status: Result<(), &Failure>) {
        self.table.connection(self.place.target, folder, status);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn either_carrier_of_the_whole_tag_matches_and_a_look_alike_does_not() {
        let tag = "0193ab12-3c4d-7e5f-8a9b-0c1d2e3f4a5b";
        let header = format!("X-Mailtrip-Probe: {tag}\r\n\r\n");
        assert!(carries(header.as_bytes(), tag));
        // The tag header stripped by a gateway: the Message-ID still carries it.
        let stripped = format!("Message-ID: <{tag}@mailtrip.test>\r\n\r\n");
        assert!(carries(stripped.as_bytes(), tag));
        assert_eq!(
            tag_of(stripped.as_bytes()),
            Some(uuid::Uuid::parse_str(tag).map(|u| u.as_u128()).unwrap_or(0))
        );
        // Only the first 8 hex digits (the subject's share), or another tag: no match.
        let alike = "X-Mailtrip-Probe: 0193ab12\r\nMessage-ID: <0193ab12@mailtrip.test>\r\n\r\n";
        assert!(!carries(alike.as_bytes(), tag));
        assert_eq!(tag_of(alike.as_bytes()), None);
    }

    #[test]
    fn delivery_reports_are_recognised_by_content_type() {
        assert!(is_delivery_report(
            "multipart/report; report-type=\"delivery-status\"; boundary=x"
        ));
        assert!(!is_delivery_report("multipart/mixed; boundary=x"));
        assert!(quotes_message_id(b"...<Probe@Example>...", "probe@example"));
        assert!(!quotes_message_id(
            b"...<probe@example.org>...",
            "probe@example"
        ));
    }
}
