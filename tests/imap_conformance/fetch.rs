//! Issue #15, FETCH: body sections of nested multiparts and attached messages (never NIL),
//! BODYSTRUCTURE / BODY / FULL, ENVELOPE with groups and source routes, and BINARY.

use super::*;
use crate::imap_raw::{Raw, raw_logged_in, selected};
use crate::util::server;

/// Fetches each `(section, data)` of message 1 as `BODY.PEEK[section]` (inside a fetch-att
/// list when `listed`) and asserts the server answers with `data` as that section's literal.
async fn assert_sections(raw: &mut Raw, cases: &[(&str, &str)], listed: bool) {
    for (i, (section, data)) in cases.iter().enumerate() {
        let tag = format!("f{i}");
        let att = format!("BODY.PEEK[{section}]");
        let att = if listed { format!("({att})") } else { att };
        let got = raw.exchange(&format!("{tag} FETCH 1 {att}")).await;
        assert_eq!(
            got,
            format!(
                "* 1 FETCH (BODY[{section}] {})\r\n{tag} OK FETCH completed\r\n",
                literal(data)
            ),
            "BODY[{section}]"
        );
    }
}

#[tokio::test]
async fn issue_15_body_sections_of_nested_multiparts_are_not_nil() {
    let server = server().await;
    let mut raw = selected(&server, &[NESTED]).await;
    let cases = [
        ("1", "hello\r\n"),
        (
            "1.MIME",
            "Content-Type: text/x-myown; charset=us-ascii\r\n\r\n",
        ),
        ("2.MIME", "Content-Type: message/rfc822\r\n\r\n"),
        (
            "2.HEADER",
            "From: sub@domain.org\r\nDate: Sun, 12 Aug 2012 12:34:56 +0300\r\nSubject: submsg\r\nContent-Type: multipart/alternative; boundary=\"sub1\"\r\n\r\n",
        ),
        ("2.1", "<p>Hello world</p>\r\n"),
        ("2.1.MIME", "Content-Type: text/html\r\n\r\n"),
        ("2.2", "Hello another world\r\n"),
    ];
    assert_sections(&mut raw, &cases, true).await;
    // The attached message as a whole, its text, and a part that does not exist.
    let got = raw
        .exchange("g FETCH 1 (BODY.PEEK[2] BODY.PEEK[2.TEXT]<0.17> BODY.PEEK[3])")
        .await;
    let inner_start = NESTED.find("From: sub@").expect("inner");
    let inner_end = NESTED.find("\r\n--foo bar--").expect("end");
    assert_eq!(
        got,
        format!(
            "* 1 FETCH (BODY[2] {} BODY[2.TEXT]<0> \"Sub MIME prologue\" BODY[3] NIL)\r\ng OK FETCH completed\r\n",
            literal(&NESTED[inner_start..inner_end])
        )
    );
}

#[tokio::test]
async fn issue_15_body_sections_of_message_rfc822_parts() {
    let server = server().await;
    let mut raw = selected(&server, &[RFC822_X2]).await;
    let inner1 = &RFC822_X2[RFC822_X2.find("From: user2").expect("inner")..];
    let inner2 = &RFC822_X2[RFC822_X2.find("From: sub").expect("inner")..];
    let cases = [
        ("1", inner1),
        (
            "1.HEADER",
            "From: user2@domain.org\r\nContent-Type: message/rfc822\r\n\r\n",
        ),
        ("1.TEXT", inner2),
        ("1.1", inner2),
        (
            "1.1.HEADER",
            "From: sub@domain.org\r\nSubject: submsg\r\n\r\n",
        ),
        ("1.1.1", "Hello world\r\n"),
        ("1.1.TEXT", "Hello world\r\n"),
    ];
    assert_sections(&mut raw, &cases, false).await;
}

#[tokio::test]
async fn issue_15_bodystructure_body_and_full_are_answered() {
    let server = server().await;
    let mut raw = selected(&server, &[NESTED, WITH_ATTACHMENT]).await;
    let got = raw.exchange("b FETCH 2 BODYSTRUCTURE").await;
    assert_eq!(
        got,
        "* 2 FETCH (BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 13 1 NIL NIL NIL NIL)(\"application\" \"pdf\" (\"name\" \"report.pdf\") NIL NIL \"base64\" 70 NIL (\"attachment\" (\"filename\" \"report.pdf\")) NIL NIL) \"mixed\" (\"boundary\" \"b1\") NIL NIL NIL))\r\nb OK FETCH completed\r\n"
    );
    let got = raw.exchange("c FETCH 1 BODY").await;
    assert_eq!(
        got,
        "* 1 FETCH (BODY ((\"text\" \"x-myown\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 7 1)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 298 (\"Sun, 12 Aug 2012 12:34:56 +0300\" \"submsg\" ((NIL NIL \"sub\" \"domain.org\")) ((NIL NIL \"sub\" \"domain.org\")) ((NIL NIL \"sub\" \"domain.org\")) NIL NIL NIL NIL NIL) ((\"text\" \"html\" NIL NIL NIL \"7bit\" 20 1)(\"text\" \"plain\" NIL NIL NIL \"7bit\" 21 1) \"alternative\") 18) \"mixed\"))\r\nc OK FETCH completed\r\n"
    );
    let got = raw.exchange("d FETCH 1:2 FULL").await;
    assert!(got.ends_with("d OK FETCH completed\r\n"), "{got}");
    assert_eq!(got.matches(" BODY ((").count(), 2, "{got}");
}

#[tokio::test]
async fn issue_15_envelope_keeps_groups_and_source_routes() {
    let server = server().await;
    let mut raw = selected(
        &server,
        &[
            "Date: Thu, 15 Feb 2007 01:02:03 +0200\r\nFrom: user@domain (Real Name)\r\nTo: group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;\r\nCc: group:;, group2: (foo) ;\r\n\r\nbody\r\n",
            "Date: Thu, 15 Feb 2007 01:02:03 +0200\r\nFrom: <@route:user@domain>\r\n\r\nbody\r\n",
        ],
    )
    .await;
    let got = raw.exchange("e FETCH 1:2 ENVELOPE").await;
    assert_eq!(
        got,
        "* 1 FETCH (ENVELOPE (\"Thu, 15 Feb 2007 01:02:03 +0200\" NIL ((\"Real Name\" NIL \"user\" \"domain\")) ((\"Real Name\" NIL \"user\" \"domain\")) ((\"Real Name\" NIL \"user\" \"domain\")) ((NIL NIL \"group\" NIL)(NIL NIL \"g1\" \"d1.org\")(NIL NIL \"g2\" \"d2.org\")(NIL NIL NIL NIL)(NIL NIL \"group2\" NIL)(NIL NIL \"g3\" \"d3.org\")(NIL NIL NIL NIL)) ((NIL NIL \"group\" NIL)(NIL NIL NIL NIL)(NIL NIL \"group2\" NIL)(NIL NIL NIL NIL)) NIL NIL NIL))\r\n\
         * 2 FETCH (ENVELOPE (\"Thu, 15 Feb 2007 01:02:03 +0200\" NIL ((NIL \"@route\" \"user\" \"domain\")) ((NIL \"@route\" \"user\" \"domain\")) ((NIL \"@route\" \"user\" \"domain\")) NIL NIL NIL NIL NIL))\r\n\
         e OK FETCH completed\r\n"
    );
}

#[tokio::test]
async fn issue_15_binary_fetch_decodes_and_literal8_append_keeps_nul_out_of_body() {
    let server = server().await;
    let mut raw = raw_logged_in(&server).await;
    let msg: &[u8] = b"From: user@domain.org\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n\x00-\xe4\r\n\r\n";
    // `tag APPEND INBOX` with `msg` as a LITERAL+ literal, `~` before it for a literal8.
    let append = |tag: &str, prefix: &str| {
        let mut line = format!("{tag} APPEND INBOX {prefix}{{{}+}}\r\n", msg.len()).into_bytes();
        line.extend_from_slice(msg);
        line.extend_from_slice(b"\r\n");
        line
    };
    raw.send(&append("a", "~")).await;
    let r = raw.until("a").await;
    assert!(r[0].starts_with("a OK [APPENDUID "), "{r:?}");
    raw.run("s SELECT INBOX").await;
    raw.send(b"f FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1] BODY.PEEK[1])\r\n")
        .await;
    let got = raw.until_bytes("f").await;
    let mut want = b"* 1 FETCH (BINARY.SIZE[1] 7 BINARY[1] ~{7}\r\n\x00-\xe4\r\n\r\n BODY[1] \"AC3kDQoNCg==\")\r\n".to_vec();
    want.extend_from_slice(b"f OK FETCH completed\r\n");
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&want)
    );
    assert_eq!(got, want);
    // A NUL in an ordinary literal is refused (RFC 3516 keeps NUL to literal8).
    raw.send(&append("b", "")).await;
    let r = raw.until("b").await;
    assert!(r[0].starts_with("b NO [UNKNOWN-CTE] "), "{r:?}");
}
