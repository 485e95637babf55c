//! Issue #15, mailboxes and APPEND: DELETE and RENAME so a rerun can recreate, subscriptions
//! with `\Noselect` parents, MULTIAPPEND with ESEARCH and LIST-EXTENDED, CATENATE, and a
//! literal longer than the line limit.

use super::*;
use crate::imap_raw::{ALICE, raw_logged_in, selected};
use crate::util::server;

#[tokio::test]
async fn issue_15_delete_and_rename_work_so_a_rerun_can_recreate() {
    let server = server().await;
    let mut raw = raw_logged_in(&server).await;
    raw.expect("c CREATE run/tmp", &["c OK CREATE completed\r\n"])
        .await;
    let v1 = uid_validity(&server, "run/tmp");
    raw.expect("d DELETE run/tmp", &["d OK DELETE completed\r\n"])
        .await;
    raw.expect("e CREATE run/tmp", &["e OK CREATE completed\r\n"])
        .await;
    let v2 = uid_validity(&server, "run/tmp");
    assert_ne!(v1, v2, "a recreated mailbox needs a new UIDVALIDITY");
    raw.expect("f RENAME run renamed", &["f OK RENAME completed\r\n"])
        .await;
    raw.expect(
        "g LIST \"\" renamed*",
        &[
            "* LIST (\\HasChildren) \"/\" \"renamed\"\r\n",
            "* LIST (\\HasNoChildren) \"/\" \"renamed/tmp\"\r\n",
            "g OK LIST completed\r\n",
        ],
    )
    .await;
    assert_eq!(uid_validity(&server, "renamed/tmp"), v2);
    // A parent with children becomes \Noselect; INBOX cannot go.
    raw.expect("h DELETE renamed", &["h OK DELETE completed\r\n"])
        .await;
    let r = raw.run("i LIST \"\" renamed").await;
    assert_eq!(
        r[0],
        "* LIST (\\HasChildren \\Noselect) \"/\" \"renamed\"\r\n"
    );
    let r = raw.run("j DELETE INBOX").await;
    assert!(r[0].starts_with("j NO [CANNOT] "), "{r:?}");
    raw.expect(
        "k RENAME nothere x",
        &["k NO [NONEXISTENT] Mailbox doesn't exist\r\n"],
    )
    .await;
    // A session whose selected mailbox another session deletes is told and let go, in IDLE
    // too, as Dovecot does ("Selected mailbox was deleted").
    raw.run("m CREATE gone").await;
    let mut other = raw_logged_in(&server).await;
    other.run("s SELECT gone").await;
    other.send(b"i IDLE\r\n").await;
    assert_eq!(other.line().await, "+ idling\r\n");
    raw.expect("n DELETE gone", &["n OK DELETE completed\r\n"])
        .await;
    assert_eq!(
        other.line().await,
        "* BYE Selected mailbox was deleted, have to disconnect.\r\n"
    );
    assert!(other.closed().await);
}

#[tokio::test]
async fn issue_15_subscriptions_follow_unsubscribe_and_show_noselect_parents() {
    let server = server().await;
    let mut raw = raw_logged_in(&server).await;
    raw.run("c CREATE p1/p2/p3").await;
    // CREATE made the parents: `%` finds the first level.
    raw.expect(
        "l LIST \"\" p%",
        &[
            "* LIST (\\HasChildren) \"/\" \"p1\"\r\n",
            "l OK LIST completed\r\n",
        ],
    )
    .await;
    raw.run("s SUBSCRIBE p1/p2/p3").await;
    raw.run("t SUBSCRIBE p1").await;
    raw.expect(
        "u LSUB \"\" p1/%",
        &[
            "* LSUB (\\Noselect) \"/\" \"p1/p2\"\r\n",
            "u OK LSUB completed\r\n",
        ],
    )
    .await;
    raw.expect(
        "v LSUB \"\" *",
        &[
            "* LSUB () \"/\" \"p1/p2/p3\"\r\n",
            "* LSUB () \"/\" \"p1\"\r\n",
            "v OK LSUB completed\r\n",
        ],
    )
    .await;
    raw.expect("w UNSUBSCRIBE p1", &["w OK UNSUBSCRIBE completed\r\n"])
        .await;
    raw.expect("x LSUB \"\" p1", &["x OK LSUB completed\r\n"])
        .await;
    raw.expect(
        "y LIST (SUBSCRIBED) \"\" *",
        &[
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"p1/p2/p3\"\r\n",
            "y OK LIST completed\r\n",
        ],
    )
    .await;
}

#[tokio::test]
async fn issue_15_multiappend_esearch_and_list_extended() {
    let server = server().await;
    let mut raw = raw_logged_in(&server).await;
    let (m1, m2) = ("Subject: one\r\n\r\n1\r\n", "Subject: two\r\n\r\n2\r\n");
    let line = format!(
        "a APPEND INBOX (\\Seen) {{{}+}}\r\n{m1} {{{}+}}\r\n{m2}",
        m1.len(),
        m2.len()
    );
    let r = raw.run(&line).await;
    let validity = uid_validity(&server, "INBOX");
    assert_eq!(
        r,
        [format!(
            "a OK [APPENDUID {validity} 1:2] APPEND completed\r\n"
        )]
    );
    raw.run("s SELECT INBOX").await;
    for (q, want) in [
        ("RETURN () ALL", "ALL 1:2"),
        ("RETURN (MIN MAX COUNT) SEEN", "MIN 1 MAX 1 COUNT 1"),
        ("RETURN (COUNT) UNSEEN", "COUNT 1"),
        ("RETURN (MIN) 1000", ""),
    ] {
        let r = raw.run(&format!("e SEARCH {q}")).await;
        let head = format!(
            "* ESEARCH (TAG \"e\"){}{want}\r\n",
            if want.is_empty() { "" } else { " " }
        );
        assert_eq!(r, [head, "e OK SEARCH completed\r\n".to_string()], "{q}");
    }
    let r = raw.run("u UID SEARCH RETURN (ALL) 1:*").await;
    assert_eq!(r[0], "* ESEARCH (TAG \"u\") UID ALL 1:2\r\n");
    raw.run("c CREATE lx/child").await;
    raw.run("d SUBSCRIBE lx/child").await;
    let r = raw
        .run("l LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (lx INBOX) RETURN (CHILDREN STATUS (MESSAGES UNSEEN))",
        )
        .await;
    assert_eq!(
        r,
        [
            "* LIST (\\HasChildren) \"/\" \"lx\" (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n",
            "* STATUS \"lx\" (MESSAGES 0 UNSEEN 0)\r\n",
            "l OK LIST completed\r\n"
        ]
    );
    let r = raw
        .run("m LIST \"\" \"*\" RETURN (SPECIAL-USE STATUS (MESSAGES))")
        .await;
    assert!(
        r.contains(&"* LIST (\\HasNoChildren \\Junk) \"/\" \"Junk\"\r\n".to_string()),
        "{r:?}"
    );
    assert!(
        r.contains(&"* STATUS \"INBOX\" (MESSAGES 2)\r\n".to_string()),
        "{r:?}"
    );
    let r = raw.run("n LIST (SPECIAL-USE) \"\" \"*\"").await;
    assert_eq!(
        r.len(),
        6,
        "five special-use folders and the tagged reply: {r:?}"
    );
    raw.expect(
        "o LIST (RECURSIVEMATCH) \"\" \"*\"",
        &["o BAD RECURSIVEMATCH needs another selection option\r\n"],
    )
    .await;
}

#[tokio::test]
async fn issue_15_catenate_assembles_from_text_and_imap_urls() {
    let server = server().await;
    let mut raw = selected(&server, &[NESTED]).await;
    let validity = uid_validity(&server, "INBOX");
    raw.run("c CREATE Out").await;
    let text = "\r\nnew body\r\n";
    let line = format!(
        "a APPEND Out (\\Seen) CATENATE (URL \"/INBOX;UIDVALIDITY={validity}/;UID=1/;SECTION=2.HEADER\" TEXT {{{}+}}\r\n{text} URL \"/INBOX/;UID=1/;SECTION=1/;PARTIAL=0.4\")",
        text.len()
    );
    let r = raw.run(&line).await;
    assert!(r[0].starts_with("a OK [APPENDUID "), "{r:?}");
    let stored = server.messages(ALICE, "Out").expect("out");
    assert_eq!(
        String::from_utf8_lossy(&stored[0].raw),
        "From: sub@domain.org\r\nDate: Sun, 12 Aug 2012 12:34:56 +0300\r\nSubject: submsg\r\nContent-Type: multipart/alternative; boundary=\"sub1\"\r\n\r\n\r\nnew body\r\nhell"
    );
    // A stale UIDVALIDITY names nothing; a missing mailbox asks the client to create it.
    raw.expect(
        "b APPEND Out CATENATE (URL \"/INBOX;UIDVALIDITY=1/;UID=1\")",
        &["b NO [BADURL /INBOX;UIDVALIDITY=1/;UID=1] Invalid or unknown URL\r\n"],
    )
    .await;
    raw.expect(
        "d APPEND Nope CATENATE (URL \"/INBOX/;UID=1\")",
        &["d NO [TRYCREATE] Mailbox doesn't exist\r\n"],
    )
    .await;
    assert_eq!(server.messages(ALICE, "Out").expect("out").len(), 1);
}

#[tokio::test]
async fn issue_15_a_literal_longer_than_the_line_limit_is_received() {
    let server = server().await;
    let mut raw = raw_logged_in(&server).await;
    let body = "x".repeat(76) + "\r\n";
    let msg = format!("Subject: big\r\n\r\n{}", body.repeat(2600));
    assert!(msg.len() > 200_000);
    raw.send(format!("a APPEND INBOX {{{}}}\r\n", msg.len()).as_bytes())
        .await;
    assert_eq!(raw.line().await, "+ Ready for literal data\r\n");
    // In pieces, as a slow client would: the line limit must not count them.
    for chunk in msg.as_bytes().chunks(16 * 1024) {
        raw.send(chunk).await;
    }
    raw.send(b"\r\n").await;
    let r = raw.until("a").await;
    assert!(r[0].starts_with("a OK [APPENDUID "), "{r:?}");
    raw.send(format!("b APPEND INBOX {{{}+}}\r\n", msg.len()).as_bytes())
        .await;
    raw.send(msg.as_bytes()).await;
    raw.send(b"\r\n").await;
    let r = raw.until("b").await;
    assert!(r[0].starts_with("b OK [APPENDUID "), "{r:?}");
    let stored = server.messages(ALICE, "INBOX").expect("inbox");
    assert_eq!(stored.len(), 2);
    assert!(stored.iter().all(|m| m.raw.as_ref() == msg.as_bytes()));
}
