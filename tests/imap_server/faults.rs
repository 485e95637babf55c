//! Injected IMAP faults as a client meets them: a LOGIN refusal written verbatim, a command
//! or the greeting never answered, a connection dropped without a reply, Gmail's connection
//! limit, and the BYE at shutdown.

use std::time::Duration;

use mailtrip::server::gmail;

use crate::imap_raw::{ALICE, Raw, raw_logged_in};
use crate::util::{PASSWORD, server, server_with_fault, set_fault};

#[tokio::test]
async fn auth_reject_fault_reaches_the_client_verbatim() {
    let server = server_with_fault(|f| {
        f.imap_auth_reject = Some(gmail::IMAP_APP_PASSWORD_REQUIRED.to_string())
    })
    .await;
    let mut raw = Raw::greeted(&server).await;
    let refused = |tag: &str| format!("{tag} {}\r\n", gmail::IMAP_APP_PASSWORD_REQUIRED);
    raw.expect(
        &format!("a LOGIN {ALICE} \"{PASSWORD}\""),
        &[refused("a").as_str()],
    )
    .await;
    raw.expect(
        "b AUTHENTICATE PLAIN AGFsaWNlQG1haWx0cmlwLnRlc3QAeA==",
        &[refused("b").as_str()],
    )
    .await;
}

#[tokio::test]
async fn hang_on_fetch_never_answers_it() {
    let server = server().await;
    server
        .deliver_raw(ALICE, "INBOX", &super::probe("h", 1))
        .expect("seed");
    let mut raw = raw_logged_in(&server).await;
    raw.run("s SELECT INBOX").await;
    set_fault(&server, |f| f.imap_hang_on = Some("fetch".into()));
    raw.send(b"f UID FETCH 1 FLAGS\r\n").await;
    assert!(raw.silent_for(Duration::from_secs(1)).await);
}

#[tokio::test]
async fn drop_after_closes_without_reply() {
    let server = server_with_fault(|f| f.imap_drop_after = Some(2)).await;
    let mut raw = Raw::plain(server.imap_addr()).await;
    raw.line().await;
    raw.expect("a NOOP", &["a OK NOOP completed\r\n"]).await;
    raw.expect("b NOOP", &["b OK NOOP completed\r\n"]).await;
    raw.send(b"c NOOP\r\n").await;
    assert!(raw.closed().await);
}

#[tokio::test]
async fn connection_limit_refuses_login_like_gmail() {
    let server = server_with_fault(|f| f.max_imap_connections = Some(1)).await;
    let _first = raw_logged_in(&server).await;
    let mut second = Raw::greeted(&server).await;
    second
        .expect(
            &format!("a LOGIN {ALICE} \"{PASSWORD}\""),
            &[format!("a {}\r\n", gmail::IMAP_TOO_MANY_CONNECTIONS).as_str()],
        )
        .await;
}

#[tokio::test]
async fn shutdown_says_bye_and_greeting_hang_sends_nothing() {
    let server = server().await;
    let mut raw = raw_logged_in(&server).await;
    set_fault(&server, |f| f.imap_hang_on = Some("GREETING".into()));
    let mut mute = Raw::plain(server.imap_addr()).await;
    assert!(mute.silent_for(Duration::from_secs(1)).await);
    let stopping = tokio::spawn(server.shutdown());
    assert_eq!(raw.line().await, "* BYE Server shutting down\r\n");
    assert_eq!(raw.line().await, "", "connection closed after BYE");
    stopping.await.expect("shutdown completes");
}
