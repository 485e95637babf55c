//! `mailtrip verify`: resolve the account (or start the embedded server), connect, TLS and log
//! in once on SMTP and IMAP without sending, render the result, and exit 0 (all good),
//! 1 (warnings), 2 (a failure) or 3 (usage/config).

use std::process::ExitCode;
use std::time::Duration;

use clap::Args as ClapArgs;

use crate::config::{Account, Target};
use crate::probe::Verify;
use crate::render::{Format, verify::renderer};
use crate::server::{ServerConfig, TestServer};

use super::{AccountArgs, OutputArgs};

/// The embedded server's demo user for `verify` with no account configured.
const EMBEDDED_USER: &str = "alice@mailtrip.localhost";

#[derive(Debug, Clone, ClapArgs)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub account: AccountArgs,
    #[command(flatten)]
    pub output: OutputArgs<VerifyFormat>,
    /// Longest wait for each connect, handshake or command: 500ms, 15s, 1m.
    #[arg(short = 't', long, value_parser = super::parse_duration, default_value = "15s")]
    pub timeout: Duration,
}

/// What `verify --format` offers: the same five as `check`, over the VerifyReport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VerifyFormat {
    /// One line per step of each protocol, then the certificate, capabilities and folders.
    Human,
    /// The VerifyReport as one JSON object (`"schema": 1`).
    Json,
    /// JUnit XML: one testcase per step that ran (smtp.connect … imap.auth), for CI reports.
    Junit,
    /// One Nagios/Icinga plugin line with per-step timings and certificate days; exit 0/1/2/3.
    Nagios,
    /// Prometheus text exposition (mailtrip_verify_*), for node_exporter's textfile collector.
    Prometheus,
}

impl From<VerifyFormat> for Format {
    fn from(f: VerifyFormat) -> Format {
        match f {
            VerifyFormat::Human => Format::Human,
            VerifyFormat::Json => Format::Json,
            VerifyFormat::Junit => Format::Junit,
            VerifyFormat::Nagios => Format::Nagios,
            VerifyFormat::Prometheus => Format::Prometheus,
        }
    }
}

pub async fn run(a: VerifyArgs) -> ExitCode {
    super::init_logging_with(a.output.verbose, a.output.color);
    let mut o = a.account.overrides();
    o.secret_timeout = Some(a.timeout);
    let resolved = match a.output.resolve(&o) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let mut server = None;
    let account = match resolved.target {
        Target::Accounts { from, .. } => *from,
        Target::Embedded => match start_embedded().await {
            Ok((s, mut account)) => {
                // Asked not to verify, it does not, and says so, as against any server.
                account.tls.insecure_skip_verify = o.insecure_skip_verify;
                if !a.output.quiet {
                    eprintln!(
                        "mailtrip: no account configured: verifying the embedded server on \
                         127.0.0.1 (give --provider/--smtp/--imap/--user and a password to \
                         verify a real account)"
                    );
                }
                server = Some(s);
                account
            }
            Err(e) => {
                super::print_error(&e);
                return ExitCode::from(2);
            }
        },
    };
    let spinner = super::spinner::Spinner::new(
        a.output.show_progress(),
        &format!(
            "verifying {} and {}: connect, TLS, login",
            account.smtp, account.imap
        ),
    );
    let mut report = Verify::new(account).timeout(a.timeout).run().await;
    spinner.clear();
    report.embedded = server.is_some();
    if let Some(s) = server.take() {
        s.shutdown().await;
    }
    let mut bytes = Vec::new();
    if let Err(e) = renderer(a.output.kind(), a.output.style()).render(&report, &mut bytes) {
        eprintln!("mailtrip: rendering the report: {e}");
        return ExitCode::from(2);
    }
    if let Err(e) = super::emit(a.output.output.as_deref(), &bytes) {
        super::print_error(&e);
        return ExitCode::from(2);
    }
    ExitCode::from(report.exit_code())
}

/// Starts the embedded server with one demo user and returns an account for it.
async fn start_embedded() -> anyhow::Result<(TestServer, Account)> {
    let password = super::server::demo_password();
    let config = ServerConfig::default().with_user(EMBEDDED_USER, &password);
    let server = TestServer::start(config).await?;
    let account = Account::embedded(&server, EMBEDDED_USER, &password);
    Ok((server, account))
}
