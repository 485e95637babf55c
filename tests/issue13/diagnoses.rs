//! Issue #13, diagnoses that say what happened (item 17): the wording matches what happened on
//! the wire — EHLO unanswered after a greeting, a stalled handshake after `220` to STARTTLS, a
//! port with no AUTH at all, a port that speaks HTTP, a reset during AUTH (a network failure,
//! not refused credentials), and `wait` on a folder that does not exist.

use std::time::Duration;

use mailtrip::config::Security;
use mailtrip::report::{Phase, Report, Verdict};
use mailtrip::server::Faults;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{ALICE, BOB, HANG_GUARD, PASSWORD_ENV, account, args, ca_file, endpoints, mailtrip};
use crate::scenario::{check_between, check_faulty, faulty};
use crate::util::{self, PASSWORD, local_imap, local_smtp};

fn error(r: &Report) -> (Phase, String, String, String) {
    let e = r
        .error
        .as_ref()
        .unwrap_or_else(|| panic!("no error: {r:#?}"));
    (
        e.phase,
        e.diagnosis.code.as_str().to_string(),
        e.diagnosis.summary.clone(),
        e.diagnosis.hint.clone(),
    )
}

#[tokio::test]
async fn item_17_ehlo_unanswered_after_a_greeting_is_not_called_no_greeting() {
    let (_server, r) = check_faulty(
        |f| f.smtp_hang_on = Some("EHLO".into()),
        Duration::from_secs(2),
    )
    .await;
    assert_worded(&r, Phase::SmtpConnect, "no greeting", &["EHLO", "220"]);
}

#[tokio::test]
async fn item_17_a_stalled_handshake_after_starttls_220_is_not_called_no_answer_to_starttls() {
    let (_server, r) = check_faulty(|f| f.starttls_stall = true, Duration::from_secs(2)).await;
    assert_worded(
        &r,
        Phase::SmtpTls,
        "no answer to STARTTLS",
        &["220", "handshake"],
    );
}

/// Asserts `r` failed in `phase` with a summary that never says `wrong` and says all of `right`.
fn assert_worded(r: &Report, phase: Phase, wrong: &str, right: &[&str]) {
    let (failed_in, _, summary, _) = error(r);
    assert_eq!(failed_in, phase, "{r:#?}");
    assert!(!summary.contains(wrong), "{summary}");
    assert!(right.iter().all(|w| summary.contains(w)), "{summary}");
}

#[tokio::test]
async fn item_17_a_port_with_no_auth_at_all_is_not_told_auth_comes_after_starttls() {
    let server = util::server_with_fault(|f| f.smtp_no_auth = true).await;
    // Plain smtp:// to the relay port (loopback): STARTTLS offered, AUTH never.
    let mut alice = account(&server, ALICE);
    alice.smtp = local_smtp(Security::Plain, server.smtp_addr().port());
    let r = check_between(alice.clone(), account(&server, BOB), Duration::from_secs(5)).await;
    let (phase, _, summary, hint) = error(&r);
    assert_eq!(phase, Phase::SmtpAuth, "{r:#?}");
    assert!(!summary.contains("only after STARTTLS"), "{summary}");
    assert!(summary.contains("no AUTH"), "{summary}");
    assert!(hint.contains("submission"), "{hint}");
    assert_ne!(r.verdict, Verdict::AuthFailed, "{r:#?}");

    // The same port over STARTTLS: no Rust Debug text in what it offers.
    alice.smtp = local_smtp(Security::StartTls, server.smtp_addr().port());
    let r = check_between(alice, account(&server, BOB), Duration::from_secs(5)).await;
    let (_, _, summary, _) = error(&r);
    assert!(summary.contains("no AUTH"), "{summary}");
    for debug in ["[Plain", "Mechanism", "{", "ServerInfo"] {
        assert!(!summary.contains(debug), "Debug text {debug:?}: {summary}");
    }
}

#[tokio::test]
async fn item_17_a_submission_port_over_plaintext_is_still_told_auth_comes_after_starttls() {
    let server = faulty(Faults::default()).await;
    let mut alice = account(&server, ALICE);
    alice.smtp = local_smtp(Security::Plain, server.submission_addr().port());
    let r = check_between(alice, account(&server, BOB), Duration::from_secs(5)).await;
    let (phase, _, summary, _) = error(&r);
    assert_eq!(phase, Phase::SmtpAuth, "{r:#?}");
    assert!(summary.contains("only after STARTTLS"), "{summary}");
}

/// A port that speaks HTTP: answers whatever it gets with `400 Bad Request` and closes.
async fn http_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                if matches!(s.read(&mut buf).await, Ok(n) if n > 0) {
                    let _ = s
                        .write_all(
                            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\
                              Connection: close\r\n\r\n",
                        )
                        .await;
                }
                let _ = s.shutdown().await;
            });
        }
    });
    port
}

#[tokio::test]
async fn item_17_a_port_that_speaks_http_is_named_as_such() {
    let server = faulty(Faults::default()).await;
    let port = http_port().await;
    for security in [Security::Tls, Security::StartTls, Security::Plain] {
        let mut alice = account(&server, ALICE);
        alice.smtp = local_smtp(security, port);
        let r = check_between(alice, account(&server, BOB), Duration::from_secs(2)).await;
        let (_, code, summary, hint) = error(&r);
        assert!(summary.contains("HTTP"), "{security:?}: {summary}");
        assert!(!hint.contains("smtp+starttls://"), "{security:?}: {hint}");
        assert_eq!(code, "not_a_mail_server", "{security:?}: {r:#?}");
    }
    let mut bob = account(&server, BOB);
    bob.imap = local_imap(Security::Tls, port);
    let r = check_between(account(&server, ALICE), bob, Duration::from_secs(2)).await;
    let (phase, code, summary, _) = error(&r);
    assert_eq!(phase, Phase::ImapConnect, "{r:#?}");
    assert!(summary.contains("HTTP"), "{summary}");
    assert_eq!(code, "not_a_mail_server", "{r:#?}");
}

#[tokio::test]
async fn item_17_a_reset_during_auth_is_a_network_failure_not_auth_failed() {
    // SMTP: EHLO, STARTTLS, EHLO, then the connection drops at AUTH.
    let (_server, r) = check_faulty(|f| f.smtp_drop_after = Some(3), Duration::from_secs(3)).await;
    assert_eq!(error(&r).0, Phase::SmtpAuth, "{r:#?}");
    assert_network_failure(&r);

    // IMAP: the connection drops at LOGIN.
    let (_server, r) = check_faulty(|f| f.imap_drop_after = Some(0), Duration::from_secs(3)).await;
    assert_network_failure(&r);
}

/// Asserts `r` failed, but neither as refused credentials nor with a credential-refusal code.
fn assert_network_failure(r: &Report) {
    assert_ne!(r.verdict, Verdict::AuthFailed, "{r:#?}");
    let refusal = r
        .error
        .as_ref()
        .map(|e| e.diagnosis.code.is_credential_refusal());
    assert_eq!(refusal, Some(false), "{r:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_17_wait_on_a_missing_folder_says_so_without_debug_text() {
    let server = faulty(Faults::default()).await;
    let ca = ca_file(&server).to_string_lossy().into_owned();
    let imap = crate::util::imap_url(&server);
    for format in ["human", "json"] {
        let a = args(&[
            "wait",
            "--imap",
            &imap,
            "--ca-file",
            &ca,
            "--user",
            BOB,
            "--folder",
            "NoSuchFolder",
            "--timeout",
            "3s",
            "--format",
            format,
        ]);
        let out = mailtrip(&a, &[PASSWORD_ENV], HANG_GUARD).await;
        assert_eq!(out.code, 2, "{out:#?}");
        let all = out.all();
        for debug in ["Outcome {", "code: None", "Some(\""] {
            assert!(
                !all.contains(debug),
                "{format}: Debug text {debug:?}: {all}"
            );
        }
        assert!(all.contains("NoSuchFolder"), "{all}");
        assert!(all.contains("doesn't exist"), "the server's words: {all}");
    }
    let _ = PASSWORD;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_17_a_connection_lost_at_select_shows_the_failed_phase_and_its_cause() {
    let later = regex::Regex::new(r#"at delivery|"phase":\s*"delivery""#).expect("re");
    // The receiving mailbox's connection: LOGIN (its OK lists the capabilities), LIST,
    // STATUS Junk, STATUS Archive — the fourth command is dropped, and SELECT INBOX finds the
    // connection closed (async-imap answered it with an empty mailbox before) — or SELECT is
    // never answered.
    for (faults, code, cause) in [
        (
            Faults {
                imap_drop_after: Some(3),
                ..Faults::default()
            },
            "connection_closed",
            "SELECT INBOX: connection closed by the server",
        ),
        (
            Faults {
                imap_hang_on: Some("SELECT".into()),
                ..Faults::default()
            },
            "timeout",
            "SELECT INBOX: no answer within",
        ),
    ] {
        let server = faulty(faults).await;
        for format in ["human", "json"] {
            let mut a = args(&[
                "check",
                "--user",
                ALICE,
                "--to",
                ALICE,
                "--timeout",
                "3s",
                "--format",
                format,
            ]);
            a.extend(endpoints(&server));
            // Now and then the dropped command is a later one (the watch opened, the drop
            // lands during delivery): run again until it is SELECT.
            let mut out = mailtrip(&a, &[PASSWORD_ENV], HANG_GUARD).await;
            for _ in 0..5 {
                if !later.is_match(&out.stdout) {
                    break;
                }
                out = mailtrip(&a, &[PASSWORD_ENV], HANG_GUARD).await;
            }
            assert_eq!(out.code, 2, "{code} {format}: {out:#?}");
            if format == "json" {
                let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
                assert_eq!(v["error"]["code"], code, "{v:#}");
                assert_eq!(v["error"]["phase"], "imap_connect", "{v:#}");
                let failed: Vec<_> = v["phases"]
                    .as_array()
                    .expect("phases")
                    .iter()
                    .filter(|p| p["ok"] == false)
                    .collect();
                assert_eq!(failed.len(), 1, "one failed phase: {v:#}");
                assert_eq!(failed[0]["name"], "imap_connect", "{v:#}");
                let detail = failed[0]["detail"].as_str().unwrap_or_default();
                assert!(detail.contains(cause), "{cause}: {v:#}");
            } else {
                let row = out
                    .stdout
                    .lines()
                    .find(|l| l.contains(" imap_connect "))
                    .unwrap_or_default();
                assert!(
                    row.contains('✗') && row.contains(cause),
                    "{cause}: {}",
                    out.stdout
                );
                // No hint points at a detail that is not there.
                assert!(!out.stdout.contains("detail below"), "{}", out.stdout);
                assert!(
                    out.stdout.contains(&format!("{code} at imap_connect")),
                    "{}",
                    out.stdout
                );
            }
        }
    }
}
