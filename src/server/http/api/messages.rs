//! `/api/v1/messages`: list and search (long-polling with `wait`), newest first, and delete
//! what matches a query.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use hyper::StatusCode;
use serde::Serialize;

use super::super::query;
use super::super::view::{Addr, Parsed};
use super::super::{Response, error, json};
use super::Api;
use super::found::Found;
use crate::server::fault_spec::format_span;
use crate::server::until_shutdown;

/// One message in a list.
#[derive(Debug, Serialize)]
pub(super) struct Summary<'a> {
    id: String,
    /// The mailbox (user) it was delivered to.
    mailbox: &'a str,
    folder: &'a str,
    uid: u32,
    /// When the server stored it, RFC 3339 with milliseconds.
    received_at: String,
    size: usize,
    flags: &'a [String],
    message_id: Option<&'a str>,
    from: Option<&'a Addr>,
    to: &'a [Addr],
    cc: &'a [Addr],
    subject: &'a str,
    date: Option<&'a str>,
    delivered_to: Option<&'a str>,
    snippet: String,
    has_html: bool,
    attachments: usize,
}

impl Api {
    pub(super) async fn list(&self, query: Option<&str>) -> Response {
        let now = Utc::now();
        let search = match query::parse(query, now) {
            Ok(s) => s,
            Err(e) => return error(StatusCode::BAD_REQUEST, "bad_query", &e),
        };
        let Some(wait) = search.wait else {
            return listing(&self.search(&search.filter), search.limit);
        };
        let mut filter = search.filter.clone();
        if !search.existing && filter.since.is_none() {
            filter.since = Some(now.fixed_offset());
        }
        let mut changes = self.shared.store.subscribe();
        let mut shutdown = self.shared.shutdown();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            changes.borrow_and_update();
            let found = self.search(&filter);
            if !found.is_empty() {
                return listing(&found, search.limit);
            }
            tokio::select! {
                r = changes.changed() => if r.is_err() { break },
                _ = tokio::time::sleep_until(deadline) => break,
                _ = until_shutdown(&mut shutdown) => break,
            }
        }
        error(
            StatusCode::NOT_FOUND,
            "timeout",
            &format!("no message matched within {}", format_span(wait)),
        )
    }

    pub(super) fn delete_matching(&self, query: Option<&str>) -> Response {
        let search = match query::parse(query, Utc::now()) {
            Ok(s) => s,
            Err(e) => return error(StatusCode::BAD_REQUEST, "bad_query", &e),
        };
        if search.wait.is_some() || search.existing {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_query",
                "wait and existing are for GET; DELETE removes what matches now",
            );
        }
        let mut by_folder: HashMap<(String, String), Vec<u32>> = HashMap::new();
        for (f, _) in self.search(&search.filter) {
            by_folder
                .entry((f.owner, f.folder))
                .or_default()
                .push(f.msg.uid);
        }
        let mut deleted = 0;
        for ((owner, folder), uids) in by_folder {
            deleted += self
                .shared
                .store
                .remove(&owner, &folder, &uids)
                .map(|r| r.len())
                .unwrap_or(0);
        }
        json(StatusCode::OK, &serde_json::json!({ "deleted": deleted }))
    }
}

pub(super) fn summary<'a>(f: &'a Found, p: &'a Parsed) -> Summary<'a> {
    Summary {
        id: f.id(),
        mailbox: &f.owner,
        folder: &f.folder,
        uid: f.msg.uid,
        received_at: rfc3339(&f.msg.internal_date),
        size: f.msg.size(),
        flags: &f.msg.flags,
        message_id: p.message_id.as_deref(),
        from: p.from.first(),
        to: &p.to,
        cc: &p.cc,
        subject: &p.subject,
        date: p.date.as_deref(),
        delivered_to: p.delivered_to.as_deref(),
        snippet: p.snippet(160),
        has_html: p.html.is_some(),
        attachments: p.attachments.len(),
    }
}

fn rfc3339(t: &DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `{"total": N, "count": n, "messages": [...]}`, newest first.
fn listing(found: &[(Found, Arc<Parsed>)], limit: usize) -> Response {
    let messages: Vec<Summary<'_>> = found
        .iter()
        .take(limit)
        .map(|(f, p)| summary(f, p))
        .collect();
    #[derive(Serialize)]
    struct Listing<'a> {
        total: usize,
        count: usize,
        messages: Vec<Summary<'a>>,
    }
    let listing = Listing {
        total: found.len(),
        count: messages.len(),
        messages,
    };
    json(StatusCode::OK, &listing)
}
