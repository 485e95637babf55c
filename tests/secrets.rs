//! No secret in any output (issue #10): every subcommand binary (`check`, `verify`, `wait`,
//! `sweep`, `load`, `providers`) at `-v`, `-vv` and `-vvv` in every format it supports, with a good
//! and a wrong password and a good and a wrong OAuth2 token, against an in-process embedded
//! server; stdout and stderr must hold neither the secret nor its base64 forms (the whole
//! value, AUTH PLAIN's `\0user\0secret`, XOAUTH2's `user=...\x01auth=Bearer ...`). The same
//! for a `mailtrip login` sign-in (#20): its codes, access and refresh tokens, client secret.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::util::{self, ALICE, PASSWORD};

const WRONG_PASSWORD: &str = "Wr0ng-pa55-7f3b9e";
const TOKEN: &str = "ya29.mailtrip-test-token-5c1d";
const WRONG_TOKEN: &str = "ya29.mailtrip-wrong-token-a8e2";

/// Every form in which `secret` must never appear.
fn forms(secret: &str) -> Vec<String> {
    vec![
        secret.to_string(),
        BASE64.encode(secret),
        BASE64.encode(format!("\0{ALICE}\0{secret}")),
        BASE64.encode(format!("{ALICE}\0{ALICE}\0{secret}")),
        BASE64.encode(format!("user={ALICE}\x01auth=Bearer {secret}\x01\x01")),
    ]
}

#[derive(Clone, Copy)]
enum Cred {
    Password(&'static str),
    Token(&'static str),
}

struct Run {
    command: &'static str,
    args: Vec<String>,
    cred: Cred,
}

fn endpoint_args(server: &mailtrip::server::TestServer, ca: &str, command: &str) -> Vec<String> {
    let imap = crate::util::imap_url(server);
    let smtp = crate::util::smtp_url(server);
    let mut a: Vec<String> = Vec::new();
    if command != "wait" {
        a.extend(["--smtp".into(), smtp]);
    }
    a.extend([
        "--imap".into(),
        imap,
        "--user".into(),
        ALICE.into(),
        "--ca-file".into(),
        ca.into(),
    ]);
    match command {
        "check" | "wait" => a.extend(["--timeout".into(), "2s".into()]),
        "verify" => a.extend(["--timeout".into(), "5s".into()]),
        "sweep" => a.push("--dry-run".into()),
        "load" => a.extend([
            "--probes".into(),
            "5".into(),
            "--timeout".into(),
            "5s".into(),
        ]),
        _ => {}
    }
    a
}

fn run(r: &Run) -> (i32, String) {
    let mut cmd = util::mailtrip_command();
    cmd.arg(r.command)
        .args(&r.args)
        // Every secret is in the environment of every run, used or not.
        .env("MT_PASSWORD", PASSWORD)
        .env("MT_TOKEN", TOKEN);
    if r.command != "providers" {
        match r.cred {
            Cred::Password(p) => {
                cmd.args(["--password-env", "MT_SECRET"])
                    .env("MT_SECRET", p);
            }
            Cred::Token(t) => {
                cmd.args(["--oauth2-token-env", "MT_SECRET"])
                    .env("MT_SECRET", t);
            }
        }
    }
    let out = cmd.output().expect("run mailtrip");
    (out.status.code().unwrap_or(-1), crate::util::printed(&out))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_subcommand_prints_a_password_or_token_at_any_verbosity_or_format() {
    let server = util::server().await;
    server.add_oauth_token(ALICE, TOKEN).expect("token");
    let dir = util::scratch_dir("secrets");
    let ca = util::write_ca(&server, &dir).to_string_lossy().into_owned();

    let formats: [(&str, &[&str]); 6] = [
        ("check", &["human", "json", "junit", "nagios", "prometheus"]),
        (
            "verify",
            &["human", "json", "junit", "nagios", "prometheus"],
        ),
        ("wait", &["human", "json"]),
        ("sweep", &["human", "json"]),
        ("load", &["human", "json"]),
        ("providers", &["human", "json"]),
    ];
    let creds = [
        Cred::Password(PASSWORD),
        Cred::Password(WRONG_PASSWORD),
        Cred::Token(TOKEN),
        Cred::Token(WRONG_TOKEN),
    ];
    let mut runs = Vec::new();
    for (command, fmts) in formats {
        for verbosity in ["-v", "-vv", "-vvv"] {
            for format in fmts {
                for cred in creds {
                    // Tokens at full verbosity only: they take the same paths otherwise.
                    if matches!(cred, Cred::Token(_)) && verbosity != "-vvv" {
                        continue;
                    }
                    // `providers` has no credentials and no -v: once per format.
                    if command == "providers"
                        && (!matches!(cred, Cred::Password(PASSWORD)) || verbosity != "-v")
                    {
                        continue;
                    }
                    let mut args = vec!["--format".to_string(), format.to_string()];
                    if command != "providers" {
                        args.insert(0, verbosity.to_string());
                        args.extend(endpoint_args(&server, &ca, command));
                    }
                    runs.push(Run {
                        command,
                        args,
                        cred,
                    });
                }
            }
        }
    }
    let forbidden: Vec<String> = [PASSWORD, WRONG_PASSWORD, TOKEN, WRONG_TOKEN]
        .into_iter()
        .flat_map(forms)
        .collect();
    let results = tokio::task::spawn_blocking(move || {
        std::thread::scope(|s| {
            let handles: Vec<_> = runs
                .chunks(runs.len().div_ceil(3))
                .map(|chunk| {
                    s.spawn(move || {
                        chunk
                            .iter()
                            .map(|r| {
                                let (code, text) = run(r);
                                (r.command, r.args.join(" "), r.cred, code, text)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("runner"))
                .collect::<Vec<_>>()
        })
    })
    .await
    .expect("runs");
    let mut traced = false;
    for (command, args, cred, code, text) in &results {
        let what = format!("mailtrip {command} {args}");
        assert!(![3, 101, -1].contains(code), "{what}: exit {code}:\n{text}");
        for f in &forbidden {
            assert!(!text.contains(f.as_str()), "{what} printed {f:?}:\n{text}");
        }
        let good = matches!(cred, Cred::Password(PASSWORD) | Cred::Token(TOKEN));
        if *command == "verify" || (*command == "check" && good) {
            assert_eq!(*code, if good { 0 } else { 2 }, "{what}:\n{text}");
        }
        if *command == "check" && args.starts_with("-vvv") && good {
            // The wire trace ran, and showed the logins redacted.
            assert!(text.contains(">> A0001 LOGIN") || text.contains("AUTHENTICATE XOAUTH2"));
            assert!(text.contains("****"), "{what}:\n{text}");
            traced = true;
        }
    }
    assert!(traced, "no -vvv check run showed a wire trace");
    assert!(results.len() > 80, "{} runs", results.len());
}

/// Issue #20: a `mailtrip login` sign-in's secrets never show either: every device code,
/// authorization code, access token and refresh token the server issued, and the client
/// secret, in `login` and in every connecting command at `-v`, `-vv` and `-vvv` (human and
/// JSON). The access tokens live 2 s: the runs start (three at a time) once the login's token
/// has expired, so they refresh concurrently, and a last `-vvv` pair runs after another
/// expiry, so the most verbose trace always covers a refresh (mailtrip's runs got fast enough
/// to finish inside one token lifetime).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_command_prints_oauth2_tokens_or_the_client_secret_at_any_verbosity() {
    use mailtrip::server::oauth::OAuthSettings;
    const CLIENT_SECRET: &str = "mailtrip-client-secret-7d2e";
    let lifetime = std::time::Duration::from_secs(2);
    let server = util::server().await;
    server.oauth().set_settings(OAuthSettings {
        access_token_lifetime: lifetime,
        client_secret: Some(CLIENT_SECRET.to_string().into()),
        ..OAuthSettings::default()
    });
    let env = crate::oauth::Env::new(
        &server,
        "secrets",
        "outlook",
        "oauth2_client_secret_env = \"MT_CLIENT_SECRET\"\n",
    );
    let mut runs: Vec<Vec<String>> = ["-v", "-vv", "-vvv"]
        .iter()
        .map(|v| vec!["login".to_string(), v.to_string()])
        .collect();
    let commands: [(&str, &[&str]); 5] = [
        ("check", &["--timeout", "5s"]),
        ("verify", &["--timeout", "5s"]),
        ("wait", &["--timeout", "2s"]),
        ("sweep", &["--dry-run"]),
        // The outlook preset paces load at one probe a minute unless told otherwise.
        (
            "load",
            &["--probes", "5", "--timeout", "5s", "--rate", "50/s"],
        ),
    ];
    for (command, extra) in commands {
        for verbosity in ["-v", "-vv", "-vvv"] {
            for format in ["human", "json"] {
                let mut args = vec![command.to_string(), verbosity.to_string()];
                args.extend(["--format".into(), format.into()]);
                args.extend(extra.iter().map(|s| s.to_string()));
                runs.push(args);
            }
        }
    }
    for last in [
        ["check", "-vvv", "--format", "human"],
        ["verify", "-vvv", "--format", "json"],
    ] {
        runs.push(last.iter().map(|s| s.to_string()).collect());
    }
    let run = |args: &[String]| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = env
            .command(&refs)
            .env("MT_CLIENT_SECRET", CLIENT_SECRET)
            .output()
            .expect("run mailtrip");
        let code = out.status.code().unwrap_or(-1);
        (args.join(" "), code, crate::util::printed(&out))
    };
    let results = tokio::task::block_in_place(|| {
        // Sign in first (sequentially), then, once the token has expired, everything else
        // three at a time, then after another expiry the last two.
        let (logins, rest) = runs.split_at(3);
        let (rest, last) = rest.split_at(rest.len() - 2);
        let mut results: Vec<_> = logins.iter().map(|a| run(a)).collect();
        std::thread::sleep(lifetime);
        std::thread::scope(|s| {
            let handles: Vec<_> = rest
                .chunks(rest.len().div_ceil(3))
                .map(|chunk| s.spawn(move || chunk.iter().map(|a| run(a)).collect::<Vec<_>>()))
                .collect();
            for h in handles {
                results.extend(h.join().expect("runner"));
            }
        });
        std::thread::sleep(lifetime);
        results.extend(last.iter().map(|a| run(a)));
        results
    });
    let secrets = server.oauth().issued_secrets();
    assert!(secrets.len() > 6, "{} secrets issued", secrets.len());
    let forbidden: Vec<String> = secrets
        .iter()
        .map(String::as_str)
        .chain([CLIENT_SECRET])
        .flat_map(forms)
        .collect();
    let mut refreshed_at_vvv = false;
    for (what, code, text) in &results {
        assert!(
            ![3, 101, -1].contains(code),
            "mailtrip {what}: exit {code}:\n{text}"
        );
        if what.starts_with("check") || what.starts_with("verify") || what.starts_with("login") {
            assert_eq!(*code, 0, "mailtrip {what}:\n{text}");
        }
        for f in &forbidden {
            assert!(
                !text.contains(f.as_str()),
                "mailtrip {what} printed {f:?}:\n{text}"
            );
        }
        refreshed_at_vvv |=
            what.contains("-vvv") && text.contains("refreshing the OAuth2 access token");
    }
    assert!(
        server.oauth().stats().refreshes >= 2,
        "{:?}",
        server.oauth().stats()
    );
    assert!(refreshed_at_vvv, "no -vvv run traced a refresh");
}

/// Issue #13 item 11: a config file whose `password =` line is wrong (misspelled key, unquoted,
/// wrong type, unterminated string) and an endpoint URL with `user:password@` are usage errors
/// (exit 3) that never print the secret: not on stderr, and not in the `MAILTRIP UNKNOWN` line
/// `--format nagios` writes on stdout.
#[test]
fn item_11_config_and_url_errors_never_print_the_secret() {
    const SECRET: &str = "Hunter2-s3cret-9d41";
    let dir = util::scratch_dir("secrets-cfg");
    let account = "[accounts.work]\naddress = \"alice@mailtrip.test\"\nsmtp = \"smtps://localhost:1\"\nimap = \"imaps://localhost:1\"\n";
    let bad_lines = [
        format!("pasword = \"{SECRET}\"\n"),
        format!("password = {SECRET}\n"),
        "password = 42424242\n".to_string(),
        format!("password = \"{SECRET}\n"),
        format!("password = [\"{SECRET}\"]\n"),
        format!("password = '''{SECRET}\n"),
    ];
    let mut runs: Vec<(String, Vec<String>)> = Vec::new();
    for (i, line) in bad_lines.iter().enumerate() {
        let path = dir.join(format!("bad-{i}.toml"));
        std::fs::write(&path, format!("{account}{line}")).expect("write");
        for command in ["check", "verify", "load", "sweep"] {
            for format in ["human", "nagios"] {
                if format == "nagios" && !matches!(command, "check" | "verify") {
                    continue;
                }
                runs.push((
                    format!("{command} --config {} ({line:?})", path.display()),
                    vec![
                        command.into(),
                        "--config".into(),
                        path.to_string_lossy().into_owned(),
                        "--format".into(),
                        format.into(),
                        "-vvv".into(),
                    ],
                ));
            }
        }
    }
    for url in [
        format!("smtps://alice:{SECRET}@localhost:465"),
        format!("smtps://{SECRET}@localhost"),
        format!("smtp+starttls://alice:{SECRET}@localhost/x"),
    ] {
        for format in ["human", "nagios"] {
            runs.push((
                format!("check --smtp {url}"),
                vec![
                    "check".into(),
                    "--smtp".into(),
                    url.clone(),
                    "--imap".into(),
                    "imaps://localhost:1".into(),
                    "--user".into(),
                    ALICE.into(),
                    "--format".into(),
                    format.into(),
                    "-vvv".into(),
                ],
            ));
        }
    }
    for (what, args) in runs {
        let out = util::mailtrip_command()
            .args(&args)
            .env("MAILTRIP_PASSWORD", "unused-env-password")
            .output()
            .expect("run mailtrip");
        let text = crate::util::printed(&out);
        assert_eq!(out.status.code(), Some(3), "{what}:\n{text}");
        assert!(
            !text.contains(SECRET) && !text.contains("42424242"),
            "{what} printed the secret:\n{text}"
        );
        assert!(
            !text.contains(&BASE64.encode(SECRET)),
            "{what} printed the secret in base64:\n{text}"
        );
    }
}
