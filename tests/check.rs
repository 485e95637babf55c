//! `mailtrip::Check` end to end against the embedded server over real sockets: verdicts,
//! placement, evidence, cleanup that touches nothing but the probe, and failure diagnoses.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailtrip::config::{Protocol, Security};
use mailtrip::diagnose::Code;
use mailtrip::report::{Phase, Placement, Verdict};
use mailtrip::server::{Faults, Profile, ServerConfig, TestServer};
use mailtrip::{Account, Check, Endpoint, Report};

use crate::util::{self, PASSWORD};

const ALICE: &str = "alice@mailtrip.test";
const BOB: &str = "bob@mailtrip.test";

fn account(server: &TestServer, addr: &str) -> Account {
    Account::embedded(server, addr, PASSWORD)
}

fn probe_ids(server: &TestServer, user: &str, folder: &str, tag: &str) -> Vec<u32> {
    server
        .messages(user, folder)
        .expect("folder")
        .iter()
        .filter(|m| String::from_utf8_lossy(&m.raw).contains(tag))
        .map(|m| m.uid)
        .collect()
}

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
    let r = Check::new(account(&server, ALICE), account(&server, BOB))
        .timeout(Duration::from_secs(20))
        .run_id("run-42")
        .on_progress(move |p| s.lock().expect("lock").push(p))
        .run()
        .await;
    assert_eq!(r.verdict, Verdict::Delivered, "{r:#?}");
    assert_eq!(r.placement, Some(Placement::Inbox));
    assert_eq!(r.run_id, "run-42");
    assert_all_ok(&r);
    assert_eq!(r.evidence.copies, 1);
    assert_eq!(r.evidence.digest_ok, Some(true));
    assert_eq!(r.evidence.mailbox.as_deref(), Some("INBOX"));
    assert!(r.evidence.smtp_reply.as_deref().is_some_and(|s| s.starts_with("250")), "{r:#?}");
    assert!(r.evidence.received_hops.is_some_and(|n| n >= 1), "{r:#?}");
    assert!(probe_ids(&server, BOB, "INBOX", &r.probe_id).is_empty(), "probe left behind");
    assert_eq!(seen.lock().expect("lock").len(), r.phases.len());
}
