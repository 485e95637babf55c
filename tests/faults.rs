//! Fault survival (issue #10): `check`, `verify` and `wait` against the embedded server's
//! injected faults — an IDLE connection dropped with a message landing in the gap, `* BYE`, a
//! command that never gets an answer, SMTP 421/451/452, slow-drip replies, a stalled TLS
//! handshake and a DNS failure. Each run either survives or fails with a named timeout; none
//! hangs. Short timeouts keep the failures quick; nothing asserts on timing.

use std::time::Duration;

use mailtrip::Endpoint;
use mailtrip::config::{Protocol, Security};
use mailtrip::diagnose::Code;
use mailtrip::probe::{Check, Message, Wait, WaitError};
use mailtrip::report::verify::Step;
use mailtrip::report::{Phase, Report, Verdict};
use mailtrip::server::{Faults, TestServer};

use crate::scenario::{
    ALICE, BOB, account, assert_failed, assert_step_failed, assert_wait_failed, check,
    check_between, delivered_despite, error_of, faulty, mail, run, until, verify, wait,
    wait_while_delivering,
};
use crate::util;

/// Waits (20 s) in bob's INBOX for `subject` while a mail with it is delivered once the watch
/// IDLEs; returns what the wait found and the UID the mail got.
async fn delivered_once_idle(
    server: &TestServer,
    subject: &str,
) -> (Result<Message, WaitError>, u32) {
    let idle = || server.idling() == 1;
    wait_while_delivering(
        server,
        subject,
        Duration::from_secs(20),
        ("the watch IDLEs", &idle),
    )
    .await
}

// --- IMAP dropped mid-IDLE, with the message delivered in the gap ------------------------------

#[tokio::test]
async fn wait_finds_a_message_delivered_while_its_idle_connection_was_dropped() {
    let server = util::server_with_fault(|f| f.imap_drop_on_news = Some(1)).await;
    // Once the watch IDLEs, the delivery makes the server close that connection instead of
    // announcing the message: it is in the store, and the client never heard of it.
    let (found, uid) = delivered_once_idle(&server, "gap").await;
    let found = found.expect("the message from the gap is found");
    assert_eq!(found.uid, uid);
    assert_eq!(server.faults_fired(), 1, "the drop never happened");
    assert!(
        found.warnings.iter().any(|w| w.contains("re-established")),
        "{found:#?}"
    );
}

#[tokio::test]
async fn check_finds_the_probe_delivered_while_the_inbox_idle_connection_was_dropped() {
    // Past the early-poll schedule (2 s after the send), so the probe lands while the
    // INBOX watch IDLEs.
    let (server, r) = delivered_despite(
        |f| f.imap_drop_on_news = Some(1),
        Duration::from_secs(3),
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(server.faults_fired(), 1, "the drop never happened: {r:#?}");
    let delivery = r.phase(Phase::Delivery).expect("delivery");
    assert!(delivery.detail.contains("reconnect"), "{r:#?}");
    util::assert_empty(
        &server,
        BOB,
        "INBOX",
        "the probe is cleaned up after the reconnect",
    );
}

#[tokio::test]
async fn wait_keeps_backing_off_and_reconnecting_while_every_idle_is_dropped() {
    // Every announcement drops the connection: the watch must not spin, and still find the
    // message on a fresh connection's first scan.
    let server = util::server_with_fault(|f| f.imap_drop_on_news = Some(usize::MAX)).await;
    let found = wait(
        Wait::new(account(&server, BOB))
            .subject(regex::Regex::new("storm").expect("regex"))
            .timeout(Duration::from_secs(20)),
    );
    let deliver = async {
        until("the watch IDLEs", || server.idling() == 1).await;
        server
            .deliver_raw(BOB, "INBOX", &mail("noise"))
            .expect("deliver");
        until("the first drop", || server.faults_fired() >= 1).await;
        server
            .deliver_raw(BOB, "INBOX", &mail("storm"))
            .expect("deliver")
    };
    let (found, uid) = tokio::join!(found, deliver);
    assert_eq!(found.expect("found").uid, uid);
}

// --- * BYE ---------------------------------------------------------------------------------------

#[tokio::test]
async fn check_survives_a_bye_during_the_watch() {
    // Each connection's 7th command gets `* BYE` (the main one: LOGIN, CAPABILITY, LIST,
    // SELECT, UID FETCH, IDLE, then the FETCH after the delayed delivery wakes IDLE).
    let (server, r) = delivered_despite(
        |f| f.imap_bye_after = Some(6),
        Duration::from_millis(1000),
        Duration::from_secs(20),
    )
    .await;
    assert!(server.faults_fired() >= 1, "no BYE was sent: {r:#?}");
}

/// The connection that found the probe goes before the fetch (a restart's BYE, a dropped
/// socket, here an unanswered FETCH): the probe is fetched by UID on a new connection and the
/// run is delivered and cleaned up, not an error. Fails on the code that gave up at once.
#[tokio::test]
async fn check_fetches_on_a_new_connection_when_the_finding_one_goes_before_the_fetch() {
    let server = std::sync::Arc::new(faulty(Faults::default()).await);
    let on_fetch = server.clone();
    let c = Check::new(account(&server, ALICE), account(&server, BOB))
        .timeout(Duration::from_secs(2))
        .on_progress(move |phase| {
            if phase == Phase::Fetch {
                util::set_fault(&on_fetch, |f| f.imap_hang_once_on = Some("FETCH".into()));
            }
        });
    let r = run(c).await;
    assert_eq!(r.verdict, Verdict::Delivered, "{r:#?}");
    assert_eq!(
        server.faults_fired(),
        1,
        "the fetch was not held up: {r:#?}"
    );
    let why = format!("the probe is cleaned up on the new connection: {r:#?}");
    util::assert_empty(&server, BOB, "INBOX", &why);
}

#[tokio::test]
async fn wait_survives_a_bye_and_finds_the_message() {
    // LOGIN, CAPABILITY, SELECT, UID FETCH, IDLE are answered; the FETCH after the wake-up
    // gets `* BYE`; the reconnect's scan finds the message.
    let server = util::server_with_fault(|f| f.imap_bye_after = Some(5)).await;
    let (found, uid) = delivered_once_idle(&server, "after bye").await;
    assert_eq!(found.expect("found").uid, uid);
    assert!(server.faults_fired() >= 1);
}

#[tokio::test]
async fn verify_reports_a_bye_at_login_as_a_closed_connection() {
    let server = util::server_with_fault(|f| f.imap_bye_after = Some(0)).await;
    let r = verify(account(&server, ALICE), Duration::from_secs(5)).await;
    assert!(r.smtp.ok, "{r:#?}");
    assert!(!r.imap.ok, "{r:#?}");
    let e = r.imap.error.as_ref().expect("error");
    assert_eq!(e.step, Step::Auth, "{r:#?}");
    assert!(!e.diagnosis.hint.is_empty(), "{r:#?}");
}

// --- A command that never gets an answer ---------------------------------------------------------

#[tokio::test]
async fn wait_gives_up_on_an_unanswered_idle_reconnects_and_finds_the_message() {
    let server = util::server_with_fault(|f| f.imap_hang_once_on = Some("IDLE".into())).await;
    let (found, uid) = wait_while_delivering(
        &server,
        "after hang",
        Duration::from_secs(9),
        ("the IDLE hangs", &|| server.faults_fired() == 1),
    )
    .await;
    let found = found.expect("found after the per-command timeout and a reconnect");
    assert_eq!(found.uid, uid);
    assert!(server.faults().imap_hang_once_on.is_none());
}

#[tokio::test]
async fn check_survives_one_unanswered_imap_command_during_the_watch() {
    let (server, r) = delivered_despite(
        |f| f.imap_hang_once_on = Some("IDLE".into()),
        Duration::from_millis(1000),
        Duration::from_secs(12),
    )
    .await;
    assert_eq!(server.faults_fired(), 1, "{r:#?}");
}

#[tokio::test]
async fn an_smtp_command_that_never_gets_an_answer_is_a_timeout_at_submit() {
    let server = util::server_with_fault(|f| f.smtp_hang_on = Some("DATA".into())).await;
    let r = check(&server, Duration::from_secs(2)).await;
    assert_failed(&r, Verdict::SendFailed, Phase::SmtpSubmit, Code::Timeout);
}

#[tokio::test]
async fn an_unanswered_login_is_a_timeout_for_verify_and_wait() {
    let server = util::server_with_fault(|f| f.imap_hang_on = Some("LOGIN".into())).await;
    let r = verify(account(&server, ALICE), Duration::from_secs(1)).await;
    assert_step_failed(&r.imap, Step::Auth, Code::Timeout);
    let w = wait(Wait::new(account(&server, BOB)).timeout(Duration::from_secs(1))).await;
    assert_wait_failed(w, Code::Timeout);
}

// --- SMTP 421 / 451 / 452 -------------------------------------------------------------------------

async fn transient(verb: &str, reply: &str) -> (TestServer, Report) {
    let server =
        util::server_with_fault(|f| f.smtp_transient = Some((verb.into(), reply.into(), 1))).await;
    let r = check(&server, Duration::from_secs(20)).await;
    (server, r)
}

#[tokio::test]
async fn transient_smtp_replies_are_retried_within_the_deadline() {
    for (verb, reply) in [
        ("RCPT", "452 4.3.1 Insufficient system storage"),
        ("RCPT", "421 4.7.0 Too many connections, closing"),
        ("DATA", "451 4.3.0 Temporary local problem, try again"),
        ("MAIL", "421 4.3.2 Service not available, closing"),
        ("EHLO", "421 4.3.2 Service shutting down, try later"),
    ] {
        let (server, r) = transient(verb, reply).await;
        assert_eq!(r.verdict, Verdict::Delivered, "{verb} {reply}: {r:#?}");
        let submit = r.phase(Phase::SmtpSubmit).expect("submit");
        assert!(submit.detail.contains("attempt 2"), "{verb}: {r:#?}");
        let code = &reply[..3];
        assert!(submit.detail.contains(code), "{verb}: {r:#?}");
        assert_eq!(server.faults_fired(), 1);
    }
}

#[tokio::test]
async fn a_transient_auth_failure_is_never_retried() {
    let server = faulty(Faults {
        smtp_transient: Some((
            "AUTH".into(),
            "454 4.7.0 Temporary authentication failure".into(),
            5,
        )),
        ..Faults::default()
    })
    .await;
    let r = check(&server, Duration::from_secs(20)).await;
    assert_eq!(r.verdict, Verdict::AuthFailed, "{r:#?}");
    assert_eq!(error_of(&r).0, Phase::SmtpAuth, "{r:#?}");
    let left = server.faults().smtp_transient.expect("fault").2;
    assert_eq!(left, 4, "AUTH was sent more than once");
}

#[tokio::test]
async fn greylisting_longer_than_the_deadline_ends_as_send_failed_with_the_server_words() {
    let server = faulty(Faults {
        smtp_transient: Some((
            "RCPT".into(),
            "451 4.7.1 Greylisted, please try again later".into(),
            usize::MAX,
        )),
        ..Faults::default()
    })
    .await;
    let r = check(&server, Duration::from_secs(3)).await;
    assert_eq!(r.verdict, Verdict::SendFailed, "{r:#?}");
    let e = r.error.as_ref().expect("error");
    assert_eq!(e.phase, Phase::SmtpSubmit, "{r:#?}");
    assert!(
        e.diagnosis
            .server_text
            .as_deref()
            .is_some_and(|t| t.contains("Greylisted")),
        "{r:#?}"
    );
}

// --- Slow-drip replies -----------------------------------------------------------------------------

#[tokio::test]
async fn replies_dripping_one_byte_per_100_ms_end_in_a_named_timeout_not_a_hang() {
    let server = util::server_with_fault(|f| f.slow_drip = Some(Duration::from_millis(100))).await;
    let r = check(&server, Duration::from_secs(2)).await;
    assert_failed(&r, Verdict::Error, Phase::ImapConnect, Code::Timeout);

    let v = verify(account(&server, ALICE), Duration::from_secs(2)).await;
    for p in [&v.smtp, &v.imap] {
        let e = p.error.as_ref().unwrap_or_else(|| panic!("{v:#?}"));
        assert_eq!(e.diagnosis.code, Code::Timeout, "{v:#?}");
    }

    let w = wait(Wait::new(account(&server, BOB)).timeout(Duration::from_secs(2))).await;
    assert_wait_failed(w, Code::Timeout);
}

#[tokio::test]
async fn replies_dripping_slowly_but_within_the_timeouts_still_deliver() {
    let server = util::server_with_fault(|f| f.slow_drip = Some(Duration::from_millis(1))).await;
    let r = check(&server, Duration::from_secs(30)).await;
    assert_eq!(r.verdict, Verdict::Delivered, "{r:#?}");
}

// --- TLS handshake stall ------------------------------------------------------------------------

#[tokio::test]
async fn a_stalled_tls_handshake_is_a_timeout_with_a_hint() {
    let server = util::server_with_fault(|f| f.tls_stall = true).await;
    let smtps = util::local_smtp(Security::Tls, server.smtps_addr().port());
    // check: IMAP (implicit TLS) is set up first.
    let r = check(&server, Duration::from_secs(1)).await;
    assert_eq!(error_of(&r), (Phase::ImapConnect, Code::Timeout), "{r:#?}");
    let hint = &r.error.as_ref().expect("error").diagnosis.hint;
    assert!(hint.contains("never answered the TLS handshake"), "{hint}");

    // check with a working IMAP side and SMTPS that stalls: smtp_tls.
    let mut from = account(&server, ALICE);
    from.smtp = smtps;
    let bob = account(&server, BOB);
    // The IMAP watch needs TLS too, so point it at STARTTLS (not a TLS listener).
    let mut to = bob.clone();
    to.imap = util::local_imap(Security::StartTls, server.imap_addr().port());
    let r = check_between(from.clone(), to, Duration::from_secs(1)).await;
    assert_failed(&r, Verdict::SendFailed, Phase::SmtpTls, Code::Timeout);

    // verify: both implicit-TLS handshakes stall.
    from.imap = bob.imap.clone();
    let v = verify(from, Duration::from_secs(1)).await;
    for p in [&v.smtp, &v.imap] {
        let e = assert_step_failed(p, Step::Tls, Code::Timeout);
        assert!(e.diagnosis.hint.contains("TLS handshake"), "{v:#?}");
    }

    // wait: the same, as its IMAP error.
    assert_wait_failed(
        wait(Wait::new(bob).timeout(Duration::from_secs(1))).await,
        Code::Timeout,
    );
    assert!(server.faults_fired() >= 4);
}

// --- DNS failure ----------------------------------------------------------------------------------

/// A 70-octet label under `.invalid`: glibc refuses to build the query, so resolution fails
/// without a packet leaving the machine (see `verify::an_unresolvable_host_is_dns_failed`).
fn unresolvable() -> String {
    format!("{}.invalid", "a".repeat(70))
}

#[tokio::test]
async fn an_unresolvable_host_is_dns_failed_for_check_and_wait() {
    let server = util::server().await;
    let mut to = account(&server, BOB);
    to.imap = Endpoint::new(Protocol::Imap, Security::Tls, &unresolvable(), 993);
    let r = check_between(account(&server, ALICE), to.clone(), Duration::from_secs(5)).await;
    assert_failed(&r, Verdict::Error, Phase::ImapConnect, Code::DnsFailed);

    let mut from = account(&server, ALICE);
    from.smtp = Endpoint::new(Protocol::Smtp, Security::Tls, &unresolvable(), 465);
    let r = check_between(from, account(&server, BOB), Duration::from_secs(5)).await;
    let e = assert_failed(&r, Verdict::SendFailed, Phase::SmtpConnect, Code::DnsFailed);
    assert!(e.diagnosis.hint.contains("host name"), "{r:#?}");

    assert_wait_failed(
        wait(Wait::new(to).timeout(Duration::from_secs(5))).await,
        Code::DnsFailed,
    );
}
