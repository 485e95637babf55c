//! Issue 16 items 3 and 5 in a real browser: Debian's headless Chromium, driven over
//! WebDriver (chromedriver + fantoccini), shows the web view's live message list, a message
//! page with the HTML body in its sandbox and remote content blocked, delete and purge, and
//! renders the `load --html` report without a console error. Screenshots of each page are
//! kept under `target/browser-screenshots/` and their paths printed.

use std::net::SocketAddr;
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::catcher::smtp_send;
use crate::catcher_cli::load_with_html;
use crate::http_api::{request, signup_mail, start};
use crate::util;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const WAIT: Duration = Duration::from_secs(20);

/// chromedriver on a free loopback port, killed on drop.
struct Driver {
    child: Child,
    addr: SocketAddr,
    profile: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // chromedriver leads its own process group, and Chromium runs in it: end them all,
        // so a failed test leaves no browser behind.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

async fn driver() -> Driver {
    for tool in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            std::path::Path::new(tool).exists(),
            "{tool} is missing: apt-get install chromium chromium-driver"
        );
    }
    // chromedriver wants a port number: take a free one from the kernel.
    let port = util::free_port();
    let child = Command::new(CHROMEDRIVER)
        .process_group(0)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let profile =
        std::env::temp_dir().join(format!("mailtrip-chromium-{}-{port}", std::process::id()));
    let d = Driver {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        profile,
    };
    let ready = async {
        loop {
            if let Ok(tcp) = tokio::net::TcpStream::connect(d.addr).await {
                drop(tcp);
                let status = request(d.addr, "GET", "/status", &[], b"").await;
                if status.json()["value"]["ready"] == true {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(WAIT, ready)
        .await
        .expect("chromedriver ready within 20 s");
    d
}

async fn browser(d: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--disable-breakpad", "--disable-crash-reporter",
                "--window-size=1280,900",
                format!("--user-data-dir={}", d.profile.display()),
            ],
        }),
    );
    caps.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://{}", d.addr))
        .await
        .expect("a Chromium session")
}

/// The browser's console messages since the last call (chromedriver's log endpoint).
async fn console(d: &Driver, c: &Client) -> Vec<Value> {
    let id = c.session_id().await.expect("session").expect("an id");
    let r = request(
        d.addr,
        "POST",
        &format!("/session/{id}/se/log"),
        &[("Content-Type", "application/json")],
        br#"{"type":"browser"}"#,
    )
    .await;
    r.json()["value"].as_array().cloned().unwrap_or_default()
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/browser-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    let path = screenshots().join(name);
    std::fs::write(&path, png).expect("write screenshot");
    println!("screenshot: {}", path.display());
}

/// Waits until the element's text contains `want`.
async fn wait_text(c: &Client, css: &str, want: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Ok(e) = c.find(Locator::Css(css)).await
            && e.text().await.is_ok_and(|t| t.contains(want))
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{css} never showed {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits (up to [`WAIT`]) for the element `what` to appear; `name` says which in a failure.
async fn element(c: &Client, what: Locator<'_>, name: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(WAIT)
        .for_element(what)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Waits until `css` matches exactly `n` elements.
async fn wait_count(c: &Client, css: &str, n: usize) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let found = c.find_all(Locator::Css(css)).await.map(|v| v.len());
        if found.as_ref().is_ok_and(|k| *k == n) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{css}: wanted {n}, have {found:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Clicks the element, finding it again if the live list re-rendered it meanwhile.
async fn click(c: &Client, what: Locator<'_>) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let clicked = match c.find(what).await {
            Ok(e) => e.click().await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match clicked {
            Ok(()) => return,
            Err(e) => assert!(
                tokio::time::Instant::now() < deadline,
                "could not click {what:?}: {e}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Counts TCP connections: the message's "remote" image points here.
async fn tracker() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    tokio::spawn(async move {
        while let Ok((_tcp, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
        }
    });
    (addr, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Debian's chromium and chromium-driver; .ci/run installs them and runs this"]
async fn issue16_web_view_and_load_report_in_headless_chromium() {
    let (server, http) = start(Default::default()).await;
    let (tracker_addr, hits) = tracker().await;
    let base = http.url();
    // A subject that would run script if the page ever used innerHTML.
    let hostile = "<img src=x onerror=alert(1)> Welcome aboard";
    let mail = signup_mail("someone+x@example.com", hostile).replace(
        "http://127.0.0.1:9/pixel.gif",
        &format!("http://{tracker_addr}/pixel.gif"),
    );
    let sent = smtp_send(
        server.smtp_addr(),
        "bot@app.test",
        &["someone+x@example.com"],
        &mail,
    )
    .await;
    assert!(
        sent.last().is_some_and(|r| r.starts_with("250")),
        "{sent:?}"
    );

    let d = driver().await;
    let c = browser(&d).await;

    // The list shows the subject (as text), the mailbox, and updates live.
    c.goto(&format!("{base}/"))
        .await
        .expect("open the web view");
    wait_text(&c, "#messages tbody", "Welcome aboard").await;
    wait_text(&c, "#mailboxes", "someone@example.com").await;
    let subject = c
        .find(Locator::Css("#messages a.subject"))
        .await
        .expect("subject link");
    assert_eq!(
        subject.text().await.expect("text"),
        hostile,
        "shown as text, not HTML"
    );
    let later = smtp_send(
        server.smtp_addr(),
        "bot@app.test",
        &["qa@example.com"],
        "From: bot@app.test\r\nTo: qa@example.com\r\nSubject: Arrived while watching\r\n\r\nhi\r\n",
    )
    .await;
    assert!(later.last().is_some_and(|r| r.starts_with("250")));
    wait_text(&c, "#messages tbody", "Arrived while watching").await;
    wait_count(&c, "#messages tr.message", 2).await;
    screenshot(&c, "web-list.png").await;

    // The message page: headers, text, and the HTML body in a sandboxed iframe.
    click(
        &c,
        Locator::XPath("//a[@class='subject'][contains(., 'Welcome aboard')]"),
    )
    .await;
    wait_text(&c, "#subject", "Welcome aboard").await;
    wait_text(&c, "#meta", "someone+x@example.com").await;
    let frame = element(&c, Locator::Css("#html-body"), "the iframe").await;
    assert_eq!(
        frame.attr("sandbox").await.expect("attr").as_deref(),
        Some(""),
        "sandboxed with no allowances (no scripts, no same-origin)"
    );
    c.enter_frame(0).await.expect("into the iframe");
    let greeting = element(&c, Locator::Css("#greeting"), "the HTML body's heading").await;
    assert_eq!(greeting.text().await.expect("text"), "Welcome aboard!");
    c.enter_parent_frame().await.expect("back out");
    screenshot(&c, "web-message.png").await;
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the remote image was never fetched"
    );
    for (tab, want) in [
        ("links", "https://app.test/confirm?token=abc123&src=mail"),
        ("attachments", "invoice.pdf"),
        ("headers", "X-Request-Id"),
        ("text", "Confirm: https://app.test/confirm?token=abc123"),
        (
            "raw",
            "Content-Disposition: attachment; filename=\"invoice.pdf\"",
        ),
    ] {
        click(&c, Locator::Css(&format!(".tabs [data-tab=\"{tab}\"]"))).await;
        wait_text(&c, &format!("[data-panel=\"{tab}\"]"), want).await;
    }
    screenshot(&c, "web-message-raw.png").await;

    // Delete this one: back on the list, one message left.
    click(&c, Locator::Css("#delete")).await;
    wait_count(&c, "#messages tr.message", 1).await;
    assert_eq!(
        server
            .messages("someone@example.com", "INBOX")
            .expect("msgs")
            .len(),
        0
    );

    // Purge everything after confirming.
    click(&c, Locator::Css("#purge")).await;
    c.accept_alert().await.expect("confirm the purge");
    wait_count(&c, "#messages tr.message", 0).await;
    wait_text(&c, "#empty", "No mail yet").await;
    screenshot(&c, "web-empty.png").await;

    // The load report renders, with its charts, and without a console error.
    let (page, _) = load_with_html("browser-load-report");
    let _ = console(&d, &c).await;
    c.goto(&format!("file://{}", page.display()))
        .await
        .expect("open the report");
    for id in ["summary", "histogram", "latency-over-time", "per-second"] {
        element(&c, Locator::Id(id), &format!("#{id}")).await;
    }
    let bars = c
        .find_all(Locator::Css("#histogram rect.bar"))
        .await
        .expect("bars");
    assert!(!bars.is_empty(), "the histogram has bars");
    let drawn = c
        .execute(
            "const r = document.querySelector('#latency-over-time').getBoundingClientRect(); \
             return [r.width, r.height, document.querySelectorAll('circle.pt').length];",
            vec![],
        )
        .await
        .expect("measure the chart");
    assert!(drawn[0].as_f64().is_some_and(|w| w > 300.0), "{drawn}");
    assert_eq!(drawn[2], 40, "a point per probe");
    screenshot(&c, "load-report.png").await;
    let errors: Vec<Value> = console(&d, &c)
        .await
        .into_iter()
        .filter(|e| e["level"] == "SEVERE")
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:?}");
    c.close().await.expect("close the session");
    http.shutdown().await;
}
