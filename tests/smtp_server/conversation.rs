//! Raw SMTP conversations that pin the server's exact replies: the state machine's refusals,
//! garbage and over-long lines, the error limit, pipelining with dot-stuffing, bare LFs, and
//! the 421 at shutdown.

use mailtrip::server::ServerConfig;

use crate::util::smtp::{arrived, connect, greeted, send_plain};
use crate::util::{self, ALICE, BOB};

const UNKNOWN: &str = "500 5.5.2 Command not recognized\r\n";

#[tokio::test]
async fn raw_conversation_exact_replies() {
    // Strict: the 550 for an unknown user is what this checks.
    let server = util::server_with(ServerConfig::default().strict_recipients()).await;
    let mut c = connect(server.smtp_addr()).await;
    c.expect(
        &format!("MAIL FROM:<{ALICE}>"),
        "503 5.5.1 Send EHLO/HELO first\r\n",
    )
    .await;
    let ehlo = c.ehlo().await;
    assert_eq!(
        ehlo,
        "250-localhost Hello client.test\r\n250-SIZE 26214400\r\n250-PIPELINING\r\n\
         250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-SMTPUTF8\r\n250-STARTTLS\r\n\
         250 AUTH PLAIN LOGIN XOAUTH2\r\n"
    );
    for (line, reply) in [
        ("XYZZY", UNKNOWN),
        ("noop", "250 2.0.0 Ok\r\n"),
        (
            &format!("RCPT TO:<{BOB}>"),
            "503 5.5.1 Need MAIL command\r\n",
        ),
        ("DATA", "503 5.5.1 Need MAIL command\r\n"),
        (
            "MAIL FROM:alice",
            "501 5.5.4 Syntax: MAIL FROM:<address>\r\n",
        ),
        ("mail from:<> size=100 body=8bitmime", "250 2.1.0 Ok\r\n"),
        ("MAIL FROM:<>", "503 5.5.1 Nested MAIL command\r\n"),
        ("DATA", "503 5.5.1 No valid recipients\r\n"),
        (
            "RCPT TO:<nobody@mailtrip.test>",
            "550 5.1.1 <nobody@mailtrip.test>: Recipient address rejected: User unknown\r\n",
        ),
        ("RSET", "250 2.0.0 Ok\r\n"),
        (
            "MAIL FROM:<a@b> SIZE=999999999",
            "552 5.3.4 Message size exceeds fixed maximum message size\r\n",
        ),
        (
            "VRFY bob",
            "252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery\r\n",
        ),
        ("HELP", "214 2.0.0 See RFC 5321\r\n"),
        ("HELO other.test", "250 localhost\r\n"),
        ("QUIT", "221 2.0.0 Bye\r\n"),
    ] {
        c.expect(line, reply).await;
    }
    assert_eq!(c.rest().await, b"");
}

#[tokio::test]
async fn garbage_gets_replies_and_the_server_keeps_serving() {
    let server = util::server().await;
    let mut c = connect(server.smtp_addr()).await;
    c.send(b"\x00\xff\xfe\x01garbage\r\n").await;
    assert_eq!(c.reply().await, UNKNOWN);
    c.send(b"NOOP \x00\r\n").await;
    assert_eq!(
        c.reply().await,
        "501 5.5.4 Control characters in command\r\n"
    );
    c.send(b"\xff\xff\xff\xff\r\n\r\n").await;
    assert_eq!(c.reply().await, UNKNOWN);
    assert_eq!(c.reply().await, UNKNOWN);
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    for _ in 0..3 {
        assert_eq!(c.reply().await, UNKNOWN);
    }
    // Binary noise without a line ending, then the peer vanishes mid-line.
    c.send(&[0u8, 0xff, 0x80, b'\r', 0x16, 0x03, 0x01]).await;
    drop(c);

    let mut second = greeted(server.smtp_addr()).await;
    second.expect("NOOP", "250 2.0.0 Ok\r\n").await;
}

#[tokio::test]
async fn too_many_errors_close_the_connection() {
    let server = util::server().await;
    let mut c = connect(server.smtp_addr()).await;
    c.send("XYZZY\r\n".repeat(20).as_bytes()).await;
    for _ in 0..20 {
        assert_eq!(c.reply().await, UNKNOWN);
    }
    assert_eq!(c.reply().await, "421 4.7.0 Too many errors\r\n");
}

#[tokio::test]
async fn oversize_line_is_rejected_and_the_session_recovers() {
    let server = util::server().await;
    let mut c = connect(server.smtp_addr()).await;
    let mut long = b"NOOP ".to_vec();
    long.extend(std::iter::repeat_n(b'a', 20_000));
    long.extend_from_slice(b"\r\nNOOP\r\n");
    c.send(&long).await;
    assert_eq!(c.reply().await, "500 5.5.6 Line too long\r\n");
    assert_eq!(c.reply().await, "250 2.0.0 Ok\r\n");
}

#[tokio::test]
async fn pipelined_transaction_with_dot_stuffing() -> Result<(), Box<dyn std::error::Error>> {
    // Strict: the 550 for an unknown user is what this checks.
    let server = util::server_with(ServerConfig::default().strict_recipients()).await;
    let mut c = greeted(server.smtp_addr()).await;
    c.send(
        format!(
            "MAIL FROM:<{ALICE}>\r\nRCPT TO:<{BOB}>\r\nRCPT TO:<nobody@mailtrip.test>\r\nDATA\r\n"
        )
        .as_bytes(),
    )
    .await;
    for want in [
        "250 2.1.0 Ok\r\n",
        "250 2.1.5 Ok\r\n",
        "550 5.1.1 <nobody@mailtrip.test>: Recipient address rejected: User unknown\r\n",
        "354 End data with <CR><LF>.<CR><LF>\r\n",
    ] {
        assert_eq!(c.reply().await, want);
    }
    c.send(b"Subject: dots\r\n\r\n..leading dot\r\n...\r\nlast\r\n.\r\nQUIT\r\n")
        .await;
    let queued = c.reply().await;
    assert!(queued.starts_with("250 2.0.0 Ok: queued as "), "{queued:?}");
    assert_eq!(c.reply().await, "221 2.0.0 Bye\r\n");

    let (received, body) = arrived(&server).await;
    assert_eq!(
        body.escape_ascii().to_string(),
        b"Subject: dots\r\n\r\n.leading dot\r\n..\r\nlast\r\n"
            .escape_ascii()
            .to_string()
    );
    let id = queued.trim_end().rsplit(' ').next().ok_or("no queue id")?;
    assert!(received.contains(&format!(" id {id}\r\n")), "{received:?}");
    assert!(received.contains("with ESMTP id"), "{received:?}");
    Ok(())
}

#[tokio::test]
async fn bare_lf_message_is_stored_with_crlf() {
    let server = util::server().await;
    send_plain(&server, b"Subject: lf\n\nline one\nline two\n").await;
    let (_, body) = arrived(&server).await;
    assert_eq!(body, b"Subject: lf\r\n\r\nline one\r\nline two\r\n");
}

#[tokio::test]
async fn shutdown_says_421() {
    let server = util::server().await;
    let mut c = greeted(server.smtp_addr()).await;
    server.shutdown().await;
    assert_eq!(c.reply().await, "421 4.3.2 Shutting down\r\n");
}
