//! `mailtrip login` and `mailtrip logout`: sign an account in with OAuth2 (the device flow for
//! Microsoft, the browser with PKCE for Google) and keep its tokens in a private file that
//! every connecting command then uses; or remove them. Exit 0 signed in, 2 the sign-in failed
//! (denied, expired, refused), 3 usage or configuration.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args as ClapArgs;

use super::WhichAccount;
use crate::config::Overrides;
use crate::config::oauth2::{LoginTarget, OAuth2Overrides, login_target};
use crate::oauth::flows::{self, Prompt};
use crate::oauth::{TokenFile, store};
use crate::providers::oauth2::Flow;

/// The help `login` and `logout` give the shared account flags: only the OAuth2 presets sign
/// in, and the login name is the address signed in as.
fn oauth2_provider(a: clap::Arg) -> clap::Arg {
    a.help("Provider preset: outlook (alias office365) or gmail / google-workspace")
}

/// `--user`, as login and logout word it: the account signs in, so the login is its address.
fn oauth2_user(a: clap::Arg) -> clap::Arg {
    a.help("The address to sign in as (the login name)")
}

#[derive(Debug, Clone, ClapArgs)]
#[command(mut_arg("provider", oauth2_provider), mut_arg("user", oauth2_user))]
pub struct LoginArgs {
    #[command(flatten)]
    pub which: WhichAccount,
    #[command(flatten)]
    pub oauth2: OAuth2Overrides,
    /// Open the sign-in page in a browser ($BROWSER, else xdg-open or open) instead of only
    /// printing its URL.
    #[arg(long)]
    pub browser: bool,
    /// How long to wait for you to finish signing in.
    #[arg(long, value_parser = super::parse_duration, default_value = "15m")]
    pub timeout: Duration,
    /// Trust this PEM root certificate for the OAuth2 endpoints too (private CA).
    #[arg(long, env = "MAILTRIP_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// Do NOT verify TLS certificates of the OAuth2 endpoints.
    #[arg(long)]
    pub insecure_skip_verify: bool,
    /// Output format of the result: human or json.
    #[arg(long, value_parser = ["human", "json"], default_value = "human")]
    pub format: String,
    /// More logging on stderr (-v info, -vv debug; tokens are never shown).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Clone, ClapArgs)]
#[command(mut_arg("provider", oauth2_provider), mut_arg("user", oauth2_user))]
pub struct LogoutArgs {
    #[command(flatten)]
    pub which: WhichAccount,
    /// Remove every stored sign-in.
    #[arg(long, conflicts_with_all = ["account", "provider", "user"])]
    pub all: bool,
}

fn overrides(w: &WhichAccount, ca_file: Option<PathBuf>, insecure: bool) -> Overrides {
    w.onto(Overrides {
        ca_file,
        insecure_skip_verify: insecure,
        ..Overrides::default()
    })
}

fn usage(message: &str) -> ExitCode {
    eprintln!("mailtrip: {message}");
    ExitCode::from(super::EXIT_USAGE)
}

pub async fn login(a: LoginArgs) -> ExitCode {
    super::init_logging(a.verbose);
    let target = match login_target(
        &overrides(&a.which, a.ca_file.clone(), a.insecure_skip_verify),
        &a.oauth2,
    ) {
        Ok(t) => t,
        Err(e) => return usage(&e.to_string()),
    };
    if target.settings.client_id.trim().is_empty() {
        let register = target
            .provider
            .as_deref()
            .and_then(crate::providers::find)
            .and_then(|p| p.oauth2())
            .map(|p| format!(" at {}", p.register_url))
            .unwrap_or_default();
        return usage(&format!(
            "no OAuth2 client id: register an application{register} (the README says how) and \
             give --client-id ID or oauth2_client_id in the config; mailtrip has no client id \
             of its own and never borrows another application's"
        ));
    }
    if a.insecure_skip_verify {
        eprintln!("mailtrip: warning: {}", crate::report::INSECURE_WARNING);
    }
    let browser = a.browser;
    let user = target.user.clone();
    let mut prompt = move |p: Prompt<'_>| match p {
        Prompt::Device(d) => {
            eprintln!(
                "To sign in as {user}, open {} and enter the code {}",
                d.verification_uri, d.user_code
            );
            eprintln!(
                "(the code works for {} minutes; waiting for you to finish...)",
                d.expires_in.as_secs().div_ceil(60)
            );
            if browser {
                open_browser(
                    d.verification_uri_complete
                        .as_deref()
                        .unwrap_or(&d.verification_uri),
                );
            }
        }
        Prompt::Browser(url) => {
            eprintln!("To sign in as {user}, open this URL in a browser on this machine:");
            eprintln!("{url}");
            eprintln!("(waiting for the browser to come back to 127.0.0.1...)");
            if browser {
                open_browser(url);
            }
        }
    };
    let tokens = match flows::sign_in(&target.settings, &mut prompt, a.timeout).await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("mailtrip: signing in {} failed: {e:#}", target.user);
            if e.kind() == crate::oauth::ErrorKind::Config {
                return ExitCode::from(super::EXIT_USAGE);
            }
            return ExitCode::from(2);
        }
    };
    let Some(refresh_token) = tokens.refresh_token.clone() else {
        eprintln!(
            "mailtrip: {} answered without a refresh token, so the sign-in could not outlive \
             this hour; check that the scopes include offline access (Microsoft: offline_access; \
             Google: access_type=offline)",
            target.settings.token_url
        );
        return ExitCode::from(2);
    };
    let file = TokenFile {
        user: target.user.clone(),
        provider: target.provider.clone(),
        token_url: target.settings.token_url.clone(),
        client_id: target.settings.client_id.clone(),
        client_secret: target.settings.client_secret.clone(),
        scopes: tokens.scopes.clone(),
        refresh_token,
        access_token: Some(tokens.access_token.clone()),
        expires_at: Some(tokens.expires_at),
        lifetime_secs: tokens.lifetime_secs,
        signed_in_at: chrono::Utc::now(),
        refreshed_at: None,
    };
    if let Err(e) = store::save(&target.token_path, &file) {
        eprintln!("mailtrip: {e:#}");
        return ExitCode::from(2);
    }
    if let Some(note) = &target.note {
        eprintln!("mailtrip: note: {note}");
    }
    let out = summary(&a.format, &target, &file);
    match super::emit(None, out.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            super::print_error(&e);
            ExitCode::from(2)
        }
    }
}

/// What a finished sign-in prints: who, where the tokens are, and what to run next.
fn summary(format: &str, t: &LoginTarget, f: &TokenFile) -> String {
    let expires = f
        .expires_at
        .map(|e| e.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();
    if format == "json" {
        let v = serde_json::json!({
            "user": t.user,
            "account": t.name,
            "provider": t.provider,
            "flow": t.settings.flow.as_str(),
            "token_file": t.token_path.display().to_string(),
            "access_token_expires_at": expires,
            "scopes": f.scopes,
        });
        return format!("{v}\n");
    }
    let next = match &t.name {
        Some(n) => format!("mailtrip verify --account {n}"),
        None => format!(
            "mailtrip verify{} --user {}",
            t.provider
                .as_deref()
                .map(|p| format!(" --provider {p}"))
                .unwrap_or_default(),
            t.user
        ),
    };
    let via = match t.settings.flow {
        Flow::Device => "device code",
        Flow::Pkce => "browser",
    };
    format!(
        "signed in as {} ({via}); tokens kept in {} (mode 0600)\n\
         access token expires {expires}; scopes: {}\n\
         every command refreshes it from now on; next: {next}\n",
        t.user,
        t.token_path.display(),
        f.scopes.join(" "),
    )
}

/// Opens `url` with `$BROWSER` (`%s` stands for the URL, else it is appended), or the
/// platform's opener. Failing to open one is not an error: the URL is printed anyway.
fn open_browser(url: &str) {
    let browser = std::env::var("BROWSER")
        .ok()
        .filter(|b| !b.trim().is_empty());
    let status = match browser {
        Some(b) => {
            let first = b.split(':').next().unwrap_or(&b).to_string();
            let script = if first.contains("%s") {
                first.replace("%s", "\"$1\"")
            } else {
                format!("{first} \"$1\"")
            };
            std::process::Command::new("sh")
                .args(["-c", &script, "sh", url])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
        }
        None => {
            let opener = if cfg!(target_os = "macos") {
                "open"
            } else {
                "xdg-open"
            };
            std::process::Command::new(opener)
                .arg(url)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
        }
    };
    if let Err(e) = status {
        eprintln!("mailtrip: could not open a browser ({e}); open the URL above yourself");
    }
}

pub async fn logout(a: LogoutArgs) -> ExitCode {
    let mut out = String::new();
    if a.all {
        let dir = match store::token_dir() {
            Ok(d) => d,
            Err(e) => return usage(&e.to_string()),
        };
        let files = match store::list(&dir) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("mailtrip: {e}");
                return ExitCode::from(2);
            }
        };
        for f in &files {
            if let Err(e) = store::remove(f) {
                eprintln!("mailtrip: {e}");
                return ExitCode::from(2);
            }
            out.push_str(&format!("removed {}\n", f.display()));
        }
        if files.is_empty() {
            out.push_str(&format!("no stored sign-ins in {}\n", dir.display()));
        }
    } else {
        let target = match login_target(
            &overrides(&a.which, None, false),
            &OAuth2Overrides::default(),
        ) {
            Ok(t) => t,
            Err(e) => return usage(&e.to_string()),
        };
        match store::remove(&target.token_path) {
            Ok(true) => {
                out.push_str(&format!(
                    "signed out {}: removed {}\n",
                    target.user,
                    target.token_path.display()
                ));
                if let Some(url) = target.manage_url {
                    out.push_str(&format!(
                        "to also revoke the access you granted at the provider: {url}\n"
                    ));
                }
            }
            Ok(false) => {
                out.push_str(&format!(
                    "{} was not signed in (no {})\n",
                    target.user,
                    target.token_path.display()
                ));
            }
            Err(e) => {
                eprintln!("mailtrip: {e}");
                return ExitCode::from(2);
            }
        }
    }
    match super::emit(None, out.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            super::print_error(&e);
            ExitCode::from(2)
        }
    }
}
