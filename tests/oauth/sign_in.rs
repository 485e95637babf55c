//! Issue #20's stored sign-in in use: `logout`, a login without a client id, `monitor` across
//! token lifetimes, and an account with no password source.

use std::time::Duration;

use mailtrip::server::oauth::OAuthSettings;

use super::{CLIENT_ID, Env, server_with, server_with_token_lifetime};
use crate::util;

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
    let lifetime = Duration::from_secs(2);
    let server = server_with_token_lifetime(lifetime).await;
    let route =
        "\n[[routes]]\nname = \"w\"\nfrom = \"work\"\ninterval = \"1s\"\ntimeout = \"5s\"\n";
    let env = Env::new(&server, "monitor", "outlook", route);
    assert_eq!(env.run(&["login"]).await.code, 0);
    let cmd = env.command(&["monitor", "--listen", "127.0.0.1:0"]);
    let monitor = crate::monitor::Running::spawn(cmd.into()).await;
    let started = std::time::Instant::now();
    let mut n = 0.0;
    while n < 5.0 {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "{n} delivered so far"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        n = delivered(&monitor.addr).await;
    }
    assert!(
        started.elapsed() > lifetime,
        "spanned more than one token lifetime"
    );
    drop(monitor); // kills it
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
