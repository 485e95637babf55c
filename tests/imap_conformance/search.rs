//! Issue #15, SEARCH and friends: `\Recent` claimed by one session, searching decoded headers
//! and bodies with UTF-8 strings, SORT / ESORT / THREAD, and CONTEXT=SEARCH updates.

use crate::imap_raw::{ALICE, raw_logged_in, selected};
use crate::util::server;

#[tokio::test]
async fn issue_15_recent_is_claimed_by_one_session_and_searchable() {
    let server = server().await;
    for n in 1..=2 {
        server
            .deliver_raw(
                ALICE,
                "INBOX",
                format!("Subject: {n}\r\n\r\nx\r\n").as_bytes(),
            )
            .expect("seed");
    }
    let mut a = raw_logged_in(&server).await;
    // EXAMINE shows the recent messages but leaves them recent (as Dovecot does).
    let r = a.run("e EXAMINE INBOX").await;
    assert!(r.contains(&"* 2 RECENT\r\n".to_string()), "{r:?}");
    let r = a.run("s STATUS INBOX (RECENT)").await;
    assert_eq!(r[0], "* STATUS \"INBOX\" (RECENT 2)\r\n");
    let r = a.run("t SELECT INBOX").await;
    assert!(r.contains(&"* 2 RECENT\r\n".to_string()), "{r:?}");
    let r = a.run("u SEARCH NEW").await;
    assert_eq!(r[0], "* SEARCH 1 2\r\n");
    a.run("v STORE 1 +FLAGS (\\Seen)").await;
    assert_eq!(a.run("w SEARCH NEW").await[0], "* SEARCH 2\r\n");
    assert_eq!(a.run("x SEARCH OLD").await[0], "* SEARCH\r\n");
    let r = a.run("y FETCH 2 FLAGS").await;
    assert_eq!(r[0], "* 2 FETCH (FLAGS (\\Recent))\r\n");
    // Another session sees no recent messages; new mail is recent only for the first.
    let mut b = raw_logged_in(&server).await;
    let r = b.run("s SELECT INBOX").await;
    assert!(r.contains(&"* 0 RECENT\r\n".to_string()), "{r:?}");
    assert_eq!(b.run("o SEARCH OLD").await[0], "* SEARCH 1 2\r\n");
    server
        .deliver_raw(ALICE, "INBOX", b"Subject: 3\r\n\r\nx\r\n")
        .expect("deliver");
    a.expect(
        "n NOOP",
        &[
            "* 3 EXISTS\r\n",
            "* 3 RECENT\r\n",
            "n OK NOOP completed\r\n",
        ],
    )
    .await;
    b.expect(
        "n NOOP",
        &[
            "* 3 EXISTS\r\n",
            "* 0 RECENT\r\n",
            "n OK NOOP completed\r\n",
        ],
    )
    .await;
    let r = a.run("z STATUS INBOX (RECENT)").await;
    assert_eq!(r[0], "* STATUS \"INBOX\" (RECENT 0)\r\n");
}

#[tokio::test]
async fn issue_15_search_decodes_headers_bodies_and_utf8_strings() {
    let server = server().await;
    let mut raw = selected(
        &server,
        &[
            "From: user-from@domain.org\r\nSubject: =?UTF-8?Q?Caf=C3=A9_cr=C3=A8me?=\r\n\r\nplain\r\n",
            "From: <user-from (comment)@ (comment) domain.org>\r\nSubject: two\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nd=E9j=E0 vu\r\n",
            "From: Other <other@domain.org>\r\nSubject: three\r\nContent-Transfer-Encoding: base64\r\n\r\naGlkZGVuIHdvcmQ=\r\n",
        ],
    )
    .await;
    let search = |q: &str| format!("q SEARCH {q}");
    for (query, want) in [
        // 8-bit in an atom, as some clients send it, is read as UTF-8 (as Dovecot does).
        ("SUBJECT café".to_string(), "* SEARCH 1\r\n"),
        (
            "CHARSET UTF-8 SUBJECT {5}\r\nCafé".to_string(),
            "* SEARCH 1\r\n",
        ),
        (
            "CHARSET UTF-8 SUBJECT \"crème\"".to_string(),
            "* SEARCH 1\r\n",
        ),
        ("BODY \"déjà\"".to_string(), "* SEARCH 2\r\n"),
        ("BODY hidden".to_string(), "* SEARCH 3\r\n"),
        ("TEXT WORD".to_string(), "* SEARCH 3\r\n"),
        ("FROM user-from@domain.org".to_string(), "* SEARCH 1 2\r\n"),
        ("FROM other".to_string(), "* SEARCH 3\r\n"),
    ] {
        let line = search(&query);
        // A literal needs the continuation first; LITERAL+ lets us skip it, so use it.
        let line = line.replace("{5}\r\n", "{5+}\r\n");
        let got = raw.exchange(&line).await;
        assert_eq!(got, format!("{want}q OK SEARCH completed\r\n"), "{query}");
    }
    let got = raw.exchange("r SEARCH CHARSET KOI8-R SUBJECT x").await;
    assert_eq!(got, "* SEARCH\r\nr OK SEARCH completed\r\n");
    let got = raw.exchange("s SEARCH CHARSET X-NOPE SUBJECT x").await;
    assert_eq!(
        got,
        "s NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset\r\n"
    );
}

/// imaptest's sort-subject / sort-addresses fixtures, abridged.
#[tokio::test]
async fn issue_15_sort_esort_and_thread() {
    let server = server().await;
    let mut raw = selected(
        &server,
        &[
            "From: user2@domain2.org\r\nSubject: Re: b\r\nDate: Fri, 22 Feb 2008 02:00:00 +0200\r\nMessage-ID: <2@x>\r\nReferences: <1@x>\r\n\r\n22\r\n",
            "From: user1@domain1.org\r\nSubject: a\r\nDate: Fri, 22 Feb 2008 01:00:00 +0200\r\nMessage-ID: <1@x>\r\n\r\n1\r\n",
            "From: User0 <user3@domain1.org>\r\nSubject: [list] Fwd: a (fwd)\r\nDate: Fri, 22 Feb 2008 00:00:00 +0200\r\nMessage-ID: <3@x>\r\n\r\n333\r\n",
        ],
    )
    .await;
    for (q, want) in [
        ("(SUBJECT) UTF-8 ALL", "* SORT 2 3 1\r\n"),
        ("(REVERSE DATE) UTF-8 ALL", "* SORT 1 2 3\r\n"),
        ("(FROM) UTF-8 ALL", "* SORT 2 1 3\r\n"),
        ("(DISPLAYFROM) UTF-8 ALL", "* SORT 3 2 1\r\n"),
        ("(SIZE REVERSE ARRIVAL) US-ASCII 1:2", "* SORT 2 1\r\n"),
    ] {
        let r = raw.run(&format!("t SORT {q}")).await;
        assert_eq!(
            r,
            [want.to_string(), "t OK SORT completed\r\n".to_string()],
            "{q}"
        );
    }
    let r = raw
        .run("u UID SORT RETURN (MIN MAX COUNT) (SUBJECT) UTF-8 ALL")
        .await;
    assert_eq!(r[0], "* ESEARCH (TAG \"u\") UID MIN 2 MAX 1 COUNT 3\r\n");
    let r = raw.run("v THREAD REFERENCES UTF-8 ALL").await;
    // RFC 5256 3 step 5: the forward joins the thread of the message it forwards.
    assert_eq!(r, ["* THREAD (2 (3)(1))\r\n", "v OK THREAD completed\r\n"]);
    raw.expect(
        "w THREAD ORDEREDSUBJECT UTF-8 ALL",
        &["* THREAD (3 2)(1)\r\n", "w OK THREAD completed\r\n"],
    )
    .await;
}

#[tokio::test]
async fn issue_15_context_search_reports_updates_until_cancelled() {
    let server = server().await;
    let msgs: Vec<String> = (1..=3)
        .map(|n| format!("Subject: {n}\r\n\r\nx\r\n"))
        .collect();
    let refs: Vec<&str> = msgs.iter().map(String::as_str).collect();
    let mut raw = selected(&server, &refs).await;
    raw.expect(
        "c SEARCH RETURN (UPDATE ALL) SEEN",
        &["* ESEARCH (TAG \"c\")\r\n", "c OK SEARCH completed\r\n"],
    )
    .await;
    raw.expect(
        "s STORE 1,3 +FLAGS.SILENT (\\Seen)",
        &[
            "* ESEARCH (TAG \"c\") ADDTO (1 1,3)\r\n",
            "s OK STORE completed\r\n",
        ],
    )
    .await;
    raw.run("d STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    raw.expect(
        "e EXPUNGE",
        &[
            "* ESEARCH (TAG \"c\") REMOVEFROM (1 1)\r\n",
            "* 1 EXPUNGE\r\n",
            "e OK EXPUNGE completed\r\n",
        ],
    )
    .await;
    raw.expect("x CANCELUPDATE \"c\"", &["x OK CANCELUPDATE completed\r\n"])
        .await;
    raw.expect(
        "y STORE 1 +FLAGS.SILENT (\\Seen)",
        &["y OK STORE completed\r\n"],
    )
    .await;
}
