//! Embedded-server benchmark (a release binary, not a timed test): SMTP delivery throughput
//! over 8 connections, end-of-DATA → IDLE EXISTS push latency, and RSS with 10,000 stored
//! 4 KiB messages. Run with `cargo bench --bench server`; figures go in README "Performance".

mod support;

use std::time::{Duration, Instant};

use mailtrip::server::{ServerConfig, TestServer};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

const USER: &str = "bench@mailtrip.test";

fn body_4k(i: usize) -> String {
    let mut s = format!(
        "From: bench@mailtrip.test\r\nTo: {USER}\r\nSubject: bench {i}\r\nMessage-ID: <{i}@bench>\r\n\r\n"
    );
    let line = "mailtrip benchmark line of text, seventy-odd characters long, padding.\r\n";
    while s.len() < 4096 - line.len() {
        s.push_str(line);
    }
    s
}

struct Smtp {
    r: BufReader<OwnedReadHalf>,
    w: OwnedWriteHalf,
    line: String,
}

impl Smtp {
    async fn connect(addr: std::net::SocketAddr) -> Smtp {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        tcp.set_nodelay(true).expect("nodelay");
        let (r, w) = tcp.into_split();
        let mut s = Smtp {
            r: BufReader::new(r),
            w,
            line: String::new(),
        };
        s.reply().await;
        s.w.write_all(b"EHLO bench\r\n").await.expect("ehlo");
        s.reply().await;
        s
    }

    /// Reads one (possibly multi-line) reply; returns its code.
    async fn reply(&mut self) -> u16 {
        loop {
            self.line.clear();
            let n = self.r.read_line(&mut self.line).await.expect("read");
            assert!(n > 0, "server closed");
            if self.line.as_bytes().get(3) != Some(&b'-') {
                return self.line[..3].parse().expect("code");
            }
        }
    }

    /// One message, pipelined MAIL/RCPT/DATA; returns when the final dot was written, after
    /// the 250 that accepts the message has arrived.
    async fn send(&mut self, body: &str) -> Instant {
        let cmds = format!("MAIL FROM:<bench@mailtrip.test>\r\nRCPT TO:<{USER}>\r\nDATA\r\n");
        self.w.write_all(cmds.as_bytes()).await.expect("write");
        assert_eq!(self.reply().await, 250);
        assert_eq!(self.reply().await, 250);
        assert_eq!(self.reply().await, 354);
        self.w.write_all(body.as_bytes()).await.expect("body");
        self.w.write_all(b".\r\n").await.expect("dot");
        let sent = Instant::now();
        assert_eq!(self.reply().await, 250, "{}", self.line);
        sent
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn throughput(total: usize, conns: usize) {
    let server = TestServer::start(ServerConfig::default().with_user(USER, "pw"))
        .await
        .expect("server");
    let addr = server.smtp_addr();
    let rss_before = rss_kib();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..conns {
        tasks.push(tokio::spawn(async move {
            let mut s = Smtp::connect(addr).await;
            let mut i = c;
            while i < total {
                s.send(&body_4k(i)).await;
                i += conns;
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let elapsed = start.elapsed();
    let stored = server.messages(USER, "INBOX").expect("inbox").len();
    assert_eq!(stored, total, "every message stored");
    let rss_after = rss_kib();
    println!(
        "smtp delivery: {total} x 4 KiB messages over {conns} connections in {:.2} s = {:.0} messages/s",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    println!(
        "rss: {:.1} MiB before, {:.1} MiB with {stored} stored 4 KiB messages (whole bench process)",
        rss_before as f64 / 1024.0,
        rss_after as f64 / 1024.0
    );
}

async fn push_latency(rounds: usize) {
    let server = TestServer::start(ServerConfig::default().with_user(USER, "pw"))
        .await
        .expect("server");
    // A plain-IMAP client that logs in after STARTTLS would measure TLS too; the IMAPS port
    // is what real clients use, so idle over it.
    let tls = native_tls::TlsConnector::builder()
        .add_root_certificate(
            native_tls::Certificate::from_pem(server.ca_pem().as_bytes()).expect("ca"),
        )
        .build()
        .expect("tls");
    let tls = tokio_native_tls::TlsConnector::from(tls);
    let tcp = TcpStream::connect(server.imaps_addr())
        .await
        .expect("imaps");
    tcp.set_nodelay(true).expect("nodelay");
    let stream = tls.connect("localhost", tcp).await.expect("handshake");
    let (r, mut w) = tokio::io::split(stream);
    let mut r = BufReader::new(r);
    let mut line = String::new();
    r.read_line(&mut line).await.expect("greeting");
    w.write_all(format!("a LOGIN {USER} pw\r\nb SELECT INBOX\r\nc IDLE\r\n").as_bytes())
        .await
        .expect("write");
    loop {
        line.clear();
        r.read_line(&mut line).await.expect("read");
        if line.starts_with("+ ") {
            break;
        }
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let reader = tokio::spawn(async move {
        let mut line = String::new();
        loop {
            line.clear();
            if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                break;
            }
            if line.ends_with("EXISTS\r\n") && tx.send(Instant::now()).is_err() {
                break;
            }
        }
    });
    let mut smtp = Smtp::connect(server.smtp_addr()).await;
    let body = body_4k(0);
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        // Delivery happens before the 250 goes out, so time from the end of DATA.
        let accepted = smtp.send(&body).await;
        let seen = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("EXISTS within 5 s")
            .expect("reader alive");
        samples.push(seen.saturating_duration_since(accepted));
    }
    w.write_all(b"DONE\r\nd LOGOUT\r\n").await.expect("done");
    reader.abort();
    samples.sort();
    println!(
        "push latency (end of DATA → * EXISTS during IDLE), {rounds} rounds: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        percentile(&samples, 0.5).as_secs_f64() * 1000.0,
        percentile(&samples, 0.99).as_secs_f64() * 1000.0,
        samples.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
    );
}

fn main() {
    let want = support::wanted();
    support::runtime().block_on(async {
        if want("throughput") {
            throughput(10_000, 8).await;
        }
        if want("push") {
            push_latency(1_000).await;
        }
    });
}
