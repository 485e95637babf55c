//! Issue #15, the Gmail profile implements the X-GM-EXT-1 it advertises: thread and message
//! ids, labels as folders, X-GM-RAW search; without the profile the items are refused.

use mailtrip::server::{Profile, ServerConfig};

use crate::imap_raw::{ALICE, selected};
use crate::util::server_with;

#[tokio::test]
async fn issue_15_gmail_profile_implements_the_x_gm_ext_1_it_advertises() {
    let server = server_with(ServerConfig::default().profile(Profile::Gmail)).await;
    let reply = "From: Bob <bob@mailtrip.test>\r\nSubject: Re: plan\r\nMessage-ID: <r@x>\r\nReferences: <root@x>\r\n\r\nsounds good\r\n";
    let mut raw = selected(
        &server,
        &[
            "From: Alice <alice@mailtrip.test>\r\nSubject: plan\r\nMessage-ID: <root@x>\r\n\r\nlet us meet\r\n",
            reply,
        ],
    )
    .await;
    let got = raw.exchange("f FETCH 1:2 (X-GM-THRID X-GM-LABELS)").await;
    let lines: Vec<&str> = got.lines().collect();
    let thrid = |l: &str| {
        l.split("X-GM-THRID ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .map(str::to_string)
    };
    assert_eq!(
        thrid(lines[0]),
        thrid(lines[1]),
        "a reply shares its thread id: {got}"
    );
    assert!(lines[0].ends_with("X-GM-LABELS (\\Inbox))"), "{got}");
    let got = raw.exchange("m UID FETCH 2 X-GM-MSGID").await;
    let msgid: u64 = got
        .split("X-GM-MSGID ")
        .nth(1)
        .and_then(|r| r.split([')', ' ']).next())
        .and_then(|n| n.parse().ok())
        .expect("a numeric X-GM-MSGID");
    assert!(got.starts_with("* 2 FETCH (UID 2 X-GM-MSGID "), "{got}");
    // Labels are folders: adding one copies, removing \Inbox takes it out of INBOX.
    let got = raw
        .exchange("s UID STORE 2 +X-GM-LABELS (Projects \\Starred)")
        .await;
    assert_eq!(
        got,
        "* 2 FETCH (X-GM-LABELS (\\Inbox \\Starred \"Projects\") UID 2)\r\ns OK UID STORE completed\r\n"
    );
    assert_eq!(
        server
            .messages(ALICE, "Projects")
            .expect("label folder")
            .len(),
        1
    );
    assert_eq!(
        server
            .messages(ALICE, "[Gmail]/Starred")
            .expect("starred")
            .len(),
        1
    );
    let got = raw
        .exchange("t SEARCH X-GM-RAW \"in:projects from:bob\"")
        .await;
    assert_eq!(got, "* SEARCH 2\r\nt OK SEARCH completed\r\n");
    let got = raw
        .exchange(&format!("u UID SEARCH X-GM-MSGID {msgid}"))
        .await;
    assert_eq!(got, "* SEARCH 2\r\nu OK UID SEARCH completed\r\n");
    let got = raw
        .exchange("v SEARCH X-GM-RAW \"-subject:plan OR is:unread\"")
        .await;
    assert_eq!(got, "* SEARCH 1 2\r\nv OK SEARCH completed\r\n");
    let got = raw.exchange("w SEARCH X-GM-LABELS \\Starred").await;
    assert_eq!(got, "* SEARCH 2\r\nw OK SEARCH completed\r\n");
    let got = raw
        .exchange("x UID STORE 2 -X-GM-LABELS.SILENT (\\Inbox)")
        .await;
    assert_eq!(got, "* 2 EXPUNGE\r\nx OK UID STORE completed\r\n");
    assert_eq!(server.messages(ALICE, "INBOX").expect("inbox").len(), 1);

    // Without the Gmail profile the items are refused, not silently ignored.
    let plain = server_with(ServerConfig::default()).await;
    let mut raw = selected(&plain, &["Subject: x\r\n\r\nx\r\n"]).await;
    let got = raw.exchange("g FETCH 1 X-GM-MSGID").await;
    assert_eq!(got, "g BAD X-GM-EXT-1 items need the Gmail profile\r\n");
}
