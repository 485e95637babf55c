//! The JSON API under `/api/v1/` (documented in `docs/api.md`): list, search and long-poll
//! messages across every mailbox, fetch one (raw, headers, text, HTML, links, attachments),
//! delete, list mailboxes, read and set faults, and a change counter the web view polls.
//!
//! A message's id is `<UIDVALIDITY>-<UID>`: unique across the store, since every folder gets
//! its own UIDVALIDITY, and stable for the message's life.
//!
//! One file per resource: `messages` (list, search, delete), `message` (one message and its
//! parts), `mailboxes`, `faults`, `changes`; `found` finds messages for them.

mod changes;
mod faults;
mod found;
mod mailboxes;
mod message;
mod messages;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hyper::header::{ALLOW, HeaderValue};
use hyper::{Method, StatusCode};

use super::view::Parsed;
use super::{Handler, Request, Response, error, json};
use crate::server::{Addrs, Shared};

/// The API's state: the server it shows and a cache of parsed messages.
pub struct Api {
    shared: Arc<Shared>,
    addrs: Addrs,
    cache: Mutex<HashMap<(u32, u32), Arc<Parsed>>>,
}

/// The handler the router mounts on `/api/`.
pub fn handler(api: Arc<Api>) -> impl Handler {
    move |req: Request| {
        let api = api.clone();
        async move { api.handle(req).await }
    }
}

impl Api {
    pub fn new(shared: Arc<Shared>, addrs: Addrs) -> Api {
        Api {
            shared,
            addrs,
            cache: Mutex::new(HashMap::new()),
        }
    }

    async fn handle(&self, req: Request) -> Response {
        let path = req.uri().path().to_string();
        let Some(rest) = path.strip_prefix("/api/v1") else {
            return error(
                StatusCode::NOT_FOUND,
                "not_found",
                "the API lives under /api/v1/",
            );
        };
        let segments: Vec<&str> = rest.trim_matches('/').split('/').collect();
        let method = req.method().clone();
        let query = req.uri().query();
        match (segments.as_slice(), &method) {
            (["messages"], &Method::GET) => self.list(query).await,
            (["messages"], &Method::DELETE) => self.delete_matching(query),
            (["messages"], _) => not_allowed("GET, DELETE"),
            (["messages", id], &Method::GET) => self.detail(id),
            (["messages", id], &Method::DELETE) => self.delete_one(id),
            (["messages", _], _) => not_allowed("GET, DELETE"),
            (["messages", id, "raw"], &Method::GET) => self.raw(id),
            (["messages", id, "html"], &Method::GET) => self.html(id),
            (["messages", id, "attachments", n], &Method::GET) => self.attachment(id, n),
            (["messages", _, "raw" | "html"], _) | (["messages", _, "attachments", _], _) => {
                not_allowed("GET")
            }
            (["mailboxes"], &Method::GET) => self.mailboxes(),
            (["mailboxes"], _) => not_allowed("GET"),
            (["faults"], &Method::GET) => self.faults(),
            (["faults"], &Method::PUT) => self.set_faults(req.body()),
            (["faults"], &Method::DELETE) => self.clear_faults(),
            (["faults"], _) => not_allowed("GET, PUT, DELETE"),
            (["changes"], &Method::GET) => self.changes(query).await,
            (["changes"], _) => not_allowed("GET"),
            (["info"] | [""], &Method::GET) => self.info(),
            _ => error(
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("no such endpoint: {method} {path} (see docs/api.md)"),
            ),
        }
    }

    fn info(&self) -> Response {
        let config = &self.shared.config;
        let a = &self.addrs;
        json(
            StatusCode::OK,
            &serde_json::json!({
                "name": "mailtrip",
                "version": env!("CARGO_PKG_VERSION"),
                "profile": config.profile,
                "hostname": config.hostname,
                "catch_all": self.shared.store.auto_creates(),
                "smtp": a.smtp.to_string(),
                "submission": a.submission.to_string(),
                "smtps": a.smtps.to_string(),
                "imap": a.imap.to_string(),
                "imaps": a.imaps.to_string(),
            }),
        )
    }
}

fn unknown(id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        &format!("no message with id {id:?}"),
    )
}

fn bad(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "bad_query", message)
}

fn not_allowed(allow: &'static str) -> Response {
    let mut r = error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        &format!("this endpoint takes {allow}"),
    );
    r.headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    r
}
