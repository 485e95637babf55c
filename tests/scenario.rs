//! Scenario helpers for the round-trip tests: a server armed with faults, a check, verify or
//! wait that can never hang, mail delivered once the watch is ready, and the assertions every
//! failed run gets (verdict, phase or step, diagnosis code), so each test states what differs.

#![allow(dead_code)]

use std::time::Duration;

use mailtrip::diagnose::Code;
use mailtrip::load::LoadReport;
use mailtrip::probe::{Message, Wait, WaitError};
use mailtrip::render::{Format, Style, renderer};
use mailtrip::report::verify::{ProtocolReport, Step, StepError, VerifyReport};
use mailtrip::report::{ErrorReport, Phase, Report, Verdict};
use mailtrip::server::{Faults, ServerConfig, TestServer};
use mailtrip::{Account, Check, Load, Verify};

use crate::util;
pub use crate::util::{ALICE, BOB, account};

/// Ends a test that would otherwise hang: a liveness guard, not a timing assertion.
pub const HANG_GUARD: Duration = Duration::from_secs(90);

/// An embedded server (alice and bob) armed with `faults` from the start.
pub async fn faulty(faults: Faults) -> TestServer {
    util::server_with(ServerConfig::default().faults(faults)).await
}

/// A server armed with `fault` (as [`util::server_with_fault`]) and a check from alice to bob on it with
/// `timeout`, run to its report.
pub async fn check_faulty(
    fault: impl FnOnce(&mut Faults),
    timeout: Duration,
) -> (TestServer, Report) {
    let server = util::server_with_fault(fault).await;
    let r = check(&server, timeout).await;
    (server, r)
}

/// A check from alice to bob with `timeout` on a server armed with `fault`, each probe held
/// `delay` before it lands (so it lands while the watch is where the fault strikes); asserts
/// the probe was delivered all the same and returns the server and report for more checks.
pub async fn delivered_despite(
    fault: impl FnOnce(&mut Faults),
    delay: Duration,
    timeout: Duration,
) -> (TestServer, Report) {
    let (server, r) = check_faulty(
        |f| {
            fault(f);
            f.delivery_delay = Some((delay, delay));
        },
        timeout,
    )
    .await;
    assert_eq!(r.verdict, Verdict::Delivered, "{r:#?}");
    (server, r)
}

/// Runs `check` to its report, failing the test if it outlives [`HANG_GUARD`].
pub async fn run(check: Check) -> Report {
    tokio::time::timeout(HANG_GUARD, check.run())
        .await
        .expect("check never hangs")
}

/// A check from alice to bob on `server` with `timeout`, run to its report.
pub async fn check(server: &TestServer, timeout: Duration) -> Report {
    check_between(account(server, ALICE), account(server, BOB), timeout).await
}

/// A check from `from` to `to` with `timeout`, run to its report.
pub async fn check_between(from: Account, to: Account, timeout: Duration) -> Report {
    run(Check::new(from, to).timeout(timeout)).await
}

/// The phase and diagnosis code of the error that ended `r`; panics if none did.
pub fn error_of(r: &Report) -> (Phase, Code) {
    let e = r
        .error
        .as_ref()
        .unwrap_or_else(|| panic!("no error: {r:#?}"));
    (e.phase, e.diagnosis.code)
}

/// Asserts `r` ended with `verdict`, failing in `phase` with `code`, and returns the error
/// for the test's own further checks.
pub fn assert_failed(r: &Report, verdict: Verdict, phase: Phase, code: Code) -> &ErrorReport {
    assert_eq!(r.verdict, verdict, "{r:#?}");
    assert_eq!(error_of(r), (phase, code), "{r:#?}");
    r.error.as_ref().expect("error")
}

/// UIDs of the messages in `user`'s `folder` that carry `tag` (a probe's id): what a run
/// left behind.
pub fn probe_ids(server: &TestServer, user: &str, folder: &str, tag: &str) -> Vec<u32> {
    server
        .messages(user, folder)
        .expect("folder")
        .iter()
        .filter(|m| String::from_utf8_lossy(&m.raw).contains(tag))
        .map(|m| m.uid)
        .collect()
}

/// The one `late:` warning of `r`, which must name the earlier run's probe `earlier`.
pub fn the_late_warning<'a>(r: &'a Report, earlier: &Report) -> &'a str {
    let late: Vec<_> = r
        .warnings
        .iter()
        .filter(|w| w.starts_with("late:"))
        .collect();
    assert_eq!(late.len(), 1, "{r:#?}");
    assert!(late[0].contains(&earlier.probe_id), "{late:?}");
    late[0]
}

/// On `server`, whose faults hold each probe back past a second: a first check (1 s) that
/// ends not delivered, its probe then landing in bob's `folder`, and, the faults cleared, a
/// second check (`timeout`) that is delivered. Returns both reports, first the late one.
pub async fn late_then_delivered(
    server: &TestServer,
    folder: &str,
    timeout: Duration,
) -> (Report, Report) {
    let first = check(server, Duration::from_secs(1)).await;
    assert_eq!(first.verdict, Verdict::NotDelivered, "{first:#?}");
    server
        .wait_for_messages(BOB, folder, 1, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("the late probe never landed in {folder}: {e:?}"));
    server.set_faults(Faults::default());
    let second = check(server, timeout).await;
    assert_eq!(second.verdict, Verdict::Delivered, "{second:#?}");
    (first, second)
}

/// Asserts no message carrying `r`'s probe id is left in `user`'s `folder`.
pub fn assert_cleaned(server: &TestServer, user: &str, folder: &str, r: &Report) {
    assert!(
        probe_ids(server, user, folder, &r.probe_id).is_empty(),
        "probe left in {user}'s {folder}: {r:#?}"
    );
}

/// `r` as the `format` renderer writes it, without colour.
pub fn render(format: Format, r: &Report) -> String {
    let mut out = Vec::new();
    renderer(format, Style { color: false })
        .render(r, &mut out)
        .expect("render");
    String::from_utf8(out).expect("utf-8")
}

/// Runs `load` to its report; fails the test if it hangs or cannot start.
pub async fn run_load(load: Load) -> LoadReport {
    tokio::time::timeout(HANG_GUARD, load.run())
        .await
        .expect("load never hangs")
        .expect("load runs")
}

/// `account`'s verify with `timeout`, run to its report; fails the test if it hangs.
pub async fn verify(account: Account, timeout: Duration) -> VerifyReport {
    tokio::time::timeout(HANG_GUARD, Verify::new(account).timeout(timeout).run())
        .await
        .expect("verify never hangs")
}

/// Asserts protocol `p` failed at `step` with `code`, with a hint, its last step being the
/// failed one; returns the error for further checks.
pub fn assert_step_failed(p: &ProtocolReport, step: Step, code: Code) -> &StepError {
    assert!(!p.ok, "{p:#?}");
    let e = p
        .error
        .as_ref()
        .unwrap_or_else(|| panic!("no error: {p:#?}"));
    assert_eq!((e.step, e.diagnosis.code), (step, code), "{p:#?}");
    assert!(!e.diagnosis.hint.is_empty(), "{p:#?}");
    let last = p.steps.last().expect("a step");
    assert_eq!((last.name, last.ok), (step, false), "{p:#?}");
    e
}

/// Asserts protocol `p` passed connect, TLS and auth, every step ok.
pub fn assert_step_ok(p: &ProtocolReport) {
    assert!(p.ok && p.error.is_none(), "{p:#?}");
    let steps: Vec<Step> = p.steps.iter().map(|s| s.name).collect();
    assert_eq!(steps, [Step::Connect, Step::Tls, Step::Auth], "{p:#?}");
    assert!(p.steps.iter().all(|s| s.ok), "{p:#?}");
}

/// Runs `wait` to its result; fails the test if it hangs.
pub async fn wait(wait: Wait) -> Result<Message, WaitError> {
    tokio::time::timeout(HANG_GUARD, wait.run())
        .await
        .expect("wait never hangs")
}

/// Asserts `w` ended in an IMAP error diagnosed as `code`.
pub fn assert_wait_failed(w: Result<Message, WaitError>, code: Code) {
    match w {
        Err(WaitError::Imap(d)) => assert_eq!(d.code, code, "{d:#?}"),
        other => panic!("expected an IMAP error {code:?}, got {other:#?}"),
    }
}

/// A loopback port that accepts connections and never writes a byte, held open until the
/// returned task is aborted (or the test's runtime ends).
pub async fn silent_port() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            open.push(tcp);
        }
    });
    (port, hold)
}

/// A plain message to bob with `subject` (also its Message-ID's local part).
pub fn mail(subject: &str) -> Vec<u8> {
    format!(
        "From: app@example.test\r\nTo: {BOB}\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@example.test>\r\n\r\nhello\r\n"
    )
    .into_bytes()
}

/// Waits (polling the server's own counters) until `cond` holds.
pub async fn until(what: &str, cond: impl Fn() -> bool) {
    let wait = async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(HANG_GUARD, wait)
        .await
        .unwrap_or_else(|_| panic!("never happened: {what}"));
}

/// Waits in bob's inbox for `subject` (within `timeout`) while, once `ready` holds, that mail
/// is delivered; returns what the wait found and the UID the server gave the mail.
pub async fn wait_while_delivering(
    server: &TestServer,
    subject: &str,
    timeout: Duration,
    ready: (&str, &dyn Fn() -> bool),
) -> (Result<Message, WaitError>, u32) {
    let found = wait(
        Wait::new(account(server, BOB))
            .subject(regex::Regex::new(subject).expect("regex"))
            .timeout(timeout),
    );
    let deliver = async {
        until(ready.0, ready.1).await;
        server
            .deliver_raw(BOB, "INBOX", &mail(subject))
            .expect("deliver")
    };
    tokio::join!(found, deliver)
}
