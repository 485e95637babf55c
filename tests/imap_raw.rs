//! Helpers for byte-level IMAP tests against the embedded server: a tiny line-oriented client
//! that asserts whole answers, a session with INBOX selected, and what external clients
//! (Python, curl, openssl) need.

use std::time::Duration;

use mailtrip::server::TestServer;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub use crate::util::{ALICE, WAIT, tls, upgrade};
use crate::util::{PASSWORD, succeeded};

/// A tiny line-oriented IMAP client for byte-level assertions.
pub struct Raw {
    io: BufReader<Box<dyn Io>>,
}

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

#[allow(dead_code)]
impl Raw {
    pub async fn plain(addr: std::net::SocketAddr) -> Raw {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        Raw::new(Box::new(tcp))
    }

    pub async fn imaps(server: &TestServer) -> Raw {
        Raw::new(Box::new(tls(server, server.imaps_addr()).await))
    }

    pub fn new(io: Box<dyn Io>) -> Raw {
        Raw {
            io: BufReader::new(io),
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.io.get_mut().write_all(bytes).await.expect("send");
        self.io.get_mut().flush().await.expect("flush");
    }

    /// The next line as bytes, CRLF included; empty at end of stream.
    pub async fn line_bytes(&mut self) -> Vec<u8> {
        let mut buf = Vec::new();
        tokio::time::timeout(WAIT, self.io.read_until(b'\n', &mut buf))
            .await
            .expect("server answered in time")
            .expect("read");
        buf
    }

    /// The next line, CRLF included; empty at end of stream.
    pub async fn line(&mut self) -> String {
        String::from_utf8_lossy(&self.line_bytes().await).into_owned()
    }

    /// An IMAPS session past its greeting.
    pub async fn greeted(server: &TestServer) -> Raw {
        let mut raw = Raw::imaps(server).await;
        assert!(raw.line().await.starts_with("* OK "));
        raw
    }

    /// Sends `line`, whose first word is its tag, and collects lines up to and including
    /// the tagged reply.
    pub async fn run(&mut self, line: &str) -> Vec<String> {
        let tag = line.split(' ').next().expect("a tag");
        self.cmd(tag, line).await
    }

    /// Sends `line` (its first word is its tag) and asserts the whole answer: the untagged
    /// lines, then the tagged reply.
    pub async fn expect(&mut self, line: &str, want: &[&str]) {
        assert_eq!(self.run(line).await, want, "the answer to {line:?}");
    }

    /// Sends `line` (its first word is its tag) and returns the whole answer as one string,
    /// literals included.
    pub async fn exchange(&mut self, line: &str) -> String {
        let tag = line.split(' ').next().expect("a tag");
        self.send(format!("{line}\r\n").as_bytes()).await;
        String::from_utf8_lossy(&self.until_bytes(tag).await).into_owned()
    }

    /// Sends `line` and collects lines up to and including the tagged reply for `tag`.
    pub async fn cmd(&mut self, tag: &str, line: &str) -> Vec<String> {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.until(tag).await
    }

    /// Everything up to and including the tagged reply for `tag`, as bytes.
    pub async fn until_bytes(&mut self, tag: &str) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let l = self.line_bytes().await;
            assert!(
                !l.is_empty(),
                "connection closed; got {}",
                String::from_utf8_lossy(&out)
            );
            let done = l.starts_with(format!("{tag} ").as_bytes());
            out.extend_from_slice(&l);
            if done {
                return out;
            }
        }
    }

    pub async fn until(&mut self, tag: &str) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let l = self.line().await;
            assert!(!l.is_empty(), "connection closed; got {out:?}");
            let done = l.starts_with(&format!("{tag} "));
            out.push(l);
            if done {
                return out;
            }
        }
    }

    /// Whether nothing at all arrives within `d` (the connection stays open and silent).
    pub async fn silent_for(&mut self, d: Duration) -> bool {
        let mut b = [0u8; 1];
        tokio::time::timeout(d, self.io.read(&mut b)).await.is_err()
    }

    /// Whether the server closes the connection (possibly after a BYE) without a tagged reply.
    pub async fn closed(&mut self) -> bool {
        loop {
            let l = self.line().await;
            if l.is_empty() {
                return true;
            }
            if !l.starts_with("* BYE") {
                return false;
            }
        }
    }
}

/// An IMAPS session logged in as alice.
pub async fn raw_logged_in(server: &TestServer) -> Raw {
    let mut raw = Raw::imaps(server).await;
    assert!(raw.line().await.starts_with("* OK [CAPABILITY IMAP4rev1 "));
    let r = raw
        .cmd("l", &format!("l LOGIN {ALICE} \"{PASSWORD}\""))
        .await;
    assert!(r.last().expect("reply").starts_with("l OK "), "{r:?}");
    raw
}

/// Delivers `messages` to alice's INBOX, then an IMAPS session logged in as alice with INBOX
/// selected.
pub async fn selected(server: &TestServer, messages: &[&str]) -> Raw {
    for m in messages {
        server
            .deliver_raw(ALICE, "INBOX", m.as_bytes())
            .expect("seed");
    }
    let mut raw = raw_logged_in(server).await;
    let r = raw.run("s SELECT INBOX").await;
    assert!(r.last().expect("reply").starts_with("s OK "), "{r:?}");
    raw
}

/// The server's CA in a temporary PEM file, for external clients.
pub fn ca_file(server: &TestServer) -> std::path::PathBuf {
    crate::util::write_ca(server, &crate::util::scratch_dir("imap-ca"))
}

/// Whether `tool --version` (or `tool version`, as openssl wants) runs.
pub fn on_path(tool: &str) -> bool {
    ["--version", "version"].iter().any(|arg| {
        std::process::Command::new(tool)
            .arg(arg)
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// True (after saying so on stderr) when `tool` is missing and the test should skip.
pub fn missing(tool: &str) -> bool {
    let missing = !on_path(tool);
    if missing {
        eprintln!("{tool} not on PATH; skipping");
    }
    missing
}

/// An embedded server for a test that drives `tool`, or `None` (after saying so) when `tool`
/// is not on PATH and the test should skip.
pub async fn server_for(tool: &str) -> Option<TestServer> {
    if missing(tool) {
        return None;
    }
    Some(crate::util::server().await)
}

/// Runs a Python script as an independent IMAP client against the server's IMAPS port:
/// `sys.argv[1:]` are the CA file, the port, alice's address and password. Returns stdout;
/// fails the test (with Python's stderr) when the script fails.
pub async fn python_client(server: &TestServer, script: &str) -> Vec<u8> {
    let ca = ca_file(server);
    let port = server.imaps_addr().port().to_string();
    let ca_arg = ca.display().to_string();
    let out = tokio::process::Command::new("python3")
        .args(["-c", script, &ca_arg, &port, ALICE, PASSWORD])
        .output()
        .await
        .expect("python3 runs");
    let _ = std::fs::remove_file(&ca);
    succeeded("python client", &out);
    out.stdout
}
