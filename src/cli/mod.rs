//! The command line: clap definitions and one function per subcommand. `main.rs` only parses,
//! calls [`run`], and turns the result into an exit code.
//!
//! Not part of the library's API (`#[doc(hidden)]`, feature `cli`): it stays in the library
//! rather than moving under `main.rs` because it reaches crate-private parts of every layer
//! (config resolution, renderers, the server's HTTP auth), which would otherwise all have to
//! become public; the integration tests parse arguments through [`Args`] too.

mod check;
mod load;
mod login;
mod monitor;
mod providers;
mod server;
mod spinner;
mod sweep;
mod verify;
mod wait;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args as ClapArgs, CommandFactory, FromArgMatches, Parser, Subcommand};
use secrecy::SecretString;

use crate::config::Overrides;
use crate::render::nagios_range::Range;
use crate::render::{Format, Style};

/// Exit code for usage and configuration errors.
pub const EXIT_USAGE: u8 = 3;

/// mailtrip proves email really works: it sends a tagged probe over SMTP, watches the
/// mailbox over IMAP, and says where the mail landed and, if it didn't, why.
#[derive(Debug, Parser)]
#[command(name = "mailtrip", version, propagate_version = true)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

impl Args {
    /// Parses the process's arguments like [`Parser::try_parse`], except that a `MAILTRIP_*`
    /// variable set to the empty string counts as unset. CI systems pass an unset variable as
    /// an empty one (GitHub Actions' `${{ vars.X }}`), and `""` is never a useful value.
    pub fn try_parse_env() -> Result<Args, clap::Error> {
        Self::try_parse_env_from(std::env::args_os())
    }

    /// [`Args::try_parse_env`] over the given arguments (the first is the program name).
    pub fn try_parse_env_from<I, T>(args: I) -> Result<Args, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let mut cmd = without_empty_env(Args::command());
        let mut matches = cmd.try_get_matches_from_mut(args)?;
        Args::from_arg_matches_mut(&mut matches).map_err(|e| e.format(&mut cmd))
    }
}

/// Drops the `env = ...` source of every argument whose variable is set but empty, in every
/// subcommand, so clap falls back to the next source as if it were unset.
fn without_empty_env(cmd: clap::Command) -> clap::Command {
    cmd.mut_args(|arg| {
        let empty = arg
            .get_env()
            .and_then(std::env::var_os)
            .is_some_and(|v| v.is_empty());
        if empty { arg.env(None) } else { arg }
    })
    .mut_subcommands(without_empty_env)
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Send a probe and watch it arrive: a full SMTP → IMAP round trip.
    ///
    /// With no account configured it runs against the embedded server.
    Check(Box<CheckArgs>),
    /// Run the embedded loopback SMTP + IMAP server for another app's tests.
    Server(Box<server::ServerArgs>),
    /// Check an account's login without sending: connect, TLS and authenticate once on SMTP
    /// and IMAP, and check the certificate, capabilities and \Junk folder.
    ///
    /// With no account configured it runs against the embedded server.
    Verify(Box<verify::VerifyArgs>),
    /// List the provider presets: hosts, ports, TLS modes, auth notes and quirks.
    Providers(providers::ProvidersArgs),
    /// Wait for a message something else sends (your app's signup mail) and print it, or
    /// only its link or one-time code with --extract.
    Wait(Box<wait::WaitArgs>),
    /// List mailtrip's own leftover probes and delete them (with --yes or confirmation).
    Sweep(Box<sweep::SweepArgs>),
    /// Send many probes at once and report throughput, latency percentiles and loss.
    ///
    /// With no account configured it runs against the embedded server. Refuses a server
    /// that is not on loopback without --i-own-this-account.
    Load(Box<load::LoadArgs>),
    /// Run as a Prometheus exporter: probe each configured route every interval over kept
    /// SMTP and IMAP (IDLE) connections and serve /metrics, /probe?route=NAME (one probe per
    /// scrape, blackbox-style), /readyz and /healthz.
    ///
    /// Routes come from the config's `[[routes]]`; with none, the account the flags name is
    /// probed, and with no account at all one route on the embedded server (a demo).
    Monitor(Box<monitor::MonitorArgs>),
    /// Sign an account in with OAuth2 (Microsoft: a device code; Google: the browser) and keep
    /// its tokens for every other command; for accounts where passwords no longer work.
    Login(Box<login::LoginArgs>),
    /// Remove an account's stored OAuth2 sign-in (or all of them with --all).
    Logout(Box<login::LogoutArgs>),
}

/// A subcommand's `--format` choices: a value enum of its own, so `--help` lists only the
/// formats that subcommand renders, mapped onto the renderers' [`Format`]. Every one has
/// `human`, the default.
pub trait FormatChoice:
    clap::ValueEnum + Clone + Copy + Send + Sync + std::fmt::Debug + Into<Format> + 'static
{
}

impl<T> FormatChoice for T where
    T: clap::ValueEnum + Clone + Copy + Send + Sync + std::fmt::Debug + Into<Format> + 'static
{
}

/// Output options shared by commands that produce a report; `F` is the subcommand's formats.
#[derive(Debug, Clone, ClapArgs)]
pub struct OutputArgs<F: FormatChoice = Format> {
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: F,
    /// Colour: auto (terminal and no NO_COLOR), always, never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// No progress on stderr.
    #[arg(short, long)]
    pub quiet: bool,
    /// Write the report to FILE (atomically: temp file + rename) instead of stdout; `-` is stdout.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// More logging on stderr (-v info, -vv debug, -vvv wire traces; secrets are redacted).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl<F: FormatChoice> OutputArgs<F> {
    /// The chosen format, as the renderers know it.
    pub fn kind(&self) -> Format {
        self.format.into()
    }

    /// Exit 3 for a usage or config mistake: `message` on stderr and, for `--format nagios`,
    /// an UNKNOWN line where the report would have gone, so the plugin runner sees why.
    pub fn usage_error(&self, message: &str) -> ExitCode {
        if self.kind() == Format::Nagios {
            let line = format!("{}\n", crate::render::nagios::unknown(message));
            let _ = emit(self.output.as_deref(), line.as_bytes());
        }
        eprintln!("mailtrip: {message}");
        ExitCode::from(EXIT_USAGE)
    }

    /// Resolves the account flags `o`, its warnings on stderr; a config mistake is the
    /// command's usage error.
    pub fn resolve(&self, o: &Overrides) -> Result<crate::config::Resolved, ExitCode> {
        let resolved = crate::config::resolve(o).map_err(|e| self.usage_error(&e.to_string()))?;
        for w in &resolved.warnings {
            eprintln!("mailtrip: warning: {w}");
        }
        Ok(resolved)
    }

    /// Decides the style once: colour only for a terminal without NO_COLOR, unless forced.
    pub fn style(&self) -> Style {
        let color = match self.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        };
        Style { color }
    }

    /// Progress goes to stderr only for people: human format, stderr a terminal, not quiet.
    pub fn show_progress(&self) -> bool {
        self.kind() == Format::Human && !self.quiet && std::io::stderr().is_terminal()
    }
}

/// Which account, from which config file: declared once for every command that names an
/// account (`login` and `logout` take only these). A command whose account plays another role
/// rewords the help with `mut_arg`, as [`AccountArgs`] and `wait` do for `--account`.
#[derive(Debug, Clone, ClapArgs)]
pub struct WhichAccount {
    /// Config file (default ./mailtrip.toml, then ~/.config/mailtrip/config.toml).
    #[arg(long, env = "MAILTRIP_CONFIG")]
    pub config: Option<PathBuf>,
    /// Named account from the config file.
    #[arg(long, env = "MAILTRIP_ACCOUNT")]
    pub account: Option<String>,
    /// Provider preset that fills hosts, ports and TLS modes (see `mailtrip providers`).
    #[arg(long, env = "MAILTRIP_PROVIDER")]
    pub provider: Option<String>,
    /// Login name (defaults to the address).
    #[arg(long, env = "MAILTRIP_USER")]
    pub user: Option<String>,
}

/// `--imap`, declared once for `wait` and [`AccountArgs`], which both watch a mailbox.
#[derive(Debug, Clone, ClapArgs)]
pub struct ImapArg {
    /// IMAP endpoint URL: imaps://HOST:993, imap+starttls://HOST:143 or imap://HOST:143 (port optional).
    #[arg(long, env = "MAILTRIP_IMAP")]
    pub imap: Option<String>,
}

/// Where to send from and which mailbox to watch.
#[derive(Debug, Clone, ClapArgs)]
#[command(mut_arg("account", |a| a.help("Named account from the config file to send from (and watch)")))]
pub struct AccountArgs {
    #[command(flatten)]
    pub which: WhichAccount,
    /// Named account to send to and watch instead of the sender's own mailbox.
    #[arg(long, env = "MAILTRIP_TO_ACCOUNT")]
    pub to_account: Option<String>,
    /// SMTP endpoint URL: smtps://HOST:465, smtp+starttls://HOST:587 or smtp://HOST:25 (port optional).
    #[arg(long, env = "MAILTRIP_SMTP")]
    pub smtp: Option<String>,
    #[command(flatten)]
    pub imap: ImapArg,
    /// Mail server for both SMTP and IMAP (Nagios -H): replaces the host of the --smtp and
    /// --imap URLs (or the account's, or the preset's); alone, smtp+starttls://HOST:587 and
    /// imaps://HOST:993.
    #[arg(short = 'H', long, value_name = "HOST")]
    pub hostname: Option<String>,
    /// SMTP port (Nagios -p, as check_smtp): replaces the port of the SMTP URL; with -H alone,
    /// 465 means smtps:// (implicit TLS).
    #[arg(short = 'p', long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,
    /// Sender address (defaults to the login).
    #[arg(long, env = "MAILTRIP_FROM")]
    pub from: Option<String>,
    /// Recipient address (defaults to the sender: a send-to-self). Must be the watched
    /// mailbox's own address unless --alias says it is delivered there; use --to-account to
    /// watch another mailbox.
    #[arg(long, env = "MAILTRIP_TO")]
    pub to: Option<String>,
    /// --to is an alias delivered into the sender's own mailbox: watch that mailbox for it
    /// (reports then name both, and a timeout says the probe may sit elsewhere).
    #[arg(long)]
    pub alias: bool,
    #[command(flatten)]
    pub auth: AuthArgs,
}

/// How to log in and whether to trust the server: shared by every command that connects.
#[derive(Debug, Clone, Default, ClapArgs)]
pub struct AuthArgs {
    /// Read the password from this environment variable (or set MAILTRIP_PASSWORD).
    #[arg(long)]
    pub password_env: Option<String>,
    /// Read the password from the first line of this file.
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    /// Run this command (sh -c) and use what it prints as the password.
    #[arg(long)]
    pub password_command: Option<String>,
    /// Read an OAuth2 access token (XOAUTH2) from this environment variable.
    #[arg(long)]
    pub oauth2_token_env: Option<String>,
    /// Run this command and use what it prints as an OAuth2 access token.
    #[arg(long)]
    pub oauth2_token_command: Option<String>,
    /// Trust this PEM root certificate too (private CA).
    #[arg(long, env = "MAILTRIP_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// Allow smtp:// or imap:// (no TLS) to a host that is not loopback.
    #[arg(long)]
    pub allow_plaintext: bool,
    /// Do NOT verify TLS certificates. Every output says so loudly.
    #[arg(long)]
    pub insecure_skip_verify: bool,
}

impl AuthArgs {
    /// Overrides with only the credential and TLS fields set; MAILTRIP_PASSWORD is read here,
    /// into a secret, and a terminal prompt is allowed when stdin and stderr are terminals.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            password: std::env::var("MAILTRIP_PASSWORD")
                .ok()
                .filter(|p| !p.is_empty())
                .map(SecretString::from),
            password_env: self.password_env.clone(),
            password_file: self.password_file.clone(),
            password_command: self.password_command.clone(),
            oauth2_token_env: self.oauth2_token_env.clone(),
            oauth2_token_command: self.oauth2_token_command.clone(),
            ca_file: self.ca_file.clone(),
            allow_plaintext: self.allow_plaintext,
            insecure_skip_verify: self.insecure_skip_verify,
            prompt: std::io::stdin().is_terminal() && std::io::stderr().is_terminal(),
            ..Overrides::default()
        }
    }
}

impl WhichAccount {
    /// `base` with the account choice set on it.
    pub fn onto(&self, base: Overrides) -> Overrides {
        Overrides {
            config: self.config.clone(),
            account: self.account.clone(),
            provider: self.provider.clone(),
            user: self.user.clone(),
            ..base
        }
    }
}

impl AccountArgs {
    /// The overrides for config resolution; MAILTRIP_PASSWORD is read here, into a secret.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            to_account: self.to_account.clone(),
            smtp: self.smtp.clone(),
            imap: self.imap.imap.clone(),
            host: self.hostname.clone(),
            smtp_port: self.port,
            from: self.from.clone(),
            to: self.to.clone(),
            alias: self.alias,
            ..self.which.onto(self.auth.overrides())
        }
    }
}

#[derive(Debug, Clone, ClapArgs)]
pub struct CheckArgs {
    #[command(flatten)]
    pub account: AccountArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// How long to wait for delivery once SMTP accepted the probe (also caps each connect
    /// and command): 500ms, 20s, 2m.
    #[arg(short = 't', long, value_parser = parse_duration, default_value = "60s")]
    pub timeout: Duration,
    /// Delivery time range that is a warning (exit 1; Nagios WARNING): `10s` (slower than
    /// 10 s), or a plugin range such as `10s:`, `~:10s`, `10s:20s`, `@10s:20s`.
    #[arg(short = 'w', long, alias = "warn", value_name = "RANGE", allow_hyphen_values = true,
          value_parser = clap::value_parser!(Range))]
    pub warning: Option<Range>,
    /// Delivery time range that is a failure (exit 2; Nagios CRITICAL); same syntax as
    /// --warning.
    #[arg(short = 'c', long, value_name = "RANGE", allow_hyphen_values = true,
          value_parser = clap::value_parser!(Range))]
    pub critical: Option<Range>,
    /// Leave the probe in the mailbox (no cleanup).
    #[arg(long)]
    pub keep: bool,
    /// Probe content: plain (small text) or rich (text + HTML, RFC 2047 subject, an
    /// attachment, long lines: names what a gateway changed).
    #[arg(long, value_enum, default_value_t = crate::probe::Payload::Plain)]
    pub payload: crate::probe::Payload,
}

/// Parses `500ms`, `20s`, `2m`, `1h`, `1d` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let secs = crate::server::fault_spec::DurationText {
        days: true,
        spaced: false,
        examples: "500ms, 20s, 2m",
    }
    .seconds(s)?;
    if !secs.is_finite() || secs <= 0.0 || secs > 365.0 * 86400.0 {
        return Err(format!("{s:?} is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Sets up logging on stderr at the requested verbosity (RUST_LOG overrides), coloured only
/// when stderr is a terminal and NO_COLOR is unset.
pub fn init_logging(verbose: u8) {
    init_logging_with(verbose, ColorChoice::Auto);
}

/// Logging as [`init_logging`], with `--color`: `never` (and a log file or pipe under `auto`)
/// gets no ANSI escapes.
pub fn init_logging_with(verbose: u8, color: ColorChoice) {
    let ansi = match color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    };
    let level = match verbose {
        0 => "warn",
        1 => "mailtrip=info",
        2 => "mailtrip=debug",
        _ => "mailtrip=trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Runs a parsed command line to completion.
pub async fn run(args: Args) -> ExitCode {
    match args.command {
        Command::Check(a) => check::run(*a).await,
        Command::Server(a) => server::run(*a).await,
        Command::Verify(a) => verify::run(*a).await,
        Command::Providers(a) => providers::run(a),
        Command::Wait(a) => wait::run(*a).await,
        Command::Sweep(a) => sweep::run(*a).await,
        Command::Load(a) => load::run(*a).await,
        Command::Monitor(a) => monitor::run(*a).await,
        Command::Login(a) => login::login(*a).await,
        Command::Logout(a) => login::logout(*a).await,
    }
}

/// Writes output to `path` atomically, or to stdout when `path` is None or `-`. A closed
/// stdout pipe (`| head`) is the reader's choice, not an error.
pub fn emit(path: Option<&std::path::Path>, bytes: &[u8]) -> anyhow::Result<()> {
    use anyhow::Context;
    match path {
        Some(p) if p.as_os_str() != "-" => crate::render::write_atomically(p, bytes)
            .with_context(|| format!("writing the report to {}", p.display())),
        _ => {
            let mut out = std::io::stdout().lock();
            match out.write_all(bytes).and_then(|_| out.flush()) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                r => r.context("writing the report to stdout"),
            }
        }
    }
}

/// Exit code and output for a command line clap did not run: a usage error, or `--help` /
/// `--version`. With `--format nagios` on the line the plugin guidelines apply: the problem is
/// also an UNKNOWN line on stdout (Nagios reads only stdout), and help and version exit 3
/// (UNKNOWN) as well, so a misconfigured check never shows OK.
pub fn parse_failed(e: clap::Error) -> ExitCode {
    let usage = e.use_stderr();
    let nagios = nagios_requested(std::env::args_os().skip(1));
    if nagios && usage {
        let text = e.to_string();
        let first = text
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("invalid command line");
        let first = first.strip_prefix("error: ").unwrap_or(first);
        let line = format!("{}\n", crate::render::nagios::unknown(first));
        let _ = emit(None, line.as_bytes());
    }
    let _ = e.print();
    if usage || nagios {
        ExitCode::from(EXIT_USAGE)
    } else {
        ExitCode::SUCCESS
    }
}

/// Whether the arguments ask for `--format nagios` (or `--format=nagios`).
fn nagios_requested(args: impl Iterator<Item = std::ffi::OsString>) -> bool {
    let mut previous_was_format = false;
    for a in args {
        let a = a.to_string_lossy();
        if a == "--format=nagios" || (previous_was_format && a == "nagios") {
            return true;
        }
        previous_was_format = a == "--format";
    }
    false
}

/// Prints an error chain as `mailtrip: a: b: c` on stderr.
pub fn print_error(err: &anyhow::Error) {
    eprintln!("mailtrip: {err:#}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("20s"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("2 weeks").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("-1s").is_err());
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86400)));
        assert_eq!(
            parse_duration("2 s"),
            Err(r#"unknown unit " s" in "2 s"; use ms, s, m, h or d"#.into())
        );
        assert_eq!(
            parse_duration("s"),
            Err(r#""s" is not a duration; use e.g. 500ms, 20s, 2m"#.into())
        );
    }

    #[test]
    fn issue_19_nagios_format_is_spotted_on_the_command_line() {
        let args = |a: &[&str]| a.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        assert!(nagios_requested(
            args(&["check", "--format", "nagios", "-V"]).into_iter()
        ));
        assert!(nagios_requested(
            args(&["check", "--format=nagios"]).into_iter()
        ));
        assert!(!nagios_requested(
            args(&["check", "--format", "json", "nagios"]).into_iter()
        ));
        assert!(!nagios_requested(args(&["check", "-V"]).into_iter()));
    }
}
