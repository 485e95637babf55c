//! Independent IMAP clients against the embedded server: async-imap over verified TLS (LIST,
//! SELECT, FETCH, STORE, UID EXPUNGE, MOVE, IDLE, SEARCH, the Gmail profile), Python's imaplib
//! and curl.

use async_imap::types::{Name, NameAttribute};
use futures::{Stream, TryStreamExt};
use mailtrip::server::{Profile, ServerConfig, TestServer};
use tokio::net::TcpStream;
use tokio_native_tls::TlsStream;

use super::{probe, seed};
use crate::imap_raw::{ALICE, WAIT, ca_file, python_client, server_for};
use crate::util::{self, PASSWORD, imap_client, server, server_with, succeeded};

type Session = async_imap::Session<TlsStream<TcpStream>>;

async fn login(server: &TestServer, user: &str) -> Session {
    imap_client(server)
        .await
        .login(user, PASSWORD)
        .await
        .map_err(|(e, _)| e)
        .expect("login")
}

/// Alice logged in with INBOX selected.
async fn inbox(server: &TestServer) -> Session {
    let mut s = login(server, ALICE).await;
    s.select("INBOX").await.expect("select");
    s
}

/// Every item a command's response stream yields.
async fn all<T, S>(what: &str, response: async_imap::error::Result<S>) -> Vec<T>
where
    S: Stream<Item = async_imap::error::Result<T>>,
{
    response
        .unwrap_or_else(|e| panic!("{what}: {e}"))
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("{what} items: {e}"))
}

/// The folder `name` among `names` (a LIST's answer); fails the test if it is not listed.
fn listed<'a>(names: &'a [Name], name: &str) -> &'a Name {
    names
        .iter()
        .find(|n| n.name() == name)
        .unwrap_or_else(|| panic!("{name} is not listed"))
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
    let raws = seed(&server, "tag-", 3);
    let mut s = login(&server, ALICE).await;

    let names = all("list", s.list(Some(""), Some("*")).await).await;
    let junk = listed(&names, "Junk");
    assert!(junk.attributes().contains(&NameAttribute::Junk));
    assert_eq!(junk.delimiter(), Some("/"));
    assert!(names.iter().any(|n| n.name() == "INBOX"));

    let mbox = s.select("INBOX").await.expect("select");
    assert_eq!(mbox.exists, 3);
    assert_eq!(mbox.uid_next, Some(4));
    let status = server.store().status(ALICE, "INBOX").expect("status");
    assert_eq!(mbox.uid_validity, Some(status.uid_validity));

    let fetched = all(
        "uid fetch",
        s.uid_fetch(
            "2",
            "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (X-Mailtrip-Probe MESSAGE-ID)])",
        )
        .await,
    )
    .await;
    assert_eq!(fetched.len(), 1);
    let f = &fetched[0];
    assert_eq!(f.uid, Some(2));
    assert_eq!(f.size, Some(raws[1].len() as u32));
    assert!(f.internal_date().is_some());
    assert_eq!(
        f.header(),
        Some(&b"Message-ID: <tag-2@sender.test>\r\nX-Mailtrip-Probe: tag-2\r\n\r\n"[..])
    );

    let bodies = all("uid fetch body", s.uid_fetch("3", "BODY.PEEK[]").await).await;
    assert_eq!(
        bodies[0].body(),
        Some(&raws[2][..]),
        "byte-exact raw message"
    );
    assert!(!flags_of(&server, "INBOX", 3).contains(&"\\Seen".to_string()));

    // The key safety property: UID EXPUNGE removes only the targeted UID, even though
    // another message is also flagged \Deleted.
    for uid in ["1", "2"] {
        let updates = all("store", s.uid_store(uid, "+FLAGS.SILENT (\\Deleted)").await).await;
        assert!(updates.is_empty(), ".SILENT sends no FETCH");
    }
    let gone: Vec<u32> = all("uid expunge", s.uid_expunge("2").await).await;
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
    let s = inbox(&server).await;
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
async fn gmail_profile_lists_special_folders_and_expunge_archives() {
    let server = server_with(ServerConfig::default().profile(Profile::Gmail)).await;
    server
        .deliver_raw(ALICE, "INBOX", &probe("g", 1))
        .expect("seed");
    let mut s = login(&server, ALICE).await;
    let caps = s.capabilities().await.expect("caps");
    assert!(caps.has_str("X-GM-EXT-1"));
    let names = all("list", s.list(Some(""), Some("*")).await).await;
    let spam = listed(&names, "[Gmail]/Spam");
    assert!(spam.attributes().contains(&NameAttribute::Junk));
    let root = listed(&names, "[Gmail]");
    assert!(root.attributes().contains(&NameAttribute::NoSelect));
    s.select("INBOX").await.expect("select");
    all("store", s.uid_store("1", "+FLAGS (\\Deleted)").await).await;
    let gone: Vec<u32> = all("expunge", s.expunge().await).await;
    assert_eq!(gone, vec![1]);
    util::assert_empty(&server, ALICE, "INBOX", "the one message was expunged");
    let all_mail = server
        .messages(ALICE, "[Gmail]/All Mail")
        .expect("all mail");
    assert_eq!(all_mail.len(), 1);
}

#[tokio::test]
async fn search_by_header_date_or_and_not() {
    let server = server().await;
    seed(&server, "tag-", 3);
    let mut s = inbox(&server).await;
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
    let Some(server) = server_for("python3").await else {
        return;
    };
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
    let Some(server) = server_for("curl").await else {
        return;
    };
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
    succeeded("curl", &out);
    assert_eq!(out.stdout, raw);
}
