//! Deep verification end to end against the embedded server: hop timeline and
//! Authentication-Results, every fate (inbox, spam, archive, bounce, duplicate, late,
//! changed content), `Wait` for mail something else sends, and `Sweep` of leftover probes.
//! One file past 600 lines on purpose: its sections (fates, wait, sweep, content) share the
//! probe-building helpers at the top; a section that grows moves to `tests/deep/`.

use std::time::Duration;

use mailtrip::Check;
use mailtrip::analyze::auth_results::Outcome;
use mailtrip::report::{Phase, Placement, Verdict};
use mailtrip::server::{Faults, TestServer};

use crate::scenario::{
    ALICE, BOB, account, assert_cleaned, assert_failed, faulty, late_then_delivered, probe_ids,
    run, the_late_warning,
};
use crate::util::{self, PASSWORD};

/// A check from `from` to `to` with the default 20 s deadline, to adjust before [`run`].
fn check(server: &TestServer, from: &str, to: &str) -> Check {
    Check::new(account(server, from), account(server, to)).timeout(Duration::from_secs(20))
}

/// How many messages in `user`'s `folder` contain `text`.
fn holding(server: &TestServer, user: &str, folder: &str, text: &str) -> usize {
    probe_ids(server, user, folder, text).len()
}

#[tokio::test]
async fn timeline_has_hops_without_skew_and_auth_is_none() {
    let server = util::server().await;
    let r = run(check(&server, ALICE, BOB)).await;
    assert_eq!(r.verdict, Verdict::Delivered, "{r:#?}");
    let t = r.timeline.as_ref().expect("timeline");
    assert!(!t.hops.is_empty(), "{t:#?}");
    assert!(t.warnings.is_empty(), "{t:#?}");
    assert!(t.submitted.is_some() && t.arrived.is_some(), "{t:#?}");
    assert_eq!(t.hops[0].by.as_deref(), Some("localhost"), "{t:#?}");
    let a = r.auth.as_ref().expect("auth");
    assert_eq!(
        (a.spf, a.dkim, a.dmarc, a.arc),
        (Outcome::None, Outcome::None, Outcome::None, Outcome::None)
    );
    let json = serde_json::to_value(&r).expect("json");
    assert_eq!(json["auth"]["spf"], "none");
    assert!(json["timeline"]["hops"][0]["by"].is_string(), "{json}");
}

#[tokio::test]
async fn gmail_style_authentication_results_are_parsed() {
    let server = faulty(Faults {
        authentication_results: Some(
            "mx.google.com;\r\n       dkim=pass header.i=@mailtrip.test header.s=s1 header.b=AbC123;\r\n       \
             spf=pass (google.com: domain of alice@mailtrip.test designates 127.0.0.1 as permitted sender) \
             smtp.mailfrom=alice@mailtrip.test;\r\n       dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=mailtrip.test"
                .into(),
        ),
        ..Faults::default()
    })
    .await;
    let r = run(check(&server, ALICE, BOB)).await;
    assert_eq!(r.verdict, Verdict::Delivered, "{r:#?}");
    let a = r.auth.as_ref().expect("auth");
    assert_eq!(
        (a.spf, a.dkim, a.dmarc),
        (Outcome::Pass, Outcome::Pass, Outcome::Pass)
    );
    assert_eq!(a.arc, Outcome::None);
    assert_eq!(a.headers[0].authserv_id, "mx.google.com");
    let human = render_human(&r);
    assert!(
        human.contains("auth: spf=pass dkim=pass dmarc=pass arc=none (by mx.google.com)"),
        "{human}"
    );
    assert!(human.contains("hops:"), "{human}");
}

fn render_human(r: &mailtrip::Report) -> String {
    crate::scenario::render(mailtrip::render::Format::Human, r)
}

#[tokio::test]
async fn junk_rule_is_spam() {
    let server = util::server_with_fault(|f| f.junk_rule = Some("mailtrip probe".into())).await;
    let r = run(check(&server, ALICE, BOB)).await;
    assert_eq!(r.verdict, Verdict::DeliveredToSpam, "{r:#?}");
    assert_eq!(r.placement, Some(Placement::Spam));
    assert_eq!(r.exit_code(), 1);
}

#[tokio::test]
async fn archive_rule_is_archived_and_cleaned() {
    let server = util::server_with_fault(|f| f.archive_rule = Some("mailtrip probe".into())).await;
    let r = run(check(&server, ALICE, BOB)).await;
    assert_eq!(r.verdict, Verdict::Delivered, "{r:#?}");
    assert_eq!(r.placement, Some(Placement::Archive), "{r:#?}");
    assert_eq!(r.evidence.mailbox.as_deref(), Some("Archive"));
    assert_eq!(r.exit_code(), 1);
    assert!(
        r.warnings.iter().any(|w| w.contains("skipped INBOX")),
        "{r:#?}"
    );
    assert_cleaned(&server, BOB, "Archive", &r);
    assert!(render_human(&r).contains("DELIVERED TO ARCHIVE (Archive)"));
}

#[tokio::test]
async fn a_bounce_to_the_sender_is_bounced_with_status_and_diagnostic() {
    let reply = "550 5.1.1 <bob@mailtrip.test>: Recipient address rejected: User unknown in local recipient table";
    let server = util::server_with_fault(|f| f.bounce = Some(reply.into())).await;
    // A → B: the DSN lands in alice's INBOX, watched for bounces.
    let r = run(check(&server, ALICE, BOB)).await;
    assert_eq!(r.verdict, Verdict::Bounced, "{r:#?}");
    assert_eq!(r.exit_code(), 2);
    let b = r.evidence.bounce.as_ref().expect("bounce");
    assert_eq!(b.status.as_deref(), Some("5.1.1"));
    assert_eq!(
        b.diagnostic.as_deref(),
        Some(format!("smtp; {reply}").as_str())
    );
    assert_eq!(b.mailbox, "INBOX");
    let e = assert_failed(
        &r,
        Verdict::Bounced,
        Phase::Delivery,
        mailtrip::diagnose::Code::RecipientRejected,
    );
    assert!(
        e.diagnosis.summary.starts_with("the probe bounced"),
        "{e:#?}"
    );
    // The DSN is the user's mail now: left alone.
    assert_eq!(holding(&server, ALICE, "INBOX", "multipart/report"), 1);

    // Send-to-self: the bounce comes back to the watched INBOX itself.
    let r = run(check(&server, ALICE, ALICE)).await;
    assert_eq!(r.verdict, Verdict::Bounced, "{r:#?}");
    assert_eq!(
        r.evidence.bounce.as_ref().and_then(|b| b.status.as_deref()),
        Some("5.1.1")
    );
}

#[tokio::test]
async fn two_copies_are_a_visible_duplicate_warning() {
    let server = util::server_with_fault(|f| f.deliver_twice = true).await;
    let r = run(check(&server, ALICE, BOB)).await;
    assert_eq!(r.verdict, Verdict::Delivered, "{r:#?}");
    assert_eq!(r.evidence.copies, 2);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.starts_with("duplicate: 2 copies")),
        "{r:#?}"
    );
    assert_cleaned(&server, BOB, "INBOX", &r);
}

#[tokio::test]
async fn an_appended_footer_is_a_content_mismatch() {
    let server =
        util::server_with_fault(|f| f.append_footer = Some("-- \r\nScanned by ExampleGate".into()))
            .await;
    let r = run(check(&server, ALICE, BOB)).await;
    assert_eq!(r.verdict, Verdict::ContentMismatch, "{r:#?}");
}

#[tokio::test]
async fn a_probe_past_its_timeout_is_reported_late_by_the_next_check() {
    let server = util::server_with_fault(|f| {
        f.delivery_delay = Some((Duration::from_secs(3), Duration::from_secs(3)))
    })
    .await;
    let (first, second) = late_then_delivered(&server, "INBOX", Duration::from_secs(20)).await;
    the_late_warning(&second, &first);
    // A later check reports it but does not delete another run's probe.
    assert_eq!(holding(&server, BOB, "INBOX", &first.probe_id), 1);
}

// ---- wait ----

/// Sends a message the way an app would: a separate SMTP client (lettre) on the relay port.
async fn app_sends(
    server: &TestServer,
    to: &str,
    subject: &str,
    body: &str,
    extra: Option<(&str, &str)>,
) {
    use lettre::message::header::{HeaderName, HeaderValue};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
    let mut b = Message::builder()
        .from("App <noreply@app.test>".parse().expect("from"))
        .to(to.parse().expect("to"))
        .subject(subject);
    if let Some((name, value)) = extra {
        b = b.raw_header(HeaderValue::new(
            HeaderName::new_from_ascii(name.to_string()).expect("name"),
            value.to_string(),
        ));
    }
    let m = b.body(body.to_string()).expect("message");
    let smtp = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(server.smtp_addr().port())
        .build();
    smtp.send(m).await.expect("the app's mail is accepted");
}

/// The app sent a confirmation mail (`body`) before any wait started; returns once it landed.
async fn stale_confirmation(server: &TestServer, body: &str) {
    app_sends(server, BOB, "Confirm your account", body, None).await;
    server
        .wait_for_messages(BOB, "INBOX", 1, Duration::from_secs(10))
        .await
        .expect("stale mail lands");
}

/// A 1 s wait for a confirmation with no look-back: asserts it times out, and returns why.
async fn confirmation_wait_times_out(server: &TestServer) -> mailtrip::probe::WaitError {
    let w = mailtrip::Wait::new(account(server, BOB))
        .subject(regex::Regex::new("Confirm").expect("regex"))
        .look_back(Duration::ZERO)
        .timeout(Duration::from_secs(1));
    let err = crate::scenario::wait(w)
        .await
        .expect_err("nothing from before the wait matches");
    assert!(err.is_timeout(), "{err}");
    err
}

/// Arms `wait` (only mail arriving from now on matches) and awaits it in the background.
async fn start_wait(
    wait: mailtrip::Wait,
) -> tokio::task::JoinHandle<Result<mailtrip::probe::Message, mailtrip::probe::WaitError>> {
    let armed = wait.arm().await.expect("the wait is armed");
    tokio::spawn(std::future::IntoFuture::into_future(armed))
}

/// A mail the app sends to bob: subject, body and an extra header.
type AppMail<'a> = (&'a str, &'a str, Option<(&'a str, &'a str)>);

/// Arms `wait`, then the app sends `mails` to bob in order; returns what the wait matched.
async fn matched_after(
    server: &TestServer,
    wait: mailtrip::Wait,
    mails: &[AppMail<'_>],
) -> mailtrip::probe::Message {
    let handle = start_wait(wait).await;
    for &(subject, body, extra) in mails {
        app_sends(server, BOB, subject, body, extra).await;
    }
    handle.await.expect("join").expect("matched")
}

#[tokio::test]
async fn wait_matches_only_mail_sent_after_it_started_and_extracts_link_and_code() {
    let server = util::server().await;
    // Stale: the same kind of mail, delivered before the wait started. It must not match.
    stale_confirmation(
        &server,
        "Confirm your account: https://app.test/confirm?token=STALE\nYour code: 111111\n",
    )
    .await;
    let wait = mailtrip::Wait::new(account(&server, BOB))
        .from("noreply@app.test")
        .to(BOB)
        .subject(regex::Regex::new("(?i)^confirm").expect("regex"))
        .timeout(Duration::from_secs(20));
    // Something else first, then the real one.
    let mails = [
        ("Weekly digest", "https://app.test/digest\n", None),
        (
            "Confirm your account",
            "Welcome!\nConfirm your account: https://app.test/confirm?token=abc123\nYour code: 482913\n",
            None,
        ),
    ];
    let m = matched_after(&server, wait, &mails).await;
    assert_eq!(m.subject, "Confirm your account");
    assert_eq!(m.from, ["noreply@app.test"]);
    assert_eq!(m.links, ["https://app.test/confirm?token=abc123"], "{m:#?}");
    for (expr, want) in [
        ("link:confirm", "https://app.test/confirm?token=abc123"),
        ("code", "482913"),
        ("code:token=(\\w+)", "abc123"),
    ] {
        let e = expr.parse::<mailtrip::probe::Extract>().expect(expr);
        assert_eq!(m.extract(&e).as_deref(), Some(want), "{expr}");
    }
    assert!(!m.deleted);
    assert_eq!(m.auth.spf, Outcome::None);
    let json = serde_json::to_value(&m).expect("json");
    assert!(json["headers"].as_array().is_some_and(|h| !h.is_empty()));
    assert!(json["text"].as_str().is_some_and(|t| t.contains("Welcome")));
    assert_eq!(server.messages(BOB, "INBOX").expect("inbox").len(), 3);
}

#[tokio::test]
async fn wait_times_out_on_stale_mail_alone() {
    let server = util::server().await;
    stale_confirmation(&server, "https://app.test/confirm?token=STALE\n").await;
    // Without a look-back window (as `mailtrip wait` runs without --since), stale mail never
    // matches, and the timeout says a look-alike arrived before the wait.
    let err = confirmation_wait_times_out(&server).await;
    assert!(
        err.to_string()
            .contains("1 matching message arrived earlier, before the wait started (UID 1"),
        "{err}"
    );
}

/// `--since` reaches back before the wait started, but no further than it says: mail from
/// two hours ago stays out, mail from a minute ago matches (the race when an app sends before
/// the test starts waiting).
#[tokio::test]
async fn wait_since_matches_recent_mail_from_before_the_start_but_not_older() {
    let server = util::server().await;
    let old = chrono::Local::now().fixed_offset() - chrono::Duration::hours(2);
    let raw = |token: &str| {
        bytes::Bytes::from(format!(
            "From: noreply@app.test\r\nTo: {BOB}\r\nSubject: Confirm your account\r\n\r\nhttps://app.test/confirm?token={token}\r\n"
        ))
    };
    server
        .store()
        .append(BOB, "INBOX", raw("OLD"), Vec::new(), Some(old))
        .expect("old mail");
    server
        .store()
        .append(BOB, "INBOX", raw("RECENT"), Vec::new(), None)
        .expect("recent mail");
    let since = chrono::Local::now().fixed_offset() - chrono::Duration::minutes(10);
    let msg = mailtrip::Wait::new(account(&server, BOB))
        .subject(regex::Regex::new("Confirm").expect("regex"))
        .since(since)
        .timeout(Duration::from_secs(5))
        .run()
        .await
        .expect("the recent message matches");
    assert!(
        msg.text.as_deref().unwrap_or("").contains("token=RECENT"),
        "{msg:?}"
    );
    // Without --since or a look-back window, neither is new.
    confirmation_wait_times_out(&server).await;
}

#[tokio::test]
async fn wait_delete_removes_exactly_the_match() {
    let server = util::server().await;
    for i in 0..3 {
        let raw = format!(
            "From: friend@x.test\r\nTo: {BOB}\r\nSubject: keep me {i}\r\nX-App: signup\r\n\r\nhello\r\n"
        );
        server
            .deliver_raw(BOB, "INBOX", raw.as_bytes())
            .expect("seed");
    }
    let wait = mailtrip::Wait::new(account(&server, BOB))
        .header("X-App", regex::Regex::new("^signup$").expect("regex"))
        .from("app.test")
        .delete(true)
        .timeout(Duration::from_secs(20));
    let mails = [
        ("Not this one", "x\n", Some(("X-App", "newsletter"))),
        ("Sign up", "https://app.test/s\n", Some(("X-App", "signup"))),
    ];
    let m = matched_after(&server, wait, &mails).await;
    assert_eq!(m.subject, "Sign up");
    assert!(m.deleted, "{m:#?}");
    let left: Vec<String> = server
        .messages(BOB, "INBOX")
        .expect("inbox")
        .iter()
        .map(|m| util::header(&m.raw, "Subject").unwrap_or_default())
        .collect();
    assert_eq!(
        left,
        ["keep me 0", "keep me 1", "keep me 2", "Not this one"]
    );
}

#[tokio::test]
async fn the_wait_binary_extracts_a_flask_style_confirmation_link() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let server = util::server().await;
    let dir = util::scratch_dir("wait");
    let ca = util::write_ca(&server, &dir);
    let mut child = tokio::process::Command::from(util::mailtrip_command())
        .args([
            "wait",
            "--imap",
            &crate::util::imap_url(&server),
            "--user",
            BOB,
            "--ca-file",
        ])
        .arg(&ca)
        .args([
            "--subject",
            "Confirm",
            "--extract",
            "link",
            "--timeout",
            "20s",
        ])
        .env("MAILTRIP_PASSWORD", PASSWORD)
        .env("HOME", &dir)
        .env_remove("MAILTRIP_CONFIG")
        .env_remove("MAILTRIP_ACCOUNT")
        .env_remove("MAILTRIP_PROVIDER")
        .current_dir(&dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("mailtrip wait starts");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let ready = stderr.next_line().await.expect("stderr").expect("a line");
    assert!(ready.contains("waiting"), "{ready}");
    // The test plays the Flask app: its signup view sends the confirmation mail.
    app_sends(
        &server,
        BOB,
        "Confirm your account",
        "Confirm your account: https://app.test/confirm?token=abc123\n",
        None,
    )
    .await;
    let out = child.wait_with_output().await.expect("mailtrip wait ends");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "https://app.test/confirm?token=abc123\n"
    );
}

// ---- sweep ----

/// A complete probe (UUID tag whose first 8 hex digits the subject carries, a body matching
/// its digest), labelled `name` in a header of its own so the test can find it again.
fn probe_raw(
    from: &str,
    name: &str,
    subject: &str,
    sent: chrono::DateTime<chrono::Utc>,
) -> Vec<u8> {
    use sha2::Digest;
    let short = subject.rsplit(' ').next().unwrap_or_default();
    let n: u64 = name.bytes().map(u64::from).sum();
    let tag = format!("{short}-0000-7000-8000-{n:012}");
    let body = format!("a genuine probe body for {tag}");
    let digest: String = sha2::Sha256::digest(body.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "From: {from}\r\nTo: {from}\r\nSubject: {subject}\r\nMessage-ID: <{tag}@mailtrip.test>\r\n\
         X-Test-Name: {name}\r\nX-Mailtrip-Probe: {tag}\r\nX-Mailtrip-Sent: {}\r\n\
         X-Mailtrip-Timeout: 60\r\nX-Mailtrip-Digest: sha256={digest}\r\n\r\n{body}\r\n",
        sent.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    )
    .into_bytes()
}

#[tokio::test]
async fn sweep_lists_and_deletes_only_real_leftovers() {
    let server = util::server().await;
    let old = chrono::Utc::now() - chrono::TimeDelta::days(2);
    let recent = chrono::Utc::now() - chrono::TimeDelta::hours(1);
    let seed = |folder: &str, raw: Vec<u8>| server.deliver_raw(ALICE, folder, &raw).expect("seed");
    for (folder, name, subject, sent) in [
        ("INBOX", "tag-inbox", "mailtrip probe 0190aaaa", old),
        ("Junk", "tag-junk", "mailtrip probe 0190bbbb", old),
        ("Sent", "tag-sent", "mailtrip probe 0190cccc", old),
        ("Archive", "tag-recent", "mailtrip probe 0190dddd", recent),
    ] {
        seed(folder, probe_raw(ALICE, name, subject, sent));
    }
    // Look-alike subject without the tag header; the header but another sender; plain mail.
    seed(
        "INBOX",
        format!("From: {ALICE}\r\nSubject: mailtrip probe results for Q3\r\n\r\nnot a probe\r\n")
            .into_bytes(),
    );
    seed(
        "INBOX",
        probe_raw(
            "mallory@evil.test",
            "tag-forged",
            "mailtrip probe 0190eeee",
            old,
        ),
    );
    seed(
        "INBOX",
        b"From: friend@x.test\r\nSubject: lunch?\r\n\r\nhi\r\n".to_vec(),
    );
    let count = |folder: &str| server.messages(ALICE, folder).expect("folder").len();
    let before: Vec<usize> = ["INBOX", "Junk", "Sent", "Archive"]
        .iter()
        .map(|f| count(f))
        .collect();

    let sweep =
        mailtrip::probe::Sweep::new(account(&server, ALICE)).older_than(Duration::from_secs(86400));
    let listed = sweep.list().await.expect("list");
    let mut subjects: Vec<&str> = listed.found.iter().map(|l| l.subject.as_str()).collect();
    subjects.sort_unstable();
    assert_eq!(
        subjects,
        [
            "mailtrip probe 0190aaaa",
            "mailtrip probe 0190bbbb",
            "mailtrip probe 0190cccc"
        ],
        "{listed:#?}"
    );
    assert!(listed.dry_run);
    let after_list: Vec<usize> = ["INBOX", "Junk", "Sent", "Archive"]
        .iter()
        .map(|f| count(f))
        .collect();
    assert_eq!(before, after_list, "listing deletes nothing");

    // Without --older-than the recent one counts too.
    let all = mailtrip::probe::Sweep::new(account(&server, ALICE))
        .list()
        .await
        .expect("list");
    assert_eq!(all.found.len(), 4, "{all:#?}");

    let done = sweep.delete(&listed).await.expect("delete");
    assert_eq!(done.deleted, 3, "{done:#?}");
    assert!(!done.dry_run);
    assert_eq!(
        ["INBOX", "Junk", "Sent", "Archive"]
            .iter()
            .map(|f| count(f))
            .collect::<Vec<_>>(),
        [before[0] - 1, before[1] - 1, before[2] - 1, before[3]]
    );
    for survivor in ["results for Q3", "tag-forged", "lunch?"] {
        assert_eq!(holding(&server, ALICE, "INBOX", survivor), 1, "{survivor}");
    }
    assert_eq!(holding(&server, ALICE, "Archive", "tag-recent"), 1);
}

#[tokio::test]
async fn sweep_finds_a_kept_probe_of_a_real_check() {
    let server = util::server().await;
    let r = run(check(&server, ALICE, ALICE).keep(true)).await;
    assert_eq!(r.verdict, Verdict::Delivered, "{r:#?}");
    let listed = mailtrip::probe::Sweep::new(account(&server, ALICE))
        .list()
        .await
        .expect("list");
    assert_eq!(listed.found.len(), 1, "{listed:#?}");
    assert_eq!(listed.found[0].tag, r.probe_id);
    assert!(!listed.found[0].late);
}

// ---- content integrity (rich payload) ----

async fn rich_check_with(fault: impl FnOnce(&mut Faults)) -> mailtrip::Report {
    let server = util::server_with_fault(fault).await;
    let r = run(check(&server, ALICE, BOB).payload(mailtrip::probe::Payload::Rich)).await;
    assert_cleaned(&server, BOB, "INBOX", &r);
    r
}

#[tokio::test]
async fn a_rich_probe_arrives_unchanged() {
    let r = rich_check_with(|_no_fault| {}).await;
    assert_eq!(r.verdict, Verdict::Delivered, "{r:#?}");
    assert!(r.evidence.changes.is_empty(), "{r:#?}");
    assert!(r.evidence.subject.contains("Grüße"), "{r:#?}");
}

#[tokio::test]
async fn a_footer_in_the_rich_text_part_is_named() {
    let r =
        rich_check_with(|f| f.append_footer = Some("-- \r\nScanned by ExampleGate".into())).await;
    assert_eq!(r.verdict, Verdict::ContentMismatch, "{r:#?}");
    assert_eq!(r.evidence.changes.len(), 1, "{r:#?}");
    assert!(
        r.evidence.changes[0].starts_with("footer added to the text part"),
        "{r:#?}"
    );
    assert!(r.evidence.changes[0].contains("ExampleGate"), "{r:#?}");
    let e = r.error.as_ref().expect("error");
    assert!(e.diagnosis.summary.contains("footer added"), "{e:#?}");
}

#[tokio::test]
async fn a_stripped_attachment_is_named() {
    let r = rich_check_with(|f| f.strip_attachments = true).await;
    assert_eq!(r.verdict, Verdict::ContentMismatch, "{r:#?}");
    assert_eq!(
        r.evidence.changes,
        ["attachment stripped: mailtrip-probe.csv"],
        "{r:#?}"
    );
}

#[tokio::test]
async fn rewrapped_lines_are_named() {
    let r = rich_check_with(|f| f.rewrap_lines = Some(72)).await;
    assert_eq!(r.verdict, Verdict::ContentMismatch, "{r:#?}");
    assert!(
        r.evidence
            .changes
            .iter()
            .any(|c| c == "lines rewrapped in the text part"),
        "{r:#?}"
    );
}
