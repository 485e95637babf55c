//! TLS and configuration safety through the binary (issue #10): certificates are verified by
//! default, `--ca-file` trusts a private CA, `--insecure-skip-verify` is loud in every format of
//! `check` and `verify`, plaintext AUTH to a non-loopback host is refused before any connection,
//! and config mistakes exit 3 naming the file, line and column, a suggestion or the valid forms.

use mailtrip::server::TestServer;

use crate::util::{self, ALICE, PASSWORD};

const FORMATS: [&str; 5] = ["human", "json", "junit", "nagios", "prometheus"];

/// A config file `name` holding `toml`; returns its path for `--config`.
fn config_file(name: &str, toml: &str) -> String {
    util::temp_file(name, toml).to_string_lossy().into_owned()
}

/// Runs the binary with a clean environment; returns (exit code, stdout, stderr).
fn mailtrip(args: &[&str]) -> (i32, String, String) {
    let out = util::mailtrip_command()
        .args(args)
        .env("MT_PW", PASSWORD)
        .output()
        .expect("run mailtrip");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn endpoints(server: &TestServer) -> Vec<String> {
    vec![
        "--smtp".into(),
        util::smtp_url(server),
        "--imap".into(),
        util::imap_url(server),
        "--user".into(),
        ALICE.into(),
        "--password-env".into(),
        "MT_PW".into(),
        "--timeout".into(),
        "10s".into(),
    ]
}

fn run_with(command: &str, server: &TestServer, extra: &[&str]) -> (i32, String, String) {
    let mut args: Vec<String> = vec![command.into()];
    args.extend(endpoints(server));
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    mailtrip(&args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_skip_verify_is_loud_in_every_format_of_check_and_verify() {
    let server = util::server().await;
    for command in ["check", "verify"] {
        for format in FORMATS {
            let (code, out, err) = tokio::task::block_in_place(|| {
                run_with(
                    command,
                    &server,
                    &["--insecure-skip-verify", "--format", format],
                )
            });
            let what = format!("{command} --format {format}: exit {code}\n{out}\n{err}");
            assert!([0, 1].contains(&code), "{what}");
            let loud = match format {
                "human" | "nagios" => out.contains("NOT verified"),
                "json" => {
                    let line = out.lines().find(|l| l.starts_with('{')).expect("json");
                    let v: serde_json::Value = serde_json::from_str(line).expect("json");
                    v["tls_verified"] == serde_json::Value::Bool(false)
                        && v["warnings"].to_string().contains("NOT verified")
                }
                "junit" => out.contains("name=\"tls_verified\" value=\"false\""),
                "prometheus" => out.lines().any(|l| {
                    (l.starts_with("mailtrip_tls_verified")
                        || l.starts_with("mailtrip_verify_tls_verified"))
                        && l.ends_with(" 0")
                }),
                _ => unreachable!(),
            };
            assert!(loud, "not loud: {what}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_are_verified_by_default_and_ca_file_trusts_a_private_ca() {
    let server = util::server().await;
    let ca = util::temp_file("ca.pem", server.ca_pem());
    let ca = ca.to_string_lossy().into_owned();
    for command in ["check", "verify"] {
        let (code, out, err) =
            tokio::task::block_in_place(|| run_with(command, &server, &["--format", "json"]));
        assert_eq!(code, 2, "{command} without --ca-file: {out}{err}");
        assert!(out.contains("tls_certificate_invalid"), "{command}: {out}");
        let (code, out, err) = tokio::task::block_in_place(|| {
            run_with(command, &server, &["--format", "json", "--ca-file", &ca])
        });
        assert_eq!(code, 0, "{command} with --ca-file: {out}{err}");
        let line = out.lines().find(|l| l.starts_with('{')).expect("json");
        let v: serde_json::Value = serde_json::from_str(line).expect("json");
        assert_eq!(v["tls_verified"], serde_json::Value::Bool(true), "{out}");
    }
}

/// A 70-octet label under `.invalid`: if the refusal ever regressed, resolution would fail
/// locally (exit 2) instead of any packet leaving the machine.
fn remote_host() -> String {
    format!("{}.invalid", "a".repeat(70))
}

#[test]
fn plaintext_auth_to_a_non_loopback_host_is_refused_before_any_connection() {
    let host = remote_host();
    let smtp = format!("smtp://{host}:587");
    let imap = format!("imap://{host}");
    let cases: [&[&str]; 4] = [
        &[
            "check",
            "--smtp",
            &smtp,
            "--imap",
            &format!("imaps://{host}"),
        ],
        &[
            "verify",
            "--smtp",
            &format!("smtps://{host}"),
            "--imap",
            &imap,
        ],
        &["wait", "--imap", &imap, "--timeout", "1s"],
        &["sweep", "--imap", &imap, "--dry-run"],
    ];
    for args in cases {
        let mut args = args.to_vec();
        args.extend(["--user", "a@example.com", "--password-env", "MT_PW"]);
        let (code, out, err) = mailtrip(&args);
        assert_eq!(code, 3, "{args:?}: {out}{err}");
        let text = format!("{out}{err}");
        assert!(
            text.contains("in the clear") && text.contains("--allow-plaintext"),
            "{args:?}: {text}"
        );
        assert!(
            !text.contains("dns_failed"),
            "{args:?} tried to connect: {text}"
        );
    }
}

#[test]
fn a_bad_toml_file_names_the_file_line_and_column() {
    let p = config_file(
        "broken.toml",
        "[accounts.work]\naddress = \"a@b\"\nsmtp = \n",
    );
    for command in ["check", "verify", "wait", "sweep"] {
        let (code, out, err) = mailtrip(&[command, "--config", &p]);
        assert_eq!(code, 3, "{command}: {out}{err}");
        let text = format!("{out}{err}");
        assert!(text.contains(&p), "{command}: {text}");
        assert!(
            text.contains("line 3") && text.contains("column"),
            "{command}: {text}"
        );
    }
}

#[test]
fn an_unknown_config_key_is_an_error_with_a_suggestion() {
    let p = config_file(
        "typo.toml",
        "[accounts.work]\naddress = \"a@b.test\"\npasword_env = \"PW\"\n",
    );
    let (code, out, err) = mailtrip(&["check", "--config", &p]);
    assert_eq!(code, 3, "{out}{err}");
    let text = format!("{out}{err}");
    assert!(text.contains("pasword_env"), "{text}");
    assert!(text.contains("did you mean `password_env`?"), "{text}");
    assert!(text.contains("line 3"), "{text}");
}

#[test]
fn a_url_with_a_wrong_scheme_or_port_lists_the_valid_forms() {
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "check",
                "--smtp",
                "ftp://mail.test",
                "--imap",
                "imaps://mail.test",
            ],
            "smtps://HOST[:465], smtp+starttls://HOST[:587], smtp://HOST[:25]",
        ),
        (
            &[
                "verify",
                "--smtp",
                "smtps://mail.test:99999",
                "--imap",
                "imaps://mail.test",
            ],
            "smtps://HOST[:465]",
        ),
        (
            &[
                "verify",
                "--smtp",
                "smtps://mail.test",
                "--imap",
                "https://mail.test",
            ],
            "imaps://HOST[:993]",
        ),
        (
            &["wait", "--imap", "imaps://mail.test:port"],
            "imaps://HOST[:993]",
        ),
    ];
    for (args, forms) in cases {
        let (code, out, err) = mailtrip(args);
        assert_eq!(code, 3, "{args:?}: {out}{err}");
        let text = format!("{out}{err}");
        assert!(text.contains("valid forms"), "{args:?}: {text}");
        assert!(text.contains(forms), "{args:?}: {text}");
    }
}

#[test]
fn a_world_readable_config_holding_a_password_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    // Port 1 on loopback refuses at once; the warning comes before any connection.
    let p = config_file(
        "open.toml",
        "[accounts.work]\naddress = \"a@b.test\"\npassword = \"file-pw-31337\"\n\
         smtp = \"smtps://127.0.0.1:1\"\nimap = \"imaps://127.0.0.1:1\"\n",
    );
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let (code, out, err) = mailtrip(&["verify", "--config", &p, "--timeout", "2s"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("readable by others") && err.contains("chmod 600"),
        "{err}"
    );
    assert!(!format!("{out}{err}").contains("file-pw-31337"));
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let (_, _, err) = mailtrip(&["verify", "--config", &p, "--timeout", "2s"]);
    assert!(!err.contains("readable by others"), "{err}");
}
