//! [`Wait`]: wait for a message that something else sends (an app's signup mail), matched by
//! sender, recipient, subject and header patterns, then parse it and pull out a link or a
//! one-time code. Only mail that arrives after the wait started can match (UIDNEXT watermark).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use futures::TryStreamExt;
use regex::Regex;
use serde::Serialize;
use tokio::time::Instant;

use super::imap::{self, Caps, Session, within};
use super::net;
use crate::analyze::auth_results::AuthSummary;
use crate::config::Account;
use crate::diagnose::{self, Code, Diagnosis, Protocol};

/// Called once the watch is in place, with the folder and the first UID that can match.
type Ready = Arc<dyn Fn(&str, u32) + Send + Sync>;

/// Waits for one message in an account's mailbox.
///
/// ```no_run
/// # async fn f(account: mailtrip::Account) -> Result<(), mailtrip::probe::WaitError> {
/// use std::time::Duration;
/// use mailtrip::probe::{Extract, Wait};
///
/// let mail = Wait::new(account)
///     .subject(regex::Regex::new("(?i)confirm").expect("regex"))
///     .timeout(Duration::from_secs(30))
///     .run()
///     .await?;
/// let link = mail.extract(&"link:/confirm".parse::<Extract>().expect("extract"));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Wait {
    account: Account,
    folder: String,
    from: Option<String>,
    to: Option<String>,
    subject: Option<Regex>,
    headers: Vec<(String, Regex)>,
    since: Option<DateTime<FixedOffset>>,
    timeout: Duration,
    delete: bool,
    ready: Option<Ready>,
}

impl fmt::Debug for Wait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait")
            .field("account", &self.account)
            .field("folder", &self.folder)
            .field("from", &self.from)
            .field("to", &self.to)
            .field("subject", &self.subject)
            .field("headers", &self.headers)
            .field("since", &self.since)
            .field("timeout", &self.timeout)
            .field("delete", &self.delete)
            .finish_non_exhaustive()
    }
}

/// Why no message came back.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WaitError {
    /// Connecting, logging in or selecting the folder failed.
    #[error("{}", .0.summary)]
    Imap(Diagnosis),
    /// Nothing matched before the timeout.
    #[error(
        "no matching message arrived in {folder} within {:.1} s ({seen} new message{} did not match)",
        waited.as_secs_f64(),
        if *seen == 1 { "" } else { "s" }
    )]
    Timeout {
        folder: String,
        waited: Duration,
        seen: usize,
    },
}

impl WaitError {
    /// The diagnosis, for IMAP failures.
    pub fn diagnosis(&self) -> Option<&Diagnosis> {
        match self {
            WaitError::Imap(d) => Some(d),
            WaitError::Timeout { .. } => None,
        }
    }

    pub fn is_timeout(&self) -> bool {
        matches!(self, WaitError::Timeout { .. })
    }
}

/// One header as it arrived, unfolded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Header {
    pub name: String,
    pub value: String,
}

/// The message that matched.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    pub folder: String,
    pub uid: u32,
    /// IMAP INTERNALDATE, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub internal_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// From addresses.
    pub from: Vec<String>,
    /// To and Cc addresses.
    pub to: Vec<String>,
    /// Decoded (RFC 2047) subject.
    pub subject: String,
    /// The `Date:` header, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// Every top-level header in order, unfolded, undecoded.
    pub headers: Vec<Header>,
    /// The first text/plain body (or text converted from HTML).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// Every http(s) URL in the text, then in the HTML, once each, in order.
    pub links: Vec<String>,
    pub auth: AuthSummary,
    /// Whether `delete` removed it.
    pub deleted: bool,
    /// From the start of the wait to the match, in milliseconds.
    pub waited_ms: f64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// What to pull out of the message for a script.
#[derive(Debug, Clone)]
pub enum Extract {
    /// The first link, or the first one matching the pattern.
    Link(Option<Regex>),
    /// The first one-time code: 4 to 8 digits, or the pattern's first group (or whole match).
    Code(Option<Regex>),
}

impl std::str::FromStr for Extract {
    type Err = String;

    /// `link`, `link:REGEX`, `code`, `code:REGEX`.
    fn from_str(s: &str) -> Result<Extract, String> {
        let (kind, pattern) = match s.split_once(':') {
            Some((k, p)) => (k, Some(p)),
            None => (s, None),
        };
        let regex = pattern
            .map(|p| Regex::new(p).map_err(|e| format!("bad pattern in {s:?}: {e}")))
            .transpose()?;
        match kind {
            "link" => Ok(Extract::Link(regex)),
            "code" => Ok(Extract::Code(regex)),
            other => Err(format!(
                "unknown extract {other:?}; use link[:REGEX] or code[:REGEX]"
            )),
        }
    }
}

impl Message {
    /// The first link or code `what` asks for.
    pub fn extract(&self, what: &Extract) -> Option<String> {
        match what {
            Extract::Link(None) => self.links.first().cloned(),
            Extract::Link(Some(re)) => self.links.iter().find(|l| re.is_match(l)).cloned(),
            Extract::Code(pattern) => {
                let default;
                let re = match pattern {
                    Some(re) => re,
                    None => {
                        default = Regex::new(r"\b[0-9]{4,8}\b").ok()?;
                        &default
                    }
                };
                let texts = [self.text.as_deref(), Some(self.subject.as_str())];
                texts.into_iter().flatten().find_map(|t| {
                    let caps = re.captures(t)?;
                    caps.get(1)
                        .or_else(|| caps.get(0))
                        .map(|m| m.as_str().to_string())
                })
            }
        }
    }
}

impl Wait {
    /// Waits in `account`'s INBOX for any new message (add criteria to narrow it).
    pub fn new(account: Account) -> Wait {
        Wait {
            account,
            folder: "INBOX".into(),
            from: None,
            to: None,
            subject: None,
            headers: Vec::new(),
            since: None,
            timeout: Duration::from_secs(60),
            delete: false,
            ready: None,
        }
    }

    /// The folder to watch (default INBOX).
    pub fn folder(mut self, folder: impl Into<String>) -> Wait {
        self.folder = folder.into();
        self
    }

    /// A From address (`a@b`, compared case-insensitively) or a domain (`b`).
    pub fn from(mut self, address: impl Into<String>) -> Wait {
        self.from = Some(address.into());
        self
    }

    /// A To or Cc address, or a domain.
    pub fn to(mut self, address: impl Into<String>) -> Wait {
        self.to = Some(address.into());
        self
    }

    /// A pattern the decoded subject must match.
    pub fn subject(mut self, pattern: Regex) -> Wait {
        self.subject = Some(pattern);
        self
    }

    /// A pattern some value of header `name` must match (every such criterion must hold).
    pub fn header(mut self, name: impl Into<String>, pattern: Regex) -> Wait {
        self.headers.push((name.into(), pattern));
        self
    }

    /// Match mail whose INTERNALDATE is at or after `since` (one-second resolution), including
    /// mail that arrived before the wait started. Without it only mail arriving after the
    /// start (the UIDNEXT watermark) can match.
    pub fn since(mut self, since: DateTime<FixedOffset>) -> Wait {
        self.since = Some(since);
        self
    }

    /// How long to wait (default 60 s).
    pub fn timeout(mut self, timeout: Duration) -> Wait {
        self.timeout = timeout;
        self
    }

    /// Delete exactly the matched message (by UID) once it has been read.
    pub fn delete(mut self, delete: bool) -> Wait {
        self.delete = delete;
        self
    }

    /// Called once the watch is in place (folder, first UID that can match): anything
    /// delivered from then on is seen.
    pub fn on_ready(mut self, f: impl Fn(&str, u32) + Send + Sync + 'static) -> Wait {
        self.ready = Some(Arc::new(f));
        self
    }

    /// Waits for the first matching message.
    pub async fn run(self) -> Result<Message, WaitError> {
        let started = Instant::now();
        let deadline = started + self.timeout;
        let step = self
            .timeout
            .clamp(Duration::from_millis(500), net::STEP_MAX);
        let watch_step = net::watch_step(step, self.timeout);
        let (mut session, caps) = self.open(step).await?;
        let mut watermark = imap::select(&mut session, &self.folder, step)
            .await
            .map_err(|e| self.select_error(&e))?;
        if let Some(since) = self.since {
            // With --since, mail that arrived before the wait started may match too: start at
            // the first UID the server dates on or after the day before `since` (SEARCH SINCE
            // has day granularity and the server's time zone); the exact INTERNALDATE check
            // in `look` does the rest.
            let day = (since - chrono::Duration::days(1))
                .format("%d-%b-%Y")
                .to_string();
            let found = imap::within(step, session.uid_search(format!("SINCE {day}")))
                .await
                .map_err(|e| self.imap_error(&format!("UID SEARCH SINCE {day} failed: {e}")))?;
            if let Some(first) = found.into_iter().min() {
                watermark = watermark.min(first);
            }
        }
        if let Some(ready) = &self.ready {
            ready(&self.folder, watermark);
        }
        let mut examined = std::collections::HashSet::new();
        let mut session = Some(session);
        let mut poll = Duration::from_millis(50);
        let mut backoff = Duration::from_millis(250);
        let mut connected_at = Instant::now();
        // Set when a live connection is lost; the next reconnect may pause first.
        let mut lost = false;
        let mut reconnects = 0u32;
        loop {
            let s = match session.as_mut() {
                Some(s) => s,
                None => {
                    if Instant::now() >= deadline {
                        break;
                    }
                    if std::mem::take(&mut lost) {
                        backoff = imap::reconnect_pause(connected_at, backoff, deadline).await;
                    }
                    match self.reopen(watch_step).await {
                        Ok(s) => {
                            connected_at = Instant::now();
                            reconnects += 1;
                            session.insert(s)
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "wait: reconnect failed");
                            let left = deadline.saturating_duration_since(Instant::now());
                            tokio::time::sleep(backoff.min(left)).await;
                            backoff = (backoff * 2).min(Duration::from_secs(4));
                            continue;
                        }
                    }
                }
            };
            match self.look(s, watermark, &mut examined, watch_step).await {
                Ok(Some(uid)) => {
                    let Some(mut s) = session.take() else { break };
                    let mut result = self.finish(&mut s, &caps, uid, started, step).await;
                    imap::logout(Some(s)).await;
                    if let Ok(m) = result.as_mut()
                        && reconnects > 0
                    {
                        m.warnings.push(format!(
                            "the IMAP connection was lost and re-established {reconnects} time(s); \
                             the watch resumed from its starting point, so nothing was missed"
                        ));
                    }
                    return result;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "wait: connection lost; reconnecting");
                    session = None;
                    lost = true;
                    continue;
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let Some(mut s) = session.take() else {
                continue;
            };
            if imap::drain_news(&mut s) {
                session = Some(s);
                continue;
            }
            match imap::idle_or_poll(s, &caps, watch_step, left, &mut poll).await {
                Ok(s) => session = Some(s),
                Err(e) => {
                    tracing::debug!(error = %e, "wait: IDLE failed; reconnecting");
                    lost = true;
                }
            }
        }
        imap::logout(session).await;
        Err(WaitError::Timeout {
            folder: self.folder.clone(),
            waited: started.elapsed(),
            seen: examined.len(),
        })
    }

    fn imap_error(&self, detail: &str) -> WaitError {
        WaitError::Imap(diagnose::transport(
            Code::ServerError,
            Protocol::Imap,
            &self.account.imap.authority(),
            detail,
        ))
    }

    async fn open(&self, step: Duration) -> Result<(Session, Caps), WaitError> {
        imap::connect(&self.account, step, None)
            .await
            .map_err(|f| WaitError::Imap(f.diagnosis))
    }

    async fn reopen(&self, step: Duration) -> Result<Session, WaitError> {
        let (mut s, _) = self.open(step).await?;
        imap::select(&mut s, &self.folder, step)
            .await
            .map_err(|e| self.select_error(&e))?;
        Ok(s)
    }

    /// A refused SELECT in the server's own words, naming the folder (never async-imap's
    /// Debug rendering of the response).
    fn select_error(&self, e: &async_imap::error::Error) -> WaitError {
        let mut d = imap::classify(&self.account, crate::diagnose::Stage::Select, e);
        d.summary = format!("SELECT {:?}: {}", self.folder, d.summary);
        WaitError::Imap(d)
    }

    /// Fetches the headers of every message at or above the watermark not yet examined and
    /// returns the lowest UID that matches.
    async fn look(
        &self,
        session: &mut Session,
        watermark: u32,
        examined: &mut std::collections::HashSet<u32>,
        step: Duration,
    ) -> async_imap::error::Result<Option<u32>> {
        let fetches: Vec<_> = within(step, async {
            session
                .uid_fetch(
                    format!("{watermark}:*"),
                    "(UID INTERNALDATE BODY.PEEK[HEADER])",
                )
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
        let mut hits: Vec<u32> = Vec::new();
        for f in &fetches {
            let Some(uid) = f.uid.filter(|u| *u >= watermark) else {
                continue;
            };
            if !examined.insert(uid) {
                continue;
            }
            let Some(header) = f.header() else { continue };
            if self.matches(header, f.internal_date()) {
                hits.push(uid);
            }
        }
        Ok(hits.into_iter().min())
    }

    /// Whether a header block (and INTERNALDATE) meets every criterion.
    fn matches(&self, header: &[u8], internal_date: Option<DateTime<FixedOffset>>) -> bool {
        if let Some(since) = self.since
            && internal_date.is_none_or(|d| d < since)
        {
            return false;
        }
        let Some(h) = parse_headers(header) else {
            return false;
        };
        if let Some(want) = &self.from
            && !h.from.iter().any(|a| address_matches(a, want))
        {
            return false;
        }
        if let Some(want) = &self.to
            && !h.to.iter().any(|a| address_matches(a, want))
        {
            return false;
        }
        if let Some(re) = &self.subject
            && !re.is_match(&h.subject)
        {
            return false;
        }
        self.headers.iter().all(|(name, re)| {
            h.headers
                .iter()
                .filter(|x| x.name.eq_ignore_ascii_case(name))
                .any(|x| re.is_match(&x.value))
        })
    }

    /// Fetches, parses and (if asked) deletes the matched message.
    async fn finish(
        &self,
        session: &mut Session,
        caps: &Caps,
        uid: u32,
        started: Instant,
        step: Duration,
    ) -> Result<Message, WaitError> {
        let fetched = imap::fetch_raw(session, uid, step)
            .await
            .map_err(|e| self.imap_error(&format!("fetching UID {uid} failed: {e}")))?
            .ok_or_else(|| self.imap_error(&format!("UID {uid} returned no body")))?;
        let mut message = parse_message(&fetched.raw).unwrap_or_else(|| Message {
            folder: String::new(),
            uid,
            internal_date: None,
            message_id: None,
            from: Vec::new(),
            to: Vec::new(),
            subject: String::new(),
            date: None,
            headers: Vec::new(),
            text: None,
            html: None,
            links: Vec::new(),
            auth: super::analysis::auth(&[]),
            deleted: false,
            waited_ms: 0.0,
            warnings: vec!["the message could not be parsed".into()],
        });
        message.folder = self.folder.clone();
        message.uid = uid;
        message.internal_date = fetched.internal_date.map(|d| d.to_rfc3339());
        message.waited_ms = started.elapsed().as_secs_f64() * 1000.0;
        if self.delete {
            let folders = if self.account.expunge_archives || caps.gmail || !caps.uidplus {
                imap::folders(session, step).await.unwrap_or_default()
            } else {
                imap::Folders::default()
            };
            let archives = self.account.expunge_archives || caps.gmail;
            let done = imap::delete_exactly(
                session,
                caps,
                &folders,
                &self.folder,
                &[uid],
                "",
                archives,
                step,
            )
            .await;
            match done {
                Ok((n, warning)) => {
                    message.deleted = n > 0;
                    message.warnings.extend(warning);
                }
                Err(e) => message
                    .warnings
                    .push(format!("deleting UID {uid} failed: {e}")),
            }
        }
        Ok(message)
    }
}

/// `want` with an `@` is an address, compared case-insensitively; without, a domain.
fn address_matches(address: &str, want: &str) -> bool {
    if want.contains('@') {
        address.eq_ignore_ascii_case(want)
    } else {
        address
            .rsplit_once('@')
            .is_some_and(|(_, d)| d.eq_ignore_ascii_case(want.trim_start_matches('@')))
    }
}

/// The parts of a header block the criteria look at.
struct Headers {
    from: Vec<String>,
    to: Vec<String>,
    subject: String,
    headers: Vec<Header>,
}

fn addresses(a: Option<&mail_parser::Address<'_>>) -> Vec<String> {
    a.map(|a| {
        a.iter()
            .filter_map(|m| m.address().map(str::to_string))
            .collect()
    })
    .unwrap_or_default()
}

fn raw_headers(msg: &mail_parser::Message<'_>) -> Vec<Header> {
    msg.headers_raw()
        .map(|(name, value)| Header {
            name: name.to_string(),
            value: value.split_whitespace().collect::<Vec<_>>().join(" "),
        })
        .collect()
}

fn parse_headers(block: &[u8]) -> Option<Headers> {
    let block = block.to_vec();
    std::panic::catch_unwind(move || {
        let msg = mail_parser::MessageParser::default().parse_headers(&block)?;
        let mut to = addresses(msg.to());
        to.extend(addresses(msg.cc()));
        let mut headers = raw_headers(&msg);
        // Match header patterns against decoded text too (RFC 2047 words).
        if let Some(s) = msg.subject() {
            headers.push(Header {
                name: "Subject".into(),
                value: s.to_string(),
            });
        }
        Some(Headers {
            from: addresses(msg.from()),
            to,
            subject: msg.subject().unwrap_or_default().to_string(),
            headers,
        })
    })
    .ok()
    .flatten()
}

/// Parses the whole message (contained against panics).
fn parse_message(raw: &[u8]) -> Option<Message> {
    let raw = raw.to_vec();
    std::panic::catch_unwind(move || {
        let msg = mail_parser::MessageParser::default().parse(&raw)?;
        let headers = raw_headers(&msg);
        let auth_values: Vec<String> = headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("Authentication-Results"))
            .map(|h| h.value.clone())
            .collect();
        let text = msg.body_text(0).map(|t| t.into_owned());
        let html = msg.body_html(0).map(|t| t.into_owned());
        let mut to = addresses(msg.to());
        to.extend(addresses(msg.cc()));
        let mut links = Vec::new();
        for t in [text.as_deref(), html.as_deref()].into_iter().flatten() {
            for l in find_links(t) {
                if !links.contains(&l) {
                    links.push(l);
                }
            }
        }
        Some(Message {
            folder: String::new(),
            uid: 0,
            internal_date: None,
            message_id: msg.message_id().map(str::to_string),
            from: addresses(msg.from()),
            to,
            subject: msg.subject().unwrap_or_default().to_string(),
            date: msg.date().map(|d| d.to_rfc3339()),
            headers,
            text,
            html,
            links,
            auth: super::analysis::auth(&auth_values),
            deleted: false,
            waited_ms: 0.0,
            warnings: Vec::new(),
        })
    })
    .ok()
    .flatten()
}

/// The http(s) URLs in `text`, trailing punctuation and HTML `&amp;` undone.
pub fn find_links(text: &str) -> Vec<String> {
    let Ok(re) = Regex::new(r#"https?://[^\s<>"'()\[\]{}]+"#) else {
        return Vec::new();
    };
    re.find_iter(text)
        .map(|m| {
            m.as_str()
                .trim_end_matches(['.', ',', ';', ':', '!', '?'])
                .replace("&amp;", "&")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_codes_come_out() {
        let raw =
            b"From: App <noreply@app.test>\r\nTo: u@x.test\r\nSubject: Your code is 482913\r\n\
Content-Type: text/plain\r\n\r\nConfirm your account: https://app.test/confirm?token=abc123.\r\n\
Or visit (https://app.test/help).\r\n";
        let m = parse_message(raw).expect("parse");
        assert_eq!(
            m.links,
            [
                "https://app.test/confirm?token=abc123",
                "https://app.test/help"
            ]
        );
        let e = |s: &str| s.parse::<Extract>().expect("extract");
        assert_eq!(
            m.extract(&e("link")).as_deref(),
            Some("https://app.test/confirm?token=abc123")
        );
        assert_eq!(
            m.extract(&e("link:/help")).as_deref(),
            Some("https://app.test/help")
        );
        assert_eq!(m.extract(&e("code")).as_deref(), Some("482913"));
        assert_eq!(
            m.extract(&e("code:token=([a-z0-9]+)")).as_deref(),
            Some("abc123")
        );
        assert!("pin".parse::<Extract>().is_err());
        assert!("link:(".parse::<Extract>().is_err());
    }

    #[test]
    fn addresses_and_domains() {
        assert!(address_matches("NoReply@App.test", "noreply@app.test"));
        assert!(address_matches("noreply@app.test", "app.test"));
        assert!(!address_matches("noreply@evilapp.test", "app.test"));
        assert!(!address_matches("xnoreply@app.test", "noreply@app.test"));
    }
}
