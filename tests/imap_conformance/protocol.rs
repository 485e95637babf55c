//! Issue #15, the protocol around the commands: new keywords announced in FLAGS first, ID
//! with parameters, errors that name the command, and capabilities that match what is built.

use crate::imap_raw::{ALICE, Raw, raw_logged_in, selected};
use crate::util::{PASSWORD, server};

#[tokio::test]
async fn issue_15_new_keywords_are_announced_in_flags_first() {
    let server = server().await;
    let mut a = selected(&server, &["Subject: k\r\n\r\nx\r\n"]).await;
    let mut b = raw_logged_in(&server).await;
    b.run("s SELECT INBOX").await;
    a.expect("k STORE 1 +FLAGS ($hello)", &[
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $hello)\r\n",
            "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $hello \\*)] Flags permitted.\r\n",
            "* 1 FETCH (FLAGS (\\Recent $hello))\r\n",
            "k OK STORE completed\r\n"
        ]).await;
    b.expect("n NOOP", &[
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $hello)\r\n",
            "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $hello \\*)] Flags permitted.\r\n",
            "* 1 FETCH (UID 1 FLAGS ($hello))\r\n",
            "n OK NOOP completed\r\n"
        ]).await;
    // SELECT announces what is already in use.
    let r = b.run("t EXAMINE INBOX").await;
    assert_eq!(
        r[0],
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $hello)\r\n"
    );
}

#[tokio::test]
async fn issue_15_id_with_parameters_and_errors_naming_the_command() {
    let server = server().await;
    let mut raw = Raw::imaps(&server).await;
    raw.line().await;
    raw.expect(
        "i ID (\"name\" \"x\" \"version\" \"1.0\")",
        &["* ID (\"name\" \"mailtrip\")\r\n", "i OK ID completed\r\n"],
    )
    .await;
    raw.expect(
        "j ID ( \"name\" \"x\" )",
        &["* ID (\"name\" \"mailtrip\")\r\n", "j OK ID completed\r\n"],
    )
    .await;
    raw.run(&format!("l LOGIN {ALICE} \"{PASSWORD}\"")).await;
    raw.run("s SELECT INBOX").await;
    raw.expect(
        "u UID SEARCH BOGUS 1",
        &["u BAD Syntax error in UID SEARCH\r\n"],
    )
    .await;
    raw.expect("f FETCH 1 (BOGUS)", &["f BAD Syntax error in FETCH\r\n"])
        .await;
}

#[tokio::test]
async fn issue_15_capabilities_announce_what_is_implemented() {
    let server = server().await;
    let mut raw = Raw::imaps(&server).await;
    let greeting = raw.line().await;
    for cap in [
        "MULTIAPPEND",
        "CATENATE",
        "ESEARCH",
        "LIST-EXTENDED",
        "LIST-STATUS",
        "SPECIAL-USE",
        "BINARY",
        "SORT",
        "SORT=DISPLAY",
        "ESORT",
        "CONTEXT=SEARCH",
        "THREAD=REFERENCES",
        "THREAD=ORDEREDSUBJECT",
    ] {
        assert!(
            greeting.contains(&format!(" {cap} ")),
            "{cap} missing: {greeting}"
        );
    }
    for absent in ["CONDSTORE", "QRESYNC", "URLAUTH", "CONTEXT=SORT"] {
        assert!(
            !greeting.contains(&format!(" {absent} ")),
            "{absent} announced: {greeting}"
        );
    }
}
