//! Harness benchmarks (a release binary, not a timed test): `mailtrip check` as a whole process,
//! detection latency (stored → matched) with IDLE and with polling, `load` throughput and
//! latency at 1/8/64 in flight, and the harness's CPU per probe and RSS over 10,000 probes
//! against `mailtrip server` in another process. Run with `cargo bench --bench load [part]`;
//! figures go in README "Performance".

mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use mailtrip::server::{Faults, ServerConfig, TestServer};
use mailtrip::{Account, Load};

const ALICE: &str = "alice@mailtrip.test";
const BOB: &str = "bob@mailtrip.test";
const PW: &str = "bench-password";
const BIN: &str = env!("CARGO_BIN_EXE_mailtrip");

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn summary(mut v: Vec<f64>) -> String {
    v.sort_by(|a, b| a.total_cmp(b));
    format!(
        "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms (n={})",
        percentile(&v, 0.5),
        percentile(&v, 0.9),
        percentile(&v, 0.99),
        v.last().copied().unwrap_or(f64::NAN),
        v.len()
    )
}

async fn server(faults: Faults) -> TestServer {
    TestServer::start(
        ServerConfig::default()
            .with_user(ALICE, PW)
            .with_user(BOB, PW)
            .faults(faults),
    )
    .await
    .expect("server")
}

/// (a) `mailtrip check --format json` as a process: spawn → exit, and where the time goes.
async fn check_e2e(runs: usize) {
    let mut wall = Vec::new();
    let mut inside = Vec::new();
    let mut phases: HashMap<String, Vec<f64>> = HashMap::new();
    for _ in 0..runs {
        let t = Instant::now();
        let out = Command::new(BIN)
            .args(["check", "--format", "json"])
            .env_remove("MAILTRIP_CONFIG")
            .current_dir(std::env::temp_dir())
            .output()
            .expect("spawn mailtrip check");
        wall.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json report");
        inside.push(v["total_ms"].as_f64().unwrap_or(f64::NAN));
        for p in v["phases"].as_array().into_iter().flatten() {
            let name = p["name"].as_str().unwrap_or("?").to_string();
            phases
                .entry(name)
                .or_default()
                .push(p["ms"].as_f64().unwrap_or(0.0));
        }
    }
    println!(
        "check e2e (spawn → verdict → exit), {runs} runs: {}",
        summary(wall.clone())
    );
    println!("  Check::run inside the process: {}", summary(inside));
    let mut names: Vec<_> = phases.into_iter().collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, v) in names {
        let mut v = v;
        v.sort_by(|a, b| a.total_cmp(b));
        println!("  phase {name}: median {:.2} ms", percentile(&v, 0.5));
    }
    let mut starts = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let s = server(Faults::default()).await;
        starts.push(t.elapsed().as_secs_f64() * 1000.0);
        s.shutdown().await;
    }
    println!(
        "  TestServer::start (CA + leaf certificate generation, 5 listeners): {}",
        summary(starts)
    );
}

/// (b) Stored in the mailbox → the load watcher matched it, one probe in flight.
async fn detection(probes: u64, poll: bool) {
    let s = Arc::new(
        server(Faults {
            imap_no_idle: poll,
            ..Faults::default()
        })
        .await,
    );
    // Timestamps when the store changes: a subscriber on the store's notifier reads the new
    // messages' tags. It runs on the same runtime, so it can only be late, never early: the
    // figures are a slight under-estimate of stored → matched.
    let stored: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let matched: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let mut changes = s.store().subscribe();
    let store_task = {
        let stored = stored.clone();
        let server = s.clone();
        tokio::spawn(async move {
            let mut seen = 0;
            while changes.changed().await.is_ok() {
                let now = Instant::now();
                let msgs = server.messages(BOB, "INBOX").unwrap_or_default();
                if msgs.len() <= seen {
                    seen = msgs.len();
                    continue;
                }
                let mut map = stored.lock().expect("lock");
                for m in &msgs[seen..] {
                    let text = String::from_utf8_lossy(&m.raw);
                    if let Some(tag) = text
                        .lines()
                        .find_map(|l| l.strip_prefix("X-Mailtrip-Probe: "))
                    {
                        map.entry(tag.trim().to_string()).or_insert(now);
                    }
                }
                seen = msgs.len();
            }
        })
    };
    let hook = matched.clone();
    let r = Load::new(
        Account::embedded(&s, ALICE, PW),
        vec![Account::embedded(&s, BOB, PW)],
    )
    .probes(probes)
    .concurrency(1)
    .keep(true)
    .on_delivered(move |d| hook.lock().expect("lock").push((d.tag.clone(), d.at)))
    .run()
    .await
    .expect("load");
    store_task.abort();
    let stored = stored.lock().expect("lock");
    let lat: Vec<f64> = matched
        .lock()
        .expect("lock")
        .iter()
        .filter_map(|(tag, at)| {
            Some(
                at.saturating_duration_since(*stored.get(tag)?)
                    .as_secs_f64()
                    * 1000.0,
            )
        })
        .collect();
    println!(
        "detection (stored → matched), {}, {probes} probes one at a time: {}; DATA → matched p50 {:.2} ms, p99 {:.2} ms; lost {}",
        if poll {
            "NOOP/FETCH polling (IDLE hidden)"
        } else {
            "IDLE"
        },
        summary(lat),
        r.latency_ms.p50,
        r.latency_ms.p99,
        r.lost
    );
}

/// (c) Load through the embedded server (same process) at a given window.
async fn load_at(probes: u64, concurrency: usize) {
    let s = server(Faults::default()).await;
    let r = Load::new(
        Account::embedded(&s, ALICE, PW),
        vec![Account::embedded(&s, BOB, PW)],
    )
    .probes(probes)
    .concurrency(concurrency)
    .run()
    .await
    .expect("load");
    let l = r.latency_ms;
    println!(
        "load {probes} probes, {concurrency} in flight, {} SMTP conns: {:.0} round trips/s; latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms; lost {}, dup {}, failed {}; cleanup deleted {}",
        r.settings.smtp_connections,
        r.throughput_per_sec,
        l.p50,
        l.p90,
        l.p99,
        l.max,
        r.lost,
        r.duplicated,
        r.send_failed,
        r.cleanup.deleted
    );
}

/// (d) `mailtrip load` in its own process against `mailtrip server` in another: the load
/// process's CPU per probe and RSS (its own /proc/self figures, in its JSON report).
fn harness_cost(probes: u64, concurrency: usize) {
    let ca = std::env::temp_dir().join(format!("mailtrip-bench-ca-{}.pem", std::process::id()));
    let mut srv = Command::new(BIN)
        .args(["server", "--user", &format!("{ALICE}:{PW}"), "--ca-out"])
        .arg(&ca)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mailtrip server");
    let mut line = String::new();
    BufReader::new(srv.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("banner");
    let banner: serde_json::Value = serde_json::from_str(&line).expect("banner json");
    let port = |k: &str| {
        banner[k]
            .as_str()
            .and_then(|a| a.rsplit_once(':'))
            .map(|(_, p)| p.to_string())
            .expect("port")
    };
    let t = Instant::now();
    let out = Command::new(BIN)
        .args(["load", "--format", "json", "--probes", &probes.to_string()])
        .args(["--concurrency", &concurrency.to_string()])
        .args([
            "--smtp",
            &format!("smtp+starttls://localhost:{}", port("submission")),
        ])
        .args(["--imap", &format!("imaps://localhost:{}", port("imaps"))])
        .args(["--user", ALICE, "--ca-file"])
        .arg(&ca)
        .env("MAILTRIP_PASSWORD", PW)
        .env_remove("MAILTRIP_CONFIG")
        .current_dir(std::env::temp_dir())
        .output()
        .expect("spawn mailtrip load");
    let wall = t.elapsed();
    let _ = Command::new("kill").arg(srv.id().to_string()).status();
    let _ = srv.wait();
    let _ = std::fs::remove_file(&ca);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("load json: {}", String::from_utf8_lossy(&out.stderr)));
    let h = &v["harness"];
    println!(
        "harness cost, mailtrip load process, {probes} probes at {concurrency} in flight (server in another process): {:.3} ms CPU/probe ({} s user + {} s sys); peak RSS {:.1} MiB; RSS samples (probes, MiB) {}; {:.0} round trips/s, lost {}, wall {:.1} s",
        h["cpu_ms_per_probe"].as_f64().unwrap_or(f64::NAN),
        h["cpu_user_s"],
        h["cpu_sys_s"],
        h["peak_rss_mib"].as_f64().unwrap_or(f64::NAN),
        h["rss_samples"],
        v["throughput_per_sec"].as_f64().unwrap_or(f64::NAN),
        v["lost"],
        wall.as_secs_f64()
    );
}

fn main() {
    let want = support::wanted();
    support::runtime().block_on(async {
        if want("check") {
            check_e2e(30).await;
        }
        if want("detection") {
            detection(500, false).await;
            detection(500, true).await;
        }
        if want("load") {
            load_at(1_000, 1).await;
            load_at(3_000, 8).await;
            load_at(5_000, 64).await;
        }
    });
    if want("harness") {
        harness_cost(10_000, 64);
    }
}
