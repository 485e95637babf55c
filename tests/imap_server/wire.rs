//! Raw byte-level IMAP sessions: STARTTLS (and LOGINDISABLED before it), garbage and
//! over-long lines, synchronizing and oversized literals, another session's changes as
//! untagged updates, AUTHENTICATE both ways, and FETCH setting `\Seen`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use mailtrip::server::ServerConfig;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::{probe, seed};
use crate::imap_raw::{ALICE, Raw, raw_logged_in, upgrade};
use crate::util::{PASSWORD, server, server_with};

#[tokio::test]
async fn starttls_then_login_and_login_before_tls_is_refused() {
    let server = server().await;
    let tcp = TcpStream::connect(server.imap_addr())
        .await
        .expect("connect");
    let mut plain = BufReader::new(tcp);
    let mut line = String::new();
    plain.read_line(&mut line).await.expect("greeting");
    assert!(line.contains(" STARTTLS LOGINDISABLED"), "{line}");
    assert!(!line.contains("AUTH=PLAIN"), "{line}");
    line.clear();
    let login = format!("a LOGIN {ALICE} \"{PASSWORD}\"\r\n");
    plain
        .get_mut()
        .write_all(login.as_bytes())
        .await
        .expect("send");
    plain.read_line(&mut line).await.expect("reply");
    assert_eq!(
        line,
        "a NO [PRIVACYREQUIRED] Use STARTTLS before logging in.\r\n"
    );
    // A command pipelined after STARTTLS (in the clear) must be discarded, not run over TLS.
    line.clear();
    plain
        .get_mut()
        .write_all(b"b STARTTLS\r\nc NOOP\r\n")
        .await
        .expect("send");
    plain.read_line(&mut line).await.expect("reply");
    assert_eq!(line, "b OK Begin TLS negotiation now\r\n");
    assert!(plain.buffer().is_empty());
    let mut tls = Raw::new(Box::new(upgrade(&server, plain.into_inner()).await));
    // The first reply over TLS is for `d`: `c` was dropped with the plaintext buffer.
    tls.expect("d NOOP", &["d OK NOOP completed\r\n"]).await;
    let caps = tls.run("e CAPABILITY").await;
    assert!(caps[0].contains(" AUTH=PLAIN AUTH=XOAUTH2"), "{caps:?}");
    assert!(!caps[0].contains("STARTTLS"), "{caps:?}");
    let r = tls.run(&format!("f LOGIN {ALICE} \"{PASSWORD}\"")).await;
    assert!(r[0].starts_with("f OK "), "{r:?}");
    let r = tls.run("g SELECT INBOX").await;
    assert_eq!(
        r.last().map(String::as_str),
        Some("g OK [READ-WRITE] SELECT completed\r\n")
    );
}

#[tokio::test]
async fn garbage_gets_bad_and_other_connections_are_unaffected() {
    let server = server().await;
    let mut raw = Raw::plain(server.imap_addr()).await;
    raw.line().await;
    raw.send(b"\x00\xff\r\n").await;
    assert_eq!(raw.line().await, "* BAD Invalid tag or command\r\n");
    raw.expect("a FROBNICATE", &["a BAD Unknown command\r\n"])
        .await;
    raw.expect("b FETCH 0:x FLAGS", &["b BAD Syntax error in FETCH\r\n"])
        .await;
    raw.expect(
        "c FETCH 1 FLAGS",
        &["c BAD Command not valid before authentication\r\n"],
    )
    .await;
    let long = vec![b'x'; 70 * 1024];
    raw.send(&long).await;
    assert_eq!(raw.line().await, "* BAD Line too long\r\n");
    assert!(raw.closed().await);

    let mut other = raw_logged_in(&server).await;
    other
        .expect("f FETCH 1 FLAGS", &["f BAD No mailbox selected\r\n"])
        .await;
    other.run("s SELECT INBOX").await;
    other
        .expect(
            "g FETCH 5 FLAGS",
            &["g BAD Invalid message sequence number\r\n"],
        )
        .await;
    other
        .expect(
            "l LIST \"\" \"\"",
            &[
                "* LIST (\\Noselect) \"/\" \"\"\r\n",
                "l OK LIST completed\r\n",
            ],
        )
        .await;
}

#[tokio::test]
async fn literals_sync_for_login_and_oversized_ones_are_refused_before_continuation() {
    let server = server_with(ServerConfig {
        max_message_size: 1000,
        ..ServerConfig::default()
    })
    .await;
    let mut raw = Raw::imaps(&server).await;
    raw.line().await;
    assert_eq!(ALICE.len(), 19);
    raw.send(b"a LOGIN {19}\r\n").await;
    assert_eq!(raw.line().await, "+ Ready for literal data\r\n");
    raw.send(format!("{ALICE} \"{PASSWORD}\"\r\n").as_bytes())
        .await;
    let r = raw.until("a").await;
    assert!(r[0].starts_with("a OK [CAPABILITY "), "{r:?}");

    raw.send(b"b APPEND INBOX {5000}\r\n").await;
    assert_eq!(
        raw.line().await,
        "b NO [TOOBIG] Literal exceeds the 1000-byte limit\r\n"
    );
    // The session carries on, and LITERAL+ works for a message within the limit.
    let msg = probe("lit", 1);
    let mut append = format!("c APPEND INBOX (\\Seen) {{{}+}}\r\n", msg.len()).into_bytes();
    append.extend_from_slice(&msg);
    append.extend_from_slice(b"\r\n");
    raw.send(&append).await;
    let r = raw.until("c").await;
    assert!(r[0].starts_with("c OK [APPENDUID "), "{r:?}");
    let stored = server.messages(ALICE, "INBOX").expect("inbox");
    assert_eq!(stored[0].raw.as_ref(), &msg[..]);
    assert!(stored[0].has_flag("\\Seen"));
}

#[tokio::test]
async fn other_sessions_changes_arrive_as_untagged_updates() {
    let server = server().await;
    seed(&server, "u", 3);
    let mut a = raw_logged_in(&server).await;
    a.run("s SELECT INBOX").await;
    let mut b = raw_logged_in(&server).await;
    b.run("s SELECT INBOX").await;
    b.run("d UID STORE 1,3 +FLAGS.SILENT (\\Deleted)").await;
    b.run("e EXPUNGE").await;
    server
        .deliver_raw(ALICE, "INBOX", &probe("u4", 4))
        .expect("deliver");
    a.expect(
        "n NOOP",
        &[
            "* 3 EXPUNGE\r\n",
            "* 1 EXPUNGE\r\n",
            "* 2 EXISTS\r\n",
            // UID 2 was recent since SELECT; UID 4 is new to this read-write session.
            "* 2 RECENT\r\n",
            "n OK NOOP completed\r\n",
        ],
    )
    .await;
    a.expect(
        "f FETCH 1:* (UID)",
        &[
            "* 1 FETCH (UID 2)\r\n",
            "* 2 FETCH (UID 4)\r\n",
            "f OK FETCH completed\r\n",
        ],
    )
    .await;
}

#[tokio::test]
async fn authenticate_plain_with_continuation_and_xoauth2_both_ways() {
    let server = server().await;
    server.add_oauth_token(ALICE, "ya29.token").expect("token");

    let mut raw = Raw::greeted(&server).await;
    raw.send(b"a AUTHENTICATE PLAIN\r\n").await;
    assert_eq!(raw.line().await, "+ \r\n");
    let plain = BASE64.encode(format!("\0{ALICE}\0{PASSWORD}"));
    raw.send(format!("{plain}\r\n").as_bytes()).await;
    let r = raw.until("a").await;
    assert!(r[0].starts_with("a OK [CAPABILITY "), "{r:?}");

    let mut raw = Raw::greeted(&server).await;
    let good = BASE64.encode(format!("user={ALICE}\x01auth=Bearer ya29.token\x01\x01"));
    let r = raw.run(&format!("b AUTHENTICATE XOAUTH2 {good}")).await;
    assert!(r[0].starts_with("b OK [CAPABILITY "), "{r:?}");

    // Google's failure shape: a base64 JSON challenge, the client's empty line, then NO.
    let mut raw = Raw::greeted(&server).await;
    let bad = BASE64.encode(format!("user={ALICE}\x01auth=Bearer wrong\x01\x01"));
    raw.send(format!("c AUTHENTICATE XOAUTH2 {bad}\r\n").as_bytes())
        .await;
    let challenge = raw.line().await;
    let json = challenge
        .strip_prefix("+ ")
        .and_then(|c| BASE64.decode(c.trim_end()).ok())
        .expect("base64 challenge");
    assert!(String::from_utf8_lossy(&json).contains("\"status\":\"400\""));
    let r = raw.cmd("c", "").await;
    assert_eq!(
        r,
        ["c NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"]
    );
}

#[tokio::test]
async fn fetch_without_peek_sets_seen_and_reports_flags() {
    let server = server().await;
    server
        .deliver_raw(ALICE, "INBOX", &probe("seen", 1))
        .expect("seed");
    let mut raw = raw_logged_in(&server).await;
    let r = raw.run("s EXAMINE INBOX").await;
    assert!(
        r.contains(&"* OK [UNSEEN 1] First unseen.\r\n".to_string()),
        "{r:?}"
    );
    assert_eq!(
        r.last().map(String::as_str),
        Some("s OK [READ-ONLY] EXAMINE completed\r\n")
    );
    // Read-only: BODY[] does not set \Seen.
    raw.run("f FETCH 1 BODY[TEXT]").await;
    assert!(
        server.messages(ALICE, "INBOX").expect("inbox")[0]
            .flags
            .is_empty()
    );
    raw.run("t SELECT INBOX").await;
    raw.expect(
        "g FETCH 1 (BODY[HEADER.FIELDS (SUBJECT)])",
        &[
            "* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {20}\r\n",
            "Subject: probe 1\r\n",
            "\r\n",
            // SELECT made the message \Recent in this session (RFC 3501 2.3.2).
            " FLAGS (\\Recent \\Seen))\r\n",
            "g OK FETCH completed\r\n",
        ],
    )
    .await;
    assert!(server.messages(ALICE, "INBOX").expect("inbox")[0].has_flag("\\Seen"));
    raw.expect(
        "h STATUS INBOX (MESSAGES UNSEEN UIDNEXT RECENT)",
        &[
            "* STATUS \"INBOX\" (MESSAGES 1 UNSEEN 0 UIDNEXT 2 RECENT 0)\r\n",
            "h OK STATUS completed\r\n",
        ],
    )
    .await;
}
