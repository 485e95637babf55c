//! Opening a mailbox's watches, each folder on its own connection, with every watermark
//! (UIDNEXT) noted on the first connection before anything is sent. The other folders'
//! connections (`\Junk`, `\Archive`) are opened only when a watch asks for them (a check,
//! once INBOX has not shown the probe within a moment), so a probe found at once costs one
//! IMAP login, and a refused password one failed login, not three.

use std::pin::Pin;
use std::time::Duration;

use crate::config::Account;
use crate::diagnose::{self, Code, Protocol, Stage};
use crate::probe::imap::{self, Caps, Folders, Session};
use crate::probe::{Failure, Recorder};
use crate::report::Phase;

/// A connection with a folder selected: the session, what the server can do, its UIDNEXT.
pub(crate) type Selected = (Session, Caps, u32);

/// A logged-in connection with `folder` selected, and its UIDNEXT.
pub(crate) async fn open_folder(
    account: &Account,
    folder: &str,
    step: Duration,
) -> Result<Selected, Failure> {
    let (session, caps) = imap::connect(account, step, None).await?;
    select_on(account, session, caps, folder, step).await
}

async fn select_on(
    account: &Account,
    mut session: Session,
    caps: Caps,
    folder: &str,
    step: Duration,
) -> Result<Selected, Failure> {
    match imap::select(&mut session, folder, step).await {
        Ok(mark) => Ok((session, caps, mark)),
        Err(e) => {
            imap::logout(Some(session)).await;
            Err(select_failed(account, folder, &e))
        }
    }
}

/// Which folders besides INBOX to watch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Want {
    /// `\Archive` (else `\All`) when it is neither INBOX nor the spam folder.
    pub archive: bool,
    /// Note the `\Sent` folder's UIDNEXT (the server may file a copy of each probe there).
    pub sent: bool,
}

/// A folder besides INBOX: its watermark, noted on INBOX's connection before anything is
/// sent, and its own connection, opened when first awaited.
pub(crate) struct Spare {
    pub folder: String,
    /// UIDNEXT by STATUS on INBOX's connection (0 when STATUS failed: see `connection`).
    pub mark: u32,
    pub connection: Opening,
}

/// A folder's connection, opened (logged in, the folder selected) when first awaited.
pub(crate) type Opening = Pin<Box<dyn Future<Output = Result<(Session, Caps), Failure>> + Send>>;

impl Spare {
    /// The folder's own connection, once open, with its watermark.
    pub(crate) async fn ready(self) -> Result<(String, Selected), Failure> {
        let (session, caps) = self.connection.await?;
        Ok((self.folder, (session, caps, self.mark)))
    }
}

/// A mailbox ready to be watched.
pub(crate) struct Opened {
    /// INBOX, selected.
    pub inbox: Selected,
    pub folders: Folders,
    /// The spam folder (`None`: the mailbox has none).
    pub junk: Option<Spare>,
    /// The archive folder, when asked for and there is one apart from INBOX and spam.
    pub archive: Option<Spare>,
    /// `\Sent` and its UIDNEXT, when asked for and the server says.
    pub sent: Option<(String, u32)>,
}

/// Logs in to `account`, lists its folders and notes the watermarks of INBOX and each wanted
/// folder (STATUS), all on one connection; returns once INBOX is selected. The other folders'
/// connections open only when awaited ([`Spare::ready`], or a watcher's first run), after
/// this login succeeded: a refused password costs one failed login, not three. `rec` times
/// the first connection.
pub(crate) async fn open_mailbox(
    account: &Account,
    step: Duration,
    rec: Option<&mut Recorder>,
    want: Want,
) -> Result<Opened, Failure> {
    let (mut session, caps) = imap::connect(account, step, rec).await?;
    let folders = match imap::folders(&mut session, step).await {
        Ok(f) => f,
        Err(e) => {
            imap::logout(Some(session)).await;
            return Err(setup_error(account, "listing folders", &e));
        }
    };
    let archive = want
        .archive
        .then(|| folders.archive.clone())
        .flatten()
        .filter(|a| a != "INBOX" && Some(a) != folders.junk.as_ref());
    let junk = match &folders.junk {
        Some(folder) => Some(spare(account, &mut session, folder, step).await),
        None => None,
    };
    let archive = match &archive {
        Some(folder) => Some(spare(account, &mut session, folder, step).await),
        None => None,
    };
    let sent = match (&folders.sent, want.sent) {
        (Some(sent), true) => imap::uid_next(&mut session, sent, step)
            .await
            .ok()
            .map(|n| (sent.clone(), n)),
        _ => None,
    };
    let (session, caps, mark) = select_on(account, session, caps, "INBOX", step).await?;
    Ok(Opened {
        inbox: (session, caps, mark),
        folders,
        junk,
        archive,
        sent,
    })
}

/// `folder` as a spare: its UIDNEXT noted now on `session`, its own connection opened later
/// (or the failure to note it, reported when it would have opened).
async fn spare(account: &Account, session: &mut Session, folder: &str, step: Duration) -> Spare {
    let (mark, connection): (u32, Opening) = match imap::uid_next(session, folder, step).await {
        Ok(mark) => {
            let (account, name) = (account.clone(), folder.to_string());
            let opening = async move {
                open_folder(&account, &name, step)
                    .await
                    .map(|(s, caps, _)| (s, caps))
            };
            (mark, Box::pin(opening))
        }
        Err(e) => {
            let f = Failure {
                phase: Phase::ImapConnect,
                diagnosis: imap::classify(account, Stage::Select, &e),
            };
            (0, Box::pin(async move { Err(f) }))
        }
    };
    Spare {
        folder: folder.to_string(),
        mark,
        connection,
    }
}

/// A set-up command that failed, in the server's words (or what happened to the connection).
fn setup_error(account: &Account, what: &str, e: &async_imap::error::Error) -> Failure {
    let mut diagnosis = imap::classify(account, Stage::Other, e);
    diagnosis.summary = format!("setting up the watch failed: {what}: {}", diagnosis.summary);
    Failure {
        phase: Phase::ImapConnect,
        diagnosis,
    }
}

/// Why `SELECT folder` failed, naming the command: the server's NO/BAD, or the connection
/// closed or silent at that point.
fn select_failed(account: &Account, folder: &str, e: &async_imap::error::Error) -> Failure {
    use async_imap::error::Error as E;
    use std::io::ErrorKind as K;
    let lost = |code, detail: String| {
        diagnose::transport(code, Protocol::Imap, &account.imap.authority(), &detail)
    };
    let diagnosis = match e {
        E::ConnectionLost => lost(
            Code::ConnectionClosed,
            format!("SELECT {folder}: connection closed by the server"),
        ),
        E::Io(io) if io.kind() == K::TimedOut => {
            lost(Code::Timeout, format!("SELECT {folder}: {io}"))
        }
        // An io error but a reply the parser could not read is the connection ending.
        E::Io(io) if !crate::probe::imap_words::is_unparsable(e) => lost(
            Code::ConnectionClosed,
            format!("SELECT {folder}: connection closed by the server ({io})"),
        ),
        other => imap::classify(account, Stage::Select, other),
    };
    Failure {
        phase: Phase::ImapConnect,
        diagnosis,
    }
}
