//! `mailtrip monitor`: read the routes (the config's `[[routes]]`, else the account the flags
//! name, else the embedded server), start a [`Monitor`], print where it listens, and run until
//! SIGTERM or Ctrl-C, then shut down cleanly and exit 0.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow};
use clap::Args as ClapArgs;

use crate::config::file::{self, Loaded};
use crate::config::resolve::{named_account, trust};
use crate::config::{Target, resolve};
use crate::monitor::{
    DEFAULT_INTERVAL, DEFAULT_LISTEN, DEFAULT_PROBE_CONCURRENCY, DEFAULT_TIMEOUT, Monitor, Route,
};
use crate::server::TestServer;

use super::{AccountArgs, parse_duration};

/// The embedded demo's interval when none is given: something happens every few seconds.
const EMBEDDED_INTERVAL: Duration = Duration::from_secs(10);
/// The embedded demo's delivery timeout when none is given: loopback delivers in milliseconds.
const EMBEDDED_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, ClapArgs)]
pub struct MonitorArgs {
    #[command(flatten)]
    pub account: AccountArgs,
    /// Serve /metrics, /probe, /readyz and /healthz on HOST:PORT (port 0: any free port) [default: the
    /// config's [monitor] listen, else 127.0.0.1:9599].
    #[arg(long, env = "MAILTRIP_LISTEN")]
    pub listen: Option<String>,
    /// Probe interval for routes that set none (default: [monitor] interval, else 60s; 10s for
    /// the embedded demo).
    #[arg(long, value_parser = parse_duration)]
    pub interval: Option<Duration>,
    /// Delivery timeout for routes that set none (default: [monitor] timeout, else 120s; 30s
    /// for the embedded demo).
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Don't delete this sender's stale probes (older than the timeout) at start and hourly.
    #[arg(long)]
    pub no_sweep: bool,
    /// Probe only when Prometheus scrapes /probe?route=NAME (blackbox-style: Prometheus
    /// schedules), never on an interval of our own.
    #[arg(long)]
    pub no_interval: bool,
    /// How many /probe probes of one route may run at once; a scrape beyond that gets 429.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_PROBE_CONCURRENCY,
          value_parser = clap::builder::TypedValueParser::map(
              clap::value_parser!(u16).range(1..), usize::from))]
    pub probe_concurrency: usize,
    /// After a server refuses the password, wait this long before logging in again (doubling
    /// up to an hour while it keeps refusing): providers lock accounts that keep trying.
    #[arg(long, value_parser = super::parse_duration, default_value = "5m")]
    pub auth_hold: Duration,
    /// More logging on stderr (-v info, -vv debug, -vvv wire traces; secrets are redacted).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// What to run: the routes, the address, and the embedded server if one was started.
struct Plan {
    routes: Vec<Route>,
    listen: SocketAddr,
    server: Option<TestServer>,
    notes: Vec<String>,
}

pub async fn run(a: MonitorArgs) -> ExitCode {
    super::init_logging(a.verbose.max(1));
    let plan = match plan(&a).await {
        Ok(p) => p,
        Err(e) => {
            super::print_error(&e);
            return ExitCode::from(super::EXIT_USAGE);
        }
    };
    // Signal handlers first: a SIGTERM right after the address is printed must count.
    #[cfg(unix)]
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mailtrip: cannot handle SIGTERM: {e}");
            return ExitCode::from(2);
        }
    };
    let monitor = Monitor::new(plan.routes.clone())
        .listen(plan.listen)
        .sweep(!a.no_sweep)
        .auth_hold(a.auth_hold)
        .interval_probes(!a.no_interval)
        .probe_concurrency(a.probe_concurrency);
    let handle = match monitor.start().await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("mailtrip: monitor: {e}");
            if let Some(s) = plan.server {
                s.shutdown().await;
            }
            return ExitCode::from(2);
        }
    };
    eprintln!(
        "mailtrip monitor: listening on http://{}/metrics (and /probe?route=NAME, /readyz, \
         /healthz)",
        handle.local_addr()
    );
    for n in &plan.notes {
        eprintln!("mailtrip monitor: {n}");
    }
    for r in &plan.routes {
        let when = if a.no_interval {
            format!("on /probe?route={} only", r.name)
        } else {
            format!("every {:.0?} (±10 %)", r.interval)
        };
        eprintln!(
            "mailtrip monitor: route {}: {} -> {} {when}, timeout {:.0?}",
            r.name, r.from.address, r.to.address, r.timeout
        );
    }
    #[cfg(unix)]
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    eprintln!("mailtrip monitor: stopping");
    handle.shutdown().await;
    if let Some(s) = plan.server {
        s.shutdown().await;
    }
    ExitCode::SUCCESS
}

async fn plan(a: &MonitorArgs) -> anyhow::Result<Plan> {
    let loaded = file::discover(a.account.which.config.as_deref())?;
    let spec = loaded
        .as_ref()
        .map(|l| l.config.monitor.clone())
        .unwrap_or_default();
    let mut notes: Vec<String> = loaded
        .as_ref()
        .map(|l| l.warnings.clone())
        .unwrap_or_default();
    let listen_text = a
        .listen
        .clone()
        .or(spec.listen.clone())
        .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
    let listen: SocketAddr = listen_text.parse().map_err(|_| {
        anyhow!("listen address {listen_text:?} is not HOST:PORT with an IP address, e.g. 127.0.0.1:9599")
    })?;
    let from_file = |what: &str, v: &Option<String>| -> anyhow::Result<Option<Duration>> {
        v.as_deref()
            .map(|s| parse_duration(s).map_err(|e| anyhow!("[monitor] {what}: {e}")))
            .transpose()
    };
    let file_interval = from_file("interval", &spec.interval)?;
    let file_timeout = from_file("timeout", &spec.timeout)?;
    let interval = a.interval.or(file_interval);
    let timeout = a.timeout.or(file_timeout).unwrap_or(DEFAULT_TIMEOUT);

    if let Some(l) = loaded.as_ref().filter(|l| !l.config.routes.is_empty()) {
        let routes = routes_from(l, interval.unwrap_or(DEFAULT_INTERVAL), timeout, a)?;
        return Ok(Plan {
            routes,
            listen,
            server: None,
            notes,
        });
    }
    let resolved = resolve(&a.account.overrides())?;
    notes.extend(resolved.warnings.iter().map(|w| format!("warning: {w}")));
    match resolved.target {
        Target::Accounts { from, to } => {
            let name = from.name.clone().unwrap_or_else(|| "default".into());
            let route = Route::new(name, *from, *to)
                .interval(interval.unwrap_or(DEFAULT_INTERVAL))
                .timeout(timeout);
            Ok(Plan {
                routes: vec![route],
                listen,
                server: None,
                notes,
            })
        }
        Target::Embedded => {
            let (server, from, to) = super::check::start_embedded()
                .await
                .context("starting the embedded server")?;
            notes.push(
                "no routes configured: monitoring one route on the embedded server on \
                 127.0.0.1 (a demo; add [[routes]] to the config for real mailboxes)"
                    .into(),
            );
            let route = Route::new("embedded", from, to)
                .interval(interval.unwrap_or(EMBEDDED_INTERVAL))
                .timeout(a.timeout.or(file_timeout).unwrap_or(EMBEDDED_TIMEOUT));
            Ok(Plan {
                routes: vec![route],
                listen,
                server: Some(server),
                notes,
            })
        }
    }
}

/// The `[[routes]]` of a config file as routes, each account built from its file entry.
fn routes_from(
    l: &Loaded,
    interval: Duration,
    timeout: Duration,
    a: &MonitorArgs,
) -> anyhow::Result<Vec<Route>> {
    let flags = trust(&a.account.auth.overrides());
    l.config
        .routes
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let label = format!(
                "{}: route {} (from {:?})",
                l.path.display(),
                i + 1,
                spec.from
            );
            let to_name = spec.to.as_deref().unwrap_or(&spec.from);
            let from = named_account(l, &spec.from, &flags).with_context(|| label.clone())?;
            let to = named_account(l, to_name, &flags).with_context(|| label.clone())?;
            let name = spec.name.clone().unwrap_or_else(|| {
                if to_name == spec.from {
                    spec.from.clone()
                } else {
                    format!("{}-{}", spec.from, to_name)
                }
            });
            let dur = |what: &str, v: &Option<String>, default: Duration| {
                v.as_deref()
                    .map(|s| parse_duration(s).map_err(|e| anyhow!("{label}: {what}: {e}")))
                    .transpose()
                    .map(|d| d.unwrap_or(default))
            };
            Ok(Route::new(name, from, to)
                .interval(dur("interval", &spec.interval, interval)?)
                .timeout(dur("timeout", &spec.timeout, timeout)?))
        })
        .collect()
}
