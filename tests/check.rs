//! `mailtrip::Check` end to end against the embedded server over real sockets: verdicts,
//! placement, evidence, cleanup that touches nothing but the probe, and failure diagnoses.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailtrip::config::{Protocol, Security};
use mailtrip::diagnose::Code;
use mailtrip::report::{Phase, Placement, Verdict};
use mailtrip::server::{FlagOp, Profile, ServerConfig, TestServer};
use mailtrip::{Account, Check, Endpoint, Report};

use crate::scenario::{
    ALICE, BOB, account, assert_cleaned, assert_failed, check, check_between, delivered_despite,
    probe_ids, run, silent_port,
};
use crate::util;

fn assert_all_ok(r: &Report) {
    let names: Vec<Phase> = r.phases.iter().map(|p| p.name).collect();
    assert_eq!(
        names,
        [
            Phase::SmtpConnect,
            Phase::SmtpTls,
            Phase::SmtpAuth,
            Phase::SmtpSubmit,
            Phase::ImapConnect,
            Phase::ImapAuth,
            Phase::Delivery,
            Phase::Fetch,
            Phase::Verify,
            Phase::Cleanup,
        ],
        "{r:#?}"
    );
    assert!(r.phases.iter().all(|p| p.ok), "{r:#?}");
    assert!(r.error.is_none(), "{r:#?}");
}

#[tokio::test]
async fn delivered_alice_to_bob_and_cleaned_up() {
    let server = util::server().await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let r = run(Check::new(account(&server, ALICE), account(&server, BOB))
        .timeout(Duration::from_secs(20))
        .run_id("run-42")
        .on_progress(move |p| s.lock().expect("lock").push(p)))
    .await;
    assert_eq!(r.verdict, Verdict::Delivered, "{r:#?}");
    assert_eq!(r.placement, Some(Placement::Inbox));
    assert_eq!(r.run_id, "run-42");
    assert_all_ok(&r);
    assert_eq!(r.evidence.copies, 1);
    assert_eq!(r.evidence.digest_ok, Some(true));
    assert_eq!(r.evidence.mailbox.as_deref(), Some("INBOX"));
    assert!(
        r.evidence
            .smtp_reply
            .as_deref()
            .is_some_and(|s| s.starts_with("250")),
        "{r:#?}"
    );
    assert!(r.evidence.received_hops.is_some_and(|n| n >= 1), "{r:#?}");
    assert_cleaned(&server, BOB, "INBOX", &r);
    assert_eq!(seen.lock().expect("lock").len(), r.phases.len());
}

#[tokio::test]
async fn delivered_to_self_and_keep_leaves_the_probe() {
    let server = util::server().await;
    let alice = account(&server, ALICE);
    let r = check_between(alice.clone(), alice.clone(), Duration::from_secs(20)).await;
    assert_eq!(r.verdict, Verdict::Delivered, "{r:#?}");
    assert_all_ok(&r);
    assert_eq!(r.evidence.copies, 1);
    assert_cleaned(&server, ALICE, "INBOX", &r);

    let kept = run(Check::new(alice.clone(), alice)
        .timeout(Duration::from_secs(20))
        .keep(true))
    .await;
    assert_eq!(kept.verdict, Verdict::Delivered, "{kept:#?}");
    assert!(kept.phase(Phase::Cleanup).is_none());
    assert_eq!(probe_ids(&server, ALICE, "INBOX", &kept.probe_id).len(), 1);
}

#[tokio::test]
async fn junk_rule_is_delivered_to_spam_and_cleaned_there() {
    let server = util::server_with_fault(|f| f.junk_rule = Some("X-Mailtrip-Probe".into())).await;
    let r = check(&server, Duration::from_secs(20)).await;
    assert_eq!(r.verdict, Verdict::DeliveredToSpam, "{r:#?}");
    assert_eq!(r.placement, Some(Placement::Spam));
    assert_eq!(r.evidence.mailbox.as_deref(), Some("Junk"));
    assert_eq!(r.exit_code(), 1);
    assert_cleaned(&server, BOB, "Junk", &r);
}

#[tokio::test]
async fn duplicates_are_counted_and_both_cleaned() {
    let server = util::server_with_fault(|f| f.deliver_twice = true).await;
    let r = check(&server, Duration::from_secs(20)).await;
    assert_eq!(r.verdict, Verdict::Delivered, "{r:#?}");
    assert_eq!(r.evidence.copies, 2, "{r:#?}");
    assert_cleaned(&server, BOB, "INBOX", &r);
}

#[tokio::test]
async fn an_appended_footer_is_a_content_mismatch() {
    let server = util::server_with_fault(|f| {
        f.append_footer = Some("-- \nSent through a list that adds footers".into())
    })
    .await;
    let r = check(&server, Duration::from_secs(20)).await;
    assert_eq!(r.verdict, Verdict::ContentMismatch, "{r:#?}");
    assert_eq!(r.evidence.digest_ok, Some(false));
    let err = r.error.as_ref().expect("error");
    assert_eq!(err.phase, Phase::Verify);
    assert!(
        err.diagnosis.summary.contains("extra trailing line"),
        "{r:#?}"
    );
    assert_cleaned(&server, BOB, "INBOX", &r);
}

#[tokio::test]
async fn a_delivery_slower_than_the_timeout_is_not_delivered() {
    let server = util::server_with_fault(|f| {
        f.delivery_delay = Some((Duration::from_secs(4), Duration::from_secs(4)))
    })
    .await;
    let r = check(&server, Duration::from_millis(1500)).await;
    assert_failed(&r, Verdict::NotDelivered, Phase::Delivery, Code::Timeout);
    let delivery = r.phase(Phase::Delivery).expect("delivery phase");
    assert!(
        !delivery.ok && delivery.detail.contains("none with tag"),
        "{r:#?}"
    );
    assert!(r.phase(Phase::SmtpSubmit).is_some_and(|p| p.ok));
}

fn with_password(mut a: Account, pw: &str) -> Account {
    a.credential = mailtrip::config::Credential::Password(pw.to_string().into());
    a
}

#[tokio::test]
async fn a_wrong_smtp_password_is_auth_failed_at_smtp_auth() {
    let server = util::server().await;
    let from = with_password(account(&server, ALICE), "wrong");
    let r = check_between(from, account(&server, BOB), Duration::from_secs(10)).await;
    assert_failed(&r, Verdict::AuthFailed, Phase::SmtpAuth, Code::AuthRejected);
}

#[tokio::test]
async fn a_wrong_imap_password_is_auth_failed_at_imap_auth() {
    let server = util::server().await;
    let to = with_password(account(&server, BOB), "wrong");
    let r = check_between(account(&server, ALICE), to, Duration::from_secs(10)).await;
    assert_failed(&r, Verdict::AuthFailed, Phase::ImapAuth, Code::AuthRejected);
}

#[tokio::test]
async fn gmail_auth_texts_are_diagnosed() {
    use mailtrip::server::gmail;
    let server = util::server().await;
    util::set_fault(&server, |f| {
        f.smtp_auth_reject = Some(gmail::SMTP_APP_PASSWORD_REQUIRED.into())
    });
    let r = check(&server, Duration::from_secs(10)).await;
    assert_failed(
        &r,
        Verdict::AuthFailed,
        Phase::SmtpAuth,
        Code::AppPasswordRequired,
    );

    util::set_fault(&server, |f| {
        f.imap_auth_reject = Some(gmail::IMAP_WEB_LOGIN_REQUIRED.into())
    });
    let r = check(&server, Duration::from_secs(10)).await;
    assert_failed(
        &r,
        Verdict::AuthFailed,
        Phase::ImapAuth,
        Code::WebLoginRequired,
    );
}

fn smtp_at(mut a: Account, security: Security, port: u16) -> Account {
    a.smtp = util::local_smtp(security, port);
    a
}

/// Alice's SMTP at `port` with the other TLS mode (`security`): the check fails to send in
/// `phase` with a TLS mode mismatch whose hint names `url`, the URL to use instead.
async fn assert_mode_mismatch(
    server: &TestServer,
    (security, port): (Security, u16),
    timeout: Duration,
    phase: Phase,
    url: &str,
) {
    let from = smtp_at(account(server, ALICE), security, port);
    let r = check_between(from, account(server, BOB), timeout).await;
    let err = assert_failed(&r, Verdict::SendFailed, phase, Code::TlsModeMismatch);
    assert!(err.diagnosis.hint.contains(url), "{r:#?}");
}

#[tokio::test]
async fn implicit_tls_against_a_starttls_port_is_a_tls_mode_mismatch() {
    let server = util::server().await;
    let port = server.submission_addr().port();
    let wrong = (Security::Tls, port);
    assert_mode_mismatch(
        &server,
        wrong,
        Duration::from_secs(5),
        Phase::SmtpTls,
        "smtp+starttls://",
    )
    .await;
}

#[tokio::test]
async fn starttls_against_an_implicit_tls_port_is_a_tls_mode_mismatch() {
    let server = util::server().await;
    let wrong = (Security::StartTls, server.smtps_addr().port());
    assert_mode_mismatch(
        &server,
        wrong,
        Duration::from_secs(2),
        Phase::SmtpConnect,
        "smtps://",
    )
    .await;
}

#[tokio::test]
async fn a_refused_connection_is_connect_refused() {
    let server = util::server().await;
    let port = util::free_port();
    let mut from = account(&server, ALICE);
    from.smtp = Endpoint::new(Protocol::Smtp, Security::StartTls, "127.0.0.1", port);
    let r = check_between(from, account(&server, BOB), Duration::from_secs(5)).await;
    assert_failed(
        &r,
        Verdict::SendFailed,
        Phase::SmtpConnect,
        Code::ConnectRefused,
    );
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_and_the_run_ends() {
    let server = util::server().await;
    let (silent, _hold) = silent_port().await;
    let mut from = account(&server, ALICE);
    from.smtp = Endpoint::new(Protocol::Smtp, Security::Plain, "127.0.0.1", silent);
    let r = check_between(from, account(&server, BOB), Duration::from_secs(1)).await;
    assert_failed(&r, Verdict::SendFailed, Phase::SmtpConnect, Code::Timeout);

    // The embedded server hanging on its banner: the same.
    util::set_fault(&server, |f| f.smtp_hang_on = Some("GREETING".into()));
    let r = check(&server, Duration::from_secs(1)).await;
    assert_failed(&r, Verdict::SendFailed, Phase::SmtpConnect, Code::Timeout);
}

#[tokio::test]
async fn greylisting_is_retried_and_delivered() {
    let server = util::server_with_fault(|f| f.greylist = true).await;
    let r = check(&server, Duration::from_secs(20)).await;
    assert_eq!(r.verdict, Verdict::Delivered, "{r:#?}");
    let submit = r.phase(Phase::SmtpSubmit).expect("submit");
    assert!(submit.detail.contains("attempt 2"), "{r:#?}");
}

#[tokio::test]
async fn an_imap_drop_during_the_watch_is_survived() {
    // Main connection: LOGIN, CAPABILITY, LIST, SELECT, UID FETCH, IDLE; the 7th command
    // (the FETCH after the delayed delivery wakes IDLE) is dropped.
    let (server, r) = delivered_despite(
        |f| f.imap_drop_after = Some(6),
        Duration::from_millis(800),
        Duration::from_secs(20),
    )
    .await;
    let delivery = r.phase(Phase::Delivery).expect("delivery");
    assert!(delivery.detail.contains("reconnect"), "{r:#?}");
    assert_cleaned(&server, BOB, "INBOX", &r);
}

type Snapshot = Vec<(u32, Vec<String>, usize)>;

fn snapshot(server: &TestServer, user: &str, folder: &str) -> Snapshot {
    server
        .messages(user, folder)
        .expect("folder")
        .iter()
        .map(|m| (m.uid, m.flags.clone(), m.raw.len()))
        .collect()
}

#[tokio::test]
async fn a_busy_mailbox_keeps_every_other_message_and_flag() {
    let server = util::server().await;
    let mut uids = Vec::new();
    for i in 0..300u32 {
        let raw: Vec<u8> = match i % 10 {
            0 => vec![0xff, 0x00, 0xfe, b'\r', b'\n', 0x80, (i % 256) as u8],
            1 => format!("no headers at all, just text {i}\r\n").into_bytes(),
            2 => format!(
                "From: list@x.test\r\nSubject: quoted {i}\r\n\r\n> X-Mailtrip-Probe: 0000-quoted-{i}\r\n"
            )
            .into_bytes(),
            3 => format!("X-Mailtrip-Probe: someone-elses-tag-{i}\r\nSubject: other run\r\n\r\nhi\r\n")
                .into_bytes(),
            _ => format!(
                "From: a@x.test\r\nTo: bob@mailtrip.test\r\nSubject: m {i}\r\nMessage-ID: <{i}@x>\r\n\r\nbody {i}\r\n"
            )
            .into_bytes(),
        };
        uids.push(server.deliver_raw(BOB, "INBOX", &raw).expect("seed"));
    }
    let deleted: Vec<u32> = uids.iter().copied().filter(|u| u % 7 == 0).collect();
    server
        .store()
        .store_flags(
            BOB,
            "INBOX",
            &deleted,
            FlagOp::Add,
            &["\\Deleted".to_string()],
        )
        .expect("flag");
    let before = snapshot(&server, BOB, "INBOX");
    assert_eq!(before.len(), 300);

    // While the check runs, a bounce quoting the probe's tag in its body arrives right after
    // the probe: it must be neither counted nor deleted.
    let bouncer = {
        let server_msgs = async {
            let msgs = server
                .wait_for_messages(BOB, "INBOX", 301, Duration::from_secs(20))
                .await
                .expect("probe arrives");
            let probe = msgs.last().expect("probe").raw.clone();
            let bounce = format!(
                "From: MAILER-DAEMON@x.test\r\nSubject: Delivery Status\r\nContent-Type: message/rfc822\r\n\r\n{}",
                String::from_utf8_lossy(&probe)
            );
            server
                .deliver_raw(BOB, "INBOX", bounce.as_bytes())
                .expect("bounce")
        };
        tokio::join!(server_msgs, check(&server, Duration::from_secs(20)))
    };
    let (bounce_uid, r) = bouncer;
    assert_eq!(r.verdict, Verdict::Delivered, "{r:#?}");
    assert_eq!(r.evidence.copies, 1, "{r:#?}");
    let after: Snapshot = snapshot(&server, BOB, "INBOX")
        .into_iter()
        .filter(|(uid, _, _)| *uid != bounce_uid)
        .collect();
    assert_eq!(before, after);
    assert!(
        server
            .messages(BOB, "INBOX")
            .expect("inbox")
            .iter()
            .any(|m| m.uid == bounce_uid),
        "the bounce quoting the tag was deleted"
    );
}

#[tokio::test]
async fn gmail_cleanup_moves_to_trash_purges_and_cleans_sent() {
    let server = util::server_with(ServerConfig::default().profile(Profile::Gmail)).await;
    server
        .deliver_raw(ALICE, "INBOX", b"Subject: keep me\r\n\r\nhello\r\n")
        .expect("seed");
    let folders = [
        "INBOX",
        "[Gmail]/All Mail",
        "[Gmail]/Sent Mail",
        "[Gmail]/Trash",
    ];
    let before: Vec<Snapshot> = folders
        .iter()
        .map(|f| snapshot(&server, ALICE, f))
        .collect();
    let alice = account(&server, ALICE);
    assert!(alice.expunge_archives);
    let r = check_between(alice.clone(), alice, Duration::from_secs(20)).await;
    assert_eq!(r.verdict, Verdict::Delivered, "{r:#?}");
    let cleanup = r.phase(Phase::Cleanup).expect("cleanup");
    assert!(
        cleanup.ok && cleanup.detail.contains("1 from Sent"),
        "{r:#?}"
    );
    for (folder, before) in folders.iter().zip(before) {
        assert!(
            probe_ids(&server, ALICE, folder, &r.probe_id).is_empty(),
            "probe left in {folder}: {r:#?}"
        );
        assert_eq!(before, snapshot(&server, ALICE, folder), "{folder} changed");
    }
}
