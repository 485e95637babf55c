//! Issue #20's browser flows through headless Chromium: PKCE with the authorization code,
//! and the device flow consented on its verification page.

use mailtrip::server::oauth::OAuthSettings;

use super::{Env, server_with};

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
