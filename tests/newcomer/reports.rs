//! Issue 18: what the reports say: `verify` keeps the server's IMAP CAPABILITY order, and
//! `--insecure-skip-verify` is loud against the embedded server too.

use std::process::Command;

use super::{ALICE, ca_in, json, mailtrip, scratch, stderr};
use crate::util::{self, PASSWORD};

/// Issue 18 item 7: `verify` reports the IMAP CAPABILITY verbatim, as docs/json.md says: the
/// server's own order, the same on every run, and the same list Python's imaplib (an
/// independent client) reads from the wire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue18_item7_imap_capabilities_keep_the_servers_order() {
    let server = util::server().await;
    let dir = scratch("caps");
    let ca = ca_in(&server, &dir);
    let script = r#"
import imaplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
m = imaplib.IMAP4_SSL("localhost", int(sys.argv[1]), ssl_context=ctx)
m.login(sys.argv[3], sys.argv[4])
typ, data = m.capability()
print(data[0].decode())
m.logout()
"#;
    let out = tokio::task::block_in_place(|| {
        Command::new("python3")
            .args(["-c", script])
            .arg(server.imaps_addr().port().to_string())
            .arg(&ca)
            .args([ALICE, PASSWORD])
            .output()
            .expect("python3 runs (the tests need it)")
    });
    assert!(out.status.success(), "{}", stderr(&out));
    let wire: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert!(wire.len() >= 5, "{wire:?}");
    let account = util::account(&server, ALICE);
    for run in 0..5 {
        let r = mailtrip::Verify::new(account.clone()).run().await;
        assert_eq!(r.imap.capabilities, wire, "run {run}");
    }
}

/// Issue 18 (README: "`--insecure-skip-verify` exists, and every output says so"): with no
/// account, against the embedded server, the flag was ignored without a word. It now skips
/// verification there too, and `check`, `verify` and `load` say so as against any server.
#[test]
fn issue18_insecure_skip_verify_is_loud_against_the_embedded_server_too() {
    let dir = scratch("insecure-embedded");
    for (args, exit) in [
        (
            &["check", "--insecure-skip-verify", "--format", "json"][..],
            0,
        ),
        (
            &["verify", "--insecure-skip-verify", "--format", "json"][..],
            1,
        ),
        (
            &[
                "load",
                "--probes",
                "2",
                "--insecure-skip-verify",
                "--format",
                "json",
            ][..],
            0,
        ),
    ] {
        let out = mailtrip(&dir, args, &[]);
        assert_eq!(out.status.code(), Some(exit), "{args:?}: {}", stderr(&out));
        let report = json(&out);
        assert_eq!(report["embedded"], true, "{report}");
        let warned = report["warnings"].as_array().is_some_and(|w| {
            w.iter()
                .any(|w| w.as_str().is_some_and(|w| w.contains("NOT verified")))
        });
        assert!(warned, "{args:?}: {report}");
        if args[0] != "load" {
            assert_eq!(report["tls_verified"], false, "{report}");
        }
    }
}
