//! The IMAP client's connection: its session type and error diagnoses, the special-use folders,
//! SELECT / STATUS watermarks, fetching a whole message, and the checks every answer needs (a
//! silent close, unsolicited EXISTS). Connecting and logging in is `handshake`, watching is
//! `watch`, deleting exactly the probe's UIDs is `cleanup`.

use std::io;
use std::time::Duration;

use async_imap::imap_proto::NameAttribute;
use async_imap::types::{Fetch, UnsolicitedResponse};
use futures::TryStreamExt;
use tokio::time::timeout;

pub(crate) use super::net::Stream;
use super::trace::Traced;
use crate::config::Account;
use crate::diagnose::{self, Code, Diagnosis, Protocol, Stage};

mod handshake;

pub use handshake::connect;
pub(super) use handshake::{capabilities, client, greet, login, login_verb, starttls};

pub type Session = async_imap::Session<Traced<Stream>>;
pub(crate) type Client = async_imap::Client<Traced<Stream>>;

/// What the server can do, from CAPABILITY after login.
#[derive(Debug, Clone, Default)]
pub struct Caps {
    pub idle: bool,
    pub uidplus: bool,
    pub mv: bool,
    pub gmail: bool,
}

/// Folders found by SPECIAL-USE.
#[derive(Debug, Clone, Default)]
pub struct Folders {
    pub junk: Option<String>,
    pub trash: Option<String>,
    pub sent: Option<String>,
    /// `\Archive`, else `\All` (Gmail's All Mail): where a filter files mail past INBOX.
    pub archive: Option<String>,
    /// `\All`, when the server has it.
    pub all: Option<String>,
}

fn imap_err(account: &Account, code: Code, detail: &str) -> Diagnosis {
    diagnose::transport(code, Protocol::Imap, &account.imap.authority(), detail)
}

/// Turns async-imap's `No`/`Bad` text (`code: Some(Alert), info: Some("...")`) back into the
/// server's words, `[ALERT] ...`.
fn server_words(s: &str) -> String {
    let code = s
        .split_once("code: Some(")
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(c, _)| c.split('(').next().unwrap_or(c).to_ascii_uppercase());
    // async-imap spells it `info` in some versions and `information` in others.
    let info = s
        .split_once("information: Some(\"")
        .or_else(|| s.split_once("info: Some(\""))
        .and_then(|(_, rest)| rest.rsplit_once("\")"))
        .map(|(i, _)| super::imap_words::undebug(i));
    match (code, info) {
        (Some(c), Some(i)) => format!("[{c}] {i}"),
        (None, Some(i)) => i,
        (Some(c), None) => format!("[{c}]"),
        (None, None) => s.to_string(),
    }
}

/// Maps an async-imap error at `stage` to a diagnosis.
pub(crate) fn classify(account: &Account, stage: Stage, e: &async_imap::error::Error) -> Diagnosis {
    use async_imap::error::Error as E;
    match e {
        E::No(s) => diagnose::classify_imap(stage, "NO", &server_words(s)),
        E::Bad(s) => diagnose::classify_imap(stage, "BAD", &server_words(s)),
        E::ConnectionLost => imap_err(
            account,
            Code::ConnectionClosed,
            "the server closed the connection",
        ),
        E::Io(io) if io.kind() == io::ErrorKind::TimedOut => {
            imap_err(account, Code::Timeout, &io.to_string())
        }
        other => super::imap_words::protocol_broken(account, other)
            .unwrap_or_else(|| imap_err(account, Code::ConnectionClosed, &other.to_string())),
    }
}

/// Runs `fut` within `step`, turning a timeout into an I/O error so callers see one error type.
pub(crate) async fn within<T>(
    step: Duration,
    fut: impl Future<Output = async_imap::error::Result<T>>,
) -> async_imap::error::Result<T> {
    match timeout(step, fut).await {
        Ok(r) => r,
        Err(_) => Err(async_imap::error::Error::Io(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no answer within {:.1} s", step.as_secs_f64()),
        ))),
    }
}

/// LISTs every folder and picks `\Junk`, `\Trash` and `\Sent` by SPECIAL-USE attribute.
pub async fn folders(session: &mut Session, step: Duration) -> async_imap::error::Result<Folders> {
    let names: Vec<_> = within(step, async {
        session
            .list(Some(""), Some("*"))
            .await?
            .try_collect::<Vec<_>>()
            .await
    })
    .await?;
    let mut f = Folders::default();
    let mut archive = None;
    for n in &names {
        for a in n.attributes() {
            let slot = match a {
                NameAttribute::Junk => &mut f.junk,
                NameAttribute::Trash => &mut f.trash,
                NameAttribute::Sent => &mut f.sent,
                NameAttribute::All => &mut f.all,
                NameAttribute::Archive => &mut archive,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(n.name().to_string());
            }
        }
    }
    f.archive = archive.or_else(|| f.all.clone());
    Ok(f)
}

/// SELECTs `folder` and returns its UIDNEXT (1 when the server omits it on an empty folder).
/// async-imap answers SELECT and STATUS on a connection the server closed with an empty
/// mailbox rather than an error: [`alive`] tells the two apart.
pub async fn select(
    session: &mut Session,
    folder: &str,
    step: Duration,
) -> async_imap::error::Result<u32> {
    let mbox = within(step, session.select(folder)).await?;
    alive(session)?;
    Ok(mbox.uid_next.unwrap_or(1))
}

/// UIDNEXT of a folder that is not selected, via STATUS.
pub async fn uid_next(
    session: &mut Session,
    folder: &str,
    step: Duration,
) -> async_imap::error::Result<u32> {
    let mbox = within(step, session.status(folder, "(UIDNEXT)")).await?;
    alive(session)?;
    Ok(mbox.uid_next.unwrap_or(1))
}

/// A whole message as fetched, with the server's arrival time.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub raw: Vec<u8>,
    /// IMAP INTERNALDATE: when the server stored the message (1 s resolution).
    pub internal_date: Option<chrono::DateTime<chrono::FixedOffset>>,
}

/// `UID FETCH <set> <items>` within `step`, every response collected. Fails when the server
/// closed the connection mid-answer, which async-imap would end silently ([`alive`]).
pub(crate) async fn uid_fetch(
    session: &mut Session,
    set: &str,
    items: &str,
    step: Duration,
) -> async_imap::error::Result<Vec<Fetch>> {
    collected(session, step, async |s: &mut Session| {
        s.uid_fetch(set, items).await?.try_collect().await
    })
    .await
}

/// Runs `command`, which collects every response to one command, within `step`; then fails
/// when the server closed the connection mid-answer, which async-imap would end silently
/// ([`alive`]).
pub(crate) async fn collected<T>(
    session: &mut Session,
    step: Duration,
    command: impl AsyncFnOnce(&mut Session) -> async_imap::error::Result<Vec<T>>,
) -> async_imap::error::Result<Vec<T>> {
    let all = within(step, command(session)).await?;
    alive(session)?;
    Ok(all)
}

/// NOOP within `step`: the server syncs the mailbox and reports what changed (EXISTS,
/// EXPUNGE) as unsolicited responses.
pub(crate) async fn noop(session: &mut Session, step: Duration) -> async_imap::error::Result<()> {
    within(step, session.noop()).await?;
    alive(session)
}

/// The messages at or above UID `from` (`UID FETCH <from>:*`), UID ascending, once each.
pub(crate) async fn fetch_from(
    session: &mut Session,
    from: u32,
    items: &str,
    step: Duration,
) -> async_imap::error::Result<Vec<Fetch>> {
    let mut fetched = uid_fetch(session, &format!("{from}:*"), items, step).await?;
    // `N:*` also returns the highest message when its UID is below N.
    fetched.retain(|f| f.uid.is_some_and(|u| u >= from));
    fetched.sort_by_key(|f| f.uid);
    fetched.dedup_by_key(|f| f.uid);
    Ok(fetched)
}

/// Fetches the whole message and its INTERNALDATE without setting \Seen.
pub async fn fetch_raw(
    session: &mut Session,
    uid: u32,
    step: Duration,
) -> async_imap::error::Result<Option<Fetched>> {
    let fetches = uid_fetch(
        session,
        &uid.to_string(),
        "(UID INTERNALDATE BODY.PEEK[])",
        step,
    )
    .await?;
    // Some servers answer the body and INTERNALDATE in separate FETCH responses.
    let internal_date = fetches
        .iter()
        .filter(|f| f.uid == Some(uid))
        .find_map(|f| f.internal_date());
    Ok(fetches
        .iter()
        .filter(|f| f.uid == Some(uid))
        .find_map(|f| f.body())
        .map(|raw| Fetched {
            raw: raw.to_vec(),
            internal_date,
        }))
}

/// Whether any untagged EXISTS/RECENT arrived since the last call (drains the channel).
pub(crate) fn drain_news(session: &mut Session) -> bool {
    let mut news = false;
    while let Ok(r) = session.unsolicited_responses.try_recv() {
        if matches!(
            r,
            UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_)
        ) {
            news = true;
        }
    }
    news
}

/// Fails when the server has closed the connection. async-imap ends the answer to FETCH,
/// STORE, EXPUNGE, SEARCH (and its own `noop()`) silently at EOF, so an empty answer proves
/// nothing until this says the stream is still open. Costs no command.
pub(crate) fn alive(session: &Session) -> async_imap::error::Result<()> {
    if session.get_ref().at_eof() {
        Err(async_imap::error::Error::ConnectionLost)
    } else {
        Ok(())
    }
}

/// Logs out, briefly; errors don't matter any more.
pub async fn logout(session: Option<Session>) {
    if let Some(mut s) = session {
        let _ = timeout(Duration::from_secs(2), s.logout()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_words_undo_async_imap_formatting() {
        assert_eq!(
            server_words(
                r#"code: Some(AuthenticationFailed), info: Some("Invalid credentials (Failure)")"#
            ),
            "[AUTHENTICATIONFAILED] Invalid credentials (Failure)"
        );
        assert_eq!(
            server_words(r#"code: None, info: Some("say \"hi\"")"#),
            r#"say "hi""#
        );
        // Issue #13 item 17: `wait --folder NoSuchFolder` showed this Debug text.
        assert_eq!(
            server_words(
                r#"outcome: Outcome { code: None, information: Some("Mailbox doesn't exist") }"#
            ),
            "Mailbox doesn't exist"
        );
    }
}
