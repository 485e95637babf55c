//! A round trip through a real mail account taken from the environment; without one it says
//! what to set and exits successfully, so it can run anywhere. `cargo run --example real_account`
//!
//! ```sh
//! export MAILTRIP_PROVIDER=gmail              # or MAILTRIP_SMTP=smtps://... MAILTRIP_IMAP=imaps://...
//! export MAILTRIP_USER=you.secondary@gmail.com
//! export MAILTRIP_PASSWORD='your app password'
//! cargo run --example real_account
//! ```

use std::process::ExitCode;
use std::time::Duration;

use mailtrip::Check;
use mailtrip::config::{Overrides, Target, resolve};

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let has_endpoints = var("MAILTRIP_PROVIDER").is_some()
        || (var("MAILTRIP_SMTP").is_some() && var("MAILTRIP_IMAP").is_some());
    if var("MAILTRIP_USER").is_none() || var("MAILTRIP_PASSWORD").is_none() || !has_endpoints {
        eprintln!(
            "real_account: skipped: set MAILTRIP_USER, MAILTRIP_PASSWORD and MAILTRIP_PROVIDER \
             (or MAILTRIP_SMTP and MAILTRIP_IMAP) to run a round trip through a real account"
        );
        return ExitCode::SUCCESS;
    }
    let overrides = Overrides {
        provider: var("MAILTRIP_PROVIDER"),
        smtp: var("MAILTRIP_SMTP"),
        imap: var("MAILTRIP_IMAP"),
        user: var("MAILTRIP_USER"),
        to: var("MAILTRIP_TO"),
        password: var("MAILTRIP_PASSWORD").map(Into::into),
        ..Overrides::default()
    };
    let (from, to) = match resolve(&overrides).map(|r| r.target) {
        Ok(Target::Accounts { from, to }) => (*from, *to),
        Ok(Target::Embedded) => {
            eprintln!("real_account: the environment names no account");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("real_account: {e}");
            return ExitCode::FAILURE;
        }
    };
    let report = Check::new(from, to)
        .timeout(Duration::from_secs(120))
        .run()
        .await;
    if report.verdict.is_delivered() {
        println!("delivered: {:?}", report.verdict);
        ExitCode::SUCCESS
    } else {
        eprintln!("real_account: {:?}: {:#?}", report.verdict, report.error);
        ExitCode::FAILURE
    }
}
