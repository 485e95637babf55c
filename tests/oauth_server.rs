//! Issue #20, the embedded authorization server as other programs see it: on the HTTP port of
//! `mailtrip server` (HTTPS with `--http-tls`), its faults and token lifetime set by `--fault`
//! and `PUT /api/v1/faults`, consent that wants the HTTP credentials where they are
//! configured while the token endpoint keeps its own client authentication, and the token
//! endpoint verified with the account's TLS options like the mail ports. curl is the
//! independent client throughout.

use std::process::{Output, Stdio};
use std::time::Duration;

use mailtrip::server::ServerConfig;
use mailtrip::server::http::HttpAuth;
use mailtrip::server::oauth::OAuthSettings;
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

use crate::cli::ServerProcess;
use crate::oauth::{ALICE, CLIENT_ID, Env, curl, server_with};
use crate::util;

fn json(out: Output) -> Value {
    util::stdout_json(&out)
}

/// The HTTP status curl saw, with the body thrown away.
fn status(args: &[&str]) -> String {
    let mut all = vec!["-o", "/dev/null", "-w", "%{http_code}"];
    all.extend_from_slice(args);
    String::from_utf8_lossy(&curl(&all).stdout).into_owned()
}

/// Projects in other languages test their own OAuth2 code against `mailtrip server`: its
/// JSON line names the authorization server (on the HTTP port, HTTPS with --http-tls), and
/// curl runs the whole device flow (start, visit the verification page, poll) and submits
/// mail with the token over XOAUTH2.
#[test]
fn mailtrip_server_json_names_the_oauth2_server_and_curl_runs_the_device_flow() {
    let dir = crate::util::scratch_dir("oauth-server");
    let ca = dir.join("ca.pem");
    let ca_arg = ca.display().to_string();
    let server = ServerProcess::start_quiet(&[
        "--user",
        "app@test.local:pw",
        "--http-tls",
        "--ca-out",
        &ca_arg,
    ]);
    let o = server.info["oauth2"]
        .as_str()
        .expect("oauth2 URL")
        .to_string();
    let http = server.info["http"].as_str().expect("http address");
    assert_eq!(o, format!("https://{http}/oauth2"), "on the HTTP port");
    assert_eq!(server.info["web"], format!("https://{http}/"));
    let ca = ca_arg;
    let device = json(curl(&[
        "--cacert",
        &ca,
        &format!("{o}/devicecode"),
        "-d",
        "client_id=my-app",
    ]));
    let poll = || {
        json(curl(&[
            "--cacert",
            &ca,
            &format!("{o}/token"),
            "-d",
            "client_id=my-app",
            "-d",
            "grant_type=urn:ietf:params:oauth:grant-type:device_code",
            "-d",
            &format!(
                "device_code={}",
                device["device_code"].as_str().expect("device_code")
            ),
        ]))
    };
    assert_eq!(poll()["error"], "authorization_pending");
    let page = curl(&[
        "--cacert",
        &ca,
        device["verification_uri_complete"]
            .as_str()
            .expect("complete URI"),
    ]);
    assert!(String::from_utf8_lossy(&page.stdout).contains("Signed in as app@test.local"));
    std::thread::sleep(Duration::from_secs(1));
    let token = poll();
    let access = token["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{token}"));
    let mail = dir.join("mail.txt");
    std::fs::write(&mail, "Subject: device flow\r\n\r\nhi\r\n").expect("mail");
    let port = server.info["submission"]
        .as_str()
        .and_then(|a| a.rsplit(':').next())
        .expect("port");
    let sent = curl(&[
        "--cacert",
        &ca,
        "--ssl-reqd",
        &format!("smtp://localhost:{port}"),
        "--mail-from",
        "app@test.local",
        "--mail-rcpt",
        "app@test.local",
        "--user",
        "app@test.local:",
        "--oauth2-bearer",
        access,
        "-T",
        &mail.display().to_string(),
    ]);
    util::succeeded("curl", &sent);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every OAuth2 fault and the token lifetime from outside Rust: `--fault` flags at start
/// (shown in the JSON line), then `PUT /api/v1/faults`, each answered as RFC 6749 / 8628 say,
/// over the default plain-HTTP loopback port.
#[test]
fn issue20_oauth2_faults_from_flags_and_the_http_api() {
    let server = ServerProcess::start_quiet(&[
        "--user",
        "app@test.local:pw",
        "--fault",
        "oauth2_pending=0",
        "--fault",
        "oauth2_token_lifetime=2s",
    ]);
    assert_eq!(
        server.info["faults"],
        json!({"oauth2_pending": 0, "oauth2_token_lifetime": "2s"})
    );
    let o = server.info["oauth2"]
        .as_str()
        .expect("oauth2 URL")
        .to_string();
    let api = server.info["api"].as_str().expect("api URL").to_string();
    assert!(o.starts_with("http://127.0.0.1:"), "{o}");
    let token = format!("{o}/token");
    let start = || {
        json(curl(&[
            &format!("{o}/devicecode"),
            "-d",
            "client_id=my-app",
        ]))
    };
    let poll = |device: &Value| {
        let code = format!(
            "device_code={}",
            device["device_code"].as_str().expect("code")
        );
        json(curl(&[
            &token,
            "-d",
            "client_id=my-app",
            "-d",
            "grant_type=urn:ietf:params:oauth:grant-type:device_code",
            "-d",
            &code,
        ]))
    };
    let refresh = |rt: &str| {
        json(curl(&[
            &token,
            "-d",
            "client_id=my-app",
            "-d",
            "grant_type=refresh_token",
            "-d",
            &format!("refresh_token={rt}"),
        ]))
    };
    let put = |body: &str| {
        json(curl(&[
            "-X",
            "PUT",
            &format!("{api}/faults"),
            "-H",
            "Content-Type: application/json",
            "-d",
            body,
        ]))
    };

    // oauth2_pending=0: the first poll consents; oauth2_token_lifetime=2s.
    let first = poll(&start());
    assert_eq!(first["expires_in"], 2, "{first}");
    let rt = first["refresh_token"].as_str().expect("refresh token");

    let set = put(r#"{"oauth2_invalid_grant": true}"#);
    assert_eq!(set, json!({"oauth2_invalid_grant": true}), "PUT replaces");
    assert_eq!(refresh(rt)["error"], "invalid_grant");
    put(r#"{"oauth2_denied": true, "oauth2_pending": 0}"#);
    assert_eq!(poll(&start())["error"], "access_denied");
    put(r#"{"oauth2_expired": true, "oauth2_pending": 0}"#);
    assert_eq!(poll(&start())["error"], "expired_token");
    put(r#"{"oauth2_slow_down": 1, "oauth2_pending": 0}"#);
    assert_eq!(poll(&start())["error"], "slow_down");
    assert_eq!(
        json(curl(&[&format!("{api}/faults")])),
        json!({"oauth2_pending": 0}),
        "the counted slow_down is used up"
    );
    put(r#"{"oauth2_pending": 3}"#);
    assert_eq!(poll(&start())["error"], "authorization_pending");

    // Cleared: the refused refresh token still works, with the default lifetime.
    let cleared = curl(&["-X", "DELETE", &format!("{api}/faults")]);
    assert!(cleared.status.success());
    let again = refresh(rt);
    assert_eq!(again["expires_in"], 3600, "{again}");
    drop(server);
}

/// With HTTP credentials (`--http-auth`, and always with `--allow-remote`) the token
/// endpoint stays reachable without them: OAuth2 clients authenticate themselves there (the
/// client secret in the body, as mailtrip sends it, or as HTTP Basic, as curl does here). But
/// consent is the user's sign-in: polls alone never consent, and the verification page asks
/// for the credentials (401 without). `mailtrip login` then completes, and `check` delivers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue20_with_http_credentials_consent_needs_them_and_the_token_endpoint_does_not() {
    let secret = "desktop-client-secret-5e0a";
    let config = ServerConfig {
        http_auth: HttpAuth::Basic {
            user: "dev".into(),
            password: "s3cret".to_string().into(),
        },
        ..ServerConfig::default()
    };
    let server = util::server_with(config.http_tls()).await;
    server.oauth().set_settings(OAuthSettings {
        pending_polls: 0,
        client_secret: Some(secret.to_string().into()),
        ..OAuthSettings::default()
    });
    let env = Env::new(
        &server,
        "httpauth",
        "outlook",
        "oauth2_client_secret_env = \"MT_CLIENT_SECRET\"\n",
    );
    let ca = env.dir.join("ca.pem").display().to_string();
    let mut login = tokio::process::Command::from(env.command(&["login", "--timeout", "60s"]));
    let mut child = login
        .env("MT_CLIENT_SECRET", secret)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start mailtrip login");
    let mut lines = tokio::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
    let (url, code) = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.split(", open ").nth(1)
                && let Some((url, code)) = rest.split_once(" and enter the code ")
            {
                return (url.to_string(), code.trim().to_string());
            }
        }
        panic!("mailtrip login ended without a code");
    })
    .await
    .expect("the code is printed");
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    // Polls (one a second) go on pending: nobody has consented.
    let polls = || server.oauth().stats().device_polls >= 2;
    crate::scenario::until("two device polls", polls).await;
    assert_eq!(server.oauth().stats().tokens_issued, 0);

    let page = format!("{url}?user_code={code}");
    let (ca2, page2) = (ca.clone(), page.clone());
    let refused = tokio::task::spawn_blocking(move || status(&["--cacert", &ca2, &page2]))
        .await
        .expect("join");
    assert_eq!(
        refused, "401",
        "the verification page wants the credentials"
    );
    let (ca2, page2) = (ca.clone(), page.clone());
    let consented =
        tokio::task::spawn_blocking(move || curl(&["--cacert", &ca2, "-u", "dev:s3cret", &page2]))
            .await
            .expect("join");
    assert!(
        String::from_utf8_lossy(&consented.stdout).contains(&format!("Signed in as {ALICE}")),
        "{consented:?}"
    );
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("login ends")
        .expect("login output");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(server.oauth().stats().tokens_issued, 1);

    // The token endpoint with HTTP Basic client authentication (not the side's credentials).
    let rt = env.stored()["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_string();
    let o = server.oauth2_url();
    let (ca2, api) = (ca.clone(), format!("{}/api/v1/messages", server.http_url()));
    let (refreshed, api_status) = tokio::task::spawn_blocking(move || {
        let basic = format!("{CLIENT_ID}:{secret}");
        let r = json(curl(&[
            "--cacert",
            &ca2,
            "-u",
            &basic,
            &format!("{o}/token"),
            "-d",
            "grant_type=refresh_token",
            "-d",
            &format!("refresh_token={rt}"),
        ]));
        (r, status(&["--cacert", &ca2, &api]))
    })
    .await
    .expect("join");
    assert!(refreshed["access_token"].is_string(), "{refreshed}");
    assert_eq!(api_status, "401", "the API still wants the credentials");

    env.exits(
        0,
        &["check", "--timeout", "20s"],
        &[("MT_CLIENT_SECRET", secret)],
    )
    .await;
}

/// The token endpoint is verified with the account's TLS options, as its SMTP and IMAP are:
/// without the server's CA the login stops at the certificate (nothing is sent), with
/// `--ca-file` it signs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue20_the_token_endpoint_is_verified_like_the_mail_ports() {
    let server = server_with(OAuthSettings::default()).await;
    let env = Env::new(&server, "verifytls", "outlook", "");
    let ca = env.dir.join("ca.pem").display().to_string();
    let text = std::fs::read_to_string(&env.config).expect("config");
    let without_ca: String = text
        .lines()
        .filter(|l| !l.starts_with("ca_file"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&env.config, without_ca).expect("config");

    let refused = env.run(&["login", "--timeout", "20s"]).await;
    assert_ne!(refused.code, 0, "{refused:?}");
    assert!(
        refused.stderr.contains("certificate verify failed"),
        "{refused:?}"
    );
    assert_eq!(server.oauth().stats().device_authorizations, 0);

    env.exits(0, &["login", "--ca-file", &ca], &[]).await;
}
