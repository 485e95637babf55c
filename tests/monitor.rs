//! `mailtrip monitor` against the embedded server (issue 7): the binary on an ephemeral port
//! scraped over HTTP until success, then failure (a delivery delay past the route timeout)
//! and late-arrival metrics appear, then stopped by SIGTERM; the in-process `Monitor` for an
//! SMTP AUTH rejection counted by phase and code. Every scrape must parse as OpenMetrics.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailtrip::monitor::{Monitor, Route};
use mailtrip::server::Faults;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::util;

/// Generous bound for anything to show up on a shared, noisy machine (not a speed target).
pub(crate) const PATIENCE: Duration = Duration::from_secs(90);

/// Gmail's refusal of a wrong SMTP password.
const REFUSED: &str = "535 5.7.8 Username and Password not accepted";

/// One sample: name, labels, value.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// A tiny HTTP/1.1 GET (tests only): status, headers, body.
pub(crate) async fn get(addr: &str, path: &str) -> (u16, String, String) {
    request(addr, "GET", path, &[]).await
}

/// A tiny HTTP/1.1 request with extra header lines (tests only): status, headers, body.
pub(crate) async fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr)
        .await
        .expect("connect to the monitor");
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let req =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("send request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.expect("read response");
    let text = String::from_utf8(raw).expect("utf-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("header/body split");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status code");
    (status, head.to_string(), body.to_string())
}

/// Parses OpenMetrics text, panicking on any line that is not `# HELP/TYPE/UNIT`, `# EOF`
/// (last) or `name{labels} value`.
pub(crate) fn parse(text: &str) -> Vec<Sample> {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"), "ends with # EOF:\n{text}");
    let mut out = Vec::new();
    for line in &lines[..lines.len() - 1] {
        if let Some(rest) = line.strip_prefix("# ") {
            let kind = rest.split(' ').next().unwrap_or("");
            assert!(
                ["HELP", "TYPE", "UNIT"].contains(&kind),
                "bad comment line {line:?}"
            );
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("`series value`");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), Vec::new()),
            Some((name, rest)) => {
                let inner = rest.strip_suffix('}').expect("labels end with }");
                (name.to_string(), parse_labels(inner, line))
            }
        };
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line:?}"
        );
        out.push(Sample {
            name,
            labels,
            value,
        });
    }
    out
}

fn parse_labels(inner: &str, line: &str) -> Vec<(String, String)> {
    let mut labels = Vec::new();
    let mut rest = inner;
    while !rest.is_empty() {
        let (key, after) = rest
            .split_once("=\"")
            .unwrap_or_else(|| panic!("bad label in {line:?}"));
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        value.push(if n == 'n' { '\n' } else { n });
                    }
                }
                '"' => {
                    end = Some(i);
                    break;
                }
                c => value.push(c),
            }
        }
        let end = end.unwrap_or_else(|| panic!("unterminated label value in {line:?}"));
        labels.push((key.to_string(), value));
        rest = after[end + 1..].trim_start_matches(',');
    }
    labels
}

/// The value of the sample named `name` whose labels include all of `want`.
pub(crate) fn value(samples: &[Sample], name: &str, want: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && want
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|s| s.value)
}

/// Scrapes `/metrics` until `ok` holds (checking that every scrape parses).
pub(crate) async fn scrape_until(
    addr: &str,
    what: &str,
    ok: impl Fn(&[Sample]) -> bool,
) -> Vec<Sample> {
    let start = std::time::Instant::now();
    loop {
        let (status, head, body) = get(addr, "/metrics").await;
        assert_eq!(status, 200, "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/openmetrics-text"),
            "{head}"
        );
        let samples = parse(&body);
        if ok(&samples) {
            return samples;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "no {what} after {PATIENCE:?}; last scrape:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub(crate) fn at_least(samples: &[Sample], name: &str, want: &[(&str, &str)], n: f64) -> bool {
    value(samples, name, want).is_some_and(|v| v >= n)
}

/// A config file naming alice and bob on `server`, with one 1 s route alice → bob.
fn config(server: &mailtrip::server::TestServer, dir: &std::path::Path) -> std::path::PathBuf {
    config_with(
        server,
        dir,
        "[[routes]]\nname = \"a2b\"\nfrom = \"alice\"\nto = \"bob\"\ninterval = \"1s\"\ntimeout = \"2s\"\n",
    )
}

/// A config file naming alice and bob on `server` (password from `MT_MONITOR_TEST_PW`),
/// followed by `routes`.
pub(crate) fn config_with(
    server: &mailtrip::server::TestServer,
    dir: &std::path::Path,
    routes: &str,
) -> std::path::PathBuf {
    let ca = util::write_ca(server, dir);
    let account = |name: &str, address: &str| {
        format!(
            "[accounts.{name}]\naddress = \"{address}\"\npassword_env = \"MT_MONITOR_TEST_PW\"\n\
             smtp = \"smtp+starttls://localhost:{}\"\nimap = \"imaps://localhost:{}\"\n\
             ca_file = \"{}\"\n\n",
            server.submission_addr().port(),
            server.imaps_addr().port(),
            ca.display()
        )
    };
    let text = format!(
        "{}{}[monitor]\n# The --listen flag overrides this.\nlisten = \"127.0.0.1:9\"\n\n{routes}",
        account("alice", "alice@mailtrip.test"),
        account("bob", "bob@mailtrip.test"),
    );
    let path = dir.join("mailtrip.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// `mailtrip monitor --config CFG --listen 127.0.0.1:0 EXTRA…` running, with its address
/// (from its first lines) and everything it writes to stderr.
pub(crate) struct Running {
    child: tokio::process::Child,
    pub addr: String,
    log: Arc<Mutex<String>>,
    collector: tokio::task::JoinHandle<()>,
}

impl Running {
    pub(crate) async fn start(cfg: &std::path::Path, extra: &[&str]) -> Running {
        let mut cmd = util::mailtrip_command();
        cmd.args(["monitor", "--config"])
            .arg(cfg)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .env("MT_MONITOR_TEST_PW", util::PASSWORD);
        Running::spawn(cmd.into()).await
    }

    /// `cmd`, a `mailtrip monitor` told to listen on 127.0.0.1:0, started: its stderr
    /// collected and the address it says it listens on read.
    pub(crate) async fn spawn(mut cmd: tokio::process::Command) -> Running {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start mailtrip monitor");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
        let collector = {
            let log = log.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                let mut addr_tx = Some(addr_tx);
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(rest) = line.split("listening on http://").nth(1)
                        && let Some(tx) = addr_tx.take()
                    {
                        let addr = rest.split('/').next().unwrap_or("").to_string();
                        let _ = tx.send(addr);
                    }
                    let mut l = log.lock().expect("log");
                    l.push_str(&line);
                    l.push('\n');
                }
            })
        };
        let addr = tokio::time::timeout(PATIENCE, addr_rx)
            .await
            .expect("the monitor prints its address")
            .expect("address line");
        assert!(
            addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
            "{addr}"
        );
        Running {
            child,
            addr,
            log,
            collector,
        }
    }

    /// SIGTERM, then the exit status and the whole stderr.
    pub(crate) async fn stop(mut self) -> (std::process::ExitStatus, String) {
        let pid = self.child.id().expect("pid").to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(killed.success());
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the monitor exits after SIGTERM")
            .expect("wait");
        let _ = tokio::time::timeout(Duration::from_secs(5), self.collector).await;
        let log = self.log.lock().expect("log").clone();
        (status, log)
    }
}

/// Starts `monitor` in-process on an ephemeral port without the sweep; the handle and the
/// address to scrape.
pub(crate) async fn in_process(monitor: Monitor) -> (mailtrip::monitor::MonitorHandle, String) {
    let handle = monitor
        .listen("127.0.0.1:0".parse().expect("addr"))
        .sweep(false)
        .start()
        .await
        .expect("monitor starts");
    let addr = handle.local_addr().to_string();
    (handle, addr)
}

/// A route named `name` from alice to bob on the embedded `server`.
pub(crate) fn alice_to_bob(server: &mailtrip::server::TestServer, name: &str) -> Route {
    let alice = util::account(server, util::ALICE);
    let bob = util::account(server, util::BOB);
    Route::new(name, alice, bob)
}

/// A monitor, in process, of one route `name` from alice to bob on `server` (a probe a second,
/// each with `timeout`), scraped until the route has failed once at `(phase, code)`; returns
/// the monitor and that scrape.
async fn until_failed(
    server: &mailtrip::server::TestServer,
    name: &str,
    timeout: Duration,
    (phase, code): (&str, &str),
) -> (mailtrip::monitor::MonitorHandle, Vec<Sample>) {
    let route = alice_to_bob(server, name)
        .interval(Duration::from_secs(1))
        .timeout(timeout);
    let (monitor, addr) = in_process(Monitor::new(vec![route])).await;
    let failed = scrape_until(&addr, &format!("{phase} failure"), |s| {
        failures_at_least(s, name, phase, code, 1.0)
    })
    .await;
    (monitor, failed)
}

/// Whether the `failures_total` counter of `route` for `phase` and `code` reached `n`.
pub(crate) fn failures_at_least(
    samples: &[Sample],
    route: &str,
    phase: &str,
    code: &str,
    n: f64,
) -> bool {
    at_least(
        samples,
        "mailtrip_monitor_failures_total",
        &[("route", route), ("phase", phase), ("code", code)],
        n,
    )
}

/// The `round_trips_total` count of `route` with `verdict`, if the series exists.
pub(crate) fn round_trips(samples: &[Sample], route: &str, verdict: &str) -> Option<f64> {
    value(
        samples,
        "mailtrip_monitor_round_trips_total",
        &[("route", route), ("verdict", verdict)],
    )
}

/// Whether `route` counted at least `n` round trips with `verdict`.
pub(crate) fn round_trips_at_least(samples: &[Sample], route: &str, verdict: &str, n: f64) -> bool {
    round_trips(samples, route, verdict).is_some_and(|v| v >= n)
}

/// Asserts that `route`'s success gauge reads 0 and it counted a round trip as `verdict`.
fn assert_failing(samples: &[Sample], route: &str, verdict: &str) {
    assert_eq!(
        value(samples, "mailtrip_monitor_success", &[("route", route)]),
        Some(0.0),
        "{samples:?}"
    );
    assert!(
        round_trips_at_least(samples, route, verdict, 1.0),
        "{samples:?}"
    );
}

/// Probes in bob's mailbox that mailtrip sent (tag header present).
pub(crate) fn probes_in(server: &mailtrip::server::TestServer, folder: &str) -> usize {
    server
        .messages("bob@mailtrip.test", folder)
        .map(|m| {
            m.iter()
                .filter(|m| {
                    String::from_utf8_lossy(&m.raw)
                        .to_ascii_lowercase()
                        .contains("x-mailtrip-probe:")
                })
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_binary_success_then_timeout_and_late_then_sigterm() {
    let server = util::server().await;
    let dir = std::env::temp_dir().join(format!("mailtrip-monitor-{}", std::process::id()));
    let cfg = config(&server, &dir);
    let running = Running::start(&cfg, &[]).await;
    let addr = running.addr.clone();
    let (status, _, body) = get(&addr, "/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    assert_eq!(get(&addr, "/nope").await.0, 404);

    // 1. Success.
    let route = [("route", "a2b")];
    let ok = scrape_until(&addr, "successful round trip", |s| {
        round_trips_at_least(s, "a2b", "delivered", 1.0)
            && value(s, "mailtrip_monitor_success", &route) == Some(1.0)
    })
    .await;
    assert!(at_least(
        &ok,
        "mailtrip_monitor_last_success_timestamp_seconds",
        &route,
        1.0e9
    ));
    for le in ["0.01", "600.0", "+Inf"] {
        assert!(
            value(
                &ok,
                "mailtrip_monitor_phase_duration_seconds_bucket",
                &[("route", "a2b"), ("phase", "delivery"), ("le", le)]
            )
            .is_some(),
            "delivery histogram has a bucket le={le}"
        );
    }
    for phase in ["smtp_submit", "delivery", "fetch", "verify", "cleanup"] {
        assert!(
            at_least(
                &ok,
                "mailtrip_monitor_phase_duration_seconds_count",
                &[("route", "a2b"), ("phase", phase)],
                1.0
            ),
            "phase {phase} observed"
        );
    }
    assert!(value(&ok, "mailtrip_monitor_probes_in_flight", &route).is_some());

    // 2. Delivery slower than the 2 s timeout: a failure in the delivery phase, then the
    // same probes arrive late and are counted (and deleted) as such.
    util::set_fault(&server, |f| {
        f.delivery_delay = Some((Duration::from_secs(4), Duration::from_secs(4)))
    });
    let failed = scrape_until(&addr, "delivery timeout", |s| {
        failures_at_least(s, "a2b", "delivery", "timeout", 1.0)
    })
    .await;
    assert_failing(&failed, "a2b", "not_delivered");
    scrape_until(&addr, "late arrival", |s| {
        at_least(s, "mailtrip_monitor_late_arrivals_total", &route, 1.0)
    })
    .await;

    // 3. Back to normal: every probe that timed out arrives late and is deleted.
    server.set_faults(Faults::default());
    scrape_until(&addr, "every timed-out probe counted late", |s| {
        let timeouts = value(
            s,
            "mailtrip_monitor_failures_total",
            &[("route", "a2b"), ("phase", "delivery"), ("code", "timeout")],
        )
        .unwrap_or(0.0);
        value(s, "mailtrip_monitor_late_arrivals_total", &route) == Some(timeouts)
            && value(s, "mailtrip_monitor_success", &route) == Some(1.0)
    })
    .await;

    // 4. SIGTERM: exits 0 (well within the generous bound), leaving no probe behind.
    let (status, log) = running.stop().await;
    assert!(status.success(), "exit 0 after SIGTERM: {status:?}\n{log}");
    assert!(
        log.contains("route a2b: alice@mailtrip.test -> bob@mailtrip.test"),
        "{log}"
    );
    assert!(
        !log.contains(util::PASSWORD),
        "the password never shows:\n{log}"
    );
    assert_eq!(
        probes_in(&server, "INBOX"),
        0,
        "probes left in INBOX:\n{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_in_process_counts_an_auth_rejection_then_recovers() {
    let server = util::server_with_fault(|f| f.smtp_auth_reject = Some(REFUSED.into())).await;
    let route = alice_to_bob(&server, "alice-bob")
        .interval(Duration::from_secs(1))
        .timeout(Duration::from_secs(10));
    let (monitor, addr) =
        in_process(Monitor::new(vec![route]).auth_hold(Duration::from_millis(200))).await;
    let route = [("route", "alice-bob")];

    let failed = scrape_until(&addr, "smtp_auth failure", |s| {
        failures_at_least(s, "alice-bob", "smtp_auth", "auth_rejected", 1.0)
    })
    .await;
    assert_failing(&failed, "alice-bob", "auth_failed");

    // The rejected login left no kept connection: the next probe logs in afresh.
    server.set_faults(Faults::default());
    scrape_until(&addr, "recovery", |s| {
        value(s, "mailtrip_monitor_success", &route) == Some(1.0)
    })
    .await;
    // The library serves the same text in-process.
    parse(&monitor.metrics_text());
    monitor.shutdown().await;
}

/// A refused login is not retried every interval (providers lock accounts that keep
/// trying): probes during the hold fail at once, in the server's words, without a login.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_holds_off_logging_in_again_after_a_refused_password() {
    let server = util::server_with_fault(|f| f.smtp_auth_reject = Some(REFUSED.into())).await;
    let (monitor, addr) = in_process(
        Monitor::new(vec![
            alice_to_bob(&server, "held")
                .interval(Duration::from_millis(300))
                .timeout(Duration::from_secs(5)),
        ])
        .auth_hold(Duration::from_secs(3600)),
    )
    .await;
    scrape_until(&addr, "three refused probes", |s| {
        failures_at_least(s, "held", "smtp_auth", "auth_rejected", 3.0)
    })
    .await;
    let (smtp_logins, _) = server.auth_attempts();
    assert_eq!(smtp_logins, 1, "one SMTP login for three failed probes");
    monitor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_in_process_reports_an_imap_watch_that_cannot_log_in() {
    let server = util::server_with_fault(|f| {
        f.imap_auth_reject = Some("NO [AUTHENTICATIONFAILED] Invalid credentials".into())
    })
    .await;
    let failure = ("imap_auth", "auth_rejected");
    let (monitor, s) = until_failed(&server, "r", Duration::from_secs(5), failure).await;
    assert_eq!(
        value(&s, "mailtrip_monitor_watch_up", &[("folder", "INBOX")]),
        Some(0.0)
    );
    // Nothing was sent while nobody watched, and the refused login was not retried.
    assert_eq!(probes_in(&server, "INBOX"), 0);
    let (_, imap_logins) = server.auth_attempts();
    assert_eq!(imap_logins, 1, "one IMAP login, then a hold");
    monitor.shutdown().await;
}

#[test]
fn monitor_config_errors_exit_3_and_name_the_route() {
    let dir = util::scratch_dir("monitor-cfg");
    let path = dir.join("bad.toml");
    std::fs::write(&path, "[[routes]]\nfrom = \"nobody\"\n").expect("write");
    let out = util::mailtrip_command()
        .args(["monitor", "--listen", "127.0.0.1:0", "--config"])
        .arg(&path)
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("route 1") && err.contains("no account named \"nobody\""),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_counts_a_changed_probe_as_content_mismatch_at_verify() {
    // A gateway appends a footer: the check calls it content_mismatch at verify, and the
    // monitor's failure counter must name the same cause (it said message_rejected).
    let server = util::server_with_fault(|f| f.append_footer = Some("-- \r\nScanned".into())).await;
    let failure = ("verify", "content_mismatch");
    let (monitor, failed) = until_failed(&server, "footer", Duration::from_secs(10), failure).await;
    assert_failing(&failed, "footer", "content_mismatch");
    monitor.shutdown().await;
}
