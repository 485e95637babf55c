//! `mailtrip monitor` as Prometheus and operators use it (issues 19 and 18): blackbox-style
//! `/probe?route=NAME` scraped over HTTP during real round trips against the embedded server,
//! the certificate-expiry gauge, `/readyz` against a server that went away, and README's
//! wrong-password alert matched against what a wrong SMTP or IMAP password really records.

use std::time::Duration;

use mailtrip::Account;
use mailtrip::diagnose::Code;
use mailtrip::monitor::{Monitor, Route};
use mailtrip::server::Faults;

use crate::monitor::{
    Running, Sample, alice_to_bob, config_with, get, in_process, parse, request, round_trips,
    round_trips_at_least, scrape_until, value,
};
use crate::util;

const TIMEOUT_HEADER: &str = "X-Prometheus-Scrape-Timeout-Seconds";

/// Scrapes `/probe?{query}` with the scrape-timeout header; the status, and the samples of
/// a 200 (which must be OpenMetrics) or the text of anything else.
async fn scrape_probe(addr: &str, query: &str, timeout: &str) -> (u16, Vec<Sample>, String) {
    let (status, head, body) = request(
        addr,
        "GET",
        &format!("/probe?{query}"),
        &[(TIMEOUT_HEADER, timeout)],
    )
    .await;
    if status != 200 {
        return (status, Vec::new(), body);
    }
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/openmetrics-text"),
        "{head}"
    );
    (status, parse(&body), body)
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
}

/// Issue 19: Prometheus drives the probes. With `--no-interval` nothing is sent until a
/// scrape of `/probe?route=…`, which runs exactly one round trip within the scrape timeout
/// (less 0.5 s) and answers its metrics; routes come only from the config.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_19_probe_endpoint_runs_one_round_trip_per_scrape() {
    let server = util::server().await;
    // Another server a query might try to point the probe at.
    let elsewhere = util::server().await;
    let dir = std::env::temp_dir().join(format!("mailtrip-probe-{}", std::process::id()));
    let cfg = config_with(
        &server,
        &dir,
        "[[routes]]\nname = \"a2b\"\nfrom = \"alice\"\nto = \"bob\"\ntimeout = \"30s\"\n\n\
         [[routes]]\nname = \"b2a\"\nfrom = \"bob\"\nto = \"alice\"\ntimeout = \"30s\"\n",
    );
    let running = Running::start(&cfg, &["--no-interval"]).await;
    let addr = running.addr.clone();

    // The expiry gauge appears for each route (both servers' certificates are read at start).
    let metrics = scrape_until(&addr, "certificate expiry of both routes", |s| {
        ["a2b", "b2a"].iter().all(|r| {
            value(
                s,
                "mailtrip_monitor_earliest_cert_expiry_timestamp_seconds",
                &[("route", r)],
            )
            .is_some_and(|t| t > now())
        })
    })
    .await;
    assert_eq!(
        round_trips(&metrics, "a2b", "delivered"),
        Some(0.0),
        "--no-interval: no probe before a scrape"
    );

    // 1. One scrape, one round trip: success and the phase series.
    let (status, s, body) = scrape_probe(&addr, "route=a2b", "20").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(value(&s, "probe_success", &[]), Some(1.0), "{body}");
    assert_eq!(
        value(&s, "probe_mailtrip_timeout_seconds", &[]),
        Some(19.5),
        "the scrape timeout less 0.5 s"
    );
    assert!(value(&s, "probe_duration_seconds", &[]).is_some_and(|d| d > 0.0));
    for phase in [
        "smtp_connect",
        "smtp_tls",
        "smtp_auth",
        "smtp_submit",
        "delivery",
        "fetch",
        "verify",
    ] {
        assert!(
            value(
                &s,
                "probe_mailtrip_phase_duration_seconds",
                &[("phase", phase)]
            )
            .is_some_and(|v| v >= 0.0),
            "phase {phase} in\n{body}"
        );
    }
    assert_eq!(
        value(&s, "probe_mailtrip_verdict", &[("verdict", "delivered")]),
        Some(1.0)
    );
    assert!(s.iter().all(|x| x.name != "probe_mailtrip_failure"));
    assert!(value(&s, "probe_ssl_earliest_cert_expiry", &[]).is_some_and(|t| t > now()));
    let after = scrape_until(&addr, "the probe counted in /metrics", |s| {
        round_trips(s, "a2b", "delivered") == Some(1.0)
    })
    .await;
    assert_eq!(round_trips(&after, "b2a", "delivered"), Some(0.0));

    // 2. Routes only from the config: an unknown route, a missing one, and every query that
    // names a server or credentials are refused before anything is sent.
    let (status, _, text) = scrape_probe(&addr, "route=nope", "20").await;
    assert_eq!(status, 400);
    assert_eq!(
        text,
        "unknown route \"nope\"; this monitor's routes: a2b, b2a\n"
    );
    let (status, _, text) = scrape_probe(&addr, "", "20").await;
    assert_eq!(status, 400);
    assert!(text.contains("/probe?route=NAME"), "{text}");
    let other_smtp = elsewhere.smtp_addr();
    let other_imap = elsewhere.imap_addr();
    for query in [
        format!("target={other_smtp}"),
        format!("route=a2b&target={other_smtp}&module=smtp"),
        format!("route=a2b&smtp=smtp://{other_smtp}&imap=imap://{other_imap}"),
        format!("route=a2b&smtp=smtp%3A%2F%2F{other_smtp}"),
        "route=a2b&user=alice@mailtrip.test&password=x".to_string(),
        "route=a2b&config=/etc/passwd".to_string(),
    ] {
        let (status, _, text) = scrape_probe(&addr, &query, "20").await;
        assert_eq!(status, 400, "{query}: {text}");
        assert!(
            text.starts_with("unknown query parameter"),
            "{query}: {text}"
        );
    }
    assert_eq!(
        elsewhere.auth_attempts(),
        (0, 0),
        "nothing logged in elsewhere"
    );
    assert_eq!(crate::monitor::probes_in(&elsewhere, "INBOX"), 0);
    let (status, _, text) = request(&addr, "HEAD", "/probe?route=a2b", &[]).await;
    assert_eq!(status, 405, "a HEAD never sends a probe: {text}");
    let s = parse(&get(&addr, "/metrics").await.2);
    assert_eq!(
        round_trips(&s, "a2b", "delivered"),
        Some(1.0),
        "refused scrapes sent nothing"
    );
    let (status, _, text) = scrape_probe(&addr, "route=a2b", "soon").await;
    assert_eq!(status, 400);
    assert!(
        text.contains("X-Prometheus-Scrape-Timeout-Seconds"),
        "{text}"
    );

    // 3. The scrape timeout bounds the probe: the route allows 30 s, the header 3 s, so a
    // delivery held for 20 s fails in the delivery phase as a timeout within 2.5 s.
    util::set_fault(&server, |f| {
        f.delivery_delay = Some((Duration::from_secs(20), Duration::from_secs(20)))
    });
    let first = {
        let addr = addr.clone();
        tokio::spawn(async move { scrape_probe(&addr, "route=a2b", "3").await })
    };
    // 4. Meanwhile a second scrape of the same route is refused (limit 1), another route not.
    scrape_until(&addr, "a probe in flight", |s| {
        value(s, "mailtrip_monitor_probes_in_flight", &[("route", "a2b")]) == Some(1.0)
    })
    .await;
    let (status, _, text) = scrape_probe(&addr, "route=a2b", "3").await;
    assert_eq!(status, 429, "{text}");
    assert!(text.contains("--probe-concurrency 1"), "{text}");
    let (status, s, body) = first.await.expect("first scrape");
    assert_eq!(status, 200, "{body}");
    assert_eq!(value(&s, "probe_success", &[]), Some(0.0), "{body}");
    assert_eq!(value(&s, "probe_mailtrip_timeout_seconds", &[]), Some(2.5));
    assert_eq!(
        value(
            &s,
            "probe_mailtrip_failure",
            &[("phase", "delivery"), ("code", "timeout")]
        ),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        value(
            &s,
            "probe_mailtrip_verdict",
            &[("verdict", "not_delivered")]
        ),
        Some(1.0)
    );
    server.set_faults(Faults::default());

    let (status, log) = running.stop().await;
    assert!(status.success(), "exit 0 after SIGTERM: {status:?}\n{log}");
    assert!(
        log.contains(
            "route a2b: alice@mailtrip.test -> bob@mailtrip.test on /probe?route=a2b only"
        ),
        "{log}"
    );
    assert!(!log.contains(util::PASSWORD), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 19: `/healthz` only says the process is alive; `/readyz` says whether each route's
/// last probe got through, and with the server gone it names the failing phase.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_19_readyz_tells_the_truth_when_the_server_is_down() {
    let server = util::server().await;
    let route = alice_to_bob(&server, "mail")
        .interval(Duration::from_millis(300))
        .timeout(Duration::from_secs(3));
    let (monitor, addr) = in_process(Monitor::new(vec![route])).await;

    let ready = wait_readyz(&addr, 200).await;
    assert!(ready.starts_with("ready: "), "{ready}");
    assert!(ready.contains("route mail: ok: delivered ("), "{ready}");

    // The mail server goes away (as Dovecot did in the issue): probes fail.
    server.shutdown().await;
    let down = wait_readyz(&addr, 503).await;
    assert!(
        down.starts_with("not ready: 1 of 1 routes failing"),
        "{down}"
    );
    assert!(down.contains("route mail: failing: "), "{down}");
    assert!(
        ["smtp_connect", "imap_connect", "delivery", "fetch"]
            .iter()
            .any(|p| down.contains(&format!(" at {p} ("))),
        "names the phase: {down}"
    );
    // The process is alive all the same, and /healthz says only that.
    let (status, _, body) = get(&addr, "/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    monitor.shutdown().await;
}

/// `/readyz` until it answers `status` (bounded); its body.
async fn wait_readyz(addr: &str, status: u16) -> String {
    let start = std::time::Instant::now();
    loop {
        let (got, _, body) = get(addr, "/readyz").await;
        if got == status {
            return body;
        }
        assert!(
            start.elapsed() < crate::monitor::PATIENCE,
            "/readyz never {status}: {got} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// README's wrong-password alert: the metric and the label matchers of its `expr`.
fn readme_password_alert() -> (String, Vec<(String, bool, String)>) {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let at = readme
        .find("alert: MailPasswordRefused")
        .expect("README has the MailPasswordRefused alert");
    let expr = readme[at..]
        .lines()
        .find_map(|l| l.trim().strip_prefix("expr: "))
        .expect("the alert's expr");
    // increase(NAME{k="v",k=~"re"}[15m]) > 0
    let (before, rest) = expr.split_once('{').expect("a selector with labels");
    let name = before
        .rsplit(['(', ' '])
        .next()
        .expect("metric")
        .to_string();
    let inner = rest.split_once('}').expect("closing brace").0;
    let matchers = inner
        .split("\",")
        .map(|m| {
            let m = m.trim().trim_end_matches('"');
            let (key, regex, v) = match m.split_once("=~\"") {
                Some((k, v)) => (k, true, v),
                None => {
                    let (k, v) = m.split_once("=\"").expect("label matcher");
                    (k, false, v)
                }
            };
            (key.to_string(), regex, v.to_string())
        })
        .collect();
    (name, matchers)
}

/// Whether a sample matches the README alert's selector (regexes are anchored, as PromQL's).
fn alert_matches(s: &Sample, name: &str, matchers: &[(String, bool, String)]) -> bool {
    s.name == name
        && s.value >= 1.0
        && matchers.iter().all(|(k, is_regex, v)| {
            let got = s
                .labels
                .iter()
                .find(|(lk, _)| lk == k)
                .map(|(_, lv)| lv.as_str())
                .unwrap_or("");
            if *is_regex {
                regex::Regex::new(&format!("^(?:{v})$"))
                    .expect("valid regex")
                    .is_match(got)
            } else {
                got == v
            }
        })
}

/// Issue 18 item 1: README's password alert matches what the monitor records for a wrong
/// SMTP password and for a wrong IMAP password (real refusals by the embedded server), and
/// its code list is exactly the diagnosis codes that mean "credentials refused".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_18_readme_password_alert_fires_for_a_wrong_smtp_or_imap_password() {
    let (name, matchers) = readme_password_alert();
    assert_eq!(name, "mailtrip_monitor_failures_total");
    let (_, _, codes) = matchers
        .iter()
        .find(|(k, regex, _)| k == "code" && *regex)
        .expect("the alert matches on the code, whatever the phase");
    assert!(
        matchers.iter().all(|(k, _, _)| k != "phase"),
        "no phase matcher: {matchers:?}"
    );
    let mut listed: Vec<&str> = codes.split('|').collect();
    listed.sort_unstable();
    let mut refusals: Vec<&str> = Code::ALL
        .iter()
        .filter(|c| c.is_credential_refusal())
        .map(|c| c.as_str())
        .collect();
    refusals.sort_unstable();
    assert_eq!(listed, refusals, "README lists every credential refusal");

    let server = util::server().await;
    let good = |who: &str| util::account(&server, who);
    let wrong = |who: &str| Account::embedded(&server, who, "not the password");
    for (case, from, to, phase) in [
        (
            "wrong SMTP password",
            wrong("alice@mailtrip.test"),
            good("bob@mailtrip.test"),
            "smtp_auth",
        ),
        (
            "wrong IMAP password",
            good("alice@mailtrip.test"),
            wrong("bob@mailtrip.test"),
            "imap_auth",
        ),
    ] {
        let (monitor, addr) = in_process(Monitor::new(vec![
            Route::new("r", from, to)
                .interval(Duration::from_millis(300))
                .timeout(Duration::from_secs(5)),
        ]))
        .await;
        let s = scrape_until(&addr, case, |s| {
            s.iter().any(|x| alert_matches(x, &name, &matchers))
        })
        .await;
        let hit = s
            .iter()
            .find(|x| alert_matches(x, &name, &matchers))
            .expect("matched");
        assert!(
            hit.labels.contains(&("phase".into(), phase.into())),
            "{case}: {hit:?}"
        );
        assert!(round_trips_at_least(&s, "r", "auth_failed", 1.0));
        monitor.shutdown().await;
    }
}
