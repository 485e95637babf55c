//! Issue #20, offline and end to end: `mailtrip login` against the embedded server's OAuth2
//! authorization server over real HTTPS, then `check` / `verify` over XOAUTH2 with the stored
//! tokens, silent refresh after expiry, a revoked sign-in, the device flow's slow_down /
//! denied / expired answers, the browser flow with PKCE through headless Chromium, and curl
//! as an independent client of the authorization server and of XOAUTH2.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use mailtrip::server::oauth::{OAuthFaults, OAuthSettings};
use mailtrip::server::{Faults, ServerConfig, TestServer};

use crate::util;

pub const BIN: &str = env!("CARGO_BIN_EXE_mailtrip");
pub const ALICE: &str = "alice@mailtrip.test";
pub const CLIENT_ID: &str = "mailtrip-test-client";

/// A config file, a CA file and a private config directory (where tokens go) for one test.
pub struct Env {
    pub dir: PathBuf,
    pub config: PathBuf,
}

impl Env {
    /// Account `work`: `provider` with the embedded server's OAuth2 endpoints and mail ports.
    pub fn new(server: &TestServer, name: &str, provider: &str, extra: &str) -> Env {
        let dir =
            std::env::temp_dir().join(format!("mailtrip-oauth-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, server.ca_pem()).expect("ca");
        let o = server.oauth2_url();
        let config = dir.join("mailtrip.toml");
        let text = format!(
            "[accounts.work]\nprovider = \"{provider}\"\naddress = \"{ALICE}\"\nauth = \"oauth2\"\n\
             oauth2_client_id = \"{CLIENT_ID}\"\noauth2_device_url = \"{o}/devicecode\"\n\
             oauth2_auth_url = \"{o}/authorize\"\noauth2_token_url = \"{o}/token\"\n\
             smtp = \"smtp+starttls://localhost:{}\"\nimap = \"imaps://localhost:{}\"\n\
             ca_file = \"{}\"\n{extra}",
            server.submission_addr().port(),
            server.imaps_addr().port(),
            ca.display()
        );
        std::fs::write(&config, text).expect("config");
        Env { dir, config }
    }

    fn tokens_dir(&self) -> PathBuf {
        self.dir.join("xdg/mailtrip/tokens")
    }

    fn token_file(&self) -> PathBuf {
        let files: Vec<PathBuf> = std::fs::read_dir(self.tokens_dir())
            .expect("tokens dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        files[0].clone()
    }

    pub fn stored(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.token_file()).expect("token file");
        serde_json::from_str(&text).expect("json")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .arg("--config")
            .arg(&self.config)
            .env("XDG_CONFIG_HOME", self.dir.join("xdg"))
            .env_remove("MAILTRIP_PASSWORD")
            .env_remove("MAILTRIP_CONFIG")
            .env_remove("MAILTRIP_ACCOUNT")
            .env_remove("RUST_LOG")
            .env_remove("BROWSER")
            .stdin(Stdio::null());
        c
    }

    /// Runs the binary off the runtime's threads (the server runs on them).
    pub async fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[]).await
    }

    /// Runs `mailtrip ARGS` with `env` and asserts it exited with `code`.
    pub async fn exits(&self, code: i32, args: &[&str], env: &[(&str, &str)]) -> Run {
        let r = self.run_with(args, env).await;
        assert_eq!(r.code, code, "{args:?}: {r:?}");
        r
    }

    pub async fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut c = self.command(args);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = tokio::task::spawn_blocking(move || c.output().expect("run mailtrip"))
            .await
            .expect("join");
        Run::from(out)
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// A server whose HTTP side (and so `/oauth2/`) speaks HTTPS, as a real provider's token
/// endpoint does: mailtrip's OAuth2 client takes its real TLS path, verified with the CA file.
pub async fn server_with(settings: OAuthSettings) -> TestServer {
    let server = util::server_with(ServerConfig::default().http_tls()).await;
    assert!(server.oauth2_url().starts_with("https://"));
    server.oauth().set_settings(settings);
    server
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

/// The issue's main path: device flow → tokens stored (0600) → `check` over XOAUTH2
/// delivered → the access token expires (the server then refuses it) → the next `check`
/// refreshes silently and delivers again; `verify` reports the method, expiry and scopes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_login_then_check_then_silent_refresh_after_expiry_issue_20() {
    let lifetime = Duration::from_secs(3);
    let server = server_with(OAuthSettings {
        access_token_lifetime: lifetime,
        ..OAuthSettings::default()
    })
    .await;
    let env = Env::new(&server, "main", "outlook", "");

    let login = env.exits(0, &["login"], &[]).await;
    assert!(
        login.stderr.contains("/oauth2/device") && login.stderr.contains("enter the code"),
        "{login:?}"
    );
    assert!(
        login.stdout.contains("signed in as alice@mailtrip.test"),
        "{login:?}"
    );
    let stats = server.oauth().stats();
    assert!(
        stats.device_polls >= 2,
        "authorization_pending was answered first: {stats:?}"
    );
    assert_eq!(
        (stats.tokens_issued, stats.too_fast_polls),
        (1, 0),
        "{stats:?}"
    );
    #[cfg(unix)]
    assert_eq!(
        (mode(&env.token_file()), mode(&env.tokens_dir())),
        (0o600, 0o700)
    );
    let first = env.stored();
    let first_access = first["access_token"]
        .as_str()
        .expect("access token")
        .to_string();
    assert_eq!(first["client_id"], CLIENT_ID);
    assert!(server.store().check_token(ALICE, &first_access).is_some());

    let check = env.exits(0, &["check", "--timeout", "20s"], &[]).await;
    assert!(
        check.stdout.contains("XOAUTH2 as alice@mailtrip.test"),
        "{check:?}"
    );
    assert!(check.stdout.contains("DELIVERED"), "{check:?}");

    tokio::time::sleep(lifetime + Duration::from_millis(300)).await;
    assert!(
        server.store().check_token(ALICE, &first_access).is_none(),
        "the server refuses an expired access token"
    );
    env.exits(0, &["check", "--timeout", "20s", "--format", "json"], &[])
        .await;
    let stats = server.oauth().stats();
    assert!(stats.refreshes >= 1, "{stats:?}");
    let second = env.stored();
    assert_ne!(second["access_token"], first["access_token"]);
    assert_ne!(
        second["refresh_token"], first["refresh_token"],
        "the rotated refresh token was saved"
    );
    #[cfg(unix)]
    assert_eq!(
        mode(&env.token_file()),
        0o600,
        "still private after the refresh"
    );

    let verify = env.exits(0, &["verify", "--format", "json"], &[]).await;
    let v: serde_json::Value = serde_json::from_str(&verify.stdout).expect("json");
    assert_eq!(v["auth"], "oauth2");
    let scopes = v["oauth2"]["scopes"].as_array().expect("scopes");
    assert!(
        scopes
            .iter()
            .any(|s| s.as_str().is_some_and(|s| s.ends_with("SMTP.Send"))),
        "{v}"
    );
    assert!(v["oauth2"]["expires_at"].is_string(), "{v}");
    let human = env.run(&["verify"]).await;
    assert!(
        human.stdout.contains("oauth2 access token expires"),
        "{human:?}"
    );
}

/// A revoked sign-in: the cached access token is refused (exit 2, sign in again), and once it
/// has expired the refresh is refused with invalid_grant: `sign_in_required`, exit 2, and
/// the command that fixes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_sign_in_exits_2_with_the_sign_in_hint() {
    let lifetime = Duration::from_secs(3);
    let server = server_with(OAuthSettings {
        access_token_lifetime: lifetime,
        ..OAuthSettings::default()
    })
    .await;
    let env = Env::new(&server, "revoked", "outlook", "");
    env.exits(0, &["login"], &[]).await;
    server.revoke_oauth(ALICE);

    let refused = env.exits(2, &["check", "--timeout", "10s"], &[]).await;
    assert!(
        refused
            .stdout
            .contains("sign in again: `mailtrip login --config"),
        "{refused:?}"
    );

    tokio::time::sleep(lifetime).await;
    let check = env
        .exits(2, &["check", "--timeout", "10s", "--format", "json"], &[])
        .await;
    assert!(check.stdout.contains("\"sign_in_required\""), "{check:?}");
    assert!(
        check.stdout.contains("invalid_grant"),
        "the server's own words: {check:?}"
    );
    let errors = server.oauth().stats().token_errors;
    let human = env.exits(2, &["verify"], &[]).await;
    assert_eq!(
        server.oauth().stats().token_errors,
        errors + 1,
        "SMTP and IMAP share one refused refresh"
    );
    assert!(human.stdout.contains("sign_in_required"), "{human:?}");
    assert!(
        human.stdout.contains(&format!(
            "Sign in again: `mailtrip login --config {} --account work`",
            env.config.display()
        )),
        "{human:?}"
    );
}

/// RFC 8628's answers: `slow_down` adds 5 s to the interval (the server counts polls that
/// come sooner and there are none), `access_denied` and `expired_token` end the login with
/// exit 2 in the server's words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_flow_handles_slow_down_denied_and_expired() {
    let cases = [
        (
            "slow",
            OAuthFaults {
                slow_down: 1,
                ..OAuthFaults::default()
            },
            0,
            "",
        ),
        (
            "denied",
            OAuthFaults {
                deny: true,
                ..OAuthFaults::default()
            },
            2,
            "access_denied",
        ),
        (
            "expired",
            OAuthFaults {
                expire_device_codes: true,
                ..OAuthFaults::default()
            },
            2,
            "expired_token",
        ),
    ];
    let mut runs = Vec::new();
    for (name, faults, code, words) in cases {
        // Consent comes at the first poll that is not refused, so `slow` takes one interval
        // plus the 5 s that slow_down adds.
        let server = server_with(OAuthSettings {
            pending_polls: 0,
            ..OAuthSettings::default()
        })
        .await;
        server.set_faults(Faults {
            oauth2: faults,
            ..Faults::default()
        });
        let env = Env::new(&server, name, "office365", "");
        runs.push(async move {
            let started = std::time::Instant::now();
            let r = env.run(&["login"]).await;
            (name, server, env, r, code, words, started.elapsed())
        });
    }
    for (name, server, env, r, code, words, took) in futures::future::join_all(runs).await {
        assert_eq!(r.code, code, "{name}: {r:?}");
        assert!(r.stderr.contains(words), "{name}: {r:?}");
        let stats = server.oauth().stats();
        assert_eq!(stats.too_fast_polls, 0, "{name}: {stats:?}");
        if name == "slow" {
            assert_eq!(stats.slow_downs, 1, "{stats:?}");
            assert!(
                took >= Duration::from_secs(6),
                "waited interval + 5 s: {took:?}"
            );
            assert!(env.token_file().is_file());
        } else {
            assert!(!env.tokens_dir().exists(), "{name}: nothing stored");
        }
    }
}

/// Headless Chromium as `$BROWSER`, with its profile inside the test's directory (removed
/// with it).
fn chromium(env: &Env) -> String {
    let profile = env.dir.join("chromium-profile");
    // The test server's certificate is signed by a CA Chromium does not know; mailtrip's
    // own requests verify it, this browser only has to follow the redirect.
    format!(
        "chromium --headless=new --no-sandbox --disable-gpu --ignore-certificate-errors \
         --user-data-dir={} --dump-dom",
        profile.display()
    )
}

/// Google's way: authorization code + PKCE with a loopback redirect, the browser opened only
/// with --browser (here headless Chromium), the client secret sent (the server requires it)
/// and never printed; then `check` delivers over XOAUTH2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_login_with_pkce_through_headless_chromium() {
    let secret = "desktop-client-secret-4f1c";
    let server = server_with(OAuthSettings {
        client_secret: Some(secret.to_string().into()),
        ..OAuthSettings::default()
    })
    .await;
    let env = Env::new(
        &server,
        "pkce",
        "gmail",
        "oauth2_client_secret_env = \"MT_CLIENT_SECRET\"\n",
    );
    let browser = chromium(&env);
    let r = env
        .exits(
            0,
            &["login", "--browser", "--timeout", "60s"],
            &[("BROWSER", &browser), ("MT_CLIENT_SECRET", secret)],
        )
        .await;
    assert!(r.stderr.contains("code_challenge_method=S256"), "{r:?}");
    assert!(
        r.stderr.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A"),
        "{r:?}"
    );
    assert!(r.stdout.contains("(browser)"), "{r:?}");
    assert!(!format!("{r:?}").contains(secret));
    let stats = server.oauth().stats();
    assert_eq!(
        (stats.codes_issued, stats.tokens_issued),
        (1, 1),
        "{stats:?}"
    );
    assert_eq!(env.stored()["scopes"][0], "https://mail.google.com/");

    env.exits(
        0,
        &["check", "--timeout", "20s"],
        &[("MT_CLIENT_SECRET", secret)],
    )
    .await;

    // Without --browser nothing is opened: the URL is printed and the login waits for it.
    let waits = env
        .exits(
            2,
            &["login", "--timeout", "2s"],
            &[("BROWSER", "false"), ("MT_CLIENT_SECRET", secret)],
        )
        .await;
    assert!(waits.stderr.contains("/oauth2/authorize?"), "{waits:?}");
    assert_eq!(
        server.oauth().stats().codes_issued,
        1,
        "no browser went there"
    );
}

/// The device flow's consent by visiting the verification page: --browser opens the
/// complete verification URI, and the server consents when Chromium loads it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_login_with_browser_consents_on_the_verification_page() {
    let server = server_with(OAuthSettings {
        pending_polls: 1000,
        ..OAuthSettings::default()
    })
    .await;
    let env = Env::new(&server, "devpage", "outlook", "");
    env.exits(
        0,
        &["login", "--browser", "--timeout", "60s"],
        &[("BROWSER", &chromium(&env))],
    )
    .await;
    assert_eq!(server.oauth().stats().tokens_issued, 1);
}

pub fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .output()
        .expect("curl")
}

/// The authorization server judged by curl: PKCE verified (a wrong verifier fails, the
/// right one works, a code works once) and the token it issues works for curl's own
/// XOAUTH2 SMTP submission.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_pkce_verifier_is_checked_and_the_token_works_for_curl_smtp() {
    let server = util::server().await;
    let env = Env::new(&server, "curl", "gmail", "");
    let ca = env.dir.join("ca.pem").display().to_string();
    let o = server.oauth2_url();
    let verifier = "mailtrip-test-verifier-0123456789-abcdefghijklmnop";
    let challenge = {
        use base64::Engine as _;
        use sha2::Digest as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier))
    };
    let redirect = "http://127.0.0.1:9/cb";
    let authorize = |o: String, ca: String, challenge: String| {
        tokio::task::spawn_blocking(move || {
            let out = curl(&[
                "--cacert",
                &ca,
                "-o",
                "/dev/null",
                "-w",
                "%{redirect_url}",
                "-G",
                &format!("{o}/authorize"),
                "--data-urlencode",
                "response_type=code",
                "--data-urlencode",
                &format!("client_id={CLIENT_ID}"),
                "--data-urlencode",
                &format!("redirect_uri={redirect}"),
                "--data-urlencode",
                "state=xyz",
                "--data-urlencode",
                &format!("code_challenge={challenge}"),
                "--data-urlencode",
                "code_challenge_method=S256",
            ]);
            let to = String::from_utf8_lossy(&out.stdout).into_owned();
            let url = url::Url::parse(&to).unwrap_or_else(|e| panic!("{to:?}: {e}"));
            let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
            assert_eq!(q.get("state").map(String::as_str), Some("xyz"));
            q["code"].clone()
        })
    };
    let token = |o: String, ca: String, code: String, v: &'static str| {
        tokio::task::spawn_blocking(move || {
            let out = curl(&[
                "--cacert",
                &ca,
                &format!("{o}/token"),
                "-d",
                "grant_type=authorization_code",
                "-d",
                &format!("client_id={CLIENT_ID}"),
                "--data-urlencode",
                &format!("redirect_uri={redirect}"),
                "-d",
                &format!("code={code}"),
                "-d",
                &format!("code_verifier={v}"),
            ]);
            serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")
        })
    };
    let code = authorize(o.clone(), ca.clone(), challenge.clone())
        .await
        .expect("join");
    let wrong = token(
        o.clone(),
        ca.clone(),
        code.clone(),
        "wrong-verifier-wrong-verifier-wrong-verifier-x",
    )
    .await
    .expect("join");
    assert_eq!(wrong["error"], "invalid_grant", "{wrong}");
    assert!(
        wrong["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("PKCE")),
        "{wrong}"
    );
    let code = authorize(o.clone(), ca.clone(), challenge)
        .await
        .expect("join");
    let good = token(o.clone(), ca.clone(), code.clone(), verifier)
        .await
        .expect("join");
    let access = good["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{good}"))
        .to_string();
    assert_eq!(good["token_type"], "Bearer");
    let reused = token(o, ca.clone(), code, verifier).await.expect("join");
    assert_eq!(
        reused["error"], "invalid_grant",
        "a code works once: {reused}"
    );

    let port = server.submission_addr().port();
    let mail = env.dir.join("mail.txt");
    std::fs::write(&mail, "Subject: via curl xoauth2\r\n\r\nhello\r\n").expect("mail");
    let sent = tokio::task::spawn_blocking(move || {
        curl(&[
            "--cacert",
            &ca,
            "--ssl-reqd",
            &format!("smtp://localhost:{port}"),
            "--mail-from",
            ALICE,
            "--mail-rcpt",
            "bob@mailtrip.test",
            "--user",
            &format!("{ALICE}:"),
            "--oauth2-bearer",
            &access,
            "-T",
            &mail.display().to_string(),
        ])
    })
    .await
    .expect("join");
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let got = server
        .wait_for_messages("bob@mailtrip.test", "INBOX", 1, Duration::from_secs(10))
        .await
        .expect("delivered");
    assert_eq!(got.len(), 1);
}

/// `mailtrip logout` removes the sign-in; commands then say how to sign in (exit 3), and a
/// second logout says there was nothing to remove.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_removes_the_sign_in() {
    let server = server_with(OAuthSettings::default()).await;
    let env = Env::new(&server, "logout", "outlook", "");
    assert_eq!(env.run(&["login"]).await.code, 0);
    let path = env.token_file();
    let out = env.exits(0, &["logout", "--account", "work"], &[]).await;
    assert!(
        out.stdout.contains("signed out alice@mailtrip.test"),
        "{out:?}"
    );
    assert!(!path.exists());
    let check = env.exits(3, &["check"], &[]).await;
    assert!(
        check
            .stderr
            .contains("has not signed in; sign in: `mailtrip login --config"),
        "{check:?}"
    );
    let again = env.exits(0, &["logout"], &[]).await;
    assert!(again.stdout.contains("was not signed in"), "{again:?}");
}

/// No client id, no sign-in: mailtrip has no identity of its own to fall back on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_without_a_client_id_is_a_usage_error_naming_where_to_register() {
    let server = util::server().await;
    let env = Env::new(&server, "noclient", "outlook", "");
    let text = std::fs::read_to_string(&env.config)
        .expect("config")
        .replace(&format!("oauth2_client_id = \"{CLIENT_ID}\"\n"), "");
    std::fs::write(&env.config, text).expect("config");
    let r = env.exits(3, &["login"], &[]).await;
    assert!(
        r.stderr.contains("no OAuth2 client id") && r.stderr.contains("entra.microsoft.com"),
        "{r:?}"
    );
    assert_eq!(server.oauth().stats().device_authorizations, 0);
}

/// The route's delivered round trips, from one scrape of the monitor's /metrics.
async fn delivered(addr: &str) -> f64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
        return 0.0;
    };
    let req = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let mut raw = String::new();
    if s.write_all(req.as_bytes()).await.is_err() || s.read_to_string(&mut raw).await.is_err() {
        return 0.0;
    }
    raw.lines()
        .filter(|l| {
            l.starts_with("mailtrip_monitor_round_trips_total{")
                && l.contains("verdict=\"delivered\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// `monitor` with an `auth = "oauth2"` route keeps delivering across several access-token
/// lifetimes (its logins take tokens from the same stored sign-in).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_delivers_with_a_stored_sign_in_across_token_lifetimes() {
    use tokio::io::AsyncBufReadExt;
    let lifetime = Duration::from_secs(2);
    let server = server_with(OAuthSettings {
        access_token_lifetime: lifetime,
        ..OAuthSettings::default()
    })
    .await;
    let route =
        "\n[[routes]]\nname = \"w\"\nfrom = \"work\"\ninterval = \"1s\"\ntimeout = \"5s\"\n";
    let env = Env::new(&server, "monitor", "outlook", route);
    assert_eq!(env.run(&["login"]).await.code, 0);
    let mut child =
        tokio::process::Command::from(env.command(&["monitor", "--listen", "127.0.0.1:0"]))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start mailtrip monitor");
    let mut lines = tokio::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
    let addr = tokio::time::timeout(Duration::from_secs(90), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.split("listening on http://").nth(1) {
                return rest.split('/').next().unwrap_or("").to_string();
            }
        }
        panic!("the monitor ended without saying where it listens");
    })
    .await
    .expect("the monitor prints its address");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let started = std::time::Instant::now();
    let mut n = 0.0;
    while n < 5.0 {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "{n} delivered so far"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        n = delivered(&addr).await;
    }
    assert!(
        started.elapsed() > lifetime,
        "spanned more than one token lifetime"
    );
    let _ = child.kill().await;
}

/// Without `auth = "oauth2"` a password source still wins, and `login` says so; with no
/// password source at all, the stored sign-in is used on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_sign_in_serves_an_account_without_a_password_source() {
    let server = server_with(OAuthSettings::default()).await;
    let env = Env::new(&server, "implicit", "outlook", "");
    let with_password = std::fs::read_to_string(&env.config)
        .expect("config")
        .replace("auth = \"oauth2\"\n", "password_env = \"MT_UNUSED_PW\"\n");
    std::fs::write(&env.config, &with_password).expect("config");
    let login = env.exits(0, &["login"], &[]).await;
    assert!(login.stderr.contains("add auth = \"oauth2\""), "{login:?}");
    std::fs::write(
        &env.config,
        with_password.replace("password_env = \"MT_UNUSED_PW\"\n", ""),
    )
    .expect("config");
    let check = env.exits(0, &["check", "--timeout", "20s"], &[]).await;
    assert!(
        check.stdout.contains("XOAUTH2 as alice@mailtrip.test"),
        "{check:?}"
    );
}
