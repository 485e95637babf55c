//! Issue 18 item 2: `MAILTRIP_*` variables set to the empty string (as a CI template passes an
//! undefined variable) count as unset, whatever else configures the account.

use mailtrip::server::{Profile, ServerConfig};

use super::{
    ALICE, account_toml, ca_in, check_json, imap_url, mailtrip, report, scratch, smtp_url,
};
use crate::util::{self, PASSWORD};

/// Every variable README documents (plus `MAILTRIP_LISTEN`), set to the empty string, as
/// GitHub Actions passes a `${{ vars.X }}` nobody defined.
const EMPTY_ALL: [(&str, &str); 12] = [
    ("MAILTRIP_SMTP", ""),
    ("MAILTRIP_IMAP", ""),
    ("MAILTRIP_USER", ""),
    ("MAILTRIP_PASSWORD", ""),
    ("MAILTRIP_FROM", ""),
    ("MAILTRIP_TO", ""),
    ("MAILTRIP_PROVIDER", ""),
    ("MAILTRIP_ACCOUNT", ""),
    ("MAILTRIP_TO_ACCOUNT", ""),
    ("MAILTRIP_CONFIG", ""),
    ("MAILTRIP_CA_FILE", ""),
    ("MAILTRIP_LISTEN", ""),
];

/// Issue 18 item 2: every `MAILTRIP_*` empty and nothing else configured is the embedded
/// round trip, not `missing scheme in ""` / `unknown provider ""` (exit 3).
#[test]
fn issue18_item2_empty_variables_are_unset_with_nothing_else_configured() {
    let dir = scratch("empty-all");
    let out = mailtrip(&dir, &["check", "--format", "json"], &EMPTY_ALL);
    let report = report(&out, 0);
    assert_eq!(report["embedded"], true, "{report}");
    assert_eq!(report["verdict"], "delivered", "{report}");
}

/// Issue 18 item 2, the template's URL set-up: `MAILTRIP_PROVIDER` empty, the URLs and the
/// credentials set, every other variable empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue18_item2_url_setup_with_an_empty_provider_variable() {
    let server = util::server().await;
    let dir = scratch("url-setup");
    let (smtp, imap, ca) = (smtp_url(&server), imap_url(&server), ca_in(&server, &dir));
    let mut env: Vec<(&str, &str)> = EMPTY_ALL.to_vec();
    env.extend([
        ("MAILTRIP_SMTP", smtp.as_str()),
        ("MAILTRIP_IMAP", imap.as_str()),
        ("MAILTRIP_USER", ALICE),
        ("MAILTRIP_PASSWORD", PASSWORD),
        ("MAILTRIP_CA_FILE", ca.as_str()),
    ]);
    let out = tokio::task::block_in_place(|| check_json(&dir, &[], &env));
    let report = report(&out, 0);
    assert_eq!(report["embedded"], false, "{report}");
    assert_eq!(report["from"], ALICE, "{report}");
    assert_eq!(report["verdict"], "delivered", "{report}");
}

/// Issue 18 item 2, the template's provider set-up: `MAILTRIP_PROVIDER=gmail` with
/// `MAILTRIP_SMTP` and `MAILTRIP_IMAP` empty. The account comes from a config file (the layer
/// below the environment) whose URLs point at an embedded Gmail-profile server; the empty
/// URL variables must not shadow them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue18_item2_provider_setup_with_empty_url_variables() {
    let server = util::server_with(ServerConfig::default().profile(Profile::Gmail)).await;
    let dir = scratch("provider-setup");
    let config = dir.join("ci.toml");
    let ca = ca_in(&server, &dir);
    std::fs::write(&config, account_toml("ci", ALICE, "CI_PW", &server, &ca)).expect("config");
    let config = config.display().to_string();
    let mut env: Vec<(&str, &str)> = EMPTY_ALL.to_vec();
    env.extend([
        ("MAILTRIP_PROVIDER", "gmail"),
        ("MAILTRIP_CONFIG", config.as_str()),
        ("CI_PW", PASSWORD),
    ]);
    let out = tokio::task::block_in_place(|| check_json(&dir, &[], &env));
    let report = report(&out, 0);
    assert_eq!(report["verdict"], "delivered", "{report}");
    assert!(
        report["smtp"]
            .as_str()
            .is_some_and(|s| s.contains(&server.submission_addr().port().to_string())),
        "{report}"
    );
}
