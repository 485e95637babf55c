//! Tests against a REAL mail account, for `cargo test --test live -- --ignored`. They are
//! ignored by default and fail loudly, naming what is missing, when run without credentials:
//! they never pass without having sent mail.
//!
//! ```sh
//! export MAILTRIP_PROVIDER=gmail                   # or MAILTRIP_SMTP=... MAILTRIP_IMAP=...
//! export MAILTRIP_USER=you.secondary@gmail.com
//! export MAILTRIP_PASSWORD='your app password'
//! cargo test --test live -- --ignored
//! ```

use std::time::Duration;

use mailtrip::Check;
use mailtrip::config::{Overrides, Target, resolve};
use secrecy::SecretString;

const NEEDS: &str = "needs a real account: set MAILTRIP_USER, MAILTRIP_PASSWORD and \
                     MAILTRIP_PROVIDER (or MAILTRIP_SMTP and MAILTRIP_IMAP)";

/// The account from the environment, or a panic naming every missing variable.
fn account_from_env() -> (mailtrip::Account, mailtrip::Account) {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let mut missing = Vec::new();
    if var("MAILTRIP_USER").is_none() {
        missing.push("MAILTRIP_USER");
    }
    if var("MAILTRIP_PASSWORD").is_none() {
        missing.push("MAILTRIP_PASSWORD");
    }
    if var("MAILTRIP_PROVIDER").is_none()
        && (var("MAILTRIP_SMTP").is_none() || var("MAILTRIP_IMAP").is_none())
    {
        missing.push("MAILTRIP_PROVIDER (or both MAILTRIP_SMTP and MAILTRIP_IMAP)");
    }
    assert!(
        missing.is_empty(),
        "this test {NEEDS}; missing: {}",
        missing.join(", ")
    );
    let overrides = Overrides {
        provider: var("MAILTRIP_PROVIDER"),
        smtp: var("MAILTRIP_SMTP"),
        imap: var("MAILTRIP_IMAP"),
        user: var("MAILTRIP_USER"),
        from: var("MAILTRIP_FROM"),
        to: var("MAILTRIP_TO"),
        password: var("MAILTRIP_PASSWORD").map(SecretString::from),
        ca_file: var("MAILTRIP_CA_FILE").map(Into::into),
        config: var("MAILTRIP_CONFIG").map(Into::into),
        ..Overrides::default()
    };
    match resolve(&overrides).map(|r| r.target) {
        Ok(Target::Accounts { from, to }) => (*from, *to),
        Ok(Target::Embedded) => panic!("this test {NEEDS}"),
        Err(e) => panic!("account from the environment: {e}"),
    }
}

#[tokio::test]
#[ignore = "needs a real account: set MAILTRIP_USER, MAILTRIP_PASSWORD and MAILTRIP_PROVIDER (or MAILTRIP_SMTP + MAILTRIP_IMAP)"]
async fn live_round_trip_is_delivered() {
    let (from, to) = account_from_env();
    let report = Check::new(from, to)
        .timeout(Duration::from_secs(120))
        .run()
        .await;
    assert!(
        report.verdict.is_delivered(),
        "verdict {:?}: {:#?}",
        report.verdict,
        report.error
    );
    let cleanup = report
        .phases
        .iter()
        .find(|p| p.name == mailtrip::report::Phase::Cleanup)
        .expect("cleanup ran");
    assert!(cleanup.ok, "cleanup: {}", cleanup.detail);
}
