//! Issue 18 item 3: a Gmail app password pasted with the spaces Google shows logs in, and a
//! failed login names that and a wrong app password as causes.

use std::path::Path;
use std::process::Output;

use mailtrip::server::TestServer;

use super::{
    ALICE, ca_in, check_json, gmail_server, imap_url, json, report, scratch, smtp_url, stderr,
};

/// `check --provider gmail` against the embedded Gmail profile with the password from
/// `GMAIL_APP_PASSWORD`, as README's Gmail section runs it.
fn check_gmail(server: &TestServer, dir: &Path, password: &str, extra: &[&str]) -> Output {
    let (smtp, imap, ca) = (smtp_url(server), imap_url(server), ca_in(server, dir));
    let mut args = vec![
        "--provider",
        "gmail",
        "--smtp",
        &smtp,
        "--imap",
        &imap,
        "--user",
        ALICE,
        "--password-env",
        "GMAIL_APP_PASSWORD",
        "--ca-file",
        &ca,
    ];
    args.extend_from_slice(extra);
    check_json(dir, &args, &[("GMAIL_APP_PASSWORD", password)])
}

/// Issue 18 item 3: the app password pasted as Google shows it logs in (the spaces are
/// removed and `-v` says so), and no log level prints it in either form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue18_item3_gmail_app_password_with_spaces_logs_in() {
    let server = gmail_server().await;
    let dir = scratch("gmail-spaces");
    let out = tokio::task::block_in_place(|| {
        check_gmail(&server, &dir, "abcd efgh ijkl mnop", &["-vvv"])
    });
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(json(&out)["verdict"], "delivered");
    assert!(
        err.contains("removed the spaces from the Gmail app password"),
        "{err}"
    );
    let all = [out.stdout.as_slice(), out.stderr.as_slice()].concat();
    let all = String::from_utf8_lossy(&all);
    for form in ["abcd efgh", "abcdefgh", "ijkl mnop", "ijklmnop"] {
        assert!(!all.contains(form), "the password leaked ({form}):\n{all}");
    }

    // Without -v nothing is said: the removal is not a problem to warn about.
    let quiet =
        tokio::task::block_in_place(|| check_gmail(&server, &dir, "abcd efgh ijkl mnop", &[]));
    assert_eq!(quiet.status.code(), Some(0), "{}", stderr(&quiet));
    assert!(!stderr(&quiet).contains("spaces"), "{}", stderr(&quiet));
}

/// Issue 18 item 3: when the login still fails (here a wrong app password in the spaced
/// form), the diagnosis names a wrong app password and one pasted with spaces as causes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue18_item3_gmail_login_failure_names_the_app_password_causes() {
    let server = gmail_server().await;
    let dir = scratch("gmail-wrong");
    let out =
        tokio::task::block_in_place(|| check_gmail(&server, &dir, "abcd efgh ijkl mnoq", &[]));
    let report = report(&out, 2);
    assert_eq!(report["verdict"], "auth_failed", "{report}");
    let hint = report["error"]["hint"].as_str().unwrap_or("");
    for cause in ["wrong", "pasted with spaces"] {
        assert!(hint.contains(cause), "{cause:?} not in the hint: {report}");
    }
}
