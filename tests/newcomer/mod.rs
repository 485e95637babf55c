//! Issue 18: what a newcomer following README verbatim ran into, through the binary, one file
//! per topic: empty `MAILTRIP_*` variables from a CI template, Gmail app passwords pasted with
//! spaces, the sender's Sent copy of a cross-account probe, the sweep prompt at a terminal, help
//! texts that promise what is not there, and what the reports say.

mod empty_env;
mod gmail_password;
mod help;
mod reports;
mod sent_copy;
mod terminal;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use mailtrip::server::{Profile, ServerConfig, TestServer};

use crate::util::{ALICE, BIN, BOB, imap_url, smtp_url, stdout_json as json};

/// A fresh directory for one test: config search, HOME and the CA file live here.
fn scratch(name: &str) -> PathBuf {
    crate::util::scratch_dir(&format!("newcomer-{name}"))
}

/// The binary with no `MAILTRIP_*` inherited, HOME and the working directory in `dir` (so no
/// config file is found by accident), then `env` set.
fn mailtrip(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = crate::util::mailtrip_command();
    cmd.args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir)
        .stdin(Stdio::null());
    cmd.envs(env.iter().copied());
    cmd.output().expect("run mailtrip")
}

/// `mailtrip check ARGS --timeout 20s --format json`, as [`mailtrip`] runs it.
fn check_json(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--timeout", "20s", "--format", "json"]);
    mailtrip(dir, &all, env)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts `out` exited with `code` (showing its stderr otherwise) and returns its JSON report.
fn report(out: &Output, code: i32) -> serde_json::Value {
    assert_eq!(out.status.code(), Some(code), "{}", stderr(out));
    json(out)
}

/// Writes `server`'s CA to `dir/ca.pem` and returns that path for `--ca-file` or `ca_file`.
fn ca_in(server: &TestServer, dir: &Path) -> String {
    crate::util::write_ca(server, dir).display().to_string()
}

/// An `[accounts.NAME]` table for `address` on the embedded `server`, its password read from
/// `password_env`, trusting the CA at `ca`.
fn account_toml(
    name: &str,
    address: &str,
    password_env: &str,
    server: &TestServer,
    ca: &str,
) -> String {
    format!(
        "[accounts.{name}]\naddress = \"{address}\"\npassword_env = \"{password_env}\"\n\
         smtp = \"{}\"\nimap = \"{}\"\nca_file = \"{ca}\"\n",
        smtp_url(server),
        imap_url(server),
    )
}

/// The 16 letters Google's app password page shows as "abcd efgh ijkl mnop".
const APP_PASSWORD: &str = "abcdefghijklmnop";

/// An embedded Gmail-profile server whose account's stored app password has no spaces.
async fn gmail_server() -> TestServer {
    TestServer::start(
        ServerConfig::default()
            .profile(Profile::Gmail)
            .with_user(ALICE, APP_PASSWORD)
            .with_user(BOB, APP_PASSWORD),
    )
    .await
    .expect("embedded server starts")
}
