//! Issue 18: what a newcomer following README verbatim ran into, through the binary: empty
//! `MAILTRIP_*` variables from a CI template, Gmail app passwords pasted with spaces, the
//! sender's Sent copy of a cross-account probe, and help texts that promise what is not there.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use mailtrip::server::{Profile, ServerConfig, TestServer};

use crate::util::{self, PASSWORD};

const BIN: &str = env!("CARGO_BIN_EXE_mailtrip");
const ALICE: &str = "alice@mailtrip.test";
const BOB: &str = "bob@mailtrip.test";

/// A fresh directory for one test: config search, HOME and the CA file live here.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mailtrip-newcomer-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The binary with no `MAILTRIP_*` inherited, HOME and the working directory in `dir` (so no
/// config file is found by accident), then `env` set.
fn mailtrip(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir)
        .stdin(Stdio::null());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("MAILTRIP_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("run mailtrip")
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {}\nstderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn smtp_url(server: &TestServer) -> String {
    format!(
        "smtp+starttls://localhost:{}",
        server.submission_addr().port()
    )
}

fn imap_url(server: &TestServer) -> String {
    format!("imaps://localhost:{}", server.imaps_addr().port())
}

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
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["embedded"], true, "{report}");
    assert_eq!(report["verdict"], "delivered", "{report}");
}

/// Issue 18 item 2, the template's URL set-up: `MAILTRIP_PROVIDER` empty, the URLs and the
/// credentials set, every other variable empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue18_item2_url_setup_with_an_empty_provider_variable() {
    let server = util::server().await;
    let dir = scratch("url-setup");
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, server.ca_pem()).expect("ca");
    let (smtp, imap, ca) = (
        smtp_url(&server),
        imap_url(&server),
        ca.display().to_string(),
    );
    let mut env: Vec<(&str, &str)> = EMPTY_ALL.to_vec();
    env.extend([
        ("MAILTRIP_SMTP", smtp.as_str()),
        ("MAILTRIP_IMAP", imap.as_str()),
        ("MAILTRIP_USER", ALICE),
        ("MAILTRIP_PASSWORD", PASSWORD),
        ("MAILTRIP_CA_FILE", ca.as_str()),
    ]);
    let out = tokio::task::block_in_place(|| {
        mailtrip(
            &dir,
            &["check", "--format", "json", "--timeout", "20s"],
            &env,
        )
    });
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json(&out);
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
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, server.ca_pem()).expect("ca");
    let config = dir.join("ci.toml");
    std::fs::write(
        &config,
        format!(
            "[accounts.ci]\naddress = \"{ALICE}\"\npassword_env = \"CI_PW\"\nsmtp = \"{}\"\n\
             imap = \"{}\"\nca_file = \"{}\"\n",
            smtp_url(&server),
            imap_url(&server),
            ca.display()
        ),
    )
    .expect("config");
    let config = config.display().to_string();
    let mut env: Vec<(&str, &str)> = EMPTY_ALL.to_vec();
    env.extend([
        ("MAILTRIP_PROVIDER", "gmail"),
        ("MAILTRIP_CONFIG", config.as_str()),
        ("CI_PW", PASSWORD),
    ]);
    let out = tokio::task::block_in_place(|| {
        mailtrip(
            &dir,
            &["check", "--format", "json", "--timeout", "20s"],
            &env,
        )
    });
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["verdict"], "delivered", "{report}");
    assert!(
        report["smtp"]
            .as_str()
            .is_some_and(|s| s.contains(&server.submission_addr().port().to_string())),
        "{report}"
    );
}

/// The 16 letters Google's app password page shows as "abcd efgh ijkl mnop".
const APP_PASSWORD: &str = "abcdefghijklmnop";

/// An embedded Gmail-profile server whose account's stored app password has no spaces.
async fn gmail_server() -> TestServer {
    TestServer::start(
        ServerConfig::default()
            .profile(Profile::Gmail)
            .with_user(ALICE, APP_PASSWORD)
            .with_user(BOB, APP_PASSWORD),
    )
    .await
    .expect("embedded server starts")
}

/// `check --provider gmail` against the embedded Gmail profile with the password from
/// `GMAIL_APP_PASSWORD`, as README's Gmail section runs it.
fn check_gmail(server: &TestServer, dir: &Path, password: &str, extra: &[&str]) -> Output {
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, server.ca_pem()).expect("ca");
    let (smtp, imap, ca) = (smtp_url(server), imap_url(server), ca.display().to_string());
    let mut args = vec![
        "check",
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
        "--timeout",
        "20s",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    mailtrip(dir, &args, &[("GMAIL_APP_PASSWORD", password)])
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
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["verdict"], "auth_failed", "{report}");
    let hint = report["error"]["hint"].as_str().unwrap_or("");
    for cause in ["wrong", "pasted with spaces"] {
        assert!(hint.contains(cause), "{cause:?} not in the hint: {report}");
    }
}
