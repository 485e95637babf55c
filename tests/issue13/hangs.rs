//! Issue #13, hangs (items 8–10): `load` with probes that never arrive, a password command
//! that never ends, and `verify`'s timeout as a budget for the whole command.

use std::time::Duration;

use mailtrip::Load;
use mailtrip::config::Security;
use mailtrip::server::Faults;

use super::{ALICE, BOB, HANG_GUARD, account, against, args, endpoints, faulty, mailtrip};
use crate::scenario::{run_load, verify};
use crate::util;

// --- 8. `load` never ends when probes never arrive ------------------------------------------

#[tokio::test]
async fn item_08_load_with_probes_that_never_arrive_ends_with_them_lost() {
    let server = util::server().await;
    // Watch alice's mailbox for probes addressed to bob: none ever shows up there.
    let mut watched = account(&server, ALICE);
    watched.address = BOB.into();
    let r = run_load(
        Load::new(account(&server, ALICE), vec![watched])
            .probes(6)
            .concurrency(3)
            .timeout(Duration::from_secs(2)),
    )
    .await;
    assert_eq!((r.sent, r.lost, r.delivered), (6, 6, 0), "{r:#?}");
    assert!(
        r.warnings.iter().any(|w| w.contains("mailtrip sweep")),
        "the probes left in bob's mailbox get no hint: {r:#?}"
    );
    assert_eq!(server.messages(BOB, "INBOX").expect("inbox").len(), 6);
}

#[tokio::test]
async fn item_08_late_arrivals_within_the_grace_window_are_cleaned_up() {
    let server = util::server_with_fault(|f| {
        f.delivery_delay = Some((Duration::from_millis(4500), Duration::from_millis(4500)))
    })
    .await;
    let r = run_load(
        Load::new(account(&server, ALICE), vec![account(&server, BOB)])
            .probes(3)
            .concurrency(3)
            .timeout(Duration::from_secs(3)),
    )
    .await;
    assert_eq!((r.lost, r.late), (3, 3), "{r:#?}");
    assert_eq!(r.cleanup.deleted, 3, "{r:#?}");
    util::assert_empty(
        &server,
        BOB,
        "INBOX",
        &format!("late probes are cleaned up: {r:#?}"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_08_load_cli_with_an_alias_target_ends() {
    let server = util::server().await;
    let out = against(
        &server,
        &[
            "load",
            "--user",
            ALICE,
            "--to",
            BOB,
            "--alias",
            "--probes",
            "4",
            "--concurrency",
            "2",
            "--timeout",
            "2s",
            "--format",
            "json",
        ],
    )
    .await;
    assert_eq!(out.code, 2, "{out:#?}");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(v["lost"], 4, "{v:#}");
}

// --- 9. Password and token commands are bounded ---------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_09_a_password_command_that_never_ends_is_stopped_and_named() {
    let server = util::server().await;
    for (flag, command, named) in [
        ("--password-command", "sleep 100", "password command"),
        (
            "--oauth2-token-command",
            "sleep 100; echo token",
            "OAuth2 token command",
        ),
    ] {
        let mut a = args(&["check", "--user", ALICE, flag, command, "--timeout", "2s"]);
        a.extend(endpoints(&server));
        let out = mailtrip(&a, &[], HANG_GUARD).await;
        assert_eq!(out.code, 3, "{flag}: {out:#?}");
        // The message names the kind of command the flag gave, then the command itself.
        let said = format!("{named} {command:?} did not finish within 2.0 s");
        assert!(out.stderr.contains(&said), "{flag}: {said}: {out:#?}");
    }
    assert_eq!(server.auth_attempts(), (0, 0));
}

// --- 10. `verify --timeout` is a budget for the whole command -------------------------------

#[tokio::test]
async fn item_10_verify_timeout_bounds_the_whole_command() {
    let server = faulty(Faults {
        smtp_hang_on: Some("GREETING".into()),
        imap_hang_on: Some("GREETING".into()),
        ..Faults::default()
    })
    .await;
    let mut alice = account(&server, ALICE);
    // Plain SMTP so the greeting wait (and the TLS sniff after it) runs.
    alice.smtp = util::local_smtp(Security::StartTls, server.submission_addr().port());
    let limit = Duration::from_secs(3);
    let r = verify(alice, limit).await;
    assert_ne!(r.exit_code(), 0, "{r:#?}");
    // A budget, not a per-step limit: the whole run ends within it (plus scheduling slack).
    assert!(
        r.total_ms < limit.as_secs_f64() * 1000.0 + 1500.0,
        "took {:.0} ms with --timeout {limit:?}: {r:#?}",
        r.total_ms
    );
    // And what it says is true: no step claims a wait longer than the budget.
    let json = serde_json::to_string(&r).expect("json");
    let claims: Vec<f64> = regex::Regex::new(r"within (\d+\.\d) s")
        .expect("regex")
        .captures_iter(&json)
        .filter_map(|c| c[1].parse().ok())
        .collect();
    assert!(!claims.is_empty(), "{json}");
    assert!(claims.iter().all(|s| *s <= 3.0), "{claims:?}: {json}");
}
