//! The embedded IMAP server against real clients over real sockets: async-imap with verified
//! TLS, raw byte-level sessions for framing and error paths, faults, the Gmail profile, and
//! Python's imaplib and curl where installed.

use std::time::Duration;

use async_imap::types::NameAttribute;
use futures::TryStreamExt;
use mailtrip::server::{Faults, Profile, ServerConfig, TestServer, gmail};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_native_tls::TlsStream;

use crate::imap_raw::{
    ALICE, Raw, WAIT, ca_file, on_path, python_client, raw_logged_in, tls, upgrade,
};
use crate::util::{PASSWORD, server, server_with};

fn probe(tag: &str, n: usize) -> Vec<u8> {
    format!(
        "From: Mailtrip <probe@sender.test>\r\nTo: {ALICE}\r\nSubject: probe {n}\r\n\
         Date: Sun, 10 Mar 2024 12:00:00 +0000\r\nMessage-ID: <{tag}@sender.test>\r\n\
         X-Mailtrip-Probe: {tag}\r\n\r\nBody {n}\r\n..leading dot and trailing spaces  \r\n"
    )
    .into_bytes()
}

type Session = async_imap::Session<TlsStream<TcpStream>>;

async fn login(server: &TestServer, user: &str) -> Session {
    let mut client = async_imap::Client::new(tls(server, server.imaps_addr()).await);
    client
        .read_response()
        .await
        .expect("greeting read")
        .expect("greeting present");
    client
        .login(user, PASSWORD)
        .await
        .map_err(|(e, _)| e)
        .expect("login")
}

fn flags_of(server: &TestServer, folder: &str, uid: u32) -> Vec<String> {
    server
        .messages(ALICE, folder)
        .expect("messages")
        .into_iter()
        .find(|m| m.uid == uid)
        .map(|m| m.flags)
        .expect("message present")
}

#[tokio::test]
async fn async_imap_over_verified_tls_lists_fetches_expunges_and_moves() {
    let server = server().await;
    let raws: Vec<Vec<u8>> = (1..=3).map(|n| probe(&format!("tag-{n}"), n)).collect();
    for raw in &raws {
        server.deliver_raw(ALICE, "INBOX", raw).expect("seed");
    }
    let mut s = login(&server, ALICE).await;

    let names: Vec<_> = s
        .list(Some(""), Some("*"))
        .await
        .expect("list")
        .try_collect()
        .await
        .expect("list items");
    let junk = names
        .iter()
        .find(|n| n.name() == "Junk")
        .expect("Junk listed");
    assert!(junk.attributes().contains(&NameAttribute::Junk));
    assert_eq!(junk.delimiter(), Some("/"));
    assert!(names.iter().any(|n| n.name() == "INBOX"));

    let mbox = s.select("INBOX").await.expect("select");
    assert_eq!(mbox.exists, 3);
    assert_eq!(mbox.uid_next, Some(4));
    let status = server.store().status(ALICE, "INBOX").expect("status");
    assert_eq!(mbox.uid_validity, Some(status.uid_validity));

    let fetched: Vec<_> = s
        .uid_fetch(
            "2",
            "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (X-Mailtrip-Probe MESSAGE-ID)])",
        )
        .await
        .expect("uid fetch")
        .try_collect()
        .await
        .expect("fetch items");
    assert_eq!(fetched.len(), 1);
    let f = &fetched[0];
    assert_eq!(f.uid, Some(2));
    assert_eq!(f.size, Some(raws[1].len() as u32));
    assert!(f.internal_date().is_some());
    assert_eq!(
        f.header(),
        Some(&b"Message-ID: <tag-2@sender.test>\r\nX-Mailtrip-Probe: tag-2\r\n\r\n"[..])
    );

    let bodies: Vec<_> = s
        .uid_fetch("3", "BODY.PEEK[]")
        .await
        .expect("uid fetch body")
        .try_collect()
        .await
        .expect("body items");
    assert_eq!(
        bodies[0].body(),
        Some(&raws[2][..]),
        "byte-exact raw message"
    );
    assert!(!flags_of(&server, "INBOX", 3).contains(&"\\Seen".to_string()));

    // The key safety property: UID EXPUNGE removes only the targeted UID, even though
    // another message is also flagged \Deleted.
    for uid in ["1", "2"] {
        let updates: Vec<_> = s
            .uid_store(uid, "+FLAGS.SILENT (\\Deleted)")
            .await
            .expect("store")
            .try_collect()
            .await
            .expect("store items");
        assert!(updates.is_empty(), ".SILENT sends no FETCH");
    }
    let gone: Vec<u32> = s
        .uid_expunge("2")
        .await
        .expect("uid expunge")
        .try_collect()
        .await
        .expect("expunge items");
    assert_eq!(gone, vec![2], "sequence number 2 expunged");
    let left: Vec<u32> = server
        .messages(ALICE, "INBOX")
        .expect("inbox")
        .iter()
        .map(|m| m.uid)
        .collect();
    assert_eq!(left, vec![1, 3]);
    assert!(flags_of(&server, "INBOX", 1).contains(&"\\Deleted".to_string()));

    s.uid_mv("3", "Trash").await.expect("uid move");
    let trash = server.messages(ALICE, "Trash").expect("trash");
    assert_eq!(trash.len(), 1);
    assert_eq!(trash[0].raw.as_ref(), &raws[2][..]);
    assert_eq!(server.messages(ALICE, "INBOX").expect("inbox").len(), 1);
    s.logout().await.expect("logout");
}

#[tokio::test]
async fn idle_wakes_when_mail_arrives() {
    let server = std::sync::Arc::new(server().await);
    let mut s = login(&server, ALICE).await;
    s.select("INBOX").await.expect("select");
    let mut idle = s.idle();
    idle.init().await.expect("IDLE accepted with +");
    let deliverer = server.clone();
    let task = tokio::spawn(async move {
        tokio::task::yield_now().await;
        deliverer
            .deliver_raw(ALICE, "INBOX", &probe("idle", 1))
            .expect("deliver")
    });
    let (wait, _stop) = idle.wait_with_timeout(WAIT);
    let response = wait.await.expect("idle wait");
    match response {
        async_imap::extensions::idle::IdleResponse::NewData(data) => {
            let text = format!("{:?}", data.parsed());
            assert!(text.contains("Exists(1)"), "got {text}");
        }
        other => panic!("expected new data, got {other:?}"),
    }
    task.await.expect("deliver task");
    let mut s = idle.done().await.expect("DONE accepted");
    s.noop().await.expect("session usable after IDLE");
}

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
    assert_eq!(tls.cmd("d", "d NOOP").await, ["d OK NOOP completed\r\n"]);
    let caps = tls.cmd("e", "e CAPABILITY").await;
    assert!(caps[0].contains(" AUTH=PLAIN AUTH=XOAUTH2"), "{caps:?}");
    assert!(!caps[0].contains("STARTTLS"), "{caps:?}");
    let r = tls
        .cmd("f", &format!("f LOGIN {ALICE} \"{PASSWORD}\""))
        .await;
    assert!(r[0].starts_with("f OK "), "{r:?}");
    let r = tls.cmd("g", "g SELECT INBOX").await;
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
    assert_eq!(
        raw.cmd("a", "a FROBNICATE").await,
        ["a BAD Unknown command\r\n"]
    );
    assert_eq!(
        raw.cmd("b", "b FETCH 0:x FLAGS").await,
        ["b BAD Syntax error in FETCH\r\n"]
    );
    assert_eq!(
        raw.cmd("c", "c FETCH 1 FLAGS").await,
        ["c BAD Command not valid before authentication\r\n"]
    );
    let long = vec![b'x'; 70 * 1024];
    raw.send(&long).await;
    assert_eq!(raw.line().await, "* BAD Line too long\r\n");
    assert!(raw.closed().await);

    let mut other = raw_logged_in(&server).await;
    assert_eq!(
        other.cmd("f", "f FETCH 1 FLAGS").await,
        ["f BAD No mailbox selected\r\n"]
    );
    other.cmd("s", "s SELECT INBOX").await;
    assert_eq!(
        other.cmd("g", "g FETCH 5 FLAGS").await,
        ["g BAD Invalid message sequence number\r\n"]
    );
    assert_eq!(
        other.cmd("l", "l LIST \"\" \"\"").await,
        [
            "* LIST (\\Noselect) \"/\" \"\"\r\n",
            "l OK LIST completed\r\n"
        ]
    );
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
async fn gmail_profile_lists_special_folders_and_expunge_archives() {
    let server = server_with(ServerConfig::default().profile(Profile::Gmail)).await;
    server
        .deliver_raw(ALICE, "INBOX", &probe("g", 1))
        .expect("seed");
    let mut s = login(&server, ALICE).await;
    let caps = s.capabilities().await.expect("caps");
    assert!(caps.has_str("X-GM-EXT-1"));
    let names: Vec<_> = s
        .list(Some(""), Some("*"))
        .await
        .expect("list")
        .try_collect()
        .await
        .expect("names");
    let spam = names
        .iter()
        .find(|n| n.name() == "[Gmail]/Spam")
        .expect("spam");
    assert!(spam.attributes().contains(&NameAttribute::Junk));
    let root = names.iter().find(|n| n.name() == "[Gmail]").expect("root");
    assert!(root.attributes().contains(&NameAttribute::NoSelect));
    s.select("INBOX").await.expect("select");
    s.uid_store("1", "+FLAGS (\\Deleted)")
        .await
        .expect("store")
        .try_collect::<Vec<_>>()
        .await
        .expect("store items");
    let gone: Vec<u32> = s
        .expunge()
        .await
        .expect("expunge")
        .try_collect()
        .await
        .expect("expunged");
    assert_eq!(gone, vec![1]);
    assert!(server.messages(ALICE, "INBOX").expect("inbox").is_empty());
    let all = server
        .messages(ALICE, "[Gmail]/All Mail")
        .expect("all mail");
    assert_eq!(all.len(), 1);
}

#[tokio::test]
async fn auth_reject_fault_reaches_the_client_verbatim() {
    let server = server().await;
    server.set_faults(Faults {
        imap_auth_reject: Some(gmail::IMAP_APP_PASSWORD_REQUIRED.to_string()),
        ..Faults::default()
    });
    let mut raw = Raw::imaps(&server).await;
    raw.line().await;
    let r = raw
        .cmd("a", &format!("a LOGIN {ALICE} \"{PASSWORD}\""))
        .await;
    assert_eq!(r, [format!("a {}\r\n", gmail::IMAP_APP_PASSWORD_REQUIRED)]);
    let r = raw
        .cmd("b", "b AUTHENTICATE PLAIN AGFsaWNlQG1haWx0cmlwLnRlc3QAeA==")
        .await;
    assert_eq!(r, [format!("b {}\r\n", gmail::IMAP_APP_PASSWORD_REQUIRED)]);
}

#[tokio::test]
async fn hang_on_fetch_never_answers_it() {
    let server = server().await;
    server
        .deliver_raw(ALICE, "INBOX", &probe("h", 1))
        .expect("seed");
    let mut raw = raw_logged_in(&server).await;
    raw.cmd("s", "s SELECT INBOX").await;
    server.set_faults(Faults {
        imap_hang_on: Some("fetch".into()),
        ..Faults::default()
    });
    raw.send(b"f UID FETCH 1 FLAGS\r\n").await;
    assert!(raw.silent_for(Duration::from_secs(1)).await);
}

#[tokio::test]
async fn drop_after_closes_without_reply() {
    let server = server().await;
    server.set_faults(Faults {
        imap_drop_after: Some(2),
        ..Faults::default()
    });
    let mut raw = Raw::plain(server.imap_addr()).await;
    raw.line().await;
    assert_eq!(raw.cmd("a", "a NOOP").await, ["a OK NOOP completed\r\n"]);
    assert_eq!(raw.cmd("b", "b NOOP").await, ["b OK NOOP completed\r\n"]);
    raw.send(b"c NOOP\r\n").await;
    assert!(raw.closed().await);
}

#[tokio::test]
async fn connection_limit_refuses_login_like_gmail() {
    let server = server().await;
    server.set_faults(Faults {
        max_imap_connections: Some(1),
        ..Faults::default()
    });
    let _first = raw_logged_in(&server).await;
    let mut second = Raw::imaps(&server).await;
    assert!(second.line().await.starts_with("* OK "));
    let r = second
        .cmd("a", &format!("a LOGIN {ALICE} \"{PASSWORD}\""))
        .await;
    assert_eq!(r, [format!("a {}\r\n", gmail::IMAP_TOO_MANY_CONNECTIONS)]);
}

#[tokio::test]
async fn search_by_header_date_or_and_not() {
    let server = server().await;
    for n in 1..=3 {
        server
            .deliver_raw(ALICE, "INBOX", &probe(&format!("tag-{n}"), n))
            .expect("seed");
    }
    let mut s = login(&server, ALICE).await;
    s.select("INBOX").await.expect("select");
    let hits = s
        .uid_search("HEADER X-Mailtrip-Probe tag-2")
        .await
        .expect("search");
    assert_eq!(hits.into_iter().collect::<Vec<_>>(), vec![2]);
    let today = chrono::Local::now().format("%d-%b-%Y").to_string();
    let since = s.uid_search(format!("SINCE {today}")).await.expect("since");
    assert_eq!(since.len(), 3);
    let mut either: Vec<u32> = s
        .uid_search("OR SUBJECT \"probe 1\" SUBJECT \"probe 3\"")
        .await
        .expect("or")
        .into_iter()
        .collect();
    either.sort();
    assert_eq!(either, vec![1, 3]);
    let not: Vec<u32> = s
        .uid_search("NOT HEADER X-Mailtrip-Probe tag-1 UID 1:2")
        .await
        .expect("not")
        .into_iter()
        .collect();
    assert_eq!(not, vec![2]);
}

#[tokio::test]
async fn python_imaplib_searches_and_fetches_byte_exact() {
    if !on_path("python3") {
        eprintln!("python3 not on PATH; skipping");
        return;
    }
    let server = server().await;
    server
        .deliver_raw(ALICE, "INBOX", &probe("other", 1))
        .expect("seed");
    let raw = probe("py-tag", 2);
    server.deliver_raw(ALICE, "INBOX", &raw).expect("seed");
    let script = r#"
import imaplib, ssl, sys
ca, port, user, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
m = imaplib.IMAP4_SSL('localhost', port, ssl_context=ssl.create_default_context(cafile=ca))
m.login(user, pw)
m.select('INBOX')
typ, data = m.uid('SEARCH', 'HEADER', 'X-Mailtrip-Probe', 'py-tag')
uids = data[0].split()
assert typ == 'OK' and uids == [b'2'], (typ, data)
typ, data = m.uid('FETCH', uids[0], '(BODY.PEEK[])')
assert typ == 'OK', (typ, data)
sys.stdout.buffer.write(data[0][1])
m.logout()
"#;
    assert_eq!(python_client(&server, script).await, raw);
}

#[tokio::test]
async fn curl_fetches_a_message_by_uid() {
    if !on_path("curl") {
        eprintln!("curl not on PATH; skipping");
        return;
    }
    let server = server().await;
    let raw = probe("curl", 1);
    server.deliver_raw(ALICE, "INBOX", &raw).expect("seed");
    let ca = ca_file(&server);
    let url = format!(
        "imaps://localhost:{}/INBOX;UID=1",
        server.imaps_addr().port()
    );
    let out = tokio::process::Command::new("curl")
        .args(["-sS", "--max-time", "20", "--cacert"])
        .arg(&ca)
        .args(["-u", &format!("{ALICE}:{PASSWORD}"), &url])
        .output()
        .await
        .expect("curl runs");
    let _ = std::fs::remove_file(&ca);
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, raw);
}

#[tokio::test]
async fn other_sessions_changes_arrive_as_untagged_updates() {
    let server = server().await;
    for n in 1..=3 {
        server
            .deliver_raw(ALICE, "INBOX", &probe(&format!("u{n}"), n))
            .expect("seed");
    }
    let mut a = raw_logged_in(&server).await;
    a.cmd("s", "s SELECT INBOX").await;
    let mut b = raw_logged_in(&server).await;
    b.cmd("s", "s SELECT INBOX").await;
    b.cmd("d", "d UID STORE 1,3 +FLAGS.SILENT (\\Deleted)")
        .await;
    b.cmd("e", "e EXPUNGE").await;
    server
        .deliver_raw(ALICE, "INBOX", &probe("u4", 4))
        .expect("deliver");
    let r = a.cmd("n", "n NOOP").await;
    assert_eq!(
        r,
        [
            "* 3 EXPUNGE\r\n",
            "* 1 EXPUNGE\r\n",
            "* 2 EXISTS\r\n",
            // UID 2 was recent since SELECT; UID 4 is new to this read-write session.
            "* 2 RECENT\r\n",
            "n OK NOOP completed\r\n"
        ]
    );
    let r = a.cmd("f", "f FETCH 1:* (UID)").await;
    assert_eq!(
        r,
        [
            "* 1 FETCH (UID 2)\r\n",
            "* 2 FETCH (UID 4)\r\n",
            "f OK FETCH completed\r\n"
        ]
    );
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn authenticate_plain_with_continuation_and_xoauth2_both_ways() {
    let server = server().await;
    server.add_oauth_token(ALICE, "ya29.token").expect("token");

    let mut raw = Raw::imaps(&server).await;
    raw.line().await;
    raw.send(b"a AUTHENTICATE PLAIN\r\n").await;
    assert_eq!(raw.line().await, "+ \r\n");
    raw.send(format!("{}\r\n", b64(format!("\0{ALICE}\0{PASSWORD}").as_bytes())).as_bytes())
        .await;
    let r = raw.until("a").await;
    assert!(r[0].starts_with("a OK [CAPABILITY "), "{r:?}");

    let mut raw = Raw::imaps(&server).await;
    raw.line().await;
    let good = b64(format!("user={ALICE}\x01auth=Bearer ya29.token\x01\x01").as_bytes());
    let r = raw
        .cmd("b", &format!("b AUTHENTICATE XOAUTH2 {good}"))
        .await;
    assert!(r[0].starts_with("b OK [CAPABILITY "), "{r:?}");

    // Google's failure shape: a base64 JSON challenge, the client's empty line, then NO.
    let mut raw = Raw::imaps(&server).await;
    raw.line().await;
    let bad = b64(format!("user={ALICE}\x01auth=Bearer wrong\x01\x01").as_bytes());
    raw.send(format!("c AUTHENTICATE XOAUTH2 {bad}\r\n").as_bytes())
        .await;
    let challenge = raw.line().await;
    let json = challenge
        .strip_prefix("+ ")
        .and_then(|c| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(c.trim_end())
                .ok()
        })
        .expect("base64 challenge");
    assert!(String::from_utf8_lossy(&json).contains("\"status\":\"400\""));
    let r = raw.cmd("c", "").await;
    assert_eq!(
        r,
        ["c NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"]
    );
}

#[tokio::test]
async fn shutdown_says_bye_and_greeting_hang_sends_nothing() {
    let server = server().await;
    let mut raw = raw_logged_in(&server).await;
    server.set_faults(Faults {
        imap_hang_on: Some("GREETING".into()),
        ..Faults::default()
    });
    let mut mute = Raw::plain(server.imap_addr()).await;
    assert!(mute.silent_for(Duration::from_secs(1)).await);
    let stopping = tokio::spawn(server.shutdown());
    assert_eq!(raw.line().await, "* BYE Server shutting down\r\n");
    assert_eq!(raw.line().await, "", "connection closed after BYE");
    stopping.await.expect("shutdown completes");
}

#[tokio::test]
async fn fetch_without_peek_sets_seen_and_reports_flags() {
    let server = server().await;
    let raw_msg = probe("seen", 1);
    server.deliver_raw(ALICE, "INBOX", &raw_msg).expect("seed");
    let mut raw = raw_logged_in(&server).await;
    let r = raw.cmd("s", "s EXAMINE INBOX").await;
    assert!(
        r.contains(&"* OK [UNSEEN 1] First unseen.\r\n".to_string()),
        "{r:?}"
    );
    assert_eq!(
        r.last().map(String::as_str),
        Some("s OK [READ-ONLY] EXAMINE completed\r\n")
    );
    // Read-only: BODY[] does not set \Seen.
    raw.cmd("f", "f FETCH 1 BODY[TEXT]").await;
    assert!(
        server.messages(ALICE, "INBOX").expect("inbox")[0]
            .flags
            .is_empty()
    );
    raw.cmd("t", "t SELECT INBOX").await;
    let r = raw
        .cmd("g", "g FETCH 1 (BODY[HEADER.FIELDS (SUBJECT)])")
        .await;
    assert_eq!(
        r,
        [
            "* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {20}\r\n",
            "Subject: probe 1\r\n",
            "\r\n",
            // SELECT made the message \Recent in this session (RFC 3501 2.3.2).
            " FLAGS (\\Recent \\Seen))\r\n",
            "g OK FETCH completed\r\n"
        ]
    );
    assert!(server.messages(ALICE, "INBOX").expect("inbox")[0].has_flag("\\Seen"));
    let r = raw
        .cmd("h", "h STATUS INBOX (MESSAGES UNSEEN UIDNEXT RECENT)")
        .await;
    assert_eq!(
        r,
        [
            "* STATUS \"INBOX\" (MESSAGES 1 UNSEEN 0 UIDNEXT 2 RECENT 0)\r\n",
            "h OK STATUS completed\r\n"
        ]
    );
}
