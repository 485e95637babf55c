//! Listener policy and AUTH, byte for byte: implicit TLS on SMTPS, STARTTLS before AUTH on
//! submission (and nothing pipelined in the clear surviving it), the SASL exchanges with their
//! refusals, the close after three failures, and Gmail's XOAUTH2 error challenge.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::util::smtp::{Smtp, connect, greeted, plain_auth, smtps, starttls};
use crate::util::{self, ALICE, BOB, PASSWORD, upgrade};

const AUTHENTICATED: &str = "235 2.7.0 Authentication successful\r\n";
const AUTH_REQUIRED: &str = "530 5.7.0 Authentication required\r\n";
const BAD_CREDENTIALS: &str = "535 5.7.8 Authentication credentials invalid\r\n";

#[tokio::test]
async fn smtps_requires_auth_before_mail() {
    let server = util::server().await;
    let mut c = smtps(&server).await;
    let ehlo = c.ehlo().await;
    assert!(!ehlo.contains("STARTTLS"), "{ehlo:?}");
    assert!(
        ehlo.ends_with("250 AUTH PLAIN LOGIN XOAUTH2\r\n"),
        "{ehlo:?}"
    );
    let mail = format!("MAIL FROM:<{ALICE}>");
    c.expect(&mail, AUTH_REQUIRED).await;
    c.expect(
        &format!("AUTH PLAIN {}", plain_auth(ALICE, PASSWORD)),
        AUTHENTICATED,
    )
    .await;
    c.expect(&mail, "250 2.1.0 Ok\r\n").await;
}

#[tokio::test]
async fn submission_requires_starttls_then_auth() {
    let server = util::server().await;
    let mut c = connect(server.submission_addr()).await;
    let ehlo = c.ehlo().await;
    assert!(ehlo.ends_with("250 STARTTLS\r\n"), "{ehlo:?}");
    assert!(
        !ehlo.contains("AUTH"),
        "AUTH offered in the clear: {ehlo:?}"
    );
    let auth = format!("AUTH PLAIN {}", plain_auth(ALICE, PASSWORD));
    let mail = format!("MAIL FROM:<{ALICE}>");
    c.expect(&auth, "530 5.7.0 Must issue a STARTTLS command first\r\n")
        .await;
    c.expect(&mail, AUTH_REQUIRED).await;

    let mut tls = starttls(&server, server.submission_addr()).await;
    assert_eq!(
        tls.cmd(&auth).await,
        "503 5.5.1 Send EHLO first\r\n",
        "STARTTLS forgets the EHLO"
    );
    let ehlo = tls.ehlo().await;
    assert!(!ehlo.contains("STARTTLS"), "{ehlo:?}");
    assert!(ehlo.contains("AUTH PLAIN LOGIN XOAUTH2"), "{ehlo:?}");
    tls.expect(&mail, AUTH_REQUIRED).await;
    tls.expect("STARTTLS", "503 5.5.1 TLS already active\r\n")
        .await;
}

/// CVE-2011-0411: commands pipelined after STARTTLS in the clear must not run inside TLS.
#[tokio::test]
async fn starttls_discards_pipelined_plaintext() {
    let server = util::server().await;
    let mut c = greeted(server.smtp_addr()).await;
    c.send(b"STARTTLS\r\nNOOP\r\n").await;
    assert_eq!(c.reply().await, "220 2.0.0 Ready to start TLS\r\n");
    assert!(c.io.buffer().is_empty(), "a plaintext reply to NOOP");
    let mut tls = Smtp::new(upgrade(&server, c.io.into_inner()).await);
    // Were the NOOP executed, its `250 2.0.0 Ok` would arrive before the EHLO reply.
    let ehlo = tls.ehlo().await;
    assert!(
        ehlo.ends_with("250 AUTH PLAIN LOGIN XOAUTH2\r\n"),
        "{ehlo:?}"
    );
    tls.expect("NOOP", "250 2.0.0 Ok\r\n").await;
}

#[tokio::test]
async fn auth_plain_login_cancel_and_bad_base64() {
    let server = util::server().await;
    let mut c = greeted(server.smtp_addr()).await;
    for (line, reply) in [
        (
            "AUTH CRAM-MD5",
            "504 5.5.4 Unrecognized authentication type\r\n",
        ),
        ("AUTH PLAIN", "334 \r\n"),
        ("*", "501 5.7.0 Authentication aborted\r\n"),
        ("AUTH PLAIN !!!", "501 5.5.2 Cannot decode response\r\n"),
        ("AUTH LOGIN", "334 VXNlcm5hbWU6\r\n"),
        (&BASE64.encode(ALICE), "334 UGFzc3dvcmQ6\r\n"),
        (&BASE64.encode(PASSWORD), AUTHENTICATED),
        ("AUTH PLAIN =", "503 5.5.1 Already authenticated\r\n"),
    ] {
        c.expect(line, reply).await;
    }

    let mut c = greeted(server.smtp_addr()).await;
    c.expect("AUTH PLAIN", "334 \r\n").await;
    c.expect(&plain_auth(BOB, PASSWORD), AUTHENTICATED).await;
}

#[tokio::test]
async fn three_failed_auths_close_with_421() {
    let server = util::server().await;
    let mut c = greeted(server.smtp_addr()).await;
    let bad = format!("AUTH PLAIN {}", plain_auth(ALICE, "nope"));
    for _ in 0..2 {
        c.expect(&bad, BAD_CREDENTIALS).await;
    }
    c.send(format!("{bad}\r\n").as_bytes()).await;
    assert_eq!(c.reply().await, BAD_CREDENTIALS);
    assert_eq!(
        c.reply().await,
        "421 4.7.0 Too many authentication failures\r\n"
    );
    assert_eq!(c.rest().await, b"");
}

/// Gmail answers a bad XOAUTH2 token with a base64 JSON challenge, then 535 after an empty line.
#[tokio::test]
async fn xoauth2_bad_token_gets_gmail_style_error_challenge()
-> Result<(), Box<dyn std::error::Error>> {
    let server = util::server().await;
    server.add_oauth_token(ALICE, "good")?;
    let mut c = greeted(server.smtp_addr()).await;
    let bad = BASE64.encode(format!("user={ALICE}\x01auth=Bearer bad\x01\x01"));
    let challenge = c.cmd(&format!("AUTH XOAUTH2 {bad}")).await;
    let json = challenge
        .strip_prefix("334 ")
        .and_then(|s| s.strip_suffix("\r\n"))
        .ok_or("not a 334 challenge")?;
    let json: serde_json::Value = serde_json::from_slice(&BASE64.decode(json)?)?;
    assert_eq!(json["status"], "401");
    c.expect("", BAD_CREDENTIALS).await;
    c.expect("AUTH XOAUTH2", "334 \r\n").await;
    let good = BASE64.encode(format!("user={ALICE}\x01auth=Bearer good\x01\x01"));
    c.expect(&good, AUTHENTICATED).await;
    Ok(())
}
