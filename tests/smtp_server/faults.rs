//! Injected SMTP faults as a client meets them: a verbatim AUTH rejection, greylisting,
//! delivery twice, a junk rule, a mangled body, a verb or the banner never answered, and a
//! connection dropped mid-session.

use std::time::Duration;

use mailtrip::server::gmail;
use tokio::io::{AsyncBufReadExt, AsyncReadExt};
use tokio::net::TcpStream;

use crate::util::smtp::{arrived, greeted, plain_auth, send_plain, split_received};
use crate::util::{self, ALICE, BOB, PASSWORD, WAIT};

#[tokio::test]
async fn auth_reject_fault_is_written_verbatim_with_crlf() {
    let server = util::server_with_fault(|f| {
        f.smtp_auth_reject = Some(gmail::SMTP_WEB_LOGIN_REQUIRED.into())
    })
    .await;
    let mut c = greeted(server.smtp_addr()).await;
    c.expect(
        &format!("AUTH PLAIN {}", plain_auth(ALICE, PASSWORD)),
        &format!(
            "{}\r\n",
            gmail::SMTP_WEB_LOGIN_REQUIRED.replace('\n', "\r\n")
        ),
    )
    .await;
}

#[tokio::test]
async fn greylisting_defers_the_first_attempt() {
    let server = util::server_with_fault(|f| f.greylist = true).await;
    let mut c = greeted(server.smtp_addr()).await;
    let greylisted = "451 4.7.1 Greylisted, please try again later\r\n";
    c.expect(&format!("MAIL FROM:<{ALICE}>"), "250 2.1.0 Ok\r\n")
        .await;
    c.expect(&format!("RCPT TO:<{BOB}>"), greylisted).await;
    c.expect(&format!("RCPT TO:<{BOB}>"), "250 2.1.5 Ok\r\n")
        .await;
    assert_eq!(
        c.cmd(&format!("RCPT TO:<{ALICE}>")).await,
        greylisted,
        "a new pair is greylisted too"
    );
}

#[tokio::test]
async fn deliver_twice_fault_stores_two_copies() {
    let server = util::server_with_fault(|f| f.deliver_twice = true).await;
    send_plain(&server, b"Subject: twice\r\n\r\nbody\r\n").await;
    let msgs = server
        .wait_for_messages(BOB, "INBOX", 2, WAIT)
        .await
        .expect("both copies delivered");
    assert_eq!(msgs.len(), 2);
    assert_eq!(
        split_received(&msgs[0].raw).1,
        split_received(&msgs[1].raw).1
    );
}

#[tokio::test]
async fn junk_rule_fault_files_in_junk() {
    let server = util::server_with_fault(|f| f.junk_rule = Some("X-Spam-Flag: YES".into())).await;
    send_plain(
        &server,
        b"Subject: spam\r\nX-Spam-Flag: YES\r\n\r\nbody\r\n",
    )
    .await;
    let junk = server
        .wait_for_messages(BOB, "Junk", 1, WAIT)
        .await
        .expect("filed in Junk");
    assert!(String::from_utf8_lossy(&junk[0].raw).contains("Subject: spam\r\n"));
    util::assert_empty(&server, BOB, "INBOX", "the junk rule files it in Junk");
}

#[tokio::test]
async fn append_footer_fault_mangles_the_body() {
    let server =
        util::server_with_fault(|f| f.append_footer = Some("-- sent via mangler".into())).await;
    send_plain(&server, b"Subject: footer\r\n\r\nbody\r\n").await;
    let (_, body) = arrived(&server).await;
    assert_eq!(
        body,
        b"Subject: footer\r\n\r\nbody\r\n-- sent via mangler\r\n"
    );
}

#[tokio::test]
async fn hang_on_data_never_answers() {
    let server = util::server_with_fault(|f| f.smtp_hang_on = Some("data".into())).await;
    let mut c = greeted(server.smtp_addr()).await;
    c.cmd(&format!("MAIL FROM:<{ALICE}>")).await;
    c.cmd(&format!("RCPT TO:<{BOB}>")).await;
    c.send(b"DATA\r\n").await;
    let mut line = String::new();
    let read = tokio::time::timeout(Duration::from_secs(1), c.io.read_line(&mut line)).await;
    assert!(
        read.is_err(),
        "answered DATA despite the hang fault: {line:?}"
    );
}

#[tokio::test]
async fn hang_on_greeting_sends_no_banner() {
    let server = util::server_with_fault(|f| f.smtp_hang_on = Some("GREETING".into())).await;
    let mut tcp = TcpStream::connect(server.smtp_addr())
        .await
        .expect("connect");
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(1), tcp.read(&mut buf)).await;
    assert!(read.is_err(), "got a banner: {read:?}");
}

#[tokio::test]
async fn drop_after_two_commands_closes_at_the_third() {
    let server = util::server_with_fault(|f| f.smtp_drop_after = Some(2)).await;
    let mut c = greeted(server.smtp_addr()).await;
    c.expect("NOOP", "250 2.0.0 Ok\r\n").await;
    c.send(b"NOOP\r\n").await;
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(WAIT, c.io.read(&mut buf))
        .await
        .expect("closed in time")
        .expect("clean close");
    assert_eq!(n, 0, "got {:?}", &buf[..n]);
}
