//! Issue 17: mailtrip as a library in someone else's `cargo test` — `Wait` in both orders
//! (send then wait, arm then send), `since(now)` at INTERNALDATE's resolution, a timeout error
//! that names what it saw, `TestServer` on its own runtime (blocking clients, a plain
//! `#[test]`) and its parsed `wait_for`, `&str` patterns and typed errors.

use std::time::{Duration, SystemTime};

use lettre::message::header::ContentType;
use lettre::message::{Attachment, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, SmtpTransport, Tokio1Executor, Transport};
use mailtrip::Account;
use mailtrip::probe::{Wait, WaitError};
use mailtrip::server::{ServerConfig, TestServer, WaitForError};

use crate::util::{self, BOB, PASSWORD};

fn bob(server: &TestServer) -> Account {
    util::account(server, BOB)
}

fn mail(subject: &str, body: &str) -> lettre::Message {
    lettre::Message::builder()
        .from("App <noreply@app.test>".parse().expect("from"))
        .to(BOB.parse().expect("to"))
        .subject(subject)
        .body(body.to_string())
        .expect("message")
}

/// The app's account confirmation mail, its link carrying `token`.
fn confirm(token: &str) -> lettre::Message {
    mail(
        "Confirm your account",
        &format!("https://app.test/confirm?token={token}\n"),
    )
}

/// The app under test: lettre's async transport on the plain SMTP port.
async fn app_sends(server: &TestServer, m: lettre::Message) {
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(server.smtp_addr().port())
        .build()
        .send(m)
        .await
        .expect("the app's mail is accepted");
}

/// The app sends `m`, and the server has delivered it: bob's INBOX holds `total` messages.
async fn app_sent(server: &TestServer, m: lettre::Message, total: usize) {
    app_sends(server, m).await;
    server
        .wait_for_messages(BOB, "INBOX", total, Duration::from_secs(10))
        .await
        .expect("delivered");
}

/// A `Wait` in bob's mailbox for `subject`, for up to 10 s.
fn bob_waits(server: &TestServer, subject: &str) -> Wait {
    Wait::new(bob(server))
        .subject(subject)
        .timeout(Duration::from_secs(10))
}

/// The app under test with lettre's default, blocking transport.
fn app_sends_blocking(server: &TestServer, m: &lettre::Message) -> Result<(), String> {
    SmtpTransport::builder_dangerous("127.0.0.1")
        .port(server.smtp_addr().port())
        .timeout(Some(Duration::from_secs(5)))
        .build()
        .send(m)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Item 1: the natural order — the app sends, then the test waits — finds the mail (it
/// arrived before the wait started, inside the look-back window).
#[tokio::test]
async fn issue17_wait_run_finds_mail_the_app_sent_before_it() {
    let server = util::server().await;
    app_sent(&server, confirm("abc"), 1).await;
    let m = bob_waits(&server, "(?i)^confirm")
        .run()
        .await
        .expect("mail that arrived just before the wait matches");
    assert_eq!(m.links, ["https://app.test/confirm?token=abc"]);
    assert!(m.warnings.is_empty(), "{:?}", m.warnings);
}

/// Item 1: arm, then send, then await the handle; a look-alike that was already there is
/// not what comes back.
#[tokio::test]
async fn issue17_wait_arm_then_send_returns_only_the_new_mail() {
    let server = util::server().await;
    app_sent(&server, confirm("OLD"), 1).await;
    let armed = bob_waits(&server, "(?i)^confirm")
        .arm()
        .await
        .expect("armed");
    assert_eq!(armed.folder(), "INBOX");
    assert_eq!(armed.first_uid(), 2);
    app_sends(&server, confirm("NEW")).await;
    let m = armed.await.expect("the new mail");
    assert_eq!(m.uid, 2);
    assert_eq!(m.links, ["https://app.test/confirm?token=NEW"]);
}

/// Item 1: two look-alikes in the window — the earliest comes back and the warning says so.
#[tokio::test]
async fn issue17_wait_names_the_other_matches() {
    let server = util::server().await;
    for (n, token) in ["A", "B"].into_iter().enumerate() {
        let confirm = mail("Confirm", &format!("https://app.test/c?t={token}\n"));
        app_sent(&server, confirm, n + 1).await;
    }
    let m = bob_waits(&server, "Confirm").run().await.expect("match");
    assert_eq!(m.uid, 1);
    assert_eq!(
        m.warnings,
        ["2 messages matched; this is the earliest (UID 1), the others are UID 2"]
    );
}

/// Item 2: `since(now)` taken just before sending finds the mail every time, although
/// INTERNALDATE has whole seconds (it lost about 4 in 5 when compared with sub-seconds).
#[tokio::test]
async fn issue17_wait_since_now_finds_mail_sent_right_after_it_20_of_20() {
    let server = util::server().await;
    for i in 0..20 {
        let now = SystemTime::now();
        app_sends(&server, mail(&format!("code {i}"), "123456\n")).await;
        let m = bob_waits(&server, &format!("^code {i}$"))
            .since(now)
            .run()
            .await
            .unwrap_or_else(|e| panic!("round {i}: {e}"));
        assert_eq!(m.subject, format!("code {i}"));
    }
}

/// Item 1: the timeout error says a look-alike arrived before the window, and which other
/// mail arrived and did not match.
#[tokio::test]
async fn issue17_wait_timeout_names_earlier_and_non_matching_mail() {
    let server = util::server().await;
    let old = chrono::Local::now().fixed_offset() - chrono::Duration::hours(2);
    let raw = format!(
        "From: noreply@app.test\r\nTo: {BOB}\r\nSubject: Confirm your account\r\n\r\nold\r\n"
    );
    server
        .store()
        .append(BOB, "INBOX", raw.into(), Vec::new(), Some(old))
        .expect("old look-alike");
    app_sent(&server, mail("Weekly digest", "news\n"), 2).await;
    let err = bob_waits(&server, "(?i)^confirm")
        .timeout(Duration::from_secs(1))
        .run()
        .await
        .expect_err("nothing matches in the window");
    let text = err.to_string();
    match &err {
        WaitError::Timeout {
            seen,
            others,
            earlier,
            window,
            ..
        } => {
            assert_eq!(*seen, 1, "{text}");
            assert_eq!(others[0].subject, "Weekly digest", "{text}");
            assert_eq!(earlier.len(), 1, "{text}");
            assert_eq!(earlier[0].uid, 1, "{text}");
            assert!(window.is_some(), "{text}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        text.contains("1 other message arrived and did not match (UID 2 from noreply@app.test \"Weekly digest\""),
        "{text}"
    );
    assert!(
        text.contains("1 matching message arrived earlier, before "),
        "{text}"
    );
}

/// Item 3: a pattern is a `&str`; a bad one is a typed error before anything connects.
#[tokio::test]
async fn issue17_str_patterns_and_typed_pattern_errors() {
    let server = util::server().await;
    let err = Wait::new(bob(&server))
        .header("X-App", "(")
        .run()
        .await
        .expect_err("bad pattern");
    assert!(matches!(err, WaitError::Pattern(_)), "{err:?}");
    assert_eq!(err.to_string(), "invalid regular expression \"(\"");
    let err = server
        .wait_for(BOB)
        .subject("(")
        .await
        .expect_err("bad pattern");
    assert!(matches!(err, WaitForError::Pattern(_)), "{err:?}");
    let boxed: Box<dyn std::error::Error + Send + Sync> = err.into();
    assert!(boxed.source().is_some());
}

/// Item 2 (issue 17 #3): lettre's blocking transport inside a default, single-threaded
/// `#[tokio::test]`: the server answers from its own runtime instead of stalling.
#[tokio::test]
async fn issue17_blocking_client_in_a_current_thread_tokio_test() {
    let server = util::server().await;
    app_sends_blocking(
        &server,
        &mail("Confirm your account", "https://app.test/confirm?t=1\n"),
    )
    .expect("a blocking client is served");
    let m = server
        .wait_for(BOB)
        .from("app.test")
        .subject("(?i)confirm")
        .await
        .expect("caught");
    assert_eq!(m.folder, "INBOX");
    assert_eq!(m.uid, 1);
    assert!(m.internal_date.is_some());
    assert_eq!(m.links, ["https://app.test/confirm?t=1"]);
}

/// Item 2: no tokio at all in the test — start, send with a blocking client, read it back.
#[test]
fn issue17_plain_test_starts_the_server_and_reads_what_it_caught() {
    let server = TestServer::start_blocking(ServerConfig::default().with_user(BOB, PASSWORD))
        .expect("server");
    app_sends_blocking(&server, &mail("Your code", "Your code is 482913\n")).expect("sent");
    let m = server
        .wait_for(BOB)
        .subject("code")
        .blocking()
        .expect("caught");
    assert_eq!(
        m.extract(&"code".parse().expect("extract")).as_deref(),
        Some("482913")
    );
    let err = server
        .wait_for(BOB)
        .subject("nothing like it")
        .timeout(Duration::from_millis(200))
        .blocking()
        .expect_err("times out");
    assert!(err.is_timeout());
    assert!(
        err.to_string()
            .contains("1 other message arrived and did not match"),
        "{err}"
    );
}

/// Item 2: what the server caught comes back parsed: anchors with their text, attachments
/// with name, type and bytes — the same `Message` type `Wait` returns.
#[tokio::test]
async fn issue17_wait_for_parses_links_anchor_text_and_attachments() {
    let server = util::server().await;
    let html = r#"<p>Welcome!</p><a href="https://app.test/confirm?t=9&amp;u=1">Confirm <b>my</b> account</a>"#;
    let m = lettre::Message::builder()
        .from("noreply@app.test".parse().expect("from"))
        .to(BOB.parse().expect("to"))
        .subject("Welcome")
        .multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::html(html.to_string()))
                .singlepart(Attachment::new("terms.pdf".into()).body(
                    b"%PDF-1.4 terms".to_vec(),
                    ContentType::parse("application/pdf").expect("type"),
                )),
        )
        .expect("message");
    app_sends(&server, m).await;
    let got: mailtrip::probe::Message = server
        .wait_for(BOB)
        .subject("Welcome")
        .await
        .expect("caught");
    assert_eq!(got.anchors.len(), 1, "{got:#?}");
    assert_eq!(got.anchors[0].text, "Confirm my account");
    assert_eq!(
        got.link_with_text("confirm"),
        Some("https://app.test/confirm?t=9&u=1")
    );
    assert_eq!(got.attachments.len(), 1, "{got:#?}");
    assert_eq!(got.attachments[0].name.as_deref(), Some("terms.pdf"));
    assert_eq!(got.attachments[0].content_type, "application/pdf");
    assert_eq!(got.attachments[0].content, b"%PDF-1.4 terms");
    // The same message over IMAP parses the same way.
    let over_imap = bob_waits(&server, "Welcome")
        .run()
        .await
        .expect("over IMAP");
    assert_eq!(over_imap.attachments, got.attachments);
    assert_eq!(over_imap.anchors, got.anchors);
}

/// Item 3: every error the library API returns is a `std::error::Error`, so `?` works under
/// anyhow and `Box<dyn Error>` (`Sweep` returned a `Diagnosis` that was not one).
#[test]
fn issue17_library_errors_are_std_errors() {
    fn typed<E: std::error::Error + Send + Sync + 'static>() {}
    typed::<mailtrip::diagnose::Diagnosis>();
    typed::<mailtrip::probe::WaitError>();
    typed::<mailtrip::probe::ExtractError>();
    typed::<mailtrip::probe::PatternError>();
    typed::<mailtrip::probe::HeaderError>();
    typed::<mailtrip::server::WaitForError>();
    typed::<mailtrip::server::ServerError>();
    typed::<mailtrip::server::StoreError>();
    typed::<mailtrip::config::ConfigError>();
    typed::<mailtrip::config::EndpointError>();
    typed::<mailtrip::load::LoadError>();
    typed::<mailtrip::monitor::MonitorError>();
    fn sweep_errors_propagate(d: mailtrip::diagnose::Diagnosis) -> anyhow::Result<()> {
        Err(d)?
    }
    let d = mailtrip::diagnose::transport(
        mailtrip::diagnose::Code::ServerError,
        mailtrip::diagnose::Protocol::Imap,
        "imap.test:993",
        "boom",
    );
    let summary = d.summary.clone();
    let e = sweep_errors_propagate(d).expect_err("an error");
    assert_eq!(e.to_string(), summary);
}

/// A server with `fault` and one "Confirm" mail already in bob's INBOX, for `wait --delete`.
async fn confirm_in_inbox(fault: impl FnOnce(&mut mailtrip::server::Faults)) -> TestServer {
    let server = util::server_with_fault(fault).await;
    let mail = b"From: a@app.test\r\nSubject: Confirm\r\n\r\nx\r\n";
    server.deliver_raw(BOB, "INBOX", mail).expect("seed");
    server
}

/// Item 1 (truthful results): async-imap ends a command's answer silently when the server
/// closes the connection, so `delete(true)` said `deleted: true` for a message still there
/// (drop at UID STORE or EXPUNGE), and a body fetch cut off was "no body". Whichever command
/// the connection drops at, `deleted` is true exactly when the message is gone.
#[tokio::test]
async fn issue17_wait_delete_is_true_wherever_the_connection_drops() {
    for n in 3..12 {
        let server = confirm_in_inbox(|f| f.imap_drop_after = Some(n)).await;
        let r = Wait::new(bob(&server))
            .subject("Confirm")
            .delete(true)
            .timeout(Duration::from_secs(5))
            .run()
            .await;
        let gone = server.messages(BOB, "INBOX").expect("inbox").is_empty();
        match r {
            Ok(m) => {
                assert_eq!(m.deleted, gone, "drop after {n}: {m:#?}");
                assert!(
                    m.deleted,
                    "drop after {n}: the delete is retried once: {m:#?}"
                );
            }
            Err(e) => {
                assert!(!gone, "drop after {n}: {e}");
                assert!(
                    e.to_string().contains("connection closed"),
                    "drop after {n}: {e}"
                );
            }
        }
    }
}

/// Issue 21 (one cleanup): where expunge archives, `delete(true)` moves the match to `\Trash`
/// and purges it there, found by COPYUID. A server that answers MOVE without COPYUID left the
/// message in Trash with `deleted: false` and no word why; the result now says where it is.
#[tokio::test]
async fn issue21_wait_delete_says_where_a_message_moved_without_copyuid_was_left() {
    let server = confirm_in_inbox(|f| f.imap_no_copyuid = true).await;
    let mut account = bob(&server);
    account.expunge_archives = true;
    let m = Wait::new(account)
        .subject("Confirm")
        .delete(true)
        .timeout(Duration::from_secs(5))
        .run()
        .await
        .expect("matched");
    assert!(!m.deleted, "{m:#?}");
    assert_eq!(server.messages(BOB, "Trash").expect("trash").len(), 1);
    assert!(
        m.warnings
            .iter()
            .any(|w| w.contains("Trash") && w.contains("COPYUID")),
        "{m:#?}"
    );
}
