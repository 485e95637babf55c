//! Issue #13, bad input (items 14–16): every mistake gets exit 3 and a message naming the flag,
//! before any connection is made.

use super::{ALICE, HANG_GUARD, PASSWORD_ENV, against, args, endpoints, mailtrip};
use crate::util;

/// Runs `check` with `extra` flags against a server and asserts a usage error that names
/// `flag` and says `says`, without the raw value's control characters, and no login.
async fn refused(extra: &[&str], flag: &str, says: &str) {
    let server = util::server().await;
    let out = against(
        &server,
        &[&["check", "--timeout", "3s"][..], extra].concat(),
    )
    .await;
    assert_eq!(out.code, 3, "{extra:?}: {out:#?}");
    assert!(
        out.stderr.contains(flag) && out.stderr.contains(says),
        "{extra:?}: wanted {flag} and {says:?}: {out:#?}"
    );
    assert!(
        !out.stderr.contains("sender_rejected"),
        "{extra:?}: {out:#?}"
    );
    assert!(
        !out.all().contains("\r\nRCPT") && !out.all().contains("\x1b"),
        "{extra:?}: raw control characters echoed: {out:#?}"
    );
    assert_eq!(server.auth_attempts(), (0, 0), "{extra:?} connected");
}

// --- 14. Addresses are validated up front, naming the flag ----------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_14_to_without_a_domain_names_the_flag() {
    refused(&["--user", ALICE, "--to", "bob"], "--to", "no @domain").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_14_user_that_is_not_an_address_points_to_from() {
    refused(&["--user", "alice"], "--user", "--from ADDRESS").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_14_two_recipients_are_refused() {
    refused(
        &["--user", ALICE, "--to", "a@x.test,b@y.test"],
        "--to",
        "more than one address",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_14_control_characters_in_an_address_are_refused_and_not_echoed() {
    for (flag, address) in [
        ("--to", "bob@mailtrip.test\r\nRCPT TO:<e@vil.test>"),
        ("--from", "alice@mailtrip.test\x1b[2J"),
    ] {
        refused(&["--user", ALICE, flag, address], flag, "control character").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_14_an_empty_user_is_refused() {
    refused(&["--user", ""], "--user", "is empty").await;
}

// --- 15. Conflicting password sources are refused -------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_15_password_env_and_password_file_together_are_refused() {
    let file = crate::util::scratch_dir("issue13-15").join("pw");
    std::fs::write(&file, format!("{}\n", crate::util::PASSWORD)).expect("pw");
    let file = file.to_string_lossy().into_owned();
    refused(
        &[
            "--user",
            ALICE,
            "--password-env",
            "MAILTRIP_PASSWORD",
            "--password-file",
            &file,
        ],
        "--password-env and --password-file",
        "exactly one",
    )
    .await;
}

// --- 16. A space in a URL host is a usage error ---------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_16_a_space_in_the_url_host_is_a_usage_error() {
    let server = util::server().await;
    let mut a = args(&["check", "--user", ALICE, "--timeout", "3s"]);
    a.extend(endpoints(&server));
    let smtp = a.iter().position(|x| x == "--smtp").expect("--smtp") + 1;
    a[smtp] = format!("smtps://127.0.0.1 :{}", server.smtps_addr().port());
    let out = mailtrip(&a, &[PASSWORD_ENV], HANG_GUARD).await;
    assert_eq!(out.code, 3, "{out:#?}");
    assert!(out.stderr.contains("contains a space"), "{out:#?}");
    assert!(!out.all().contains("dns_failed"), "{out:#?}");
}
