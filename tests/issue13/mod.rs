//! Issue #13, verdicts that stay true against real gateways, real servers and real mistakes:
//! one test per numbered item, named `item_NN_…`, each through real sockets against the
//! embedded server with an injected fault (the Postfix + Dovecot cases are in `interop`).

mod diagnoses;
mod hangs;
mod input;
mod leaks;
mod verdicts;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use mailtrip::server::TestServer;

pub use crate::scenario::{ALICE, BOB, HANG_GUARD, account, faulty};
use crate::util::PASSWORD;

/// What a finished `mailtrip` process printed.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs the binary with `args` and extra environment; kills it (and fails the test) if it
/// outlives `guard`. MAILTRIP_* and RUST_LOG from the outer environment are removed.
pub async fn mailtrip(args: &[String], env: &[(&str, &str)], guard: Duration) -> Out {
    let mut cmd = tokio::process::Command::from(crate::util::mailtrip_command());
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .env_remove("NO_COLOR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("spawn mailtrip");
    let out = tokio::time::timeout(guard, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("mailtrip {args:?} still running after {guard:?}: a hang"))
        .expect("mailtrip output");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The server's CA in a file of its own.
pub fn ca_file(server: &TestServer) -> PathBuf {
    crate::util::write_ca(server, &crate::util::scratch_dir("issue13"))
}

/// `--smtp URL --imap URL --ca-file F` for the embedded server.
pub fn endpoints(server: &TestServer) -> Vec<String> {
    vec![
        "--smtp".into(),
        crate::util::smtp_url(server),
        "--imap".into(),
        crate::util::imap_url(server),
        "--ca-file".into(),
        ca_file(server).to_string_lossy().into_owned(),
    ]
}

/// Runs `mailtrip ARGS` with [`endpoints`] appended and the password in the environment,
/// as every CLI test of the embedded server does; fails the test on a hang.
pub async fn against(server: &TestServer, args: &[&str]) -> Out {
    let mut a = self::args(args);
    a.extend(endpoints(server));
    mailtrip(&a, &[PASSWORD_ENV], HANG_GUARD).await
}

/// `args` as owned strings.
pub fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// The password, as the environment variable every CLI run reads it from.
pub const PASSWORD_ENV: (&str, &str) = ("MAILTRIP_PASSWORD", PASSWORD);
