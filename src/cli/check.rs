//! `mailtrip check`: resolve the accounts (or start the embedded server), run one round trip,
//! render the report, and exit 0 (inbox), 1 (warning), 2 (failed) or 3 (usage/config).

use std::process::ExitCode;

use crate::config::{Account, Target};
use crate::probe::Check;
use crate::render::{nagios, renderer_with};
use crate::report::Phase;
use crate::server::{ServerConfig, TestServer};

use super::CheckArgs;

/// The embedded server's demo users for `check` with no account configured.
const EMBEDDED_FROM: &str = "alice@mailtrip.localhost";
const EMBEDDED_TO: &str = "bob@mailtrip.localhost";

pub async fn run(a: CheckArgs) -> ExitCode {
    super::init_logging_with(a.output.verbose, a.output.color);
    let thresholds = nagios::Nagios {
        warning: a.warning,
        critical: a.critical,
    };
    if let Err(e) = thresholds.validate() {
        return a.output.usage_error(&e);
    }
    let mut o = a.account.overrides();
    o.sends = true;
    o.secret_timeout = Some(a.timeout);
    let resolved = match a.output.resolve(&o) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let mut server = None;
    let (from, to, embedded) = match resolved.target {
        Target::Accounts { from, to } => (*from, *to, false),
        Target::Embedded => match start_embedded().await {
            Ok((s, mut from, mut to)) => {
                server = Some(s);
                // Asked not to verify, it does not, and says so, as against any server.
                from.tls.insecure_skip_verify = o.insecure_skip_verify;
                to.tls.insecure_skip_verify = o.insecure_skip_verify;
                (from, to, true)
            }
            Err(e) => {
                super::print_error(&e);
                return ExitCode::from(2);
            }
        },
    };
    let progress = a.output.show_progress();
    let spinner = super::spinner::Spinner::new(progress, "starting");
    if progress && embedded {
        spinner.note(
            "mailtrip: no account configured: running against the embedded server on 127.0.0.1",
        );
    }
    let mut check = Check::new(from, to)
        .timeout(a.timeout)
        .keep(a.keep)
        .payload(a.payload);
    if let Some(mailbox) = &resolved.alias_of {
        check = check.alias_of(mailbox.clone());
    }
    {
        let spinner = spinner.clone();
        check = check.on_progress(move |phase: Phase| spinner.set(phase.as_str()));
    }
    let mut report = check.run().await;
    spinner.clear();
    report.embedded = embedded;
    if let Some(s) = server.take() {
        s.shutdown().await;
    }
    let (_, code) = nagios::status(&report, &thresholds);
    // Only the thresholds speak here: spam or an archive is a warning of its own, and with no
    // --warning/--critical there is nothing to be over.
    let over = nagios::threshold_status(&report, &thresholds);
    if report.verdict.is_delivered()
        && over != nagios::NagiosStatus::Ok
        && let Some(d) = report.phase(Phase::Delivery)
    {
        let message = format!(
            "delivery took {:.0} ms: {over} under --warning/--critical",
            d.ms
        );
        report.warnings.push(message);
    }
    let r = renderer_with(a.output.format, a.output.style(), thresholds);
    let mut bytes = Vec::new();
    if let Err(e) = r.render(&report, &mut bytes) {
        eprintln!("mailtrip: rendering the report: {e}");
        return ExitCode::from(2);
    }
    if let Err(e) = super::emit(a.output.output.as_deref(), &bytes) {
        super::print_error(&e);
        return ExitCode::from(2);
    }
    ExitCode::from(code)
}

/// Starts the embedded server with two demo users and returns accounts for both.
pub(super) async fn start_embedded() -> anyhow::Result<(TestServer, Account, Account)> {
    let password = super::server::demo_password();
    let config = ServerConfig::default()
        .with_user(EMBEDDED_FROM, &password)
        .with_user(EMBEDDED_TO, &password);
    let server = TestServer::start(config).await?;
    let from = Account::embedded(&server, EMBEDDED_FROM, &password);
    let to = Account::embedded(&server, EMBEDDED_TO, &password);
    Ok((server, from, to))
}
