//! Issue 18 item 4: the copy a Gmail sender files in its own Sent Mail for a cross-account
//! probe is cleaned by `check`, kept by `--keep`, and cleaned by `load` and `monitor` too.

use std::path::Path;
use std::process::Output;

use mailtrip::server::TestServer;

use super::{
    ALICE, APP_PASSWORD, BOB, account_toml, ca_in, check_json, gmail_server, report, scratch,
};
use crate::util;

const GMAIL_FOLDERS: [&str; 5] = [
    "INBOX",
    "[Gmail]/All Mail",
    "[Gmail]/Sent Mail",
    "[Gmail]/Spam",
    "[Gmail]/Trash",
];

/// Every message of `user` in the Gmail folders, as (folder, UID, text).
fn gmail_mail(server: &TestServer, user: &str) -> Vec<(String, u32, String)> {
    GMAIL_FOLDERS
        .iter()
        .flat_map(|f| {
            server
                .messages(user, f)
                .expect("folder")
                .into_iter()
                .map(|m| {
                    (
                        f.to_string(),
                        m.uid,
                        String::from_utf8_lossy(&m.raw).into_owned(),
                    )
                })
        })
        .collect()
}

/// A config file with `alice` and `bob` on the embedded server, for `--to-account`.
fn two_accounts(server: &TestServer, dir: &Path) -> String {
    let ca = ca_in(server, dir);
    let account = |name: &str, address: &str| {
        account_toml(name, address, "APP_PW", server, &ca) + "provider = \"gmail\"\n"
    };
    let path = dir.join("mailtrip.toml");
    std::fs::write(
        &path,
        format!("{}\n{}", account("alice", ALICE), account("bob", BOB)),
    )
    .expect("config");
    path.display().to_string()
}

/// `check --account alice --to-account bob` with the accounts of [`two_accounts`].
fn check_alice_to_bob(dir: &Path, config: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "--config",
        config,
        "--account",
        "alice",
        "--to-account",
        "bob",
    ];
    args.extend_from_slice(extra);
    check_json(dir, &args, &[("APP_PW", APP_PASSWORD)])
}

/// Issue 18 item 4: `check --to-account` from a Gmail sender deletes the copy Gmail filed in
/// the sender's `[Gmail]/Sent Mail` (and says so in the cleanup phase), and touches nothing
/// else in either mailbox: not the sender's other sent mail, not an earlier run's probe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue18_item4_cross_account_check_cleans_the_gmail_senders_sent_copy() {
    let server = gmail_server().await;
    let dir = scratch("cross-sent");
    let config = two_accounts(&server, &dir);
    server
        .deliver_raw(ALICE, "[Gmail]/Sent Mail", b"From: <alice@mailtrip.test>\r\nTo: <carol@elsewhere.test>\r\nSubject: lunch\r\n\r\nsee you\r\n")
        .expect("seed");
    server
        .deliver_raw(ALICE, "[Gmail]/Sent Mail", b"From: <alice@mailtrip.test>\r\nTo: <bob@mailtrip.test>\r\nSubject: mailtrip probe 0190beef\r\nX-Mailtrip-Probe: 0190beef-0000-7000-8000-000000000001\r\n\r\nan earlier run's, kept\r\n")
        .expect("seed");
    server
        .deliver_raw(BOB, "INBOX", b"Subject: keep me\r\n\r\nhello\r\n")
        .expect("seed");
    let before = (gmail_mail(&server, ALICE), gmail_mail(&server, BOB));

    let out = tokio::task::block_in_place(|| check_alice_to_bob(&dir, &config, &[]));
    let report = report(&out, 0);
    assert_eq!(report["verdict"], "delivered", "{report}");
    let cleanup = report["phases"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "cleanup"))
        .expect("a cleanup phase");
    assert_eq!(cleanup["ok"], true, "{report}");
    assert_eq!(
        cleanup["detail"],
        "deleted 1 of 1 copy from INBOX and 1 from the sender's [Gmail]/Sent Mail",
        "{report}"
    );
    assert!(
        report["warnings"].as_array().is_none_or(Vec::is_empty),
        "{report}"
    );
    let after = (gmail_mail(&server, ALICE), gmail_mail(&server, BOB));
    assert_eq!(before, after, "the probe is gone and nothing else changed");
}

/// Issue 18 item 4: `--keep` leaves the sender's copy too, as it leaves the received one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue18_item4_keep_leaves_the_senders_sent_copy() {
    let server = gmail_server().await;
    let dir = scratch("cross-keep");
    let config = two_accounts(&server, &dir);
    let out = tokio::task::block_in_place(|| check_alice_to_bob(&dir, &config, &["--keep"]));
    let tag = report(&out, 0)["probe_id"]
        .as_str()
        .expect("probe_id")
        .to_string();
    let sent = server.messages(ALICE, "[Gmail]/Sent Mail").expect("sent");
    assert_eq!(sent.len(), 1);
    assert!(String::from_utf8_lossy(&sent[0].raw).contains(&tag));
}

/// Mail of alice's own in her Sent Mail, which no cleanup may touch.
const OWN_SENT_MAIL: &[u8] = b"From: <alice@mailtrip.test>\r\nSubject: lunch\r\n\r\nsee you\r\n";

/// A Gmail-profile server where alice already has [`OWN_SENT_MAIL`] in `[Gmail]/Sent Mail`,
/// and the library's accounts of alice (the sender) and bob.
async fn gmail_with_own_sent_mail() -> (TestServer, mailtrip::Account, mailtrip::Account) {
    let server = gmail_server().await;
    server
        .deliver_raw(ALICE, "[Gmail]/Sent Mail", OWN_SENT_MAIL)
        .expect("seed");
    let alice = mailtrip::Account::embedded(&server, ALICE, APP_PASSWORD);
    let bob = mailtrip::Account::embedded(&server, BOB, APP_PASSWORD);
    (server, alice, bob)
}

/// Issue 18 item 4, the library's other cross-account routes: a check that does not arrive
/// still removes the sender's copy, and `load` to another mailbox removes every one.
#[tokio::test]
async fn issue18_item4_not_delivered_and_load_clean_the_senders_sent_copies() {
    use mailtrip::Load;
    use mailtrip::server::Faults;
    let (server, alice, bob) = gmail_with_own_sent_mail().await;
    let before = gmail_mail(&server, ALICE);

    util::set_fault(&server, |f| f.drop_percent = 100);
    let one_second = std::time::Duration::from_secs(1);
    let r = crate::scenario::check_between(alice.clone(), bob.clone(), one_second).await;
    assert_eq!(r.verdict, mailtrip::report::Verdict::NotDelivered, "{r:#?}");
    assert!(r.warnings.is_empty(), "{r:#?}");
    assert_eq!(
        gmail_mail(&server, ALICE),
        before,
        "sender's copy left: {r:#?}"
    );

    server.set_faults(Faults::default());
    let r = crate::scenario::run_load(Load::new(alice, vec![bob]).probes(10).concurrency(4)).await;
    assert_eq!(r.delivered, 10, "{r:#?}");
    assert!(r.cleanup.problems.is_empty(), "{r:#?}");
    assert_eq!(
        r.cleanup.deleted, 20,
        "10 received and 10 Sent copies: {r:#?}"
    );
    assert_eq!(gmail_mail(&server, ALICE), before);
    assert!(gmail_mail(&server, BOB).is_empty());
}

/// Issue 18 item 4, `monitor`: a route to another mailbox cannot clean the sender's Sent copy
/// of each probe over its kept connections, so the start-up (and hourly) sweep now covers the
/// sender's own mailbox too: a stale probe there goes, the sender's other mail stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue18_item4_monitor_sweeps_the_senders_own_mailbox() {
    use mailtrip::monitor::{Monitor, Route};
    use std::time::Duration;
    let (server, alice, bob) = gmail_with_own_sent_mail().await;
    // A genuine probe: sweep deletes only what proves to be one (issue #13 item 5), so its
    // body matches its digest (sha256 of "stale").
    let stale = b"From: <alice@mailtrip.test>\r\nTo: <bob@mailtrip.test>\r\n\
        Subject: mailtrip probe 0190beef\r\n\
        X-Mailtrip-Probe: 0190beef-0000-7000-8000-000000000002\r\n\
        X-Mailtrip-Sent: 2020-01-01T00:00:00.000Z\r\n\
        X-Mailtrip-Digest: sha256=a03f2386ae06b21109577020844df367857b72c2fcce384c1896fed98a89c82b\r\n\
        \r\nstale\r\n";
    server
        .deliver_raw(ALICE, "[Gmail]/Sent Mail", stale)
        .expect("seed");
    let monitor = Monitor::new(vec![
        Route::new("alice-bob", alice, bob)
            .interval(Duration::from_secs(3600))
            .timeout(Duration::from_secs(10)),
    ])
    .listen("127.0.0.1:0".parse().expect("addr"))
    .start()
    .await
    .expect("monitor starts");
    let has_stale = || {
        server
            .messages(ALICE, "[Gmail]/Sent Mail")
            .expect("sent")
            .iter()
            .any(|m| m.raw.ends_with(b"stale\r\n"))
    };
    // A bound on the wait, not a speed target.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while has_stale() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    monitor.shutdown().await;
    assert!(
        !has_stale(),
        "the sender's stale probe is still in its Sent"
    );
    let kept = server.messages(ALICE, "[Gmail]/Sent Mail").expect("sent");
    assert!(
        kept.iter().any(|m| m.raw[..] == OWN_SENT_MAIL[..]),
        "the sender's own mail was touched"
    );
}
