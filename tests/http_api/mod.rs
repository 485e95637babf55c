//! Issue 16 item 2, the HTTP JSON API, over real sockets: every endpoint, search by each
//! criterion, long-poll wait, a message with HTML and attachments, faults set at run time,
//! and errors as JSON with their status codes. This file holds the HTTP client and the steps
//! the tests share (also used by `browser` and `catcher_cli`); the tests sit by topic.

mod access;
mod errors;
mod faults;
mod messages;

use std::net::SocketAddr;
use std::time::Duration;

use mailtrip::server::http::{HttpAuth, HttpConfig, HttpServer, Router};
use mailtrip::server::{ServerConfig, TestServer};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::catcher::smtp_send;
use crate::util::{self, WAIT};

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
    let http = http_side(&server, HttpAuth::None, Router::default()).await;
    (server, http)
}

/// The HTTP side of `server` on a loopback port, with these credentials and extra handlers.
async fn http_side(server: &TestServer, auth: HttpAuth, extra: Router) -> HttpServer {
    HttpServer::start(
        server,
        HttpConfig {
            addr: "127.0.0.1:0".parse().expect("addr"),
            auth,
            extra,
            tls: false,
        },
    )
    .await
    .expect("http starts")
}

/// `GET /api/v1/messages` with this `Authorization` header.
async fn authorized(addr: SocketAddr, authorization: &str) -> Reply {
    let headers = [("Authorization", authorization)];
    request(addr, "GET", "/api/v1/messages", &headers, b"").await
}

/// `PUT /api/v1/faults` with this JSON body.
async fn put_faults(addr: SocketAddr, body: &[u8]) -> Reply {
    let headers = [("Content-Type", "application/json")];
    request(addr, "PUT", "/api/v1/faults", &headers, body).await
}

/// The id of the newest message `path` (a `/api/v1/messages` query) lists.
async fn first_id(addr: SocketAddr, path: &str) -> String {
    get(addr, path).await.json()["messages"][0]["id"]
        .as_str()
        .expect("id")
        .to_string()
}

/// Waits until `mailbox`'s INBOX holds `n` messages.
async fn wait_inbox(server: &TestServer, mailbox: &str, n: usize) {
    server
        .wait_for_messages(mailbox, "INBOX", n, WAIT)
        .await
        .expect("delivered");
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

/// Sends `data` from bot@app.test to `to` over SMTP, accepted.
async fn send(server: &TestServer, to: &str, data: &str) {
    let replies = smtp_send(server.smtp_addr(), "bot@app.test", &[to], data).await;
    assert!(
        replies.last().is_some_and(|r| r.starts_with("250")),
        "{replies:?}"
    );
}
