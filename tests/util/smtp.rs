//! A raw SMTP client for byte-exact conversations with the embedded server: whole (multi-line)
//! replies, the plain, STARTTLS and implicit-TLS ways in, AUTH PLAIN payloads, and one message
//! sent alice → bob and read back as it arrived.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use mailtrip::server::TestServer;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_native_tls::TlsStream;

use super::{ALICE, BOB, WAIT, tls, upgrade};

/// The banner every listener sends.
pub const BANNER: &str = "220 localhost ESMTP mailtrip\r\n";

/// A raw SMTP client that reads whole (multi-line) replies, CRLFs kept.
pub struct Smtp<S> {
    pub io: BufReader<S>,
}

#[allow(dead_code)]
impl<S: AsyncRead + AsyncWrite + Unpin> Smtp<S> {
    pub fn new(stream: S) -> Self {
        Smtp {
            io: BufReader::new(stream),
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.io.get_mut().write_all(bytes).await.expect("write");
    }

    /// One reply, every line included, CRLFs kept.
    pub async fn reply(&mut self) -> String {
        let mut out = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(WAIT, self.io.read_line(&mut line))
                .await
                .expect("a reply")
                .expect("read");
            assert!(n > 0, "connection closed; read so far: {out:?}");
            out.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return out;
            }
        }
    }

    /// Sends `line` with its CRLF and returns the reply.
    pub async fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// Sends `line` and asserts the whole reply is `want`.
    pub async fn expect(&mut self, line: &str, want: &str) {
        assert_eq!(self.cmd(line).await, want, "the reply to {line:?}");
    }

    /// EHLO, whose reply must come from this server.
    pub async fn ehlo(&mut self) -> String {
        let reply = self.cmd("EHLO client.test").await;
        assert!(reply.starts_with("250-localhost"), "{reply:?}");
        reply
    }

    /// Everything the server still sends until it closes the connection.
    pub async fn rest(&mut self) -> Vec<u8> {
        let mut rest = Vec::new();
        tokio::time::timeout(WAIT, self.io.read_to_end(&mut rest))
            .await
            .expect("closed in time")
            .expect("read to EOF");
        rest
    }
}

/// A plain connection to `addr`, its banner read.
pub async fn connect(addr: std::net::SocketAddr) -> Smtp<TcpStream> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let mut client = Smtp::new(tcp);
    assert_eq!(client.reply().await, BANNER);
    client
}

/// A plain connection to `addr` that has said EHLO.
#[allow(dead_code)]
pub async fn greeted(addr: std::net::SocketAddr) -> Smtp<TcpStream> {
    let mut client = connect(addr).await;
    client.ehlo().await;
    client
}

/// Implicit TLS to the SMTPS port, verified, its banner read.
#[allow(dead_code)]
pub async fn smtps(server: &TestServer) -> Smtp<TlsStream<TcpStream>> {
    let mut client = Smtp::new(tls(server, server.smtps_addr()).await);
    assert_eq!(client.reply().await, BANNER);
    client
}

/// Plain connection → EHLO → STARTTLS → a TLS client that has not sent EHLO yet.
#[allow(dead_code)]
pub async fn starttls(
    server: &TestServer,
    addr: std::net::SocketAddr,
) -> Smtp<TlsStream<TcpStream>> {
    let mut plain = greeted(addr).await;
    plain
        .expect("STARTTLS", "220 2.0.0 Ready to start TLS\r\n")
        .await;
    assert!(plain.io.buffer().is_empty());
    Smtp::new(upgrade(server, plain.io.into_inner()).await)
}

/// The AUTH PLAIN payload for `user` and `password`.
#[allow(dead_code)]
pub fn plain_auth(user: &str, password: &str) -> String {
    BASE64.encode(format!("\0{user}\0{password}"))
}

/// Sends `data` (already dot-stuffed, without the terminator) alice → bob on the relay port;
/// returns the `250 ... queued as` reply.
#[allow(dead_code)]
pub async fn send_plain(server: &TestServer, data: &[u8]) -> String {
    let mut c = greeted(server.smtp_addr()).await;
    c.expect(&format!("MAIL FROM:<{ALICE}>"), "250 2.1.0 Ok\r\n")
        .await;
    c.expect(&format!("RCPT TO:<{BOB}>"), "250 2.1.5 Ok\r\n")
        .await;
    c.expect("DATA", "354 End data with <CR><LF>.<CR><LF>\r\n")
        .await;
    c.send(data).await;
    c.send(b".\r\n").await;
    let reply = c.reply().await;
    assert!(reply.starts_with("250 2.0.0 Ok: queued as "), "{reply:?}");
    c.expect("QUIT", "221 2.0.0 Bye\r\n").await;
    reply
}

/// The `Received:` header the server added, and the message as the client sent it.
pub fn split_received(raw: &[u8]) -> (String, &[u8]) {
    let mut end = 0;
    loop {
        let next = raw[end..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|i| end + i + 2)
            .expect("Received header ends");
        end = next;
        if !matches!(raw.get(end), Some(b'\t' | b' ')) {
            break;
        }
    }
    let received = String::from_utf8_lossy(&raw[..end]).into_owned();
    assert!(received.starts_with("Received: "), "{received:?}");
    (received, &raw[end..])
}

/// Waits for bob's first INBOX message: its `Received:` header and the message as sent.
#[allow(dead_code)]
pub async fn arrived(server: &TestServer) -> (String, Vec<u8>) {
    let msgs = server
        .wait_for_messages(BOB, "INBOX", 1, WAIT)
        .await
        .expect("delivered to bob");
    let (received, body) = split_received(&msgs[0].raw);
    (received, body.to_vec())
}
