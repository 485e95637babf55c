//! Issue #13 against both servers (`interop::issue13::{embedded,real}::<case>`): a `--to` the
//! watch cannot see (item 1), a gateway that strips `X-Mailtrip-Probe` (item 2: Postfix's
//! `header_checks` on a port of its own), a reply to the end of DATA that a proxy eats (item
//! 3), and `load` with probes that never reach the watched mailbox (item 8). Every probe a case
//! leaves in B's mailbox is found by its tag and removed, since other cases share it.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use mailtrip::config::{Protocol, Security};
use mailtrip::report::{Phase, Verdict};
use mailtrip::{Account, Check, Endpoint, Load};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{Mailbox, Stack, TIMEOUT, Tls, Who};

use crate::util;

/// UIDs in `folder` of messages whose Message-ID carries `tag` (the header may be gone).
async fn with_message_id(mb: &mut Mailbox, folder: &str, tag: &str) -> Vec<u32> {
    mb.fetch_all(folder, "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        .await
        .iter()
        .filter(|f| {
            f.header()
                .is_some_and(|h| String::from_utf8_lossy(h).contains(&format!("<{tag}@")))
        })
        .filter_map(|f| f.uid)
        .collect()
}

/// Waits (up to a minute) for the probes `tags` to show up in `who`'s INBOX and deletes them
/// by UID; returns how many it found.
async fn remove_when_arrived(stack: &Stack, who: Who, tags: &[String]) -> usize {
    let mut mb = stack.imap(who).await;
    let mut uids = Vec::new();
    for _ in 0..120 {
        uids.clear();
        for tag in tags {
            uids.extend(with_message_id(&mut mb, "INBOX", tag).await);
        }
        if uids.len() >= tags.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    if !uids.is_empty() {
        mb.delete_uids("INBOX", &uids).await;
    }
    mb.logout().await;
    uids.len()
}

/// Asserts that no message in `who`'s INBOX carries `tag` in its Message-ID.
async fn assert_gone(stack: &Stack, who: Who, tag: &str, what: &str) {
    let mut mb = stack.imap(who).await;
    let left = with_message_id(&mut mb, "INBOX", tag).await;
    mb.logout().await;
    assert!(
        left.is_empty(),
        "{what}: the probe was left behind (UIDs {left:?})"
    );
}

// --- 1. `--to` someone the watch cannot see -----------------------------------------------

/// Runs the binary against the stack with A's password in MAILTRIP_PASSWORD.
async fn cli(stack: &Stack, extra: &[&str]) -> (i32, String, String) {
    let dir = util::scratch_dir("interop13");
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &stack.ca_pem).expect("ca");
    let out = tokio::process::Command::from(util::mailtrip_command())
        .arg("check")
        .args([
            "--smtp",
            &format!("smtps://{}:{}", stack.host, stack.submissions),
        ])
        .args(["--imap", &format!("imaps://{}:{}", stack.host, stack.imaps)])
        .args(["--ca-file", &ca.to_string_lossy()])
        .args(extra)
        .env("MAILTRIP_PASSWORD", &stack.user(Who::A).1)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), out)
        .await
        .expect("mailtrip check never hangs")
        .expect("mailtrip runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `check --user A --to B` is refused before anything connects; with `--alias` the probe is
/// watched for in A's mailbox, and the timeout says it may sit in B's, where it indeed is.
async fn item_01_to_someone_the_watch_cannot_see(stack: &Stack) {
    let (a, b) = (stack.address(Who::A), stack.address(Who::B));
    let (code, out, err) = cli(stack, &["--user", a, "--to", b, "--timeout", "5s"]).await;
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        err.contains("--to-account") && err.contains("--alias"),
        "{err}"
    );
    assert!(!out.contains("NOT DELIVERED"), "{out}");

    let (code, out, err) = cli(
        stack,
        &[
            "--user",
            a,
            "--to",
            b,
            "--alias",
            "--timeout",
            "5s",
            "--format",
            "json",
        ],
    )
    .await;
    assert_eq!(code, 2, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["alias_of"], a, "{v:#}");
    let summary = v["error"]["summary"].as_str().expect("summary");
    assert!(summary.contains("may sit in its own mailbox"), "{summary}");
    let tag = v["probe_id"].as_str().expect("probe_id").to_string();
    assert_eq!(
        remove_when_arrived(stack, Who::B, &[tag]).await,
        1,
        "the probe is not in B's mailbox"
    );
}

// --- 2. A gateway strips X-Mailtrip-Probe -------------------------------------------------

/// A's account, submitting through the gateway that strips the tag header.
fn through_stripping_gateway(stack: &Stack) -> Account {
    stack.strip_tag_header();
    let mut a = stack.account(Who::A, Tls::Implicit);
    a.smtp = Endpoint::new(
        Protocol::Smtp,
        Security::Tls,
        &stack.host,
        stack.strip_submissions,
    );
    a
}

/// The probe arrives without its tag header: matched by Message-ID, delivered, the removed
/// carrier named, and cleaned up; a kept one is found and deleted by `sweep`.
async fn item_02_stripped_tag_header(stack: &Stack) {
    let from = through_stripping_gateway(stack);
    let r = Check::new(from.clone(), stack.account(Who::B, Tls::Implicit))
        .timeout(TIMEOUT)
        .run()
        .await;
    assert_eq!(r.verdict, Verdict::Delivered, "{r:#?}");
    let v = serde_json::to_value(&r).expect("json");
    assert_eq!(v["evidence"]["carriers"]["header"], false, "{v:#}");
    assert_eq!(v["evidence"]["carriers"]["message_id"], true, "{v:#}");
    assert!(
        r.warnings.iter().any(|w| w.contains("removed in transit")),
        "{r:#?}"
    );
    assert_gone(stack, Who::B, &r.probe_id, "stripped").await;

    // Kept, then swept: sweep recognises it by its Message-ID (and deletes only it).
    let r = Check::new(from, stack.account(Who::B, Tls::Implicit))
        .keep(true)
        .timeout(TIMEOUT)
        .run()
        .await;
    assert_eq!(r.verdict, Verdict::Delivered, "{r:#?}");
    let sweep = mailtrip::probe::Sweep::new(stack.account(Who::B, Tls::Implicit))
        .sender(stack.address(Who::A));
    let mut listed = sweep.list().await.expect("sweep lists");
    listed.found.retain(|l| l.tag == r.probe_id);
    assert_eq!(listed.found.len(), 1, "{listed:#?}");
    assert!(listed.found[0].header_stripped, "{listed:#?}");
    let done = sweep.delete(&listed).await.expect("sweep deletes");
    assert_eq!(done.deleted, 1, "{done:#?}");
}

// --- 3. The reply to the end of DATA is lost ----------------------------------------------

/// A proxy on 127.0.0.1 that speaks plaintext to mailtrip and implicit TLS to the stack's
/// submissions port. It passes everything through until the client has sent the end of DATA;
/// then it swallows the server's reply and cuts the client off (or, with `stall`, says
/// nothing more). The server has the whole message and has answered it: the mail is queued.
async fn data_reply_eater(stack: &Stack, stall: bool) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let eaten = Arc::new(AtomicUsize::new(0));
    let (host, upstream_port, ca) = (stack.host.clone(), stack.submissions, stack.ca_pem.clone());
    let counter = eaten.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let (host, ca, counter) = (host.clone(), ca.clone(), counter.clone());
            tokio::spawn(async move {
                let tcp = TcpStream::connect((host.as_str(), upstream_port))
                    .await
                    .expect("connect upstream");
                let ca = native_tls::Certificate::from_pem(ca.as_bytes()).expect("CA");
                let tls = native_tls::TlsConnector::builder()
                    .add_root_certificate(ca)
                    .build()
                    .expect("TLS connector");
                let upstream = tokio_native_tls::TlsConnector::from(tls)
                    .connect(&host, tcp)
                    .await
                    .expect("TLS to upstream");
                let (mut up_r, mut up_w) = tokio::io::split(upstream);
                let (mut cl_r, mut cl_w) = client.into_split();
                let ended = Arc::new(AtomicBool::new(false));
                let ended_in = ended.clone();
                let inbound = async move {
                    let mut tail: Vec<u8> = Vec::new();
                    let mut buf = [0u8; 8192];
                    loop {
                        let n = match cl_r.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        tail.extend_from_slice(&buf[..n]);
                        if tail.windows(5).any(|w| w == b"\r\n.\r\n") {
                            ended_in.store(true, Ordering::SeqCst);
                        }
                        let keep = tail.len().saturating_sub(4);
                        tail.drain(..keep);
                        if up_w.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                };
                let outbound = async move {
                    let mut buf = [0u8; 8192];
                    let mut swallowed = false;
                    loop {
                        let n = match up_r.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if ended.load(Ordering::SeqCst) {
                            // The reply to the end of DATA (and, stalled, whatever follows):
                            // swallowed.
                            if !std::mem::replace(&mut swallowed, true) {
                                counter.fetch_add(1, Ordering::SeqCst);
                            }
                            if !stall {
                                let _ = cl_w.shutdown().await;
                                break;
                            }
                            continue;
                        }
                        if cl_w.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                };
                tokio::join!(inbound, outbound);
            });
        }
    });
    (port, eaten)
}

/// The reply to the end of DATA never reaches mailtrip: it keeps watching, finds the probe,
/// reports it delivered with a warning (exit 1) and cleans it up.
async fn item_03_lost_data_reply(stack: &Stack) {
    for stall in [false, true] {
        let (port, eaten) = data_reply_eater(stack, stall).await;
        let mut from = stack.account(Who::A, Tls::Implicit);
        from.smtp = Endpoint::new(Protocol::Smtp, Security::Plain, "127.0.0.1", port);
        let r = Check::new(from, stack.account(Who::B, Tls::Implicit))
            .timeout(Duration::from_secs(8))
            .run()
            .await;
        assert_eq!(eaten.load(Ordering::SeqCst), 1, "stall {stall}: {r:#?}");
        assert_eq!(r.verdict, Verdict::Delivered, "stall {stall}: {r:#?}");
        assert_eq!(r.exit_code(), 1, "{r:#?}");
        let submit = r.phase(Phase::SmtpSubmit).expect("smtp_submit");
        assert!(
            !submit.ok && submit.detail.contains("no reply to DATA"),
            "{r:#?}"
        );
        assert_gone(stack, Who::B, &r.probe_id, &format!("stall {stall}")).await;
    }
}

// --- 8. `load` with probes that never reach the watched mailbox ---------------------------

/// A's mailbox is watched for probes addressed to B: the run ends at the deadlines with every
/// probe lost and a hint to sweep (they sit in B's mailbox, and are removed here).
async fn item_08_load_with_probes_that_never_arrive(stack: &Stack) {
    let mut watched = stack.account(Who::A, Tls::Implicit);
    watched.address = stack.address(Who::B).to_string();
    let load = Load::new(stack.account(Who::A, Tls::Implicit), vec![watched])
        .probes(4)
        .concurrency(2)
        .timeout(Duration::from_secs(3));
    let r = crate::scenario::run_load(load).await;
    assert_eq!((r.sent, r.lost), (4, 4), "{r:#?}");
    assert!(
        r.warnings.iter().any(|w| w.contains("mailtrip sweep")),
        "{r:#?}"
    );
    assert_eq!(
        remove_when_arrived(stack, Who::B, &r.lost_probes).await,
        4,
        "{r:#?}"
    );
}

on_both_servers!(
    item_01_to_someone_the_watch_cannot_see,
    item_02_stripped_tag_header,
    item_03_lost_data_reply,
    item_08_load_with_probes_that_never_arrive,
);
