//! Issue 16 item 2, the HTTP JSON API, over real sockets: every endpoint, search by each
//! criterion, long-poll wait, a message with HTML and attachments, faults set at run time,
//! and errors as JSON with their status codes.

use std::net::SocketAddr;
use std::time::Duration;

use mailtrip::server::http::{HttpAuth, HttpConfig, HttpServer, Router};
use mailtrip::server::{ServerConfig, TestServer};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::catcher::smtp_send;
use crate::util;

const WAIT: Duration = Duration::from_secs(10);

/// A response: status, headers (names lowercased), body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`), read to the end.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    tcp.write_all(head.as_bytes()).await.expect("write");
    tcp.write_all(body).await.expect("write body");
    // Read to the end of the body: Content-Length when given (a peer may keep the
    // connection open regardless), else to EOF.
    let mut out = Vec::new();
    let read = async {
        let mut buf = [0u8; 16 * 1024];
        loop {
            if let Some(split) = out.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&out[..split]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok());
                if length.is_some_and(|n| out.len() >= split + 4 + n) {
                    return;
                }
            }
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("response within a minute");
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of head");
    let head = String::from_utf8_lossy(&out[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: out[split + 4..].to_vec(),
    }
}

pub async fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "GET", path, &[], b"").await
}

/// A mail server and its HTTP side on loopback, no credentials.
pub async fn start(config: ServerConfig) -> (TestServer, HttpServer) {
    let server = util::server_with(config).await;
    let http = HttpServer::start(
        &server,
        HttpConfig {
            addr: "127.0.0.1:0".parse().expect("addr"),
            auth: HttpAuth::None,
            extra: Router::default(),
            tls: false,
        },
    )
    .await
    .expect("http starts");
    (server, http)
}

/// A signup mail: text and HTML alternatives (the HTML with a remote image), a PDF
/// attachment and an inline PNG.
pub fn signup_mail(to: &str, subject: &str) -> String {
    format!(
        "From: \"Signup Bot\" <bot@app.test>\r\nTo: {to}\r\nSubject: {subject}\r\n\
Date: Wed, 01 May 2024 12:00:00 +0000\r\nMessage-ID: <signup-1@app.test>\r\nX-Request-Id: req-42\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n\
--outer\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n\
--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
Welcome! Confirm: https://app.test/confirm?token=abc123\r\n\
--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
<html><body><h1 id=\"greeting\">Welcome aboard!</h1>\
<p><a href=\"https://app.test/confirm?token=abc123&amp;src=mail\">Confirm your address</a></p>\
<img id=\"tracker\" src=\"http://127.0.0.1:9/pixel.gif\" alt=\"tracker\"></body></html>\r\n\
--alt--\r\n\
--outer\r\nContent-Type: application/pdf; name=\"invoice.pdf\"\r\n\
Content-Disposition: attachment; filename=\"invoice.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
JVBERi0xLjQKJSBtYWlsdHJpcAo=\r\n\
--outer\r\nContent-Type: image/png\r\nContent-ID: <logo@app.test>\r\n\
Content-Disposition: inline; filename=\"logo.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
iVBORw0KGgo=\r\n\
--outer--\r\n"
    )
}

async fn send(server: &TestServer, to: &str, data: &str) {
    let replies = smtp_send(server.smtp_addr(), "bot@app.test", &[to], data).await;
    assert!(
        replies.last().is_some_and(|r| r.starts_with("250")),
        "{replies:?}"
    );
}

#[tokio::test]
async fn issue16_api_finds_and_shows_a_message_with_html_and_attachments() {
    let (server, http) = start(ServerConfig::default()).await;
    let a = http.addr();
    send(
        &server,
        "someone+x@example.com",
        &signup_mail("someone+x@example.com", "Welcome aboard"),
    )
    .await;
    send(&server, "other@example.org", "From: news@list.test\r\nTo: other@example.org\r\nSubject: Weekly news\r\n\r\nplain text only\r\n").await;
    server
        .wait_for_messages("other@example.org", "INBOX", 1, WAIT)
        .await
        .expect("second delivered");

    let all = get(a, "/api/v1/messages").await;
    assert_eq!(all.status, 200);
    assert!(
        all.header("content-type")
            .is_some_and(|c| c.starts_with("application/json"))
    );
    let all = all.json();
    assert_eq!(all["total"], 2);
    assert_eq!(all["messages"][0]["subject"], "Weekly news", "newest first");

    // Each criterion alone finds the signup mail and not the other one.
    for query in [
        "to=someone%40example.com",
        "to=someone%2Bx%40example.com",
        "to=example.com",
        "from=bot%40app.test",
        "from=signup",
        "subject=welcome",
        "header=X-Request-Id:req-42",
        "header=X-Request-Id",
        "text=confirm",
        "since=1m",
        "mailbox=someone%40example.com&folder=INBOX",
        "to=someone%40example.com&subject=aboard&text=abc123",
    ] {
        let r = get(a, &format!("/api/v1/messages?{query}")).await.json();
        let subjects: Vec<&str> = r["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .filter_map(|m| m["subject"].as_str())
            .collect();
        let want: &[&str] = if query == "since=1m" {
            &["Weekly news", "Welcome aboard"]
        } else {
            &["Welcome aboard"]
        };
        assert_eq!(subjects, want, "{query}");
    }
    let none = get(a, "/api/v1/messages?to=nobody%40example.com")
        .await
        .json();
    assert_eq!(none["total"], 0);
    let limited = get(a, "/api/v1/messages?limit=1").await.json();
    assert_eq!(
        (limited["total"].as_u64(), limited["count"].as_u64()),
        (Some(2), Some(1))
    );

    let summary = &get(a, "/api/v1/messages?subject=welcome").await.json()["messages"][0];
    assert_eq!(summary["mailbox"], "someone@example.com");
    assert_eq!(summary["delivered_to"], "someone+x@example.com");
    assert_eq!(summary["from"]["name"], "Signup Bot");
    assert_eq!(summary["has_html"], true);
    assert_eq!(summary["attachments"], 2);
    let id = summary["id"].as_str().expect("id").to_string();

    let detail = get(a, &format!("/api/v1/messages/{id}")).await;
    assert_eq!(detail.status, 200);
    let d = detail.json();
    assert_eq!(d["id"], id.as_str());
    assert_eq!(d["message_id"], "signup-1@app.test");
    assert!(
        d["text"]
            .as_str()
            .expect("text")
            .contains("Confirm: https://app.test/confirm?token=abc123")
    );
    assert!(
        d["html"]
            .as_str()
            .expect("html")
            .contains("<h1 id=\"greeting\">Welcome aboard!</h1>")
    );
    assert_eq!(
        d["links"],
        serde_json::json!([
            "https://app.test/confirm?token=abc123&src=mail",
            "http://127.0.0.1:9/pixel.gif",
            "https://app.test/confirm?token=abc123"
        ])
    );
    assert!(
        d["headers"]
            .as_array()
            .expect("headers")
            .iter()
            .any(|h| h["name"] == "X-Request-Id" && h["value"] == "req-42")
    );
    let atts = d["attachments"].as_array().expect("attachments");
    assert_eq!(atts.len(), 2);
    assert_eq!(atts[0]["filename"], "invoice.pdf");
    assert_eq!(atts[0]["content_type"], "application/pdf");
    assert_eq!(atts[0]["inline"], false);
    assert_eq!(atts[1]["filename"], "logo.png");
    assert_eq!(atts[1]["inline"], true);
    assert_eq!(atts[1]["content_id"], "logo@app.test");

    // Attachment download: decoded bytes, its type, a download disposition, sandboxed.
    let pdf = get(a, atts[0]["url"].as_str().expect("url")).await;
    assert_eq!(pdf.status, 200);
    assert_eq!(pdf.body, b"%PDF-1.4\n% mailtrip\n");
    assert_eq!(pdf.header("content-type"), Some("application/pdf"));
    assert_eq!(
        pdf.header("content-disposition"),
        Some("attachment; filename=\"invoice.pdf\"")
    );
    assert!(
        pdf.header("content-security-policy")
            .is_some_and(|c| c.contains("sandbox"))
    );

    // Raw source: the stored bytes exactly.
    let raw = get(a, d["raw_url"].as_str().expect("raw_url")).await;
    let stored = server
        .messages("someone@example.com", "INBOX")
        .expect("stored");
    assert_eq!(raw.body, stored[0].raw.to_vec());

    // The HTML body is served under a policy that blocks remote content and scripts.
    let html = get(a, d["html_url"].as_str().expect("html_url")).await;
    assert_eq!(html.status, 200);
    assert!(String::from_utf8_lossy(&html.body).contains("Welcome aboard!"));
    let csp = html.header("content-security-policy").expect("CSP");
    for directive in ["default-src 'none'", "img-src data:", "sandbox"] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(!csp.contains("http"), "no remote source allowed: {csp}");

    // A text-only message has no HTML endpoint.
    let plain = &get(a, "/api/v1/messages?subject=weekly").await.json()["messages"][0];
    let plain_id = plain["id"].as_str().expect("id");
    let d = get(a, &format!("/api/v1/messages/{plain_id}")).await.json();
    assert_eq!(d["html"], Value::Null);
    assert_eq!(d["html_url"], Value::Null);
    let no_html = get(a, &format!("/api/v1/messages/{plain_id}/html")).await;
    assert_eq!(
        (no_html.status, no_html.json()["error"].as_str()),
        (404, Some("no_html"))
    );
}

#[tokio::test]
async fn issue16_api_errors_are_json_with_their_status() {
    let (server, http) = start(ServerConfig::default()).await;
    let a = http.addr();
    send(&server, "x@example.com", "Subject: one\r\n\r\nbody\r\n").await;
    server
        .wait_for_messages("x@example.com", "INBOX", 1, WAIT)
        .await
        .expect("delivered");
    let id = get(a, "/api/v1/messages").await.json()["messages"][0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("GET", "/api/v1/messages/999-999".into(), 404, "not_found"),
        ("GET", "/api/v1/messages/not-an-id".into(), 404, "not_found"),
        ("DELETE", "/api/v1/messages/999-1".into(), 404, "not_found"),
        ("GET", "/api/v1/messages/999-1/raw".into(), 404, "not_found"),
        (
            "GET",
            format!("/api/v1/messages/{id}/attachments/0"),
            404,
            "not_found",
        ),
        (
            "GET",
            format!("/api/v1/messages/{id}/attachments/x"),
            404,
            "not_found",
        ),
        (
            "GET",
            "/api/v1/messages?colour=blue".into(),
            400,
            "bad_query",
        ),
        (
            "GET",
            "/api/v1/messages?wait=forever".into(),
            400,
            "bad_query",
        ),
        (
            "GET",
            "/api/v1/messages?since=yesterday".into(),
            400,
            "bad_query",
        ),
        ("GET", "/api/v1/messages?limit=-1".into(), 400, "bad_query"),
        (
            "DELETE",
            "/api/v1/messages?wait=1s".into(),
            400,
            "bad_query",
        ),
        ("GET", "/api/v1/changes?after=x".into(), 400, "bad_query"),
        ("POST", "/api/v1/messages".into(), 405, "method_not_allowed"),
        ("PATCH", "/api/v1/faults".into(), 405, "method_not_allowed"),
        ("GET", "/api/v1/nothing".into(), 404, "not_found"),
        ("GET", "/api/v2/messages".into(), 404, "not_found"),
        ("GET", "/no/such/page".into(), 404, "not_found"),
    ];
    for (method, path, status, code) in cases {
        let r = request(a, method, &path, &[], b"").await;
        assert_eq!(
            r.status,
            status,
            "{method} {path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let body = r.json();
        assert_eq!(body["error"], code, "{method} {path}");
        assert_eq!(body["status"], status, "{method} {path}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        if status == 405 {
            assert!(r.header("allow").is_some(), "{method} {path}");
        }
    }
    let bad = [
        &b"not json"[..],
        br#"{"greylsit": true}"#,
        br#"{"drop_percent": 300}"#,
        br#"{"delivery_delay": "soon"}"#,
    ];
    for body in bad {
        let r = request(
            a,
            "PUT",
            "/api/v1/faults",
            &[("Content-Type", "application/json")],
            body,
        )
        .await;
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(body));
        assert_eq!(r.json()["error"], "bad_faults");
    }
    // A page on another host name is refused (a DNS rebinding guard), with JSON.
    let r = request(
        a,
        "GET",
        "/api/v1/messages",
        &[("Host", "evil.example:80")],
        b"",
    )
    .await;
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (403, Some("forbidden_host"))
    );
    let r = request(a, "GET", "/api/v1/info", &[("Host", "localhost")], b"").await;
    assert_eq!(r.status, 200);
    let huge = vec![b'{'; 2 * 1024 * 1024];
    let r = request(a, "PUT", "/api/v1/faults", &[], &huge).await;
    assert_eq!(r.status, 413);
}

#[tokio::test]
async fn issue16_api_wait_returns_when_mail_arrives_and_sees_earlier_mail_when_asked() {
    let (server, http) = start(ServerConfig::default()).await;
    let a = http.addr();
    send(
        &server,
        "early@example.com",
        "Subject: early\r\n\r\nbefore the wait\r\n",
    )
    .await;
    server
        .wait_for_messages("early@example.com", "INBOX", 1, WAIT)
        .await
        .expect("delivered");

    // Already there: a plain wait does not count it, and times out with JSON.
    let r = get(a, "/api/v1/messages?to=early%40example.com&wait=300ms").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "timeout");
    // Asked to, it does, at once.
    let r = get(
        a,
        "/api/v1/messages?to=early%40example.com&wait=10s&existing=true",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["messages"][0]["subject"], "early");
    let r = get(
        a,
        "/api/v1/messages?to=early%40example.com&wait=10s&since=1m",
    )
    .await;
    assert_eq!(r.json()["messages"][0]["subject"], "early");

    // A wait started before the mail is sent returns with it (`since` pins "before" to
    // this moment however late the request goes out).
    let since = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let since = since.replace('+', "%2B");
    let waiter = tokio::spawn(async move {
        get(
            a,
            &format!("/api/v1/messages?to=late%40example.com&subject=code&wait=20s&since={since}"),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    send(
        &server,
        "other@example.com",
        "Subject: code 1\r\n\r\nnot for late\r\n",
    )
    .await;
    send(
        &server,
        "late+signup@example.com",
        "Subject: your code 482913\r\n\r\nhi\r\n",
    )
    .await;
    let r = waiter.await.expect("join");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let m = r.json();
    assert_eq!(m["count"], 1);
    assert_eq!(m["messages"][0]["subject"], "your code 482913");
    assert_eq!(m["messages"][0]["delivered_to"], "late+signup@example.com");
}

#[tokio::test]
async fn issue16_api_deletes_one_matching_and_all() {
    let (server, http) = start(ServerConfig::default()).await;
    let a = http.addr();
    for (to, subject) in [
        ("a@x.test", "one"),
        ("a@x.test", "two"),
        ("b@x.test", "three"),
    ] {
        send(&server, to, &format!("Subject: {subject}\r\n\r\nbody\r\n")).await;
    }
    server
        .wait_for_messages("b@x.test", "INBOX", 1, WAIT)
        .await
        .expect("delivered");
    server
        .wait_for_messages("a@x.test", "INBOX", 2, WAIT)
        .await
        .expect("delivered");
    let id = get(a, "/api/v1/messages?subject=two").await.json()["messages"][0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let r = request(a, "DELETE", &format!("/api/v1/messages/{id}"), &[], b"").await;
    assert_eq!((r.status, r.json()["deleted"].as_u64()), (200, Some(1)));
    assert_eq!(get(a, &format!("/api/v1/messages/{id}")).await.status, 404);
    assert_eq!(server.messages("a@x.test", "INBOX").expect("msgs").len(), 1);

    let r = request(a, "DELETE", "/api/v1/messages?mailbox=b%40x.test", &[], b"").await;
    assert_eq!(r.json()["deleted"], 1);
    assert_eq!(get(a, "/api/v1/messages").await.json()["total"], 1);
    let r = request(a, "DELETE", "/api/v1/messages", &[], b"").await;
    assert_eq!(r.json()["deleted"], 1);
    assert_eq!(get(a, "/api/v1/messages").await.json()["total"], 0);
    // Mailboxes stay, empty.
    let boxes = get(a, "/api/v1/mailboxes").await.json();
    let a_box = boxes["mailboxes"]
        .as_array()
        .expect("mailboxes")
        .iter()
        .find(|m| m["address"] == "a@x.test")
        .expect("a@x.test listed")
        .clone();
    assert_eq!(a_box["messages"], 0);
}

#[tokio::test]
async fn issue16_api_lists_mailboxes_declared_and_auto_created() {
    let (server, http) = start(ServerConfig::default()).await;
    send(&server, "new+1@example.com", "Subject: hi\r\n\r\nbody\r\n").await;
    server
        .wait_for_messages("new@example.com", "INBOX", 1, WAIT)
        .await
        .expect("delivered");
    let r = get(http.addr(), "/api/v1/mailboxes").await.json();
    let boxes = r["mailboxes"].as_array().expect("mailboxes");
    let find = |addr: &str| boxes.iter().find(|m| m["address"] == addr).cloned();
    let alice = find("alice@mailtrip.test").expect("declared alice");
    assert_eq!(alice["auto_created"], false);
    let new = find("new@example.com").expect("auto-created");
    assert_eq!(new["auto_created"], true);
    assert_eq!(new["messages"], 1);
    assert_eq!(new["unseen"], 1);
    let inbox = &new["folders"][0];
    assert_eq!(
        (inbox["name"].as_str(), inbox["messages"].as_u64()),
        (Some("INBOX"), Some(1))
    );
    assert!(
        new["folders"]
            .as_array()
            .expect("folders")
            .iter()
            .any(|f| f["role"] == "junk")
    );
}

#[tokio::test]
async fn issue16_api_sets_and_clears_faults_at_run_time() {
    let (server, http) = start(ServerConfig::default()).await;
    let a = http.addr();
    assert_eq!(get(a, "/api/v1/faults").await.json(), serde_json::json!({}));
    let r = request(
        a,
        "PUT",
        "/api/v1/faults",
        &[("Content-Type", "application/json")],
        br#"{"greylist": true, "junk_rule": "[promo]", "delivery_delay": "10ms..50ms"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.json(),
        serde_json::json!({"delivery_delay": "10ms..50ms", "greylist": true, "junk_rule": "[promo]"})
    );
    assert!(
        server.faults().greylist,
        "the server sees the fault at once"
    );
    let msg = "Subject: [promo] deals\r\n\r\nbuy\r\n";
    let first = smtp_send(server.smtp_addr(), "shop@x.test", &["c@x.test"], msg).await;
    assert_eq!(first[3], "451 4.7.1 Greylisted, please try again later");
    let second = smtp_send(server.smtp_addr(), "shop@x.test", &["c@x.test"], msg).await;
    assert_eq!(second[3], "250 2.1.5 Ok", "the retry passes");
    server
        .wait_for_messages("c@x.test", "Junk", 1, WAIT)
        .await
        .expect("the junk rule filed it");

    let r = request(a, "DELETE", "/api/v1/faults", &[], b"").await;
    assert_eq!((r.status, r.json()), (200, serde_json::json!({})));
    assert!(!server.faults().greylist);
    let third = smtp_send(
        server.smtp_addr(),
        "new@x.test",
        &["d@x.test"],
        "Subject: ok\r\n\r\nx\r\n",
    )
    .await;
    assert_eq!(third[3], "250 2.1.5 Ok");
}

#[tokio::test]
async fn issue16_api_changes_long_poll_wakes_on_delivery() {
    let (server, http) = start(ServerConfig::default()).await;
    let a = http.addr();
    let g = get(a, "/api/v1/changes").await.json()["generation"]
        .as_u64()
        .expect("generation");
    let same = get(a, &format!("/api/v1/changes?after={g}&wait=200ms"))
        .await
        .json();
    assert_eq!(same["generation"], g, "nothing changed");
    let waiter =
        tokio::spawn(async move { get(a, &format!("/api/v1/changes?after={g}&wait=20s")).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    send(&server, "e@x.test", "Subject: e\r\n\r\nx\r\n").await;
    let moved = waiter.await.expect("join").json()["generation"]
        .as_u64()
        .expect("generation");
    assert!(moved > g);
    let info = get(a, "/api/v1/info").await.json();
    assert_eq!(info["catch_all"], true);
    assert_eq!(info["smtp"], server.smtp_addr().to_string());
}

#[tokio::test]
async fn issue16_http_basic_auth_refuses_without_credentials() {
    let server = util::server().await;
    let http = HttpServer::start(
        &server,
        HttpConfig {
            addr: "127.0.0.1:0".parse().expect("addr"),
            auth: HttpAuth::Basic {
                user: "dev".into(),
                password: "s3cret".to_string().into(),
            },
            extra: Router::default(),
            tls: false,
        },
    )
    .await
    .expect("http starts");
    let a = http.addr();
    for path in ["/api/v1/messages", "/", "/assets/app.js", "/api/v1/faults"] {
        let r = get(a, path).await;
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(r.json()["error"], "unauthorized");
        assert!(
            r.header("www-authenticate")
                .is_some_and(|h| h.starts_with("Basic"))
        );
    }
    // dev:s3cret
    let ok = request(
        a,
        "GET",
        "/api/v1/messages",
        &[("Authorization", "Basic ZGV2OnMzY3JldA==")],
        b"",
    )
    .await;
    assert_eq!(ok.status, 200);
    let bearer = request(
        a,
        "GET",
        "/api/v1/messages",
        &[("Authorization", "Bearer s3cret")],
        b"",
    )
    .await;
    assert_eq!(bearer.status, 200);
    let wrong = request(
        a,
        "GET",
        "/api/v1/messages",
        &[("Authorization", "Basic ZGV2Ondyb25n")],
        b"",
    )
    .await;
    assert_eq!(wrong.status, 401);
}

#[tokio::test]
async fn issue16_other_handlers_mount_on_a_path_prefix() {
    let server = util::server().await;
    let extra = Router::default().mount(
        "/oauth2/",
        |req: mailtrip::server::http::Request| async move {
            let mut r = mailtrip::server::http::Response::new(
                format!("oauth saw {}", req.uri().path()).into(),
            );
            *r.status_mut() = hyper::StatusCode::OK;
            r
        },
    );
    let http = HttpServer::start(
        &server,
        HttpConfig {
            addr: "127.0.0.1:0".parse().expect("addr"),
            auth: HttpAuth::None,
            extra,
            tls: false,
        },
    )
    .await
    .expect("http starts");
    let r = get(http.addr(), "/oauth2/token").await;
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b"oauth saw /oauth2/token"[..])
    );
    assert_eq!(get(http.addr(), "/api/v1/info").await.status, 200);
    http.shutdown().await;
}
