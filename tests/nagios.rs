//! `mailtrip check` as a Nagios / Icinga plugin (issue 19): the binary with the reserved plugin
//! flags (`-H`, `-p`, `-w`, `-c`, `-t`) against the embedded server over real sockets. Each run
//! is a real round trip; the state word, the exit code, the threshold ranges and the
//! performance data must follow the Monitoring Plugins development guidelines.

use std::time::Duration;

use mailtrip::server::{Faults, TestServer};

use crate::util;

/// What one plugin run printed and returned.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The plugin line split at ` | `: the text and the performance data.
    fn line(&self) -> (&str, &str) {
        assert_eq!(
            self.stdout.matches('\n').count(),
            1,
            "one line on stdout: {:?}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        self.stdout
            .trim_end()
            .split_once(" | ")
            .unwrap_or((self.stdout.trim_end(), ""))
    }

    /// The guidelines' return codes: the state word on stdout and the exit code agree.
    fn assert_state(&self, state: &str) {
        let code = match state {
            "OK" => 0,
            "WARNING" => 1,
            "CRITICAL" => 2,
            "UNKNOWN" => 3,
            other => panic!("no such state {other}"),
        };
        let (text, _) = self.line();
        assert!(
            text.starts_with(&format!("MAILTRIP {state} - ")),
            "expected {state}: {text}\nstderr: {}",
            self.stderr
        );
        assert_eq!(self.code, code, "{state} exits {code}: {text}");
    }

    /// [`Run::assert_state`], and the plugin line's text (before ` | `) contains `says`.
    fn assert_says(&self, state: &str, says: &str) {
        self.assert_state(state);
        assert!(self.line().0.contains(says), "{}", self.stdout);
    }

    /// The performance data item named `label`: value with UOM, warn, crit, min, max.
    fn perf(&self, label: &str) -> Vec<String> {
        let (_, perf) = self.line();
        let item = perf
            .split(' ')
            .find(|i| i.starts_with(&format!("{label}=")))
            .unwrap_or_else(|| panic!("no {label} in {perf}"));
        item[label.len() + 1..]
            .split(';')
            .map(str::to_string)
            .collect()
    }
}

/// A CA file for the server's certificate, in a fresh directory.
fn ca_file(server: &TestServer, name: &str) -> std::path::PathBuf {
    util::write_ca(server, &util::scratch_dir(&format!("nagios-{name}")))
}

/// `mailtrip check` as Nagios would run it: `-H localhost -p SUBMISSION`, the IMAP URL naming
/// another host (which `-H` replaces), alice sending to herself, plus `extra`.
async fn plugin(server: &TestServer, ca: &std::path::Path, password: &str, extra: &[&str]) -> Run {
    let imap = format!("imaps://monitored.invalid:{}", server.imaps_addr().port());
    let port = server.submission_addr().port().to_string();
    let out = tokio::process::Command::from(util::mailtrip_command())
        .args(["check", "-H", "localhost", "-p", &port, "--imap", &imap])
        .args(["--user", "alice@mailtrip.test", "--ca-file"])
        .arg(ca)
        .args(["--format", "nagios"])
        .args(extra)
        .env("MAILTRIP_PASSWORD", password)
        .env("HOME", ca.parent().expect("dir"))
        .env("XDG_CONFIG_HOME", ca.parent().expect("dir"))
        .current_dir(ca.parent().expect("dir"))
        .output()
        .await
        .expect("run mailtrip check");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_19_check_takes_the_plugin_flags_and_answers_like_a_plugin() {
    let server = util::server().await;
    let ca = ca_file(&server, "flags");

    // The issue's command line: OK within the thresholds, perfdata in seconds with the
    // thresholds in the delivery item, all on one line.
    let ok = plugin(
        &server,
        &ca,
        util::PASSWORD,
        &["-w", "5s", "-c", "20s", "-t", "30s"],
    )
    .await;
    ok.assert_state("OK");
    let (text, perf) = ok.line();
    assert!(text.contains("delivered to inbox in "), "{text}");
    let delivery = ok.perf("delivery");
    assert_eq!(delivery.len(), 5, "label=value[UOM];warn;crit;min;max");
    assert!(delivery[0].ends_with('s'), "UOM s: {delivery:?}");
    assert_eq!(&delivery[1..4], ["5", "20", "0"], "{perf}");
    for item in perf.split(' ') {
        let (label, data) = item.split_once('=').expect("label=data");
        assert!(!label.contains(['\'', '=', ' ']), "{item}");
        let value = data.split(';').next().unwrap();
        let number = value.strip_suffix('s').expect("seconds UOM");
        assert!(
            !number.is_empty() && number.chars().all(|c| c.is_ascii_digit() || c == '.'),
            "value in [-0-9.]: {item}"
        );
    }
    // -H replaced the IMAP URL's host (monitored.invalid would not resolve).
    assert!(!ok.stderr.contains("monitored.invalid"), "{}", ok.stderr);

    // Ranges: every delivery takes more than 0 s, and less than a minute.
    let warn = plugin(&server, &ca, util::PASSWORD, &["-w", "~:0", "-t", "30s"]).await;
    warn.assert_says("WARNING", "(over warning 0s)");
    assert_eq!(warn.perf("delivery")[1], "~:0");

    let under = plugin(&server, &ca, util::PASSWORD, &["-w", "5s", "-c", "60s:"]).await;
    under.assert_says("CRITICAL", "(under critical 60s)");
    assert_eq!(&under.perf("delivery")[1..3], ["5", "60:"]);

    let inside = plugin(&server, &ca, util::PASSWORD, &["--warning=@0:1m"]).await;
    inside.assert_says("WARNING", "(inside warning 0s..60s)");
    assert_eq!(inside.perf("delivery")[1], "@0:60");

    // Failures are CRITICAL whatever the thresholds (a wrong password; nothing delivered
    // within -t), never UNKNOWN: they are the service's state, not the plugin's.
    let refused = plugin(&server, &ca, "wrong password", &["-w", "5s", "-c", "20s"]).await;
    refused.assert_says("CRITICAL", "auth_failed at imap_auth");
    assert!(!refused.stdout.contains("wrong password"));

    util::set_fault(&server, |f| {
        f.delivery_delay = Some((Duration::from_secs(30), Duration::from_secs(30)))
    });
    let lost = plugin(&server, &ca, util::PASSWORD, &["-w", "~:100", "-t", "1s"]).await;
    lost.assert_says("CRITICAL", "not_delivered");
    server.set_faults(Faults::default());
    let _ = std::fs::remove_dir_all(ca.parent().unwrap());
}

/// Bad thresholds, a bad -H and --version are UNKNOWN (exit 3) with a line on stdout, which is
/// all Nagios reads; nothing connects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_19_bad_plugin_arguments_are_unknown_on_stdout() {
    let server = util::server().await;
    let ca = ca_file(&server, "usage");
    for (args, says) in [
        (&["-w", "20s:10s"][..], "starts after it ends"),
        (&["-c", "ten"][..], "is not a number of seconds"),
        (&["-w", "30s", "-c", "10s"][..], "above critical"),
        (&["-t", "forever"][..], "not a duration"),
    ] {
        let run = plugin(&server, &ca, util::PASSWORD, args).await;
        run.assert_state("UNKNOWN");
        assert!(run.stdout.contains(says), "{args:?}: {}", run.stdout);
    }
    let out = tokio::process::Command::from(util::mailtrip_command())
        .args(["check", "-H", "bad host:25", "--user", "a@example.com"])
        .args(["--format", "nagios"])
        .env("MAILTRIP_PASSWORD", "x")
        .current_dir(ca.parent().expect("dir"))
        .output()
        .await
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(
        stdout.starts_with("MAILTRIP UNKNOWN - -H/--hostname \"bad host:25\""),
        "{stdout}"
    );
    for flag in ["-V", "--version"] {
        let out = tokio::process::Command::from(util::mailtrip_command())
            .args(["check", "--format", "nagios", flag])
            .output()
            .await
            .expect("run");
        assert_eq!(
            out.status.code(),
            Some(3),
            "guidelines: --version is UNKNOWN"
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
    }
    let (smtp, imap) = server.auth_attempts();
    assert_eq!((smtp, imap), (0, 0), "no run got as far as a login");
    let _ = std::fs::remove_dir_all(ca.parent().unwrap());
}
