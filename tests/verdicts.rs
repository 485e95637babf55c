//! Verdicts that cannot lie (issue #10): an auto-reply, a forward (attached or inline) or a
//! bounce that quotes the probe is never "delivered", and never deleted; a genuine probe from
//! an earlier run, arriving during this one, never satisfies it. Only the message's own
//! top-level tag header, Message-ID and digest count.

use std::time::Duration;

use mailtrip::Check;
use mailtrip::report::{Phase, Verdict};
use mailtrip::server::{Faults, Quote, ServerConfig, TestServer};

use crate::scenario::{check, check_between, probe_ids, until};
use crate::util::{self, ALICE, BOB, account};

const STYLES: [Quote; 3] = [
    Quote::AutoReply,
    Quote::ForwardAttached,
    Quote::ForwardInline,
];

/// Messages in bob's INBOX whose bytes mention `needle`.
fn holding(server: &TestServer, needle: &str) -> Vec<u32> {
    probe_ids(server, BOB, "INBOX", needle)
}

#[tokio::test]
async fn a_message_that_only_quotes_the_probe_is_not_delivered_and_is_kept() {
    for style in STYLES {
        let server = util::server_with(ServerConfig::default().faults(Faults {
            quote: Some(style),
            // Only the quote arrives; the probe itself is lost.
            drop_percent: 100,
            ..Faults::default()
        }))
        .await;
        let r = check(&server, Duration::from_secs(3)).await;
        assert_eq!(r.verdict, Verdict::NotDelivered, "{style:?}: {r:#?}");
        assert_eq!(r.error.as_ref().map(|e| e.phase), Some(Phase::Delivery));
        // The quote is there, quotes the tag in full, and was left alone.
        assert_eq!(holding(&server, &r.probe_id).len(), 1, "{style:?}: {r:#?}");
        assert_eq!(server.messages(BOB, "INBOX").expect("inbox").len(), 1);
    }
}

#[tokio::test]
async fn a_quote_arriving_before_the_probe_is_neither_counted_nor_deleted() {
    for style in STYLES {
        let server = util::server_with_fault(|f| f.quote = Some(style)).await;
        let r = check(&server, Duration::from_secs(20)).await;
        assert_eq!(r.verdict, Verdict::Delivered, "{style:?}: {r:#?}");
        assert_eq!(r.evidence.copies, 1, "{style:?}: {r:#?}");
        // The quote has the lower UID, yet the genuine probe is the one found and deleted.
        let left = server.messages(BOB, "INBOX").expect("inbox");
        assert_eq!(left.len(), 1, "{style:?}: {r:#?}");
        assert!(left[0].uid < r.evidence.uid.expect("uid"), "{r:#?}");
        assert!(String::from_utf8_lossy(&left[0].raw).contains(&r.probe_id));
    }
}

#[tokio::test]
async fn a_bounce_quoting_the_probe_in_the_recipients_inbox_is_not_delivered() {
    // A same-account check with the bounce fault: the DSN (which attaches the probe's
    // headers) lands in the very mailbox being watched; it is reported as a bounce.
    let server = util::server_with_fault(|f| {
        f.bounce = Some("550 5.1.1 <bob@mailtrip.test>: User unknown".into())
    })
    .await;
    let r = check_between(
        account(&server, BOB),
        account(&server, BOB),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(r.verdict, Verdict::Bounced, "{r:#?}");
    assert_eq!(
        holding(&server, &r.probe_id).len(),
        1,
        "the bounce was deleted"
    );
}

/// A genuine probe of an earlier run, kept in alice's INBOX: valid tag, Message-ID and digest.
async fn earlier_probe(server: &TestServer) -> (String, Vec<u8>) {
    let r = Check::new(account(server, ALICE), account(server, ALICE))
        .run_id("earlier-run")
        .keep(true)
        .timeout(Duration::from_secs(20))
        .run()
        .await;
    assert_eq!(r.verdict, Verdict::Delivered, "{r:#?}");
    let raw = server
        .messages(ALICE, "INBOX")
        .expect("inbox")
        .into_iter()
        .find(|m| String::from_utf8_lossy(&m.raw).contains(&r.probe_id))
        .expect("kept probe")
        .raw
        .to_vec();
    (r.probe_id, raw)
}

/// Delivers `raw` into bob's INBOX once the check's watch IDLEs (above its watermark).
async fn deliver_when_idle(server: &TestServer, raw: &[u8]) -> u32 {
    until("the watch IDLEs", || server.idling() > 0).await;
    server.deliver_raw(BOB, "INBOX", raw).expect("deliver")
}

#[tokio::test]
async fn a_probe_from_an_earlier_run_never_satisfies_this_run() {
    let server = util::server().await;
    let (old_tag, old) = earlier_probe(&server).await;

    // This run's probe is lost; the earlier one arrives while it watches.
    util::set_fault(&server, |f| f.drop_percent = 100);
    let (r, old_uid) = tokio::join!(
        check(&server, Duration::from_secs(4)),
        deliver_when_idle(&server, &old)
    );
    assert_ne!(r.probe_id, old_tag);
    assert_eq!(r.verdict, Verdict::NotDelivered, "{r:#?}");
    let left = holding(&server, &old_tag);
    assert_eq!(left, [old_uid], "the earlier probe was deleted");
}

#[tokio::test]
async fn an_earlier_probe_arriving_first_does_not_stand_in_for_this_one() {
    let server = util::server().await;
    let (old_tag, old) = earlier_probe(&server).await;
    util::set_fault(&server, |f| {
        f.delivery_delay = Some((Duration::from_millis(1500), Duration::from_millis(1500)))
    });
    let (r, old_uid) = tokio::join!(
        check(&server, Duration::from_secs(20)),
        deliver_when_idle(&server, &old)
    );
    assert_eq!(r.verdict, Verdict::Delivered, "{r:#?}");
    assert!(r.evidence.uid.expect("uid") > old_uid, "{r:#?}");
    assert_eq!(r.evidence.copies, 1, "{r:#?}");
    assert_eq!(
        holding(&server, &old_tag),
        [old_uid],
        "the earlier probe was deleted"
    );
    assert!(
        holding(&server, &r.probe_id).is_empty(),
        "this run's probe was left"
    );
}
