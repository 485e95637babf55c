//! `mailtrip sweep`: list mailtrip's own leftover probes (provably probes of the sender: a UUID
//! tag in the tag header or Message-ID, the subject carrying it, one From that is the sender, a
//! body matching its digest; in INBOX, Junk, Sent, Archive and All Mail) and delete them only
//! with `--yes` or a yes at the terminal prompt.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args as ClapArgs;

use super::{AccountArgs, OutputArgs};
use crate::probe::{Sweep, SweepReport};
use crate::render::Format;
use crate::render::text::{clean, clean_block, clean_json};

#[derive(Debug, Clone, ClapArgs)]
pub struct SweepArgs {
    #[command(flatten)]
    pub account: AccountArgs,
    #[command(flatten)]
    pub output: OutputArgs<SweepFormat>,
    /// Only probes sent longer ago than this: 1d, 12h, 30m.
    #[arg(long, value_parser = super::parse_duration)]
    pub older_than: Option<Duration>,
    /// List only; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Delete without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// What `sweep --format` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SweepFormat {
    /// The leftover probes, one line each, then what was deleted.
    Human,
    /// The SweepReport as one JSON object.
    Json,
}

impl From<SweepFormat> for Format {
    fn from(f: SweepFormat) -> Format {
        match f {
            SweepFormat::Human => Format::Human,
            SweepFormat::Json => Format::Json,
        }
    }
}

pub async fn run(a: SweepArgs) -> ExitCode {
    super::init_logging_with(a.output.verbose, a.output.color);
    let mut o = a.account.overrides();
    o.sends = true;
    if o.smtp.is_none() && o.imap.is_some() && o.provider.is_none() {
        // Sweeping needs no SMTP server.
        o.smtp = Some("smtps://localhost".into());
    }
    let (from, to) = match super::wait::accounts(&o, "sweep") {
        Ok(x) => x,
        Err(e) => {
            eprintln!("mailtrip: {e}");
            return ExitCode::from(super::EXIT_USAGE);
        }
    };
    let mut sweep = Sweep::new(to).sender(from.address.clone());
    if let Some(age) = a.older_than {
        sweep = sweep.older_than(age);
    }
    let mut report = match sweep.list().await {
        Ok(r) => r,
        Err(d) => return failed(&d),
    };
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    // Asked at the terminal: the list is shown there once, before the question.
    let asked = !report.found.is_empty() && !a.dry_run && !a.yes && interactive;
    let delete = !report.found.is_empty() && !a.dry_run && (a.yes || (asked && confirm(&report)));
    if !report.found.is_empty() && !a.dry_run && !a.yes && !interactive {
        report.warnings.push(
            "no terminal to confirm and no --yes: listed only, nothing deleted (as with --dry-run)"
                .into(),
        );
    }
    if delete {
        report = match sweep.delete(&report).await {
            Ok(r) => r,
            Err(d) => return failed(&d),
        };
    }
    let text = match a.output.format {
        SweepFormat::Json => match serde_json::to_string(&report) {
            Ok(j) => format!("{}\n", clean_json(&j)),
            Err(e) => {
                eprintln!("mailtrip: rendering the sweep: {e}");
                return ExitCode::from(2);
            }
        },
        SweepFormat::Human => {
            // After the prompt, a terminal reader already has the list: print the outcome.
            let to_terminal = a
                .output
                .output
                .as_ref()
                .is_none_or(|p| p.as_os_str() == "-")
                && std::io::stdout().is_terminal();
            let shown = asked && to_terminal;
            let mut text = if shown {
                String::new()
            } else {
                listing(&report)
            };
            text.push_str(&outcome(&report, asked && !delete));
            clean_block(&text).into_owned()
        }
    };
    if let Err(e) = super::emit(a.output.output.as_deref(), text.as_bytes()) {
        super::print_error(&e);
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}

fn failed(d: &crate::diagnose::Diagnosis) -> ExitCode {
    eprintln!("mailtrip: sweep: {}", clean(&d.summary));
    if let Some(text) = &d.server_text {
        eprintln!("mailtrip: server said: {}", clean(text));
    }
    eprintln!("mailtrip: hint: {}", clean(&d.hint));
    ExitCode::from(2)
}

/// Shows the list and asks on the terminal; anything but y/yes is a no.
fn confirm(r: &SweepReport) -> bool {
    eprint!("{}", clean_block(&listing(r)));
    eprint!(
        "delete these {} message{}? [y/N] ",
        r.found.len(),
        if r.found.len() == 1 { "" } else { "s" }
    );
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// The header and one line per leftover probe.
fn listing(r: &SweepReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "mailtrip sweep: {} leftover probe{} from {} in {} ({})",
        r.found.len(),
        if r.found.len() == 1 { "" } else { "s" },
        r.sender,
        r.account,
        r.folders.join(", ")
    );
    for l in &r.found {
        let _ = writeln!(
            s,
            "  {:<12} UID {:<6} sent {}{}  {}",
            l.folder,
            l.uid,
            l.sent.as_deref().unwrap_or("?"),
            if l.late { " (late)" } else { "" },
            l.subject
        );
    }
    s
}

/// What was deleted (or why nothing was), then the warnings. `declined`: the prompt got a no.
fn outcome(r: &SweepReport, declined: bool) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    if !r.dry_run {
        let _ = writeln!(s, "deleted {}", r.deleted);
    } else if declined {
        let _ = writeln!(s, "nothing deleted (not confirmed)");
    } else if !r.found.is_empty() {
        let _ = writeln!(s, "nothing deleted (dry run)");
    }
    for w in &r.warnings {
        let _ = writeln!(s, "  warning: {w}");
    }
    s
}
