//! `mailtrip wait`: wait for a message something else sends (an app's signup mail), print it
//! (human or JSON) or only the link / code `--extract` asks for, and optionally delete it.
//! Exit 0 matched, 1 matched but nothing to extract, 2 timed out or failed, 3 usage.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args as ClapArgs, ValueEnum};

use crate::config::{Account, Overrides, Target, resolve};
use crate::probe::{Extract, Message, Wait};
use crate::render::text::{clean, clean_block, clean_json};

/// `wait`'s own account flags: like `check`'s, minus the sending side, since `--from` and
/// `--to` are criteria here.
#[derive(Debug, Clone, ClapArgs)]
#[command(
    mut_arg("account", |a| a.help("Named account from the config file whose mailbox to watch")),
    mut_arg("provider", |a| a.help(
        "Provider preset that fills the IMAP host, port and TLS mode (see `mailtrip providers`)"
    )),
    mut_arg("user", |a| a.help(
        "Login name, also the mailbox's address unless --account gives one"
    )),
)]
pub struct WaitArgs {
    #[command(flatten)]
    pub which: super::WhichAccount,
    #[command(flatten)]
    pub imap: super::ImapArg,
    #[command(flatten)]
    pub auth: super::AuthArgs,

    /// Folder to watch.
    #[arg(long, default_value = "INBOX")]
    pub folder: String,
    /// Only mail from this address (or, without `@`, this domain).
    #[arg(long)]
    pub from: Option<String>,
    /// Only mail to (or Cc) this address or domain.
    #[arg(long)]
    pub to: Option<String>,
    /// Only mail whose decoded subject matches this regular expression.
    #[arg(long, value_name = "REGEX")]
    pub subject: Option<String>,
    /// Only mail with a header NAME whose value matches REGEX (repeatable; all must hold).
    #[arg(long, value_name = "NAME:REGEX")]
    pub header: Vec<String>,
    /// Match mail that arrived (INTERNALDATE, 1 s resolution) at or after this, even before the
    /// command started: RFC 3339, or a duration ago (10m). Without it, only mail arriving
    /// after the command started matches.
    #[arg(long)]
    pub since: Option<String>,
    /// How long to wait: 500ms, 20s, 2m.
    #[arg(long, value_parser = super::parse_duration, default_value = "60s")]
    pub timeout: Duration,
    /// Print only this: `link`, `link:REGEX` (first URL matching), `code`, `code:REGEX`
    /// (first 4-8 digit code, or the pattern's first group).
    #[arg(long, value_name = "link[:REGEX]|code[:REGEX]")]
    pub extract: Option<String>,
    /// Delete exactly the matched message (by UID) after reading it.
    #[arg(long)]
    pub delete: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = WaitFormat::Human)]
    pub format: WaitFormat,
    /// Say nothing on stderr while waiting.
    #[arg(short, long)]
    pub quiet: bool,
    /// More logging on stderr (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WaitFormat {
    Human,
    Json,
}

/// The mailbox account from IMAP-only flags: an SMTP URL is not needed to watch, so one is
/// filled in when only `--imap` was given.
pub(super) fn mailbox_overrides(a: &WaitArgs) -> Overrides {
    let imap = &a.imap.imap;
    Overrides {
        smtp: (imap.is_some() && a.which.provider.is_none()).then(|| "smtps://localhost".into()),
        imap: imap.clone(),
        secret_timeout: Some(a.timeout),
        ..a.which.onto(a.auth.overrides())
    }
}

/// Resolves to real accounts, or a usage message: these commands need a real mailbox.
pub(super) fn accounts(o: &Overrides, what: &str) -> Result<(Account, Account), String> {
    let resolved = resolve(o).map_err(|e| e.to_string())?;
    for w in &resolved.warnings {
        eprintln!("mailtrip: warning: {w}");
    }
    match resolved.target {
        Target::Accounts { from, to } => Ok((*from, *to)),
        Target::Embedded => Err(format!(
            "{what} needs a mailbox: give --imap URL (or --provider NAME, or --account NAME from \
             a config file) and a password (MAILTRIP_PASSWORD or --password-env VAR)"
        )),
    }
}

fn usage(message: &str) -> ExitCode {
    eprintln!("mailtrip: {message}");
    ExitCode::from(super::EXIT_USAGE)
}

pub async fn run(a: WaitArgs) -> ExitCode {
    super::init_logging(a.verbose);
    let extract = match a.extract.as_deref().map(str::parse::<Extract>).transpose() {
        Ok(e) => e,
        Err(e) => return usage(&format!("--extract: {:#}", anyhow::Error::from(e))),
    };
    let (account, _) = match accounts(&mailbox_overrides(&a), "wait") {
        Ok(x) => x,
        Err(e) => return usage(&e),
    };
    // Without --since only mail arriving after the start matches, as documented: the ready
    // line on stderr is the script's cue to make its app send.
    let mut wait = Wait::new(account)
        .look_back(Duration::ZERO)
        .folder(a.folder.clone())
        .timeout(a.timeout)
        .delete(a.delete);
    if let Some(f) = &a.from {
        wait = wait.from(f.clone());
    }
    if let Some(t) = &a.to {
        wait = wait.to(t.clone());
    }
    if let Some(s) = &a.subject {
        match regex::Regex::new(s) {
            Ok(re) => wait = wait.subject(re),
            Err(e) => return usage(&format!("--subject {s:?}: {e}")),
        }
    }
    for h in &a.header {
        let Some((name, pattern)) = h.split_once(':') else {
            return usage(&format!("--header {h:?}: use NAME:REGEX"));
        };
        match regex::Regex::new(pattern) {
            Ok(re) => wait = wait.header(name.trim(), re),
            Err(e) => return usage(&format!("--header {h:?}: {e}")),
        }
    }
    if let Some(s) = &a.since {
        match parse_since(s) {
            Ok(t) => wait = wait.since(t),
            Err(e) => return usage(&format!("--since: {e}")),
        }
    }
    if !a.quiet {
        let timeout = a.timeout.as_secs_f64();
        wait = wait.on_ready(move |folder, uid| {
            eprintln!(
                "mailtrip: waiting up to {timeout:.0} s for new mail in {folder} (UID {uid} and up)"
            );
        });
    }
    let message = match wait.run().await {
        Ok(m) => m,
        Err(e) => {
            eprintln!("mailtrip: {}", clean(&e.to_string()));
            if let Some(d) = e.diagnosis() {
                if let Some(text) = &d.server_text {
                    eprintln!("mailtrip: server said: {}", clean(text));
                }
                eprintln!("mailtrip: hint: {}", clean(&d.hint));
            }
            return ExitCode::from(2);
        }
    };
    for w in &message.warnings {
        eprintln!("mailtrip: warning: {}", clean(w));
    }
    let (text, code) = match &extract {
        Some(what) => match message.extract(what) {
            Some(v) => (format!("{}\n", clean(&v)), 0),
            None => {
                eprintln!(
                    "mailtrip: the message matched (UID {}, {:?}) but holds nothing to extract \
                     for --extract {}",
                    message.uid,
                    message.subject,
                    a.extract.as_deref().unwrap_or_default()
                );
                return ExitCode::from(1);
            }
        },
        None => match a.format {
            WaitFormat::Json => match serde_json::to_string(&message) {
                Ok(j) => (format!("{}\n", clean_json(&j)), 0),
                Err(e) => {
                    eprintln!("mailtrip: rendering the message: {e}");
                    return ExitCode::from(2);
                }
            },
            WaitFormat::Human => (clean_block(&human(&message)).into_owned(), 0),
        },
    };
    if let Err(e) = super::emit(None, text.as_bytes()) {
        super::print_error(&e);
        return ExitCode::from(2);
    }
    ExitCode::from(code)
}

/// RFC 3339, or a duration ago.
fn parse_since(s: &str) -> Result<chrono::DateTime<chrono::FixedOffset>, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t);
    }
    let ago = super::parse_duration(s)
        .map_err(|_| format!("{s:?} is neither an RFC 3339 time nor a duration like 10m"))?;
    let ago = chrono::TimeDelta::from_std(ago).map_err(|e| e.to_string())?;
    Ok((chrono::Utc::now() - ago).fixed_offset())
}

/// A short summary for people.
fn human(m: &Message) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "mailtrip wait: matched {} UID {} after {:.1} s",
        m.folder,
        m.uid,
        m.waited_ms / 1000.0
    );
    let _ = writeln!(s, "  from:    {}", m.from.join(", "));
    let _ = writeln!(s, "  to:      {}", m.to.join(", "));
    let _ = writeln!(s, "  subject: {}", m.subject);
    if let Some(d) = &m.date {
        let _ = writeln!(s, "  date:    {d}");
    }
    for l in &m.links {
        let _ = writeln!(s, "  link:    {l}");
    }
    for a in &m.attachments {
        let name = a.name.as_deref().unwrap_or("(unnamed)");
        let _ = writeln!(
            s,
            "  attachment: {name} ({}, {} bytes)",
            a.content_type, a.size
        );
    }
    if m.deleted {
        let _ = writeln!(s, "  deleted: yes");
    }
    if let Some(text) = &m.text {
        let _ = writeln!(s);
        for line in text.lines().take(20) {
            let _ = writeln!(s, "  | {line}");
        }
        if text.lines().count() > 20 {
            let _ = writeln!(s, "  | …");
        }
    }
    s
}
