//! Opening a mailbox's watches, each folder on its own connection, with every watermark
//! (UIDNEXT) noted on the first connection before anything is sent. The other folders'
//! connections (`\Junk`, `\Archive`) are dialled once the first one is greeted and log in once
//! it has listed the folders (one refused password costs one failed login, not three); they
//! open in the background, so the probe need not wait for them.

use std::pin::Pin;
use std::time::Duration;

use tokio::sync::watch as signal;
use tokio::task::JoinHandle;

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
/// sent, and its own connection, still opening in the background.
pub(crate) struct Spare {
    pub folder: String,
    /// UIDNEXT by STATUS on INBOX's connection (0 when STATUS failed: see `connection`).
    pub mark: u32,
    pub connection: Opening,
}

/// A folder's connection being opened: logged in, the folder selected.
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
/// folder (STATUS), all on one connection; returns as soon as INBOX is selected, so nothing
/// waits for the other folders' connections: they are dialled once the first connection has
/// its greeting, log in once LIST has answered (a refused password costs one failed login,
/// not three), and open in the background. `rec` times the first connection.
pub(crate) async fn open_mailbox(
    account: &Account,
    step: Duration,
    mut rec: Option<&mut Recorder>,
    want: Want,
) -> Result<Opened, Failure> {
    let client = imap::dial(account, step, rec.as_deref_mut()).await?;
    // The spam and archive folders' names once LIST has answered, or `None` when the first
    // connection failed and the spares should go.
    let (names_tx, names_rx) = signal::channel::<Option<Names>>(None);
    let spawn = |pick: fn(&Listed) -> Option<String>| {
        tokio::spawn(spare(account.clone(), step, names_rx.clone(), pick))
    };
    let junk_task = spawn(|n| n.junk.clone());
    let archive_task = want.archive.then(|| spawn(|n| n.archive.clone()));
    let result = async {
        let (mut session, caps) = imap::sign_in(client, account, step, rec).await?;
        let folders = match imap::folders(&mut session, step).await {
            Ok(f) => f,
            Err(e) => return Err(setup_error(account, "listing folders", &e)),
        };
        let archive = want
            .archive
            .then(|| folders.archive.clone())
            .flatten()
            .filter(|a| a != "INBOX" && Some(a) != folders.junk.as_ref());
        let listed = Listed {
            junk: folders.junk.clone(),
            archive,
        };
        names_tx.send_replace(Some(Some(listed.clone())));
        let mut marks = Vec::new();
        for folder in [&listed.junk, &listed.archive].into_iter().flatten() {
            let mark = imap::uid_next(&mut session, folder, step)
                .await
                .map_err(|e| Failure {
                    phase: Phase::ImapConnect,
                    diagnosis: imap::classify(account, Stage::Select, &e),
                });
            marks.push((folder.clone(), mark));
        }
        let sent = match (&folders.sent, want.sent) {
            (Some(sent), true) => imap::uid_next(&mut session, sent, step)
                .await
                .ok()
                .map(|n| (sent.clone(), n)),
            _ => None,
        };
        let mark = imap::select(&mut session, "INBOX", step)
            .await
            .map_err(|e| select_failed(account, "INBOX", &e))?;
        Ok(((session, caps, mark), folders, listed, marks, sent))
    }
    .await;
    let (inbox, folders, listed, marks, sent) = match result {
        Ok(r) => r,
        Err(f) => {
            names_tx.send_replace(Some(None));
            return Err(f);
        }
    };
    let spare_of = |name: &Option<String>, task: Option<JoinHandle<Option<SpareResult>>>| {
        let folder = name.clone()?;
        let mark = marks
            .iter()
            .find(|(f, _)| *f == folder)
            .map(|(_, m)| m.clone())?;
        let task = task?;
        let lost = setup_error_text(account, &format!("the connection for {folder} ended early"));
        let (mark, connection): (u32, Opening) = match mark {
            Ok(mark) => (
                mark,
                Box::pin(async move {
                    match task.await {
                        Ok(Some(r)) => r,
                        _ => Err(lost),
                    }
                }),
            ),
            Err(f) => {
                task.abort();
                (0, Box::pin(async move { Err(f) }))
            }
        };
        Some(Spare {
            folder,
            mark,
            connection,
        })
    };
    let junk = spare_of(&listed.junk, Some(junk_task));
    let archive = spare_of(&listed.archive, archive_task);
    Ok(Opened {
        inbox,
        folders,
        junk,
        archive,
        sent,
    })
}

/// What a spare connection ends with: its session (the folder selected) or why it failed;
/// `None` when it was not needed.
type SpareResult = Result<(Session, Caps), Failure>;

/// One more connection for the folder `pick` chooses from LIST: dialled at once, logged in
/// once LIST has answered, the folder selected; dropped unused when there is no such folder
/// or the first connection failed.
async fn spare(
    account: Account,
    step: Duration,
    mut names: signal::Receiver<Option<Names>>,
    pick: fn(&Listed) -> Option<String>,
) -> Option<SpareResult> {
    let mut dial = std::pin::pin!(imap::dial(&account, step, None));
    let mut dialled = None;
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
    Some(match dialled {
        Ok(client) => sign_in_and_select(&account, client, &folder, step)
            .await
            .map(|(s, caps, _)| (s, caps)),
        Err(f) => Err(f),
    })
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
    setup_error_text(account, &format!("{what}: {e}"))
}

fn setup_error_text(account: &Account, detail: &str) -> Failure {
    Failure {
        phase: Phase::ImapConnect,
        diagnosis: diagnose::transport(
            Code::ServerError,
            Protocol::Imap,
            &account.imap.authority(),
            &format!("setting up the watch failed: {detail}"),
        ),
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
