//! Opening a mailbox's watches, each folder on its own connection with its watermark (UIDNEXT)
//! noted before anything is sent. The extra folders' connections (`\Junk`, `\Archive`) are
//! dialled (TCP, TLS, greeting) alongside the first one and log in once it has: one refused
//! password costs one failed login, not three, and no folder waits for another's handshake.

use std::time::Duration;

use tokio::sync::watch as signal;

use crate::config::Account;
use crate::diagnose::{self, Code, Protocol, Stage};
use crate::probe::imap::{self, Caps, Client, Folders, Session};
use crate::probe::{Failure, Recorder};
use crate::report::Phase;

/// What LIST said: the spam folder and the archive folder to watch, if any.
#[derive(Debug, Clone)]
struct Listed {
    junk: Option<String>,
    archive: Option<String>,
}

/// [`Listed`], or `None` when the first connection failed.
type Names = Option<Listed>;

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
            Err(Failure {
                phase: Phase::ImapConnect,
                diagnosis: imap::classify(account, Stage::Select, &e),
            })
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

/// A mailbox ready to be watched.
pub(crate) struct Opened {
    /// INBOX, selected.
    pub inbox: Selected,
    pub folders: Folders,
    /// The spam folder's own connection, or why it is not watched (`None`: no such folder).
    pub junk: Option<(String, Result<Selected, Failure>)>,
    /// The archive folder's, likewise, when asked for.
    pub archive: Option<(String, Result<Selected, Failure>)>,
    /// `\Sent` and its UIDNEXT, when asked for and the server says.
    pub sent: Option<(String, u32)>,
}

/// Logs in to `account`, lists its folders, notes the watermarks and opens a connection on
/// INBOX and one on each wanted folder. `rec` times the first connection (`imap_connect`,
/// `imap_auth`).
pub(crate) async fn open_mailbox(
    account: &Account,
    step: Duration,
    rec: Option<&mut Recorder>,
    want: Want,
) -> Result<Opened, Failure> {
    // The spam and archive folders' names once LIST has answered (which also says the login
    // worked), or `None` when the first connection failed and the spares should go.
    let (names_tx, names_rx) = signal::channel::<Option<Names>>(None);
    let first = async {
        let result = async {
            let (mut session, caps) = imap::connect(account, step, rec).await?;
            let folders = match imap::folders(&mut session, step).await {
                Ok(f) => f,
                Err(e) => return Err(setup_error(account, "listing folders", &e)),
            };
            let archive = want
                .archive
                .then(|| folders.archive.clone())
                .flatten()
                .filter(|a| a != "INBOX" && Some(a) != folders.junk.as_ref());
            names_tx.send_replace(Some(Some(Listed {
                junk: folders.junk.clone(),
                archive,
            })));
            let sent = match (&folders.sent, want.sent) {
                (Some(sent), true) => imap::uid_next(&mut session, sent, step)
                    .await
                    .ok()
                    .map(|n| (sent.clone(), n)),
                _ => None,
            };
            let mark = imap::select(&mut session, "INBOX", step)
                .await
                .map_err(|e| setup_error(account, "SELECT INBOX", &e))?;
            Ok(((session, caps, mark), folders, sent))
        }
        .await;
        if result.is_err() {
            names_tx.send_replace(Some(None));
        }
        result
    };
    let spares = async {
        let spare = |pick: fn(&Listed) -> Option<String>| {
            let mut names = names_rx.clone();
            async move {
                let mut dial = std::pin::pin!(imap::dial(account, step, None));
                let mut dialled = None;
                // Dial while LIST is on its way; drop the dial as soon as it is not needed.
                let names = loop {
                    tokio::select! {
                        d = &mut dial, if dialled.is_none() => dialled = Some(d),
                        n = names.wait_for(Option::is_some) => break n.ok()?.clone().flatten()?,
                    }
                };
                let folder = pick(&names)?;
                let dialled = match dialled {
                    Some(d) => d,
                    None => dial.await,
                };
                let opened = match dialled {
                    Ok(client) => sign_in_and_select(account, client, &folder, step).await,
                    Err(f) => Err(f),
                };
                Some((folder, opened))
            }
        };
        let junk = spare(|n| n.junk.clone());
        let archive = async {
            if want.archive {
                spare(|n| n.archive.clone()).await
            } else {
                None
            }
        };
        tokio::join!(junk, archive)
    };
    let (first, (junk, archive)) = tokio::join!(first, spares);
    match first {
        Ok((inbox, folders, sent)) => Ok(Opened {
            inbox,
            folders,
            junk,
            archive,
            sent,
        }),
        Err(f) => {
            for (_, s) in [junk, archive].into_iter().flatten() {
                if let Ok((s, _, _)) = s {
                    imap::logout(Some(s)).await;
                }
            }
            Err(f)
        }
    }
}

async fn sign_in_and_select(
    account: &Account,
    client: Client,
    folder: &str,
    step: Duration,
) -> Result<Selected, Failure> {
    let (session, caps) = imap::sign_in(client, account, step, None).await?;
    select_on(account, session, caps, folder, step).await
}

fn setup_error(account: &Account, what: &str, e: &async_imap::error::Error) -> Failure {
    Failure {
        phase: Phase::ImapConnect,
        diagnosis: diagnose::transport(
            Code::ServerError,
            Protocol::Imap,
            &account.imap.authority(),
            &format!("setting up the watch failed: {what}: {e}"),
        ),
    }
}
