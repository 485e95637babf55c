//! Issue 18 item 7: `sweep` at a real terminal (a pseudo-terminal driven by Python) lists once,
//! asks, then says only what happened.

use std::process::{Command, Stdio};

use super::{ALICE, BIN, ca_in, imap_url, scratch};
use crate::util::{self, PASSWORD};

/// Runs `mailtrip ARGS` on a pseudo-terminal (stdin, stdout and stderr all the terminal, as a
/// person at a shell has them), answers `answer` to the `[y/N]` prompt, and returns what the
/// terminal showed (CRLF turned back into LF) and the exit code.
fn on_a_terminal(args: &[String], env: &[(&str, &str)], answer: &str) -> (String, Option<i32>) {
    const DRIVER: &str = r#"
import os, pty, select, sys, time
answer, argv = sys.argv[1].encode(), sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)
out, answered, deadline = b"", False, time.time() + 60
while time.time() < deadline:
    ready, _, _ = select.select([fd], [], [], 1)
    if not ready:
        continue
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
    if not answered and b"[y/N] " in out:
        os.write(fd, answer + b"\n")
        answered = True
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
sys.exit(os.waitstatus_to_exitcode(status))
"#;
    let out = util::without_outer_settings(&mut Command::new("python3"))
        .arg("-c")
        .arg(DRIVER)
        .arg(answer)
        .arg(BIN)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("python3 runs (the tests need it)");
    let text = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
    (text, out.status.code())
}

/// Issue 18 item 7: `sweep` at a terminal shows the list once, asks, and then says only what
/// happened: no "nothing deleted (dry run)" before the question, no second copy of the list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue18_item7_sweep_prompt_lists_once_then_asks_then_reports() {
    use mailtrip::Check;
    let server = util::server().await;
    let dir = scratch("sweep-tty");
    let ca = ca_in(&server, &dir);
    let args: Vec<String> = [
        "sweep",
        "--color",
        "never",
        "--imap",
        &imap_url(&server),
        "--user",
        ALICE,
        "--password-env",
        "MT_SWEEP_PW",
        "--ca-file",
        &ca,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let env = [("MT_SWEEP_PW", PASSWORD)];
    let alice = util::account(&server, ALICE);
    let kept = Check::new(alice.clone(), alice).keep(true).run().await;
    assert!(kept.verdict.is_delivered(), "{kept:#?}");
    let short = &kept.probe_id[..8];
    let inbox = || server.messages(ALICE, "INBOX").expect("inbox").len();

    for (answer, left) in [("n", 1), ("y", 0)] {
        let (shown, code) = tokio::task::block_in_place(|| on_a_terminal(&args, &env, answer));
        assert_eq!(code, Some(0), "{shown}");
        assert_eq!(inbox(), left, "after {answer:?}:\n{shown}");
        let (before, after) = shown
            .split_once("[y/N] ")
            .unwrap_or_else(|| panic!("no prompt:\n{shown}"));
        assert_eq!(
            shown.matches(short).count(),
            1,
            "the list is shown once:\n{shown}"
        );
        assert!(before.contains("1 leftover probe from"), "{shown}");
        assert!(!before.contains("nothing deleted"), "{shown}");
        let expected = if answer == "y" {
            "deleted 1"
        } else {
            "nothing deleted (not confirmed)"
        };
        assert_eq!(after.trim(), format!("{answer}\n{expected}"), "{shown}");
    }
}
