//! Issue #13, false verdicts (items 1–7) and the delivery clock (item 18): a `--to` the watch
//! cannot see, a gateway that strips the tag header, a lost reply to the end of DATA, a
//! headline that contradicts the verdict, forged look-alikes, a threshold warning without
//! thresholds, other sessions' expunges, and a slow QUIT.

use std::time::Duration;

use mailtrip::Check;
use mailtrip::render::Format;
use mailtrip::report::{Phase, Verdict};
use mailtrip::server::{DataReply, Faults, FlagOp};

use super::{ALICE, BOB, account, against, faulty};
use crate::scenario::{check, check_faulty, delivered_despite, render};
use crate::util;

fn json(r: &mailtrip::Report) -> serde_json::Value {
    serde_json::to_value(r).expect("report serializes")
}

fn human(r: &mailtrip::Report) -> String {
    render(Format::Human, r)
}

// --- 1. `--to` someone the watch cannot see ------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_01_to_someone_the_watch_cannot_see_is_refused_before_sending() {
    let server = util::server().await;
    for to in [BOB.to_string(), format!("<{BOB}>"), format!("Bob <{BOB}>")] {
        let out = against(
            &server,
            &["check", "--user", ALICE, "--to", &to, "--timeout", "3s"],
        )
        .await;
        assert_eq!(out.code, 3, "--to {to:?}: {out:#?}");
        assert!(
            out.stderr.contains("--to-account") && out.stderr.contains("--alias"),
            "--to {to:?}: {out:#?}"
        );
        assert!(!out.stdout.contains("NOT DELIVERED"), "{out:#?}");
    }
    // Refused before any connection: nothing logged in, nothing was sent.
    assert_eq!(server.auth_attempts(), (0, 0));
    util::assert_empty(&server, BOB, "INBOX", "refused before sending");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_01_an_alias_is_watched_in_the_senders_mailbox_and_every_format_says_so() {
    let server = util::server().await;
    for format in ["human", "json", "nagios", "junit", "prometheus"] {
        let out = against(
            &server,
            &[
                "check",
                "--user",
                ALICE,
                "--to",
                BOB,
                "--alias",
                "--timeout",
                "2s",
                "--format",
                format,
            ],
        )
        .await;
        assert_eq!(out.code, 2, "{format}: {out:#?}");
        assert!(
            out.stdout.contains(ALICE) && out.stdout.contains(BOB),
            "{format} names neither the watched mailbox nor the alias: {out:#?}"
        );
        match format {
            "json" => {
                let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
                assert_eq!(v["alias_of"], ALICE, "{v:#}");
                assert_eq!(v["to"], BOB, "{v:#}");
                let summary = v["error"]["summary"].as_str().expect("summary");
                assert!(summary.contains("may sit in its own mailbox"), "{summary}");
            }
            "human" => {
                assert!(out.stdout.contains("an alias: watching"), "{out:#?}");
                assert!(
                    out.stdout.contains("may sit in its own mailbox"),
                    "{out:#?}"
                );
            }
            "nagios" => assert!(out.stdout.contains("watched in"), "{out:#?}"),
            "junit" => assert!(out.stdout.contains("name=\"alias_of\""), "{out:#?}"),
            _ => assert!(out.stdout.contains("mailbox=\""), "{out:#?}"),
        }
    }
}

// --- 2. A gateway strips X-Mailtrip-Probe ---------------------------------------------------

#[tokio::test]
async fn item_02_a_stripped_tag_header_is_matched_by_message_id_and_reported() {
    let (server, r) = check_faulty(
        |f| f.strip_header = Some("X-Mailtrip-Probe".into()),
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(r.verdict, Verdict::Delivered, "{r:#?}");
    let v = json(&r);
    let carriers = &v["evidence"]["carriers"];
    assert_eq!(carriers["header"], false, "{v:#}");
    assert_eq!(carriers["message_id"], true, "{v:#}");
    assert_eq!(carriers["subject"], true, "{v:#}");
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("X-Mailtrip-Probe") && w.contains("removed")),
        "{r:#?}"
    );
    util::assert_empty(&server, BOB, "INBOX", "cleaned up like any other probe");
}

#[tokio::test]
async fn item_02_sweep_finds_a_kept_probe_whose_tag_header_was_stripped() {
    let server =
        util::server_with_fault(|f| f.strip_header = Some("X-Mailtrip-Probe".into())).await;
    let r = Check::new(account(&server, ALICE), account(&server, BOB))
        .keep(true)
        .timeout(Duration::from_secs(20))
        .run()
        .await;
    assert_eq!(r.verdict, Verdict::Delivered, "{r:#?}");
    let sweep = mailtrip::probe::Sweep::new(account(&server, BOB)).sender(ALICE);
    let listed = sweep.list().await.expect("list");
    assert_eq!(listed.found.len(), 1, "{listed:#?}");
    assert_eq!(listed.found[0].tag, r.probe_id, "{listed:#?}");
    let done = sweep.delete(&listed).await.expect("delete");
    assert_eq!(done.deleted, 1, "{done:#?}");
    util::assert_empty(&server, BOB, "INBOX", "the sweep deletes the kept probe");
}

// --- 3. The reply to the end of DATA is lost or stalls --------------------------------------

#[tokio::test]
async fn item_03_lost_data_reply_keeps_watching_and_reports_delivered_with_a_warning() {
    for fault in [DataReply::Cut, DataReply::Stall] {
        let (server, r) =
            check_faulty(|f| f.smtp_data_reply = Some(fault), Duration::from_secs(4)).await;
        assert_eq!(r.verdict, Verdict::Delivered, "{fault:?}: {r:#?}");
        assert_eq!(r.exit_code(), 1, "delivered with a warning: {r:#?}");
        let submit = r.phase(Phase::SmtpSubmit).expect("smtp_submit");
        assert!(!submit.ok, "{r:#?}");
        assert!(submit.detail.contains("no reply to DATA"), "{r:#?}");
        assert!(
            r.warnings
                .iter()
                .any(|w| w.contains("never answered the end of DATA")),
            "{r:#?}"
        );
        util::assert_empty(
            &server,
            BOB,
            "INBOX",
            &format!("{fault:?}: probe cleaned up"),
        );
    }
}

#[tokio::test]
async fn item_03_lost_data_reply_without_arrival_says_the_outcome_is_unknown() {
    let server = faulty(Faults {
        smtp_data_reply: Some(DataReply::Cut),
        drop_percent: 100,
        ..Faults::default()
    })
    .await;
    let r = check(&server, Duration::from_secs(2)).await;
    assert_eq!(r.verdict, Verdict::SendFailed, "{r:#?}");
    let v = json(&r);
    assert_eq!(v["error"]["code"], "data_reply_lost", "{v:#}");
    assert_eq!(v["error"]["phase"], "smtp_submit", "{v:#}");
    let summary = v["error"]["summary"].as_str().expect("summary");
    assert!(
        summary.starts_with("no reply to DATA: the server may have accepted it"),
        "{summary}"
    );
    assert!(
        !v["error"]["hint"].as_str().unwrap_or("").contains("TLS"),
        "{v:#}"
    );
    // It kept watching: the delivery phase ran to its deadline.
    assert!(r.phase(Phase::Delivery).is_some(), "{r:#?}");
}

// --- 4. The headline must not contradict the verdict ----------------------------------------

#[tokio::test]
async fn item_04_content_mismatch_headline_and_code() {
    let (_server, r) = check_faulty(
        |f| f.append_footer = Some("-- \r\nSent through the list".into()),
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(r.verdict, Verdict::ContentMismatch, "{r:#?}");
    assert_eq!(r.exit_code(), 2);
    let v = json(&r);
    assert_eq!(v["error"]["code"], "content_mismatch", "{v:#}");
    let text = human(&r);
    let headline = text
        .lines()
        .find(|l| l.contains("— total"))
        .expect("headline");
    assert!(!headline.contains("DELIVERED"), "{headline}");
    assert!(headline.starts_with("CONTENT MISMATCH"), "{headline}");
}

// --- 5. Forged look-alikes are never treated as own probes ----------------------------------

/// A probe-shaped message in bob's INBOX: `from_lines` are its From header(s), `tag` its
/// X-Mailtrip-Probe, `body` its text (the digest header is always that of the genuine body).
fn lookalike(from_lines: &str, tag: &str, body: &str) -> Vec<u8> {
    let sent = (chrono::Utc::now() - chrono::TimeDelta::days(2))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    use sha2::Digest;
    let genuine = format!("genuine probe body {tag}");
    let digest: String = sha2::Sha256::digest(genuine.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let short: String = tag.chars().filter(|c| *c != '-').take(8).collect();
    format!(
        "{from_lines}To: {BOB}\r\nSubject: mailtrip probe {short}\r\n\
         Message-ID: <{tag}@mailtrip.test>\r\nX-Mailtrip-Probe: {tag}\r\n\
         X-Mailtrip-Run: forged\r\nX-Mailtrip-Sent: {sent}\r\nX-Mailtrip-Timeout: 60\r\n\
         X-Mailtrip-Digest: sha256={digest}\r\nContent-Type: text/plain; charset=utf-8\r\n\
         \r\n{body}\r\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn item_05_sweep_never_deletes_forged_lookalikes() {
    let server = util::server().await;
    let uuid = |n: u32| format!("0190aaaa-bbbb-7ccc-8ddd-{n:012}");
    let genuine = |n: u32| format!("genuine probe body {}", uuid(n));
    let cases = [
        (
            format!("From: mallory@evil.test\r\nFrom: {ALICE}\r\n"),
            uuid(1),
            genuine(1),
        ),
        (
            format!("From: {ALICE}, mallory@evil.test\r\n"),
            uuid(2),
            genuine(2),
        ),
        (
            format!("From: friends: {ALICE}, mallory@evil.test;\r\n"),
            uuid(3),
            genuine(3),
        ),
        (
            format!("From: {ALICE}\r\n"),
            "hello-not-a-uuid".to_string(),
            "genuine probe body hello-not-a-uuid".to_string(),
        ),
        (
            format!("From: {ALICE}\r\n"),
            uuid(5),
            "this body does not match its digest".to_string(),
        ),
    ];
    for (from, tag, body) in &cases {
        server
            .deliver_raw(BOB, "INBOX", &lookalike(from, tag, body))
            .expect("seed");
    }
    let before = server.messages(BOB, "INBOX").expect("inbox");
    let sweep = mailtrip::probe::Sweep::new(account(&server, BOB)).sender(ALICE);
    let listed = sweep.list().await.expect("list");
    assert!(listed.found.is_empty(), "look-alikes listed: {listed:#?}");
    let done = sweep.delete(&listed).await.expect("delete");
    assert_eq!(done.deleted, 0);
    let after = server.messages(BOB, "INBOX").expect("inbox");
    assert_eq!(after.len(), before.len(), "a look-alike was deleted");

    // And a check of bob's mailbox never calls them probes of an earlier run.
    let r = check(&server, Duration::from_secs(20)).await;
    assert_eq!(r.verdict, Verdict::Delivered, "{r:#?}");
    assert!(
        !r.warnings.iter().any(|w| w.contains("earlier run")),
        "{r:#?}"
    );
}

// --- 6. A spam verdict with no thresholds ---------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_06_spam_verdict_prints_no_threshold_warning_without_thresholds() {
    let server = util::server_with_fault(|f| f.junk_rule = Some("mailtrip probe".into())).await;
    let out = against(&server, &["check", "--user", ALICE, "--timeout", "20s"]).await;
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(out.stdout.contains("DELIVERED TO SPAM"), "{out:#?}");
    assert!(!out.all().contains("--warning/--critical"), "{out:#?}");
}

// --- 7. Cleanup counts only its own UIDs ----------------------------------------------------

#[tokio::test]
async fn item_07_cleanup_counts_only_its_own_expunges() {
    let server = util::server_with_fault(|f| f.imap_foreign_expunge = Some(3)).await;
    // Three other probes that concurrent checks are about to expunge.
    for n in 0..3 {
        let raw = format!("From: {ALICE}\r\nSubject: mailtrip probe other{n}\r\n\r\nx\r\n");
        let uid = server
            .deliver_raw(BOB, "INBOX", raw.as_bytes())
            .expect("seed");
        server
            .store()
            .store_flags(BOB, "INBOX", &[uid], FlagOp::Add, &["\\Seen".into()])
            .expect("flags");
    }
    let r = check(&server, Duration::from_secs(20)).await;
    assert_eq!(r.verdict, Verdict::Delivered, "{r:#?}");
    assert_eq!(
        server.faults_fired(),
        1,
        "the foreign expunge never happened"
    );
    let cleanup = r.phase(Phase::Cleanup).expect("cleanup");
    assert_eq!(cleanup.detail, "deleted 1 of 1 copy from INBOX", "{r:#?}");
    assert_eq!(r.evidence.copies, 1, "{r:#?}");
}

// --- 18. The delivery clock starts at the 250 to the end of DATA ----------------------------

#[tokio::test]
async fn item_18_delivery_clock_starts_at_the_data_reply_not_after_quit() {
    // QUIT never gets an answer (the client waits up to 2 s for it), and delivery takes
    // 1.5 s after the 250: the probe lands while the client would still wait for QUIT.
    let (_server, r) = delivered_despite(
        |f| f.smtp_hang_on = Some("QUIT".into()),
        Duration::from_millis(1500),
        Duration::from_secs(20),
    )
    .await;
    let delivery = r.phase(Phase::Delivery).expect("delivery");
    // The server held the probe 1.5 s after its 250: no clock can have seen it sooner.
    assert!(delivery.ms >= 1400.0, "delivery time hidden: {r:#?}");
}
