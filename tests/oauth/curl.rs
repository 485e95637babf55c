//! Issue #20 judged by curl as an independent client: PKCE verified by the authorization
//! server, and the token it issues works for curl's own XOAUTH2 SMTP submission.

use std::time::Duration;

use super::{ALICE, CLIENT_ID, Env, curl};
use crate::util;

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
    util::succeeded("curl", &sent);
    let got = server
        .wait_for_messages("bob@mailtrip.test", "INBOX", 1, Duration::from_secs(10))
        .await
        .expect("delivered");
    assert_eq!(got.len(), 1);
}
