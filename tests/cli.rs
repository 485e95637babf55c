//! The `mailtrip` binary end to end: `server` serves mail that curl sends and Python's imaplib
//! finds and fetches byte-exact over verified TLS; `check` runs the embedded round trip and
//! exits with the documented codes.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::util;

/// A running `mailtrip server`, stopped with SIGTERM on drop.
pub(crate) struct ServerProcess {
    pub(crate) child: Child,
    pub(crate) info: serde_json::Value,
}

impl ServerProcess {
    pub(crate) fn start(args: &[&str]) -> ServerProcess {
        ServerProcess::start_with(args, Stdio::piped())
    }

    /// As [`ServerProcess::start`], its stderr thrown away: for a server no test reads the
    /// log of, which could otherwise fill the pipe.
    pub(crate) fn start_quiet(args: &[&str]) -> ServerProcess {
        ServerProcess::start_with(args, Stdio::null())
    }

    fn start_with(args: &[&str], stderr: Stdio) -> ServerProcess {
        let mut child = util::mailtrip_command()
            .arg("server")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn mailtrip server");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("first line");
        let info: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("first line {line:?}: {e}"));
        ServerProcess { child, info }
    }

    pub(crate) fn port(&self, listener: &str) -> u16 {
        let addr = self.info[listener].as_str().expect("address");
        addr.rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port")
    }

    pub(crate) fn ca(&self) -> String {
        self.info["ca_cert"].as_str().expect("ca_cert").to_string()
    }

    /// SIGTERM, then the exit status.
    pub(crate) fn stop(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
        self.child.wait().expect("wait")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Issue 3's acceptance: curl submits over STARTTLS, imaplib finds it by header and fetches
/// it byte-exact over IMAPS, both verifying the printed CA.
#[test]
fn server_serves_curl_mail_that_imaplib_fetches_byte_exact() {
    let server = ServerProcess::start(&["--user", "app@test.local:s3cret-pw"]);
    assert_eq!(server.info["users"][0]["address"], "app@test.local");
    let message = b"From: app@test.local\r\nTo: app@test.local\r\nSubject: welcome\r\nX-Test-Tag: cli-7f3a\r\n\r\nHello from curl, gr\xc3\xbc\xc3\x9fe.\r\n";
    let eml = util::temp_file("curl.eml", message);
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--ssl-reqd", "--cacert"])
        .arg(server.ca())
        .arg(format!("smtp://localhost:{}", server.port("submission")))
        .args([
            "--mail-from",
            "app@test.local",
            "--mail-rcpt",
            "app@test.local",
        ])
        .args(["--user", "app@test.local:s3cret-pw", "--upload-file"])
        .arg(&eml)
        .output()
        .expect("curl runs (apt-get install curl)");
    util::succeeded("curl", &out);

    let script = r#"
import imaplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
m = imaplib.IMAP4_SSL("localhost", int(sys.argv[2]), ssl_context=ctx)
m.login("app@test.local", "s3cret-pw")
m.select("INBOX")
typ, data = m.uid("SEARCH", "HEADER", "X-Test-Tag", "cli-7f3a")
uids = data[0].split()
assert len(uids) == 1, data
typ, data = m.uid("FETCH", uids[0], "(BODY.PEEK[])")
sys.stdout.buffer.write(data[0][1])
m.logout()
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(server.ca())
        .arg(server.port("imaps").to_string())
        .output()
        .expect("python3");
    util::succeeded("imaplib", &out);
    // The stored copy is the message plus the Received header the server prepended.
    let fetched = out.stdout;
    assert!(
        fetched.starts_with(b"Received: "),
        "{}",
        String::from_utf8_lossy(&fetched)
    );
    assert!(
        fetched.ends_with(message),
        "{}",
        String::from_utf8_lossy(&fetched)
    );
    let status = server.stop();
    assert!(status.success(), "server exits 0 on SIGTERM: {status:?}");
}

#[test]
fn server_refuses_a_non_loopback_bind_without_allow_remote() {
    let out = util::run_mailtrip(&["server", "--bind", "0.0.0.0"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-remote"));
}

#[test]
fn server_without_users_prints_a_demo_user_and_its_password() {
    let server = ServerProcess::start(&[]);
    let user = &server.info["users"][0];
    assert!(user["address"].as_str().is_some_and(|a| a.contains('@')));
    assert!(user["password"].as_str().is_some_and(|p| p.len() >= 16));
    assert!(std::path::Path::new(&server.ca()).is_file());
}

/// `mailtrip check ARGS` with nothing configured: no `MAILTRIP_*` settings, and HOME,
/// XDG_CONFIG_HOME and the working directory a fresh scratch directory `name`.
fn check_unconfigured(name: &str, args: &[&str]) -> std::process::Output {
    let dir = util::scratch_dir(name);
    util::mailtrip_command()
        .arg("check")
        .args(args)
        .env("HOME", &dir)
        .env("XDG_CONFIG_HOME", &dir)
        .current_dir(&dir)
        .output()
        .expect("run")
}

/// With nothing configured, `check` runs against the embedded server and exits 0.
#[test]
fn check_with_no_account_runs_the_embedded_round_trip() {
    let out = check_unconfigured("cli-home", &["--format", "json"]);
    let report = util::stdout_json(&out);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_eq!(report["schema"], 1);
    assert_eq!(report["verdict"], "delivered");
    assert_eq!(report["embedded"], true);
    assert_eq!(report["phases"].as_array().map(Vec::len), Some(10));
}

/// The spinner is for people: with stderr not a terminal (here a pipe), a human-format
/// `check` writes no spinner frames or cursor escapes there.
#[test]
fn check_shows_no_spinner_when_stderr_is_not_a_terminal() {
    let out = check_unconfigured("cli-spinner", &["--color", "never"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains('\x1b') && !err.contains('\r'), "{err:?}");
    assert!(!err.contains("smtp_submit ("), "{err:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("DELIVERED"));
}

#[test]
fn check_config_errors_exit_3_and_name_the_problem() {
    let out = util::run_mailtrip(&["check", "--smtp", "smtp.example.com", "--imap", "imaps://h"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("smtps://HOST"), "{err}");

    let out = util::run_mailtrip(&["check", "--format", "nagios", "--provider", "nope"]);
    assert_eq!(out.status.code(), Some(3));
    let line = String::from_utf8_lossy(&out.stdout);
    assert!(
        line.starts_with("MAILTRIP UNKNOWN - unknown provider"),
        "{line}"
    );

    let out = util::run_mailtrip(&["check", "--timeout", "soon"]);
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn check_against_a_wrong_password_exits_2_without_printing_it() {
    let server = ServerProcess::start(&["--user", "a@test.local:right-password"]);
    let secret = "wr0ng-Secret-9d1e";
    for format in ["human", "json", "junit", "nagios", "prometheus"] {
        let out = util::mailtrip_command()
            .args(["check", "-vvv", "--format", format, "--timeout", "5s"])
            .arg("--smtp")
            .arg(format!(
                "smtp+starttls://localhost:{}",
                server.port("submission")
            ))
            .arg("--imap")
            .arg(format!("imaps://localhost:{}", server.port("imaps")))
            .args([
                "--user",
                "a@test.local",
                "--password-env",
                "MT_TEST_PW",
                "--ca-file",
            ])
            .arg(server.ca())
            .env("MT_TEST_PW", secret)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{format}");
        let all = [out.stdout, out.stderr].concat();
        let text = String::from_utf8_lossy(&all);
        assert!(
            !text.contains(secret),
            "{format} leaked the password:\n{text}"
        );
        assert!(text.contains("auth"), "{format}: {text}");
    }
}

/// Runs the binary with the account flags for `user` on an in-process embedded server.
fn run_against(
    server: &mailtrip::server::TestServer,
    ca: &std::path::Path,
    user: &str,
    args: &[&str],
) -> std::process::Output {
    util::mailtrip_command()
        .args(args)
        .arg("--smtp")
        .arg(util::smtp_url(server))
        .arg("--imap")
        .arg(util::imap_url(server))
        .args(["--user", user, "--password-env", "MT_CLI_PW", "--ca-file"])
        .arg(ca)
        .env("MT_CLI_PW", util::PASSWORD)
        .stdin(Stdio::null())
        .output()
        .expect("run mailtrip")
}

/// Issue 8's sweep through the binary: without a terminal and without --yes it only lists;
/// --dry-run deletes nothing; --yes deletes exactly the leftover and nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_binary_lists_without_yes_and_deletes_only_leftovers_with_it() {
    let server = util::server().await;
    let alice = "alice@mailtrip.test";
    let ca = util::temp_file("sweep-ca.pem", server.ca_pem().as_bytes());
    let other = b"From: carol@elsewhere.test\r\nTo: alice@mailtrip.test\r\nSubject: mailtrip probe 0123abcd\r\nX-Mailtrip-Probe: 01900000-0000-7000-8000-00000000beef\r\n\r\nnot ours\r\n";
    server.deliver_raw(alice, "INBOX", other).expect("seed");
    let kept = mailtrip::Check::new(util::account(&server, alice), util::account(&server, alice))
        .keep(true)
        .run()
        .await;
    assert!(kept.verdict.is_delivered(), "{kept:#?}");
    let count = || server.messages(alice, "INBOX").expect("inbox").len();
    assert_eq!(count(), 2);

    let listed = tokio::task::block_in_place(|| {
        run_against(&server, &ca, alice, &["sweep", "--format", "json"])
    });
    let text = String::from_utf8_lossy(&listed.stdout).to_string()
        + &String::from_utf8_lossy(&listed.stderr);
    assert!(text.contains(&kept.probe_id), "{text}");
    assert!(
        !text.contains("00000000beef"),
        "another sender's tag is not ours: {text}"
    );
    assert_eq!(count(), 2, "no terminal and no --yes: list only");

    let dry = tokio::task::block_in_place(|| {
        run_against(&server, &ca, alice, &["sweep", "--dry-run", "--yes"])
    });
    util::succeeded("mailtrip sweep --dry-run", &dry);
    assert_eq!(count(), 2, "--dry-run deletes nothing");

    let swept =
        tokio::task::block_in_place(|| run_against(&server, &ca, alice, &["sweep", "--yes"]));
    util::succeeded("mailtrip sweep --yes", &swept);
    let left = server.messages(alice, "INBOX").expect("inbox");
    assert_eq!(left.len(), 1, "only the leftover probe is deleted");
    assert!(left[0].raw.ends_with(b"not ours\r\n"));
}

/// swaks, an independent SMTP client, submits to the embedded server over STARTTLS with
/// AUTH and verification against its CA. `ci/interop.sh` installs swaks and runs this.
#[test]
#[ignore = "needs swaks (apt-get install swaks libnet-ssleay-perl); ci/interop.sh runs it"]
fn swaks_submits_over_starttls_with_auth() {
    let server = ServerProcess::start(&["--user", "app@test.local:sw4ks-pw"]);
    let out = Command::new("swaks")
        .args(["--server", "localhost", "--port"])
        .arg(server.port("submission").to_string())
        .args(["--tls", "--tls-verify", "--tls-ca-path"])
        .arg(server.ca())
        .args([
            "--auth",
            "PLAIN",
            "--auth-user",
            "app@test.local",
            "--auth-password",
            "sw4ks-pw",
        ])
        .args(["--from", "app@test.local", "--to", "app@test.local"])
        .args(["--header", "Subject: from swaks", "--body", "swaks body"])
        .output()
        .expect("swaks is installed (apt-get install swaks)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "swaks: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("250 2.0.0 Ok: queued as"), "{text}");
    assert!(
        !text.contains("sw4ks-pw") || text.contains("AUTH PLAIN"),
        "{text}"
    );
}

/// Issue 21 (found measuring the cleanup change against Postfix + Dovecot): a config file
/// whose accounts name no CA, and `--ca-file` on the command line, as for a private CA. The
/// `--to-account` mailbox was read without that CA: the check failed at imap_connect with
/// tls_certificate_invalid, a false verdict. Now both accounts trust it.
#[tokio::test]
async fn issue21_ca_file_on_the_command_line_reaches_the_to_account() {
    let server = util::server().await;
    let dir = util::scratch_dir("cli-ca-to-account");
    let ca = util::write_ca(&server, &dir);
    let account = |name: &str, address: &str| {
        format!(
            "[accounts.{name}]\naddress = \"{address}\"\npassword_env = \"PW\"\n\
             smtp = \"{}\"\nimap = \"{}\"\n",
            util::smtp_url(&server),
            util::imap_url(&server),
        )
    };
    let config = dir.join("mailtrip.toml");
    let accounts = account("alice", util::ALICE) + &account("bob", util::BOB);
    std::fs::write(&config, accounts).expect("config");
    let out = tokio::task::spawn_blocking(move || {
        util::mailtrip_command()
            .args(["check", "--config"])
            .arg(&config)
            .args(["--account", "alice", "--to-account", "bob", "--ca-file"])
            .arg(&ca)
            .args(["--timeout", "20s", "--format", "json"])
            .env("PW", util::PASSWORD)
            .output()
            .expect("run mailtrip")
    })
    .await
    .expect("join");
    let report = util::stdout_json(&out);
    assert_eq!(report["verdict"], "delivered", "{report:#}");
    assert_eq!(out.status.code(), Some(0));
}
