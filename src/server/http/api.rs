//! The JSON API under `/api/v1/` (documented in `docs/api.md`): list, search and long-poll
//! messages across every mailbox, fetch one (raw, headers, text, HTML, links, attachments),
//! delete, list mailboxes, read and set faults, and a change counter the web view polls.
//!
//! A message's id is `<UIDVALIDITY>-<UID>`: unique across the store, since every folder gets
//! its own UIDVALIDITY, and stable for the message's life.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use http_body_util::Full;
use hyper::header::{
    ALLOW, CONTENT_DISPOSITION, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HeaderValue,
};
use hyper::{Method, StatusCode};
use serde::Serialize;

use super::query::{self, Filter, MAX_WAIT};
use super::view::{Addr, Attachment, Header, Parsed};
use super::{Handler, Request, Response, error, json, no_store};
use crate::server::fault_spec::{FaultSpec, format_span, parse_span};
use crate::server::{Addrs, Faults, Shared, StoredMessage, until_shutdown};

/// The policy the HTML body is served under: no scripts, no remote anything (images,
/// styles, fonts, frames, forms), shown only inside this server's own pages.
pub const HTML_CSP: &str = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; \
     font-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'; sandbox";

/// Parsed messages kept, by id; the cache is dropped whole past this (bodies never change).
const CACHE_LIMIT: usize = 20_000;

/// The API's state: the server it shows and a cache of parsed messages.
pub struct Api {
    shared: Arc<Shared>,
    addrs: Addrs,
    cache: Mutex<HashMap<(u32, u32), Arc<Parsed>>>,
}

/// A stored message and where it is.
#[derive(Debug, Clone)]
struct Found {
    owner: String,
    folder: String,
    validity: u32,
    msg: StoredMessage,
}

impl Found {
    fn id(&self) -> String {
        format!("{}-{}", self.validity, self.msg.uid)
    }
}

/// The handler the router mounts on `/api/`.
pub fn handler(api: Arc<Api>) -> impl Handler {
    move |req: Request| {
        let api = api.clone();
        async move { api.handle(req).await }
    }
}

/// One message in a list.
#[derive(Debug, Serialize)]
struct Summary<'a> {
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

/// One message in full.
#[derive(Debug, Serialize)]
struct Detail<'a> {
    #[serde(flatten)]
    summary: Summary<'a>,
    bcc: &'a [Addr],
    reply_to: &'a [Addr],
    headers: &'a [Header],
    text: &'a str,
    html: Option<&'a str>,
    links: Vec<String>,
    attachments: Vec<AttachmentOut<'a>>,
    raw_url: String,
    html_url: Option<String>,
}

#[derive(Debug, Serialize)]
struct AttachmentOut<'a> {
    #[serde(flatten)]
    attachment: &'a Attachment,
    url: String,
}

#[derive(Debug, Serialize)]
struct Folder {
    name: String,
    role: Option<crate::server::SpecialUse>,
    messages: u32,
    unseen: u32,
}

#[derive(Debug, Serialize)]
struct MailboxOut {
    address: String,
    auto_created: bool,
    messages: u32,
    unseen: u32,
    folders: Vec<Folder>,
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

    /// The messages of every folder of every mailbox that pass the filter's cheap criteria
    /// (mailbox, folder, arrival), copied out under the store's lock (bodies are shared).
    fn stored(&self, filter: &Filter) -> Vec<Found> {
        let store = &self.shared.store;
        let mut out = Vec::new();
        for user in store.user_infos() {
            let Ok(folders) = store.list(&user.address) else {
                continue;
            };
            for f in folders.into_iter().filter(|f| f.selectable && f.exists > 0) {
                let _ = store.with_mailbox(&user.address, &f.name, |m| {
                    for msg in &m.messages {
                        if filter.matches_stored(&user.address, &f.name, &msg.internal_date) {
                            out.push(Found {
                                owner: user.address.clone(),
                                folder: f.name.clone(),
                                validity: f.uid_validity,
                                msg: msg.clone(),
                            });
                        }
                    }
                });
            }
        }
        out
    }

    /// The message with this id.
    fn find(&self, id: &str) -> Option<Found> {
        let (validity, uid) = id.split_once('-')?;
        let (validity, uid): (u32, u32) = (validity.parse().ok()?, uid.parse().ok()?);
        let store = &self.shared.store;
        for user in store.user_infos() {
            let Ok(folders) = store.list(&user.address) else {
                continue;
            };
            if let Some(f) = folders.into_iter().find(|f| f.uid_validity == validity) {
                let msg = store
                    .with_mailbox(&user.address, &f.name, |m| {
                        m.position(uid).map(|i| m.messages[i].clone())
                    })
                    .ok()
                    .flatten()?;
                return Some(Found {
                    owner: user.address,
                    folder: f.name,
                    validity,
                    msg,
                });
            }
        }
        None
    }

    fn parsed(&self, f: &Found) -> Arc<Parsed> {
        let key = (f.validity, f.msg.uid);
        if let Some(p) = self.lock_cache().get(&key) {
            return p.clone();
        }
        let p = Arc::new(Parsed::new(&f.msg.raw));
        let mut cache = self.lock_cache();
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(key, p.clone());
        p
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<(u32, u32), Arc<Parsed>>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Matches, newest first.
    fn search(&self, filter: &Filter) -> Vec<(Found, Arc<Parsed>)> {
        let mut out: Vec<(Found, Arc<Parsed>)> = self
            .stored(filter)
            .into_iter()
            .filter_map(|f| {
                let p = self.parsed(&f);
                filter.matches_parsed(&p).then_some((f, p))
            })
            .collect();
        out.sort_by(|(a, _), (b, _)| {
            (b.msg.internal_date, b.validity, b.msg.uid).cmp(&(
                a.msg.internal_date,
                a.validity,
                a.msg.uid,
            ))
        });
        out
    }

    async fn list(&self, query: Option<&str>) -> Response {
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

    fn detail(&self, id: &str) -> Response {
        let Some(f) = self.find(id) else {
            return unknown(id);
        };
        let p = self.parsed(&f);
        let base = format!("/api/v1/messages/{}", f.id());
        let attachments = p
            .attachments
            .iter()
            .map(|a| AttachmentOut {
                attachment: a,
                url: format!("{base}/attachments/{}", a.index),
            })
            .collect();
        let detail = Detail {
            summary: summary(&f, &p),
            bcc: &p.bcc,
            reply_to: &p.reply_to,
            headers: &p.headers,
            text: &p.text,
            html: p.html.as_deref(),
            links: p.links(),
            attachments,
            raw_url: format!("{base}/raw"),
            html_url: p.html.as_ref().map(|_| format!("{base}/html")),
        };
        json(StatusCode::OK, &detail)
    }

    fn raw(&self, id: &str) -> Response {
        let Some(f) = self.find(id) else {
            return unknown(id);
        };
        let mut r = hyper::Response::new(Full::new(f.msg.raw.clone()));
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        sandboxed(r)
    }

    fn html(&self, id: &str) -> Response {
        let Some(f) = self.find(id) else {
            return unknown(id);
        };
        let Some(html) = self.parsed(&f).html.clone() else {
            return error(
                StatusCode::NOT_FOUND,
                "no_html",
                &format!("message {id} has no HTML body"),
            );
        };
        let mut r = hyper::Response::new(Full::new(Bytes::from(html)));
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        r.headers_mut()
            .insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(HTML_CSP));
        r.headers_mut().insert(
            hyper::header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        no_store(r)
    }

    fn attachment(&self, id: &str, n: &str) -> Response {
        let Some(f) = self.find(id) else {
            return unknown(id);
        };
        let got = n
            .parse::<usize>()
            .ok()
            .and_then(|i| super::view::attachment(&f.msg.raw, i));
        let Some((a, bytes)) = got else {
            return error(
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("message {id} has no attachment {n}"),
            );
        };
        let mut r = hyper::Response::new(Full::new(Bytes::from(bytes)));
        let ctype = HeaderValue::from_str(&a.content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream"));
        r.headers_mut().insert(CONTENT_TYPE, ctype);
        let name: String = a
            .filename
            .as_deref()
            .unwrap_or("attachment")
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() && !"\"\\;/".contains(c) || c == ' ' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
            r.headers_mut().insert(CONTENT_DISPOSITION, v);
        }
        sandboxed(r)
    }

    fn delete_one(&self, id: &str) -> Response {
        let Some(f) = self.find(id) else {
            return unknown(id);
        };
        let removed = self
            .shared
            .store
            .remove(&f.owner, &f.folder, &[f.msg.uid])
            .map(|r| r.len())
            .unwrap_or(0);
        json(StatusCode::OK, &serde_json::json!({ "deleted": removed }))
    }

    fn delete_matching(&self, query: Option<&str>) -> Response {
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

    fn mailboxes(&self) -> Response {
        let store = &self.shared.store;
        let mut out = Vec::new();
        for user in store.user_infos() {
            let Ok(infos) = store.list(&user.address) else {
                continue;
            };
            let folders: Vec<Folder> = infos
                .into_iter()
                .filter(|f| f.selectable)
                .map(|f| Folder {
                    name: f.name,
                    role: f.special_use,
                    messages: f.exists,
                    unseen: f.unseen,
                })
                .collect();
            out.push(MailboxOut {
                messages: folders.iter().map(|f| f.messages).sum(),
                unseen: folders.iter().map(|f| f.unseen).sum(),
                address: user.address,
                auto_created: user.auto_created,
                folders,
            });
        }
        json(StatusCode::OK, &serde_json::json!({ "mailboxes": out }))
    }

    fn faults(&self) -> Response {
        json(StatusCode::OK, &FaultSpec::from(&self.shared.faults()))
    }

    fn set_faults(&self, body: &Bytes) -> Response {
        let spec: FaultSpec = match serde_json::from_slice(body) {
            Ok(s) => s,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "bad_faults",
                    &format!("the body must be a JSON object of fault keys: {e}"),
                );
            }
        };
        let faults = match spec.to_faults() {
            Ok(f) => f,
            Err(e) => return error(StatusCode::BAD_REQUEST, "bad_faults", &e.to_string()),
        };
        tracing::info!(faults = ?spec, "http: faults set");
        self.shared.consume_fault(|f| *f = faults);
        self.faults()
    }

    fn clear_faults(&self) -> Response {
        self.shared.consume_fault(|f| *f = Faults::default());
        self.shared
            .greylist_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        tracing::info!("http: faults cleared");
        self.faults()
    }

    /// `{"generation": N}` once the store changed past `after` (or at once without it), or
    /// after `wait` with the generation unchanged.
    async fn changes(&self, query: Option<&str>) -> Response {
        let mut after = None;
        let mut wait = Duration::from_secs(25);
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match k.as_ref() {
                "after" => match v.parse::<u64>() {
                    Ok(n) => after = Some(n),
                    Err(_) => return bad(&format!("after={v:?}: expected a generation number")),
                },
                "wait" => match parse_span(&v) {
                    Ok(d) if !d.is_zero() && d <= MAX_WAIT => wait = d,
                    _ => return bad(&format!("wait={v:?}: expected e.g. 25s, at most 300s")),
                },
                other => return bad(&format!("unknown parameter {other:?}; use after, wait")),
            }
        }
        let mut changes = self.shared.store.subscribe();
        let mut shutdown = self.shared.shutdown();
        if let Some(after) = after {
            let deadline = tokio::time::Instant::now() + wait;
            while *changes.borrow_and_update() <= after {
                tokio::select! {
                    r = changes.changed() => if r.is_err() { break },
                    _ = tokio::time::sleep_until(deadline) => break,
                    _ = until_shutdown(&mut shutdown) => break,
                }
            }
        }
        let generation = *changes.borrow();
        json(
            StatusCode::OK,
            &serde_json::json!({ "generation": generation }),
        )
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

fn summary<'a>(f: &'a Found, p: &'a Parsed) -> Summary<'a> {
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

/// Content from a message, served so a browser never runs it on this origin.
fn sandboxed(mut r: Response) -> Response {
    r.headers_mut().insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    no_store(r)
}
