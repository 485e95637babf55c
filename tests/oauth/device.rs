//! Issue #20's device flow end to end: sign in, `check` over XOAUTH2, silent refresh after
//! expiry, a revoked sign-in, and the slow_down / denied / expired answers.

use std::time::Duration;

use mailtrip::server::oauth::{OAuthFaults, OAuthSettings};

use super::{ALICE, CLIENT_ID, Env, mode, server_with, server_with_token_lifetime};
use crate::util;

/// The issue's main path: device flow → tokens stored (0600) → `check` over XOAUTH2
/// delivered → the access token expires (the server then refuses it) → the next `check`
/// refreshes silently and delivers again; `verify` reports the method, expiry and scopes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_login_then_check_then_silent_refresh_after_expiry_issue_20() {
    let lifetime = Duration::from_secs(3);
    let server = server_with_token_lifetime(lifetime).await;
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
    let server = server_with_token_lifetime(lifetime).await;
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
        util::set_fault(&server, |f| f.oauth2 = faults);
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
