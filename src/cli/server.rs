//! `mailtrip server`: runs the embedded server until SIGINT/SIGTERM, printing one JSON line
//! with every address, the CA file and the users, for another app's tests to read.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args as ClapArgs;
use rand::Rng;
use secrecy::SecretString;

use crate::render::server::{self as banner, HttpLine};
use crate::server::http::HttpAuth;
use crate::server::{FaultSpec, Ports, Profile, Recipients, ServerConfig, TestServer};

#[derive(Debug, Clone, ClapArgs)]
pub struct ServerArgs {
    /// Behaviour profile: standard (Dovecot-like folders) or gmail.
    #[arg(long, value_enum, default_value_t = ProfileArg::Standard)]
    pub profile: ProfileArg,
    /// A user as ADDRESS:PASSWORD (repeatable). Without any, one demo user is created.
    #[arg(long = "user", value_name = "ADDRESS:PASSWORD")]
    pub users: Vec<String>,
    /// Address to bind. Only loopback unless --allow-remote.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Allow binding a non-loopback address (the server accepts any test mail).
    #[arg(long)]
    pub allow_remote: bool,
    #[command(flatten)]
    pub ports: Ports,
    /// Write the generated CA certificate (PEM) here (default: a file in the temp dir).
    #[arg(long, value_name = "FILE")]
    pub ca_out: Option<PathBuf>,
    /// Refuse mail for undeclared addresses (550 5.1.1) instead of catching all of it.
    #[arg(long)]
    pub strict_recipients: bool,
    /// Serve the HTTP port over TLS (HTTPS, with the certificate the CA file signs): needed
    /// for `mailtrip login` from another machine, which sends tokens over https:// only.
    #[arg(long)]
    pub http_tls: bool,
    /// Require HTTP Basic credentials for the API and web view. With --allow-remote and
    /// without this, a token is generated and printed once on stderr.
    #[arg(
        long,
        value_name = "USER:PASSWORD",
        env = "MAILTRIP_HTTP_AUTH",
        hide_env_values = true
    )]
    pub http_auth: Option<String>,
    /// Inject a fault: KEY or KEY=VALUE, repeatable (greylist, delivery_delay=2s,
    /// junk_rule=SPAM, drop_percent=10, ...; every key is in docs/api.md).
    #[arg(long = "fault", value_name = "KEY[=VALUE]")]
    pub faults: Vec<String>,
    /// Faults from a TOML file of the same keys; --fault flags override it.
    #[arg(long = "faults", value_name = "FILE")]
    pub faults_file: Option<PathBuf>,
    /// More logging on stderr (-vv shows the wire, with secrets redacted).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProfileArg {
    Standard,
    Gmail,
}

pub async fn run(args: ServerArgs) -> ExitCode {
    super::init_logging(args.verbose);
    match serve(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            super::print_error(&e);
            ExitCode::from(super::EXIT_USAGE)
        }
    }
}

/// Generates a demo password: 20 random letters and digits.
pub fn demo_password() -> String {
    const CHARS: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..20)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

async fn serve(args: ServerArgs) -> anyhow::Result<()> {
    if !args.bind.is_loopback() && !args.allow_remote {
        bail!(
            "refusing to bind {}: the embedded server is for loopback tests; pass --allow-remote to bind it anyway",
            args.bind
        );
    }
    let mut users = Vec::new();
    for u in &args.users {
        let (addr, pw) = u
            .split_once(':')
            .filter(|(a, p)| a.contains('@') && !p.is_empty())
            .with_context(|| format!("--user {u:?}: expected ADDRESS:PASSWORD"))?;
        users.push((addr.to_string(), pw.to_string()));
    }
    if users.is_empty() {
        users.push(("demo@mailtrip.localhost".to_string(), demo_password()));
    }
    let faults = fault_spec(&args)?;
    // Beyond loopback the HTTP side always wants credentials; without --http-auth a token
    // is made up (and printed once on stderr, never in the JSON line).
    let (http_auth, token) = match (&args.http_auth, args.allow_remote) {
        (Some(pair), _) => {
            let (user, password) = pair
                .split_once(':')
                .filter(|(u, p)| !u.is_empty() && !p.is_empty())
                .context("--http-auth: expected USER:PASSWORD")?;
            let auth = HttpAuth::Basic {
                user: user.to_string(),
                password: SecretString::from(password.to_string()),
            };
            (auth, None)
        }
        (None, true) => {
            let token = demo_password() + &demo_password();
            let auth = HttpAuth::Basic {
                user: "mailtrip".to_string(),
                password: SecretString::from(token.clone()),
            };
            (auth, Some(token))
        }
        (None, false) => (HttpAuth::None, None),
    };
    // A shared box's auto-created mailboxes open with the HTTP secret, not with any password.
    let recipients = match (&http_auth, args.strict_recipients, args.allow_remote) {
        (_, true, _) => Recipients::Strict,
        (HttpAuth::Basic { password, .. }, false, true) => {
            Recipients::CatchAllWithPassword(password.clone())
        }
        _ => Recipients::CatchAll,
    };
    let mut config = ServerConfig {
        bind: args.bind,
        ports: args.ports,
        profile: match args.profile {
            ProfileArg::Standard => Profile::Standard,
            ProfileArg::Gmail => Profile::Gmail,
        },
        faults: faults.to_faults().context("--fault / --faults")?,
        recipients,
        http_auth: http_auth.clone(),
        http_tls: args.http_tls,
        ..ServerConfig::default()
    };
    for (a, p) in &users {
        config = config.with_user(a, p);
    }
    let server = TestServer::start(config)
        .await
        .context("starting the embedded server")?;
    let ca_path = args.ca_out.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("mailtrip-ca-{}.pem", std::process::id()))
    });
    std::fs::write(&ca_path, server.ca_pem())
        .with_context(|| format!("writing the CA certificate to {}", ca_path.display()))?;
    let line = HttpLine {
        server: server.http(),
        auth: &http_auth,
        token: token.as_deref(),
    };
    banner::announce(&server, &ca_path, &users, &line)?;

    wait_for_signal().await?;
    server.shutdown().await;
    if args.ca_out.is_none() {
        let _ = std::fs::remove_file(&ca_path);
    }
    Ok(())
}

/// The faults of `--faults FILE` overridden by each `--fault`.
fn fault_spec(args: &ServerArgs) -> anyhow::Result<FaultSpec> {
    let mut spec = FaultSpec::default();
    if let Some(path) = &args.faults_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading --faults {}", path.display()))?;
        spec =
            FaultSpec::from_toml(&text).with_context(|| format!("--faults {}", path.display()))?;
    }
    let flags = FaultSpec::from_assignments(&args.faults).context("--fault")?;
    Ok(spec.overridden_by(flags))
}

async fn wait_for_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}
