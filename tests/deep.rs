//! Deep verification end to end against the embedded server: hop timeline and
//! Authentication-Results, every fate (inbox, spam, archive, bounce, duplicate, late,
//! changed content), `Wait` for mail something else sends, and `Sweep` of leftover probes.

use std::time::Duration;

use mailtrip::analyze::auth_results::Outcome;
use mailtrip::report::{Phase, Placement, Verdict};
use mailtrip::server::{Faults, TestServer};
use mailtrip::{Account, Check};

use crate::util::{self, PASSWORD};

const ALICE: &str = "alice@mailtrip.test";
const BOB: &str = "bob@mailtrip.test";

fn account(server: &TestServer, addr: &str) -> Account {
    Account::embedded(server, addr, PASSWORD)
}

fn check(server: &TestServer, from: &str, to: &str) -> Check {
    Check::new(account(server, from), account(server, to)).timeout(Duration::from_secs(20))
}

fn holding(server: &TestServer, user: &str, folder: &str, text: &str) -> usize {
    server
        .messages(user, folder)
        .expect("folder")
        .iter()
        .filter(|m| String::from_utf8_lossy(&m.raw).contains(text))
        .count()
}

#[tokio::test]
async fn timeline_has_hops_without_skew_and_auth_is_none() {
    let server = util::server().await;
    let r = check(&server, ALICE, BOB).run().await;
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
    let server = util::server().await;
    server.set_faults(Faults {
        authentication_results: Some(
            "mx.google.com;\r\n       dkim=pass header.i=@mailtrip.test header.s=s1 header.b=AbC123;\r\n       \
             spf=pass (google.com: domain of alice@mailtrip.test designates 127.0.0.1 as permitted sender) \
             smtp.mailfrom=alice@mailtrip.test;\r\n       dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=mailtrip.test"
                .into(),
        ),
        ..Faults::default()
    });
    let r = check(&server, ALICE, BOB).run().await;
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
    let mut out = Vec::new();
    mailtrip::render::renderer(
        mailtrip::render::Format::Human,
        mailtrip::render::Style { color: false },
    )
    .render(r, &mut out)
    .expect("render");
    String::from_utf8(out).expect("utf-8")
}

#[tokio::test]
async fn junk_rule_is_spam() {
    let server = util::server().await;
    server.set_faults(Faults {
        junk_rule: Some("mailtrip probe".into()),
        ..Faults::default()
    });
    let r = check(&server, ALICE, BOB).run().await;
    assert_eq!(r.verdict, Verdict::DeliveredToSpam, "{r:#?}");
    assert_eq!(r.placement, Some(Placement::Spam));
    assert_eq!(r.exit_code(), 1);
}

#[tokio::test]
async fn archive_rule_is_archived_and_cleaned() {
    let server = util::server().await;
    server.set_faults(Faults {
        archive_rule: Some("mailtrip probe".into()),
        ..Faults::default()
    });
    let r = check(&server, ALICE, BOB).run().await;
    assert_eq!(r.verdict, Verdict::Delivered, "{r:#?}");
    assert_eq!(r.placement, Some(Placement::Archive), "{r:#?}");
    assert_eq!(r.evidence.mailbox.as_deref(), Some("Archive"));
    assert_eq!(r.exit_code(), 1);
    assert!(
        r.warnings.iter().any(|w| w.contains("skipped INBOX")),
        "{r:#?}"
    );
    assert_eq!(
        holding(&server, BOB, "Archive", &r.probe_id),
        0,
        "cleaned up"
    );
    assert!(render_human(&r).contains("DELIVERED TO ARCHIVE (Archive)"));
}

#[tokio::test]
async fn a_bounce_to_the_sender_is_bounced_with_status_and_diagnostic() {
    let server = util::server().await;
    let reply = "550 5.1.1 <bob@mailtrip.test>: Recipient address rejected: User unknown in local recipient table";
    server.set_faults(Faults {
        bounce: Some(reply.into()),
        ..Faults::default()
    });
    // A → B: the DSN lands in alice's INBOX, watched for bounces.
    let r = check(&server, ALICE, BOB).run().await;
    assert_eq!(r.verdict, Verdict::Bounced, "{r:#?}");
    assert_eq!(r.exit_code(), 2);
    let b = r.evidence.bounce.as_ref().expect("bounce");
    assert_eq!(b.status.as_deref(), Some("5.1.1"));
    assert_eq!(
        b.diagnostic.as_deref(),
        Some(format!("smtp; {reply}").as_str())
    );
    assert_eq!(b.mailbox, "INBOX");
    let e = r.error.as_ref().expect("error");
    assert_eq!(e.phase, Phase::Delivery);
    assert_eq!(
        e.diagnosis.code,
        mailtrip::diagnose::Code::RecipientRejected,
        "{e:#?}"
    );
    assert!(
        e.diagnosis.summary.starts_with("the probe bounced"),
        "{e:#?}"
    );
    // The DSN is the user's mail now: left alone.
    assert_eq!(holding(&server, ALICE, "INBOX", "multipart/report"), 1);

    // Send-to-self: the bounce comes back to the watched INBOX itself.
    let r = check(&server, ALICE, ALICE).run().await;
    assert_eq!(r.verdict, Verdict::Bounced, "{r:#?}");
    assert_eq!(
        r.evidence.bounce.as_ref().and_then(|b| b.status.as_deref()),
        Some("5.1.1")
    );
}

#[tokio::test]
async fn two_copies_are_a_visible_duplicate_warning() {
    let server = util::server().await;
    server.set_faults(Faults {
        deliver_twice: true,
        ..Faults::default()
    });
    let r = check(&server, ALICE, BOB).run().await;
    assert_eq!(r.verdict, Verdict::Delivered, "{r:#?}");
    assert_eq!(r.evidence.copies, 2);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.starts_with("duplicate: 2 copies")),
        "{r:#?}"
    );
    assert_eq!(holding(&server, BOB, "INBOX", &r.probe_id), 0);
}

#[tokio::test]
async fn an_appended_footer_is_a_content_mismatch() {
    let server = util::server().await;
    server.set_faults(Faults {
        append_footer: Some("-- \r\nScanned by ExampleGate".into()),
        ..Faults::default()
    });
    let r = check(&server, ALICE, BOB).run().await;
    assert_eq!(r.verdict, Verdict::ContentMismatch, "{r:#?}");
}

#[tokio::test]
async fn a_probe_past_its_timeout_is_reported_late_by_the_next_check() {
    let server = util::server().await;
    server.set_faults(Faults {
        delivery_delay: Some((Duration::from_secs(3), Duration::from_secs(3))),
        ..Faults::default()
    });
    let first = check(&server, ALICE, BOB)
        .timeout(Duration::from_secs(1))
        .run()
        .await;
    assert_eq!(first.verdict, Verdict::NotDelivered, "{first:#?}");
    server
        .wait_for_messages(BOB, "INBOX", 1, Duration::from_secs(30))
        .await
        .expect("the late probe lands");
    server.set_faults(Faults::default());
    let second = check(&server, ALICE, BOB).run().await;
    assert_eq!(second.verdict, Verdict::Delivered, "{second:#?}");
    let late: Vec<_> = second
        .warnings
        .iter()
        .filter(|w| w.starts_with("late:"))
        .collect();
    assert_eq!(late.len(), 1, "{second:#?}");
    assert!(late[0].contains(&first.probe_id), "{late:?}");
    // A later check reports it but does not delete another run's probe.
    assert_eq!(holding(&server, BOB, "INBOX", &first.probe_id), 1);
}
