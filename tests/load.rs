//! `mailtrip::Load` against the embedded server: counts add up with no loss, injected drops
//! are reported as exactly those lost, duplicate deliveries as duplicates, cleanup removes
//! exactly the probes, and the guard rail refuses a remote server before connecting.

use std::time::Duration;

use mailtrip::load::LoadError;
use mailtrip::server::TestServer;
use mailtrip::{Account, Endpoint, Load};

use crate::scenario::{self, run_load};
use crate::util::{self, ALICE, BOB, PASSWORD};

fn load(server: &TestServer, probes: u64) -> Load {
    Load::new(
        util::account(server, ALICE),
        vec![util::account(server, BOB)],
    )
    .probes(probes)
    .concurrency(16)
}

fn tags(server: &TestServer, folder: &str) -> Vec<String> {
    server
        .messages(BOB, folder)
        .expect("folder")
        .iter()
        .filter_map(|m| util::header(&m.raw, "X-Mailtrip-Probe"))
        .collect()
}

#[tokio::test]
async fn two_hundred_probes_arrive_once_and_are_cleaned_up() {
    let server = util::server().await;
    let seeded = b"From: carol@example.org\r\nSubject: keep me\r\n\r\nuser mail\r\n";
    server.deliver_raw(BOB, "INBOX", seeded).expect("seed");
    server.deliver_raw(BOB, "Junk", seeded).expect("seed junk");

    let r = run_load(load(&server, 200)).await;

    assert_eq!(r.attempted, 200, "{r:#?}");
    assert_eq!(r.sent, 200, "{r:#?}");
    assert_eq!(r.delivered, 200, "{r:#?}");
    assert_eq!(
        (r.lost, r.duplicated, r.misplaced, r.send_failed),
        (0, 0, 0, 0)
    );
    assert_eq!(r.attempted, r.sent + r.send_failed);
    assert_eq!(r.sent, r.delivered + r.lost);
    assert_eq!(r.latency_ms.count, 200);
    assert!(r.latency_ms.p50 <= r.latency_ms.p99 && r.latency_ms.p99 <= r.latency_ms.max);
    assert!(r.cleanup.ran && r.cleanup.problems.is_empty(), "{r:#?}");
    assert_eq!(r.cleanup.deleted, 200);
    // Only the seeded messages are left.
    let inbox = server.messages(BOB, "INBOX").expect("inbox");
    assert_eq!(inbox.len(), 1);
    assert_eq!(&inbox[0].raw[..], &seeded[..]);
    assert_eq!(server.messages(BOB, "Junk").expect("junk").len(), 1);
    assert!(tags(&server, "INBOX").is_empty());
    let json = mailtrip::render::load::json(&r).expect("json");
    assert!(json.contains("\"schema\": \"mailtrip.load/1\""), "{json}");
}

#[tokio::test]
async fn dropped_deliveries_are_exactly_the_lost_ones() {
    let server = util::server_with_fault(|f| f.drop_percent = 10).await;

    let r = run_load(
        load(&server, 200)
            .timeout(Duration::from_secs(2))
            .keep(true),
    )
    .await;

    let stored = tags(&server, "INBOX");
    assert_eq!(r.sent, 200, "{r:#?}");
    assert_eq!(r.delivered as usize, stored.len(), "{r:#?}");
    assert_eq!(r.lost as usize, 200 - stored.len(), "{r:#?}");
    assert_eq!(r.sent, r.delivered + r.lost);
    assert!(r.lost > 0, "10% drops over 200 probes lose some: {r:#?}");
    assert_eq!(r.lost_probes.len() as u64, r.lost);
    for lost in &r.lost_probes {
        assert!(
            !stored.contains(lost),
            "{lost} was stored but reported lost"
        );
    }
    assert!(!r.cleanup.ran);
}

#[tokio::test]
async fn duplicate_deliveries_are_counted_and_every_copy_cleaned() {
    let server = util::server_with_fault(|f| f.deliver_twice = true).await;

    let r = run_load(load(&server, 50)).await;

    assert_eq!((r.sent, r.delivered, r.lost), (50, 50, 0), "{r:#?}");
    assert_eq!(r.duplicated, 50, "{r:#?}");
    assert_eq!(r.latency_ms.count, 50);
    assert_eq!(r.cleanup.deleted, 100, "{r:#?}");
    util::assert_empty(&server, BOB, "INBOX", "every probe is cleaned up");
}

#[tokio::test]
async fn spam_is_counted_as_misplaced() {
    let server = util::server_with_fault(|f| f.junk_rule = Some("X-Mailtrip-Probe".into())).await;

    let r = run_load(load(&server, 20)).await;

    assert_eq!((r.delivered, r.misplaced, r.lost), (20, 20, 0), "{r:#?}");
    util::assert_empty(&server, BOB, "Junk", "every probe is cleaned up in Junk");
}

#[tokio::test]
async fn polling_without_idle_still_sees_everything() {
    let server = util::server_with_fault(|f| f.imap_no_idle = true).await;

    let r = run_load(load(&server, 50)).await;

    assert!(!r.idle);
    assert_eq!((r.delivered, r.lost, r.duplicated), (50, 0, 0), "{r:#?}");
}

#[tokio::test]
async fn several_targets_share_the_probes() {
    let server = util::server().await;
    server.add_user("carol@mailtrip.test", PASSWORD);
    let three = Load::new(
        util::account(&server, ALICE),
        vec![
            util::account(&server, BOB),
            util::account(&server, "carol@mailtrip.test"),
        ],
    )
    .probes(40)
    .concurrency(8);
    let r = run_load(three).await;

    assert_eq!((r.delivered, r.lost, r.misplaced), (40, 0, 0), "{r:#?}");
    assert_eq!(r.to.len(), 2);
}

#[tokio::test]
async fn a_wrong_password_is_a_setup_error() {
    let server = util::server().await;
    let bad = Account::embedded(&server, ALICE, "wrong");
    let err = Load::new(bad, vec![util::account(&server, BOB)])
        .probes(5)
        .run()
        .await
        .expect_err("bad password");
    assert!(!err.is_usage(), "{err}");
}

#[tokio::test]
async fn a_remote_server_is_refused_before_any_connection() {
    use mailtrip::config::{Protocol, Security};
    // 192.0.2.0/24 is TEST-NET-1: never routed, so a connection attempt would hang, not
    // succeed; the refusal must come first (and fast).
    let smtp = Endpoint::new(Protocol::Smtp, Security::Tls, "192.0.2.1", 465);
    let imap = Endpoint::new(Protocol::Imap, Security::Tls, "192.0.2.1", 993);
    let remote = Account::new("me@example.org", "pw", smtp, imap);
    let run = Load::new(remote.clone(), vec![remote])
        .probes(10)
        .timeout(Duration::from_secs(60))
        .run();
    let err = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("refused without connecting")
        .expect_err("refused");
    assert!(matches!(err, LoadError::NotLoopback { .. }), "{err}");
    assert!(err.is_usage());
    assert!(err.to_string().contains("--i-own-this-account"), "{err}");
}

/// Issue 14: `load` pipelines MAIL, RCPT and DATA where the server offers PIPELINING; a refusal
/// inside a group must still consume every reply, so the refused probes are exactly the send
/// failures (with the server's words) and every other probe arrives, none lost.
#[tokio::test]
async fn issue14_refused_recipients_in_pipelined_groups_fail_alone() {
    let server = util::server_with_fault(|f| {
        f.smtp_transient = Some(("RCPT".into(), "452 4.2.2 Mailbox full".into(), 5))
    })
    .await;

    let r = run_load(load(&server, 100)).await;

    assert_eq!(r.send_failed, 5, "{r:#?}");
    assert_eq!((r.sent, r.delivered, r.lost), (95, 95, 0), "{r:#?}");
    assert_eq!(r.send_failures.len(), 1, "{r:#?}");
    assert!(
        r.send_failures[0].example.contains("Mailbox full"),
        "{r:#?}"
    );
    assert_eq!(tags(&server, "INBOX").len(), 0, "cleaned up");
}

/// Issue 21 (one cleanup for check and load): where expunge archives, load moves its probes to
/// `\Trash` and purges them there. A server that answers MOVE without COPYUID left all of them
/// in Trash, reported as nothing deleted and no problem; now they are found there by the
/// run's own tags, and only those go.
#[tokio::test]
async fn issue21_probes_moved_to_trash_without_copyuid_are_found_and_purged() {
    let server = util::server_with_fault(|f| f.imap_no_copyuid = true).await;
    let keep = b"From: carol@example.org\r\nSubject: keep me\r\n\r\nuser mail\r\n";
    server.deliver_raw(BOB, "Trash", keep).expect("seed trash");
    let mut to = util::account(&server, BOB);
    to.expunge_archives = true;
    let from = util::account(&server, ALICE);

    let r = run_load(Load::new(from, vec![to]).probes(20).concurrency(4)).await;

    assert_eq!(r.delivered, 20, "{r:#?}");
    assert!(r.cleanup.problems.is_empty(), "{r:#?}");
    assert_eq!(r.cleanup.deleted, 20, "{r:#?}");
    assert_eq!(tags(&server, "INBOX").len(), 0, "INBOX cleaned");
    assert_eq!(tags(&server, "Trash").len(), 0, "Trash purged");
    let trash = server.messages(BOB, "Trash").expect("trash");
    assert_eq!(
        trash.len(),
        1,
        "only the user's own message is left in Trash"
    );
    assert_eq!(trash[0].raw, keep.to_vec());
}

/// The same for `check`, whose cleanup finds the moved probe in Trash by its own tag.
#[tokio::test]
async fn issue21_a_checks_probe_moved_to_trash_without_copyuid_is_found_and_purged() {
    let server = util::server_with_fault(|f| f.imap_no_copyuid = true).await;
    let mut to = util::account(&server, BOB);
    to.expunge_archives = true;
    let r =
        scenario::check_between(util::account(&server, ALICE), to, Duration::from_secs(20)).await;
    assert!(r.verdict.is_delivered(), "{r:#?}");
    assert!(r.warnings.is_empty(), "{r:#?}");
    let cleanup = r.phases.iter().find(|p| p.name.as_str() == "cleanup");
    assert!(cleanup.is_some_and(|p| p.ok), "{r:#?}");
    assert_eq!(tags(&server, "INBOX").len(), 0, "INBOX cleaned");
    assert_eq!(tags(&server, "Trash").len(), 0, "Trash purged");
}
