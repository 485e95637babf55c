//! Scenario helpers for the round-trip tests: a server armed with faults, one check from
//! alice to bob that can never hang, and the assertion every failed run gets (its verdict,
//! the phase it failed in and the diagnosis code), so each test states only what differs.

#![allow(dead_code)]

use std::time::Duration;

use mailtrip::diagnose::Code;
use mailtrip::report::{ErrorReport, Phase, Report, Verdict};
use mailtrip::server::{Faults, ServerConfig, TestServer};
use mailtrip::{Account, Check};

use crate::util::{self, PASSWORD};

pub const ALICE: &str = "alice@mailtrip.test";
pub const BOB: &str = "bob@mailtrip.test";

/// Ends a test that would otherwise hang: a liveness guard, not a timing assertion.
pub const HANG_GUARD: Duration = Duration::from_secs(90);

/// `addr`'s account on the embedded `server`, with the password `util` gave it.
pub fn account(server: &TestServer, addr: &str) -> Account {
    Account::embedded(server, addr, PASSWORD)
}

/// An embedded server (alice and bob) armed with `faults` from the start.
pub async fn faulty(faults: Faults) -> TestServer {
    util::server_with(ServerConfig::default().faults(faults)).await
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

/// Asserts no message carrying `r`'s probe id is left in `user`'s `folder`.
pub fn assert_cleaned(server: &TestServer, user: &str, folder: &str, r: &Report) {
    assert!(
        probe_ids(server, user, folder, &r.probe_id).is_empty(),
        "probe left in {user}'s {folder}: {r:#?}"
    );
}
