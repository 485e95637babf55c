//! Issue 18: what a newcomer following README verbatim ran into, through the binary: empty
//! `MAILTRIP_*` variables from a CI template, Gmail app passwords pasted with spaces, the
//! sender's Sent copy of a cross-account probe, and help texts that promise what is not there.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use mailtrip::server::{Profile, ServerConfig, TestServer};

use crate::util::{self, PASSWORD, imap_url, smtp_url};

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

/// `mailtrip check ARGS --timeout 20s --format json`, as [`mailtrip`] runs it.
fn check_json(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--timeout", "20s", "--format", "json"]);
    mailtrip(dir, &all, env)
}

/// Asserts `out` exited with `code` (showing its stderr otherwise) and returns its JSON report.
fn report(out: &Output, code: i32) -> serde_json::Value {
    assert_eq!(out.status.code(), Some(code), "{}", stderr(out));
    json(out)
}

/// Writes `server`'s CA to `dir/ca.pem` and returns that path for `--ca-file` or `ca_file`.
fn ca_in(server: &TestServer, dir: &Path) -> String {
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, server.ca_pem()).expect("ca");
    ca.display().to_string()
}

/// An `[accounts.NAME]` table for `address` on the embedded `server`, its password read from
/// `password_env`, trusting the CA at `ca`.
fn account_toml(
    name: &str,
    address: &str,
    password_env: &str,
    server: &TestServer,
    ca: &str,
) -> String {
    format!(
        "[accounts.{name}]\naddress = \"{address}\"\npassword_env = \"{password_env}\"\n\
         smtp = \"{}\"\nimap = \"{}\"\nca_file = \"{ca}\"\n",
        smtp_url(server),
        imap_url(server),
    )
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
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

const GMAIL_FOLDERS: [&str; 5] = [
    "INBOX",
    "[Gmail]/All Mail",
    "[Gmail]/Sent Mail",
    "[Gmail]/Spam",
    "[Gmail]/Trash",
];

/// Every message of `user` in the Gmail folders, as (folder, UID, text).
fn gmail_mail(server: &TestServer, user: &str) -> Vec<(String, u32, String)> {
    GMAIL_FOLDERS
        .iter()
        .flat_map(|f| {
            server
                .messages(user, f)
                .expect("folder")
                .into_iter()
                .map(|m| {
                    (
                        f.to_string(),
                        m.uid,
                        String::from_utf8_lossy(&m.raw).into_owned(),
                    )
                })
        })
        .collect()
}

/// A config file with `alice` and `bob` on the embedded server, for `--to-account`.
fn two_accounts(server: &TestServer, dir: &Path) -> String {
    let ca = ca_in(server, dir);
    let account = |name: &str, address: &str| {
        account_toml(name, address, "APP_PW", server, &ca) + "provider = \"gmail\"\n"
    };
    let path = dir.join("mailtrip.toml");
    std::fs::write(
        &path,
        format!("{}\n{}", account("alice", ALICE), account("bob", BOB)),
    )
    .expect("config");
    path.display().to_string()
}

/// `check --account alice --to-account bob` with the accounts of [`two_accounts`].
fn check_alice_to_bob(dir: &Path, config: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "--config",
        config,
        "--account",
        "alice",
        "--to-account",
        "bob",
    ];
    args.extend_from_slice(extra);
    check_json(dir, &args, &[("APP_PW", APP_PASSWORD)])
}

/// Issue 18 item 4: `check --to-account` from a Gmail sender deletes the copy Gmail filed in
/// the sender's `[Gmail]/Sent Mail` (and says so in the cleanup phase), and touches nothing
/// else in either mailbox: not the sender's other sent mail, not an earlier run's probe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue18_item4_cross_account_check_cleans_the_gmail_senders_sent_copy() {
    let server = gmail_server().await;
    let dir = scratch("cross-sent");
    let config = two_accounts(&server, &dir);
    server
        .deliver_raw(ALICE, "[Gmail]/Sent Mail", b"From: <alice@mailtrip.test>\r\nTo: <carol@elsewhere.test>\r\nSubject: lunch\r\n\r\nsee you\r\n")
        .expect("seed");
    server
        .deliver_raw(ALICE, "[Gmail]/Sent Mail", b"From: <alice@mailtrip.test>\r\nTo: <bob@mailtrip.test>\r\nSubject: mailtrip probe 0190beef\r\nX-Mailtrip-Probe: 0190beef-0000-7000-8000-000000000001\r\n\r\nan earlier run's, kept\r\n")
        .expect("seed");
    server
        .deliver_raw(BOB, "INBOX", b"Subject: keep me\r\n\r\nhello\r\n")
        .expect("seed");
    let before = (gmail_mail(&server, ALICE), gmail_mail(&server, BOB));

    let out = tokio::task::block_in_place(|| check_alice_to_bob(&dir, &config, &[]));
    let report = report(&out, 0);
    assert_eq!(report["verdict"], "delivered", "{report}");
    let cleanup = report["phases"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "cleanup"))
        .expect("a cleanup phase");
    assert_eq!(cleanup["ok"], true, "{report}");
    assert_eq!(
        cleanup["detail"],
        "deleted 1 of 1 copy from INBOX and 1 from the sender's [Gmail]/Sent Mail",
        "{report}"
    );
    assert!(
        report["warnings"].as_array().is_none_or(Vec::is_empty),
        "{report}"
    );
    let after = (gmail_mail(&server, ALICE), gmail_mail(&server, BOB));
    assert_eq!(before, after, "the probe is gone and nothing else changed");
}

/// Issue 18 item 4: `--keep` leaves the sender's copy too, as it leaves the received one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue18_item4_keep_leaves_the_senders_sent_copy() {
    let server = gmail_server().await;
    let dir = scratch("cross-keep");
    let config = two_accounts(&server, &dir);
    let out = tokio::task::block_in_place(|| check_alice_to_bob(&dir, &config, &["--keep"]));
    let tag = report(&out, 0)["probe_id"]
        .as_str()
        .expect("probe_id")
        .to_string();
    let sent = server.messages(ALICE, "[Gmail]/Sent Mail").expect("sent");
    assert_eq!(sent.len(), 1);
    assert!(String::from_utf8_lossy(&sent[0].raw).contains(&tag));
}

/// Issue 18 item 4, the library's other cross-account routes: a check that does not arrive
/// still removes the sender's copy, and `load` to another mailbox removes every one.
#[tokio::test]
async fn issue18_item4_not_delivered_and_load_clean_the_senders_sent_copies() {
    use mailtrip::server::Faults;
    use mailtrip::{Account, Check, Load};
    let server = gmail_server().await;
    let sent_mail = b"From: <alice@mailtrip.test>\r\nSubject: lunch\r\n\r\nsee you\r\n";
    server
        .deliver_raw(ALICE, "[Gmail]/Sent Mail", sent_mail)
        .expect("seed");
    let before = gmail_mail(&server, ALICE);
    let alice = Account::embedded(&server, ALICE, APP_PASSWORD);
    let bob = Account::embedded(&server, BOB, APP_PASSWORD);

    server.set_faults(Faults {
        drop_percent: 100,
        ..Faults::default()
    });
    let r = Check::new(alice.clone(), bob.clone())
        .timeout(std::time::Duration::from_secs(1))
        .run()
        .await;
    assert_eq!(r.verdict, mailtrip::report::Verdict::NotDelivered, "{r:#?}");
    assert!(r.warnings.is_empty(), "{r:#?}");
    assert_eq!(
        gmail_mail(&server, ALICE),
        before,
        "sender's copy left: {r:#?}"
    );

    server.set_faults(Faults::default());
    let r = Load::new(alice, vec![bob])
        .probes(10)
        .concurrency(4)
        .run()
        .await
        .expect("load runs");
    assert_eq!(r.delivered, 10, "{r:#?}");
    assert!(r.cleanup.problems.is_empty(), "{r:#?}");
    assert_eq!(
        r.cleanup.deleted, 20,
        "10 received and 10 Sent copies: {r:#?}"
    );
    assert_eq!(gmail_mail(&server, ALICE), before);
    assert!(gmail_mail(&server, BOB).is_empty());
}

/// Issue 18 item 4, `monitor`: a route to another mailbox cannot clean the sender's Sent copy
/// of each probe over its kept connections, so the start-up (and hourly) sweep now covers the
/// sender's own mailbox too: a stale probe there goes, the sender's other mail stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue18_item4_monitor_sweeps_the_senders_own_mailbox() {
    use mailtrip::Account;
    use mailtrip::monitor::{Monitor, Route};
    use std::time::Duration;
    let server = gmail_server().await;
    let sent_mail = b"From: <alice@mailtrip.test>\r\nSubject: lunch\r\n\r\nsee you\r\n";
    server
        .deliver_raw(ALICE, "[Gmail]/Sent Mail", sent_mail)
        .expect("seed");
    // A genuine probe: sweep deletes only what proves to be one (issue #13 item 5), so its
    // body matches its digest (sha256 of "stale").
    let stale = b"From: <alice@mailtrip.test>\r\nTo: <bob@mailtrip.test>\r\n\
        Subject: mailtrip probe 0190beef\r\n\
        X-Mailtrip-Probe: 0190beef-0000-7000-8000-000000000002\r\n\
        X-Mailtrip-Sent: 2020-01-01T00:00:00.000Z\r\n\
        X-Mailtrip-Digest: sha256=a03f2386ae06b21109577020844df367857b72c2fcce384c1896fed98a89c82b\r\n\
        \r\nstale\r\n";
    server
        .deliver_raw(ALICE, "[Gmail]/Sent Mail", stale)
        .expect("seed");
    let alice = Account::embedded(&server, ALICE, APP_PASSWORD);
    let bob = Account::embedded(&server, BOB, APP_PASSWORD);
    let monitor = Monitor::new(vec![
        Route::new("alice-bob", alice, bob)
            .interval(Duration::from_secs(3600))
            .timeout(Duration::from_secs(10)),
    ])
    .listen("127.0.0.1:0".parse().expect("addr"))
    .start()
    .await
    .expect("monitor starts");
    let has_stale = || {
        server
            .messages(ALICE, "[Gmail]/Sent Mail")
            .expect("sent")
            .iter()
            .any(|m| m.raw.ends_with(b"stale\r\n"))
    };
    // A bound on the wait, not a speed target.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while has_stale() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    monitor.shutdown().await;
    assert!(
        !has_stale(),
        "the sender's stale probe is still in its Sent"
    );
    let kept = server.messages(ALICE, "[Gmail]/Sent Mail").expect("sent");
    assert!(
        kept.iter().any(|m| m.raw[..] == sent_mail[..]),
        "the sender's own mail was touched"
    );
}

/// Runs `mailtrip ARGS` on a pseudo-terminal (stdin, stdout and stderr all the terminal, as a
/// person at a shell has them), answers `answer` to the `[y/N]` prompt, and returns what the
/// terminal showed (CRLF turned back into LF) and the exit code.
fn on_a_terminal(args: &[String], env: &[(&str, &str)], answer: &str) -> (String, Option<i32>) {
    const DRIVER: &str = r#"
import os, pty, select, sys, time
answer, argv = sys.argv[1].encode(), sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)
out, answered, deadline = b"", False, time.time() + 60
while time.time() < deadline:
    ready, _, _ = select.select([fd], [], [], 1)
    if not ready:
        continue
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
    if not answered and b"[y/N] " in out:
        os.write(fd, answer + b"\n")
        answered = True
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
sys.exit(os.waitstatus_to_exitcode(status))
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(DRIVER)
        .arg(answer)
        .arg(BIN)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("python3 runs (the tests need it)");
    let text = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
    (text, out.status.code())
}

/// Issue 18 item 7: `sweep` at a terminal shows the list once, asks, and then says only what
/// happened: no "nothing deleted (dry run)" before the question, no second copy of the list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue18_item7_sweep_prompt_lists_once_then_asks_then_reports() {
    use mailtrip::{Account, Check};
    let server = util::server().await;
    let dir = scratch("sweep-tty");
    let ca = ca_in(&server, &dir);
    let args: Vec<String> = [
        "sweep",
        "--color",
        "never",
        "--imap",
        &imap_url(&server),
        "--user",
        ALICE,
        "--password-env",
        "MT_SWEEP_PW",
        "--ca-file",
        &ca,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let env = [("MT_SWEEP_PW", PASSWORD)];
    let alice = Account::embedded(&server, ALICE, PASSWORD);
    let kept = Check::new(alice.clone(), alice).keep(true).run().await;
    assert!(kept.verdict.is_delivered(), "{kept:#?}");
    let short = &kept.probe_id[..8];
    let inbox = || server.messages(ALICE, "INBOX").expect("inbox").len();

    for (answer, left) in [("n", 1), ("y", 0)] {
        let (shown, code) = tokio::task::block_in_place(|| on_a_terminal(&args, &env, answer));
        assert_eq!(code, Some(0), "{shown}");
        assert_eq!(inbox(), left, "after {answer:?}:\n{shown}");
        let (before, after) = shown
            .split_once("[y/N] ")
            .unwrap_or_else(|| panic!("no prompt:\n{shown}"));
        assert_eq!(
            shown.matches(short).count(),
            1,
            "the list is shown once:\n{shown}"
        );
        assert!(before.contains("1 leftover probe from"), "{shown}");
        assert!(!before.contains("nothing deleted"), "{shown}");
        let expected = if answer == "y" {
            "deleted 1"
        } else {
            "nothing deleted (not confirmed)"
        };
        assert_eq!(after.trim(), format!("{answer}\n{expected}"), "{shown}");
    }
}

/// `mailtrip ARGS` with no `MAILTRIP_*` inherited, run where no config file is found.
fn help(args: &[&str]) -> String {
    let out = mailtrip(&std::env::temp_dir(), args, &[]);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether `help` shows `flag` as a whole word (`--warn` is not in `--warning`).
fn shows_flag(help: &str, flag: &str) -> bool {
    help.match_indices(flag).any(|(i, _)| {
        !help[i + flag.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-')
    })
}

fn long_flag(word: &str) -> Option<&str> {
    let rest = word.strip_prefix("--")?;
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .unwrap_or(rest.len());
    (end > 0 && rest.starts_with(|c: char| c.is_ascii_lowercase())).then(|| &word[..end + 2])
}

/// Issue 18 item 7: every long flag the prose of README.md and docs/*.md uses is one the
/// binary documents: an inline `mailtrip SUB ...` span uses only flags in `mailtrip SUB
/// --help`, and an inline span starting with `--` names a flag some subcommand shows. (Code
/// blocks are stricter: `docs::*` runs them, or parses each command with clap.) Clap's prefix
/// inference stays off, so `--warn` for `--warning` would not even run.
#[test]
fn issue18_item7_every_flag_the_docs_use_is_in_help() {
    let top = help(&["--help"]);
    let subs: Vec<&str> = top
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|s| *s != "help")
        .collect();
    assert!(subs.contains(&"check") && subs.contains(&"sweep"), "{top}");
    let helps: Vec<(&str, String)> = subs.iter().map(|s| (*s, help(&[s, "--help"]))).collect();
    let sub_help = |s: &str| helps.iter().find(|(n, _)| *n == s).map(|(_, h)| h.as_str());
    let mut wrong = Vec::new();
    let command_line = |line: &str, file: &str, wrong: &mut Vec<String>| {
        let mut words = line
            .trim()
            .trim_start_matches("$ ")
            .split_whitespace()
            .skip_while(|w| {
                w.split_once('=')
                    .is_some_and(|(k, _)| k.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
            })
            .peekable();
        let first: Vec<&str> = words.clone().take(4).collect();
        if first == ["cargo", "run", "--release", "--"] {
            words.nth(3);
        } else if first.first() == Some(&"mailtrip") {
            words.next();
        } else {
            return;
        }
        let Some(help) = words.next().and_then(sub_help) else {
            return; // sample output ("mailtrip check: ...") or a subject ("mailtrip probe ...")
        };
        for w in words.take_while(|w| !w.starts_with('#') && !["|", "&&", ";"].contains(w)) {
            if let Some(flag) = long_flag(w).filter(|f| !shows_flag(help, f)) {
                wrong.push(format!("{file}: {flag} in `{}`", line.trim()));
            }
        }
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in [
        "README.md",
        "docs/json.md",
        "docs/formats.md",
        "docs/api.md",
    ] {
        let text = std::fs::read_to_string(root.join(file)).expect("doc");
        let mut in_block = false;
        for line in text.replace("\\\n", " ").lines() {
            if line.trim_start().starts_with("```") {
                in_block = !in_block;
                continue;
            }
            if in_block {
                continue;
            }
            for span in line.split('`').skip(1).step_by(2) {
                command_line(span, file, &mut wrong);
                if let Some(flag) = long_flag(span)
                    && !helps.iter().any(|(_, h)| shows_flag(h, flag))
                {
                    wrong.push(format!("{file}: {flag} in `{span}`"));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "flags no --help shows:\n{}",
        wrong.join("\n")
    );

    let dir = scratch("no-prefixes");
    let out = mailtrip(&dir, &["check", "--warni", "10s", "--time", "5s"], &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("unexpected argument '--warni'"),
        "{}",
        stderr(&out)
    );
}

/// Issue 18 item 7: each subcommand's `--help` lists only the formats it renders (sweep and
/// load: human and json), and verify's describes the VerifyReport and the JUnit it writes
/// (one testcase per step, no `verdict`), which a run confirms.
#[test]
fn issue18_item7_help_lists_only_the_formats_each_subcommand_renders() {
    let formats = |sub: &str| -> (Vec<String>, String) {
        let h = help(&[sub, "--help"]);
        let names = h
            .lines()
            .skip_while(|l| !l.trim_start().starts_with("--format"))
            .skip_while(|l| !l.contains("Possible values:"))
            .skip(1)
            .take_while(|l| l.trim_start().starts_with("- "))
            .filter_map(|l| l.trim_start()[2..].split(':').next())
            .map(str::to_string)
            .collect();
        (names, h)
    };
    let all = ["human", "json", "junit", "nagios", "prometheus"];
    for (sub, want) in [
        ("check", &all[..]),
        ("verify", &all[..]),
        ("sweep", &all[..2]),
        ("load", &all[..2]),
    ] {
        assert_eq!(formats(sub).0, want, "{sub} --help");
    }
    let (_, verify) = formats("verify");
    assert!(!verify.contains("The Report "), "{verify}");
    assert!(verify.contains("The VerifyReport"), "{verify}");
    assert!(!verify.contains("verdict"), "{verify}");
    assert!(verify.contains("one testcase per step"), "{verify}");
    for sub in ["sweep", "load"] {
        let out = mailtrip(&std::env::temp_dir(), &[sub, "--format", "junit"], &[]);
        assert_eq!(out.status.code(), Some(3));
        assert!(
            stderr(&out).contains("[possible values: human, json]"),
            "{}",
            stderr(&out)
        );
    }

    let dir = scratch("verify-junit");
    let out = mailtrip(&dir, &["verify", "--format", "junit", "-q"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let xml = String::from_utf8_lossy(&out.stdout);
    assert!(xml.contains("name=\"smtp.connect\""), "{xml}");
    assert!(xml.contains("name=\"imap.auth\""), "{xml}");
    assert!(!xml.contains("verdict"), "{xml}");
}

/// Issue 18 item 7: `verify` reports the IMAP CAPABILITY verbatim, as docs/json.md says: the
/// server's own order, the same on every run, and the same list Python's imaplib (an
/// independent client) reads from the wire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue18_item7_imap_capabilities_keep_the_servers_order() {
    let server = util::server().await;
    let dir = scratch("caps");
    let ca = ca_in(&server, &dir);
    let script = r#"
import imaplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
m = imaplib.IMAP4_SSL("localhost", int(sys.argv[1]), ssl_context=ctx)
m.login(sys.argv[3], sys.argv[4])
typ, data = m.capability()
print(data[0].decode())
m.logout()
"#;
    let out = tokio::task::block_in_place(|| {
        Command::new("python3")
            .args(["-c", script])
            .arg(server.imaps_addr().port().to_string())
            .arg(&ca)
            .args([ALICE, PASSWORD])
            .output()
            .expect("python3 runs (the tests need it)")
    });
    assert!(out.status.success(), "{}", stderr(&out));
    let wire: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert!(wire.len() >= 5, "{wire:?}");
    let account = mailtrip::Account::embedded(&server, ALICE, PASSWORD);
    for run in 0..5 {
        let r = mailtrip::Verify::new(account.clone()).run().await;
        assert_eq!(r.imap.capabilities, wire, "run {run}");
    }
}

/// Issue 18 (README: "`--insecure-skip-verify` exists, and every output says so"): with no
/// account, against the embedded server, the flag was ignored without a word. It now skips
/// verification there too, and `check`, `verify` and `load` say so as against any server.
#[test]
fn issue18_insecure_skip_verify_is_loud_against_the_embedded_server_too() {
    let dir = scratch("insecure-embedded");
    for (args, exit) in [
        (
            &["check", "--insecure-skip-verify", "--format", "json"][..],
            0,
        ),
        (
            &["verify", "--insecure-skip-verify", "--format", "json"][..],
            1,
        ),
        (
            &[
                "load",
                "--probes",
                "2",
                "--insecure-skip-verify",
                "--format",
                "json",
            ][..],
            0,
        ),
    ] {
        let out = mailtrip(&dir, args, &[]);
        assert_eq!(out.status.code(), Some(exit), "{args:?}: {}", stderr(&out));
        let report = json(&out);
        assert_eq!(report["embedded"], true, "{report}");
        let warned = report["warnings"].as_array().is_some_and(|w| {
            w.iter()
                .any(|w| w.as_str().is_some_and(|w| w.contains("NOT verified")))
        });
        assert!(warned, "{args:?}: {report}");
        if args[0] != "load" {
            assert_eq!(report["tls_verified"], false, "{report}");
        }
    }
}
