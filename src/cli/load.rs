//! `mailtrip load`: resolve the sender and one or more target accounts (or start the embedded
//! server), run a [`Load`], show live progress on a terminal, render the report, and exit 0
//! (no loss), 2 (loss, duplicates, spam or send failures) or 3 (usage, refusal).

use std::process::ExitCode;
use std::time::Duration;

use clap::Args as ClapArgs;

use crate::config::Target;
use crate::load::Load;
use crate::render::{Format, load as render};

use super::{AccountArgs, OutputArgs, parse_duration};

#[derive(Debug, Clone, ClapArgs)]
pub struct LoadArgs {
    #[command(flatten)]
    pub account: AccountArgs,
    #[command(flatten)]
    pub output: OutputArgs<LoadFormat>,
    /// How many probes to send (default 100; unlimited with --duration alone).
    #[arg(long, value_name = "N")]
    pub probes: Option<u64>,
    /// Most probes in flight (sent, not yet seen) at once.
    #[arg(long, value_name = "C", default_value_t = 8)]
    pub concurrency: usize,
    /// SMTP connections to send over (default: concurrency, at most 4).
    #[arg(long, value_name = "N")]
    pub smtp_connections: Option<usize>,
    /// Send at most this many probes per second: 50, 50/s, 300/m, 10/h.
    #[arg(long, value_name = "R/s", value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// Stop sending new probes after this long: 30s, 5m.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Per-probe delivery deadline: a probe not seen this long after its send is lost.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub timeout: Duration,
    /// Leave the probes in the mailboxes (no cleanup).
    #[arg(long)]
    pub keep: bool,
    /// Allow servers that are not on loopback. Providers throttle and may lock accounts that
    /// send many messages: only for accounts and servers you own.
    #[arg(long)]
    pub i_own_this_account: bool,
    /// Also write a self-contained HTML report here (latency histogram, latency over time
    /// with losses marked, sends and arrivals per second; inline SVG, no network).
    #[arg(long, value_name = "FILE")]
    pub html: Option<std::path::PathBuf>,
    /// Poll instead of IDLE (benchmarks).
    #[arg(long, hide = true)]
    pub poll: bool,
}

/// Parses `50`, `50/s`, `300/m`, `10/h` into probes per second.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    let (num, per) = s.trim().split_once('/').unwrap_or((s.trim(), "s"));
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a rate; use e.g. 50/s or 300/m"))?;
    let secs = match per.trim() {
        "s" | "sec" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => return Err(format!("unknown unit {other:?} in {s:?}; use /s, /m or /h")),
    };
    let r = n / secs;
    if !r.is_finite() || r <= 0.0 {
        return Err(format!("{s:?} must be a positive rate"));
    }
    Ok(r)
}

/// What `load --format` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LoadFormat {
    /// A summary: counts, throughput, latency percentiles, failures and cleanup.
    Human,
    /// The LoadReport as pretty JSON (`"schema": "mailtrip.load/1"`).
    Json,
}

impl From<LoadFormat> for Format {
    fn from(f: LoadFormat) -> Format {
        match f {
            LoadFormat::Human => Format::Human,
            LoadFormat::Json => Format::Json,
        }
    }
}

pub async fn run(a: LoadArgs) -> ExitCode {
    super::init_logging_with(a.output.verbose, a.output.color);
    // `--to-account a,b` names several target mailboxes; each is resolved like `check`'s.
    let names: Vec<Option<String>> = match &a.account.to_account {
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| Some(n.to_string()))
            .collect(),
        None => vec![None],
    };
    let mut from = None;
    let mut targets = Vec::new();
    let mut embedded = false;
    let mut alias_notes: Vec<String> = Vec::new();
    for name in names {
        let mut o = a.account.overrides();
        o.to_account = name;
        o.sends = true;
        o.secret_timeout = Some(a.timeout);
        let resolved = match a.output.resolve(&o) {
            Ok(r) => r,
            Err(code) => return code,
        };
        if let (Some(mailbox), Some(to)) = (&resolved.alias_of, &o.to) {
            alias_notes.push(format!(
                "--alias: watching {mailbox}'s mailbox for probes to {to}; probes not seen \
                 there may sit in {to}'s own mailbox"
            ));
        }
        match resolved.target {
            Target::Accounts { from: f, to } => {
                from.get_or_insert(*f);
                targets.push(*to);
            }
            Target::Embedded => embedded = true,
        }
    }
    let mut server = None;
    if embedded {
        match super::check::start_embedded().await {
            Ok((s, mut f, mut t)) => {
                server = Some(s);
                // Asked not to verify, it does not, and says so, as against any server.
                let insecure = a.account.auth.insecure_skip_verify;
                f.tls.insecure_skip_verify = insecure;
                t.tls.insecure_skip_verify = insecure;
                from = Some(f);
                targets = vec![t];
            }
            Err(e) => {
                super::print_error(&e);
                return ExitCode::from(2);
            }
        }
    }
    let Some(from) = from else {
        eprintln!("mailtrip: no sending account");
        return ExitCode::from(super::EXIT_USAGE);
    };
    let mut load = Load::new(from, targets)
        .probes(a.probes.or(if a.duration.is_some() {
            None
        } else {
            Some(100)
        }))
        .concurrency(a.concurrency)
        .timeout(a.timeout)
        .keep(a.keep)
        .i_own_this_account(a.i_own_this_account)
        .force_poll(a.poll)
        .timeline(a.html.is_some());
    if let Some(n) = a.smtp_connections {
        load = load.smtp_connections(n);
    }
    if let Some(r) = a.rate {
        load = load.rate(r);
    }
    if let Some(d) = a.duration {
        load = load.duration(d);
    }
    let progress = a.output.show_progress();
    let spinner = super::spinner::Spinner::new(progress, "connecting");
    if progress {
        if embedded {
            spinner.note(
                "mailtrip: no account configured: running against the embedded server on 127.0.0.1",
            );
        }
        let spinner = spinner.clone();
        load = load.on_progress(move |p| spinner.set(render::progress(p).trim_start()));
    }
    let result = load.run().await;
    spinner.clear();
    if let Some(s) = server.take() {
        s.shutdown().await;
    }
    let mut report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mailtrip: {e}");
            return ExitCode::from(if e.is_usage() { super::EXIT_USAGE } else { 2 });
        }
    };
    report.embedded = embedded;
    report.warnings.extend(alias_notes);
    let text = match a.output.format {
        LoadFormat::Json => match render::json(&report) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("mailtrip: rendering the report: {e}");
                return ExitCode::from(2);
            }
        },
        LoadFormat::Human => render::human(&report, a.output.style()),
    };
    if let Err(e) = super::emit(a.output.output.as_deref(), text.as_bytes()) {
        super::print_error(&e);
        return ExitCode::from(2);
    }
    if let Some(path) = &a.html {
        let page = crate::render::load_html::html(&report);
        if let Err(e) = crate::render::write_atomically(path, page.as_bytes()) {
            eprintln!(
                "mailtrip: writing the HTML report to {}: {e}",
                path.display()
            );
            return ExitCode::from(2);
        }
    }
    let clean = report.lost == 0
        && report.duplicated == 0
        && report.misplaced == 0
        && report.send_failed == 0;
    ExitCode::from(if clean { 0 } else { 2 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("50"), Ok(50.0));
        assert_eq!(parse_rate("50/s"), Ok(50.0));
        assert_eq!(parse_rate("300/m"), Ok(5.0));
        assert!(parse_rate("0/s").is_err());
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("5/week").is_err());
    }
}
