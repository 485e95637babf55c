//! The embedded server's SMTP side over real sockets: lettre, curl and Python's smtplib as
//! clients, plus raw conversations that pin exact replies, listener policy and faults.

use std::error::Error;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use mailtrip::server::{Faults, ServerConfig, TestServer, gmail};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_native_tls::TlsStream;

use crate::util::{self, PASSWORD};

type TestResult = Result<(), Box<dyn Error>>;

const ALICE: &str = "alice@mailtrip.test";
const BOB: &str = "bob@mailtrip.test";
/// Guard against a hung test, not a timing target.
const WAIT: Duration = Duration::from_secs(10);

/// A raw SMTP client that reads whole (multi-line) replies.
struct Client<S> {
    io: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    async fn send(&mut self, bytes: &[u8]) {
        self.io.get_mut().write_all(bytes).await.expect("write");
    }

    /// One reply, every line included, CRLFs kept.
    async fn reply(&mut self) -> String {
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

    async fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    async fn ehlo(&mut self) -> String {
        let reply = self.cmd("EHLO client.test").await;
        assert!(reply.starts_with("250-localhost"), "{reply:?}");
        reply
    }
}

async fn connect(addr: SocketAddr) -> Client<TcpStream> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let mut client = Client {
        io: BufReader::new(tcp),
    };
    assert_eq!(client.reply().await, "220 localhost ESMTP mailtrip\r\n");
    client
}

async fn tls_connect(tcp: TcpStream, ca_pem: &str) -> TlsStream<TcpStream> {
    let ca = native_tls::Certificate::from_pem(ca_pem.as_bytes()).expect("CA PEM");
    let connector = native_tls::TlsConnector::builder()
        .add_root_certificate(ca)
        .build()
        .expect("TLS connector");
    tokio_native_tls::TlsConnector::from(connector)
        .connect("localhost", tcp)
        .await
        .expect("TLS handshake")
}

/// Plain connection → STARTTLS → a TLS client that has not sent EHLO yet.
async fn starttls(server: &TestServer, addr: SocketAddr) -> Client<TlsStream<TcpStream>> {
    let mut plain = connect(addr).await;
    plain.ehlo().await;
    assert_eq!(
        plain.cmd("STARTTLS").await,
        "220 2.0.0 Ready to start TLS\r\n"
    );
    assert!(plain.io.buffer().is_empty());
    let tls = tls_connect(plain.io.into_inner(), server.ca_pem()).await;
    Client {
        io: BufReader::new(tls),
    }
}

fn plain_auth(user: &str, password: &str) -> String {
    BASE64.encode(format!("\0{user}\0{password}"))
}

/// Sends `data` (already dot-stuffed, without the terminator) alice → bob on the relay port.
async fn send_plain(server: &TestServer, data: &[u8]) -> String {
    let mut c = connect(server.smtp_addr()).await;
    c.ehlo().await;
    assert_eq!(
        c.cmd(&format!("MAIL FROM:<{ALICE}>")).await,
        "250 2.1.0 Ok\r\n"
    );
    assert_eq!(c.cmd(&format!("RCPT TO:<{BOB}>")).await, "250 2.1.5 Ok\r\n");
    assert_eq!(
        c.cmd("DATA").await,
        "354 End data with <CR><LF>.<CR><LF>\r\n"
    );
    c.send(data).await;
    c.send(b".\r\n").await;
    let reply = c.reply().await;
    assert!(reply.starts_with("250 2.0.0 Ok: queued as "), "{reply:?}");
    assert_eq!(c.cmd("QUIT").await, "221 2.0.0 Bye\r\n");
    reply
}

/// The message as the client sent it: everything after the `Received:` header we added.
fn split_received(raw: &[u8]) -> (String, &[u8]) {
    let text = raw;
    let mut end = 0;
    loop {
        let next = text[end..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|i| end + i + 2)
            .expect("Received header ends");
        end = next;
        if !matches!(text.get(end), Some(b'\t' | b' ')) {
            break;
        }
    }
    let received = String::from_utf8_lossy(&raw[..end]).into_owned();
    assert!(received.starts_with("Received: "), "{received:?}");
    (received, &raw[end..])
}

fn tls_params(server: &TestServer) -> Result<TlsParameters, Box<dyn Error>> {
    Ok(TlsParameters::builder("localhost".into())
        .add_root_certificate(Certificate::from_pem(server.ca_pem().as_bytes())?)
        .build_native()?)
}

fn submission_mailer(
    server: &TestServer,
    user: &str,
    secret: &str,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, Box<dyn Error>> {
    Ok(
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("localhost")
            .port(server.submission_addr().port())
            .tls(Tls::Required(tls_params(server)?))
            .credentials(Credentials::new(user.into(), secret.into()))
            .timeout(Some(WAIT))
            .build(),
    )
}

fn probe(subject: &str) -> Result<Message, Box<dyn Error>> {
    Ok(Message::builder()
        .from(format!("Alice <{ALICE}>").parse()?)
        .to(BOB.parse()?)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .body(String::from(
            "hello bob\r\n.a line that starts with a dot\r\n..two dots\r\nbye",
        ))?)
}

#[tokio::test]
async fn lettre_starttls_on_submission_delivers_byte_exact() -> TestResult {
    let server = util::server().await;
    let mailer = submission_mailer(&server, ALICE, PASSWORD)?;
    let email = probe("starttls probe")?;
    let mut sent = email.formatted();
    sent.extend_from_slice(b"\r\n");
    let response = mailer.send(email).await?;
    assert!(response.is_positive());
    assert!(
        response
            .first_line()
            .is_some_and(|l| l.starts_with("2.0.0 Ok: queued as ")),
        "{response:?}"
    );

    let msgs = server.wait_for_messages(BOB, "INBOX", 1, WAIT).await?;
    let (received, body) = split_received(&msgs[0].raw);
    assert_eq!(
        body.escape_ascii().to_string(),
        sent.escape_ascii().to_string()
    );
    assert!(received.contains("with ESMTPSA id "), "{received:?}");
    assert!(received.contains(&format!("for <{BOB}>; ")), "{received:?}");
    let unfolded = received.replace("\r\n\t", " ");
    let date = unfolded
        .trim_end()
        .rsplit_once("; ")
        .map(|(_, d)| d)
        .ok_or("no date in Received")?;
    chrono::DateTime::parse_from_rfc2822(date)?;
    Ok(())
}

#[tokio::test]
async fn lettre_implicit_tls_on_smtps() -> TestResult {
    let server = util::server().await;
    let mailer = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("localhost")
        .port(server.smtps_addr().port())
        .tls(Tls::Wrapper(tls_params(&server)?))
        .credentials(Credentials::new(ALICE.into(), PASSWORD.into()))
        .timeout(Some(WAIT))
        .build();
    mailer.send(probe("smtps probe")?).await?;
    let msgs = server.wait_for_messages(BOB, "INBOX", 1, WAIT).await?;
    let text = String::from_utf8_lossy(&msgs[0].raw);
    assert!(text.contains("Subject: smtps probe\r\n"), "{text}");
    assert!(text.contains("with ESMTPSA"), "{text}");
    Ok(())
}

#[tokio::test]
async fn smtps_requires_auth_before_mail() {
    let server = util::server().await;
    let tcp = TcpStream::connect(server.smtps_addr())
        .await
        .expect("connect");
    let mut c = Client {
        io: BufReader::new(tls_connect(tcp, server.ca_pem()).await),
    };
    assert_eq!(c.reply().await, "220 localhost ESMTP mailtrip\r\n");
    let ehlo = c.ehlo().await;
    assert!(!ehlo.contains("STARTTLS"), "{ehlo:?}");
    assert!(
        ehlo.ends_with("250 AUTH PLAIN LOGIN XOAUTH2\r\n"),
        "{ehlo:?}"
    );
    assert_eq!(
        c.cmd(&format!("MAIL FROM:<{ALICE}>")).await,
        "530 5.7.0 Authentication required\r\n"
    );
    assert_eq!(
        c.cmd(&format!("AUTH PLAIN {}", plain_auth(ALICE, PASSWORD)))
            .await,
        "235 2.7.0 Authentication successful\r\n"
    );
    assert_eq!(
        c.cmd(&format!("MAIL FROM:<{ALICE}>")).await,
        "250 2.1.0 Ok\r\n"
    );
}

#[tokio::test]
async fn lettre_wrong_password_is_535() -> TestResult {
    let server = util::server().await;
    let mailer = submission_mailer(&server, ALICE, "wrong password")?;
    let err = mailer
        .send(probe("x")?)
        .await
        .err()
        .ok_or("sent with a wrong password")?;
    assert_eq!(err.status().map(|c| c.to_string()), Some("535".into()));
    assert!(err.is_permanent());
    assert!(err.to_string().contains("5.7.8"), "{err}");
    Ok(())
}

/// Gmail's reply when 2-step verification is on and the account password is used.
#[tokio::test]
async fn lettre_sees_gmail_app_password_required() -> TestResult {
    let server = util::server().await;
    server.set_faults(Faults {
        smtp_auth_reject: Some(gmail::SMTP_APP_PASSWORD_REQUIRED.into()),
        ..Faults::default()
    });
    let mailer = submission_mailer(&server, ALICE, PASSWORD)?;
    let err = mailer
        .send(probe("x")?)
        .await
        .err()
        .ok_or("sent despite the AUTH fault")?;
    assert_eq!(err.status().map(|c| c.to_string()), Some("534".into()));
    assert!(err.to_string().contains("5.7.9"), "{err}");
    assert!(server.messages(BOB, "INBOX")?.is_empty());
    Ok(())
}

#[tokio::test]
async fn auth_reject_fault_is_written_verbatim_with_crlf() {
    let server = util::server().await;
    server.set_faults(Faults {
        smtp_auth_reject: Some(gmail::SMTP_WEB_LOGIN_REQUIRED.into()),
        ..Faults::default()
    });
    let mut c = connect(server.smtp_addr()).await;
    c.ehlo().await;
    let reply = c
        .cmd(&format!("AUTH PLAIN {}", plain_auth(ALICE, PASSWORD)))
        .await;
    assert_eq!(
        reply,
        format!(
            "{}\r\n",
            gmail::SMTP_WEB_LOGIN_REQUIRED.replace('\n', "\r\n")
        )
    );
}

#[tokio::test]
async fn raw_conversation_exact_replies() {
    // Strict: the 550 for an unknown user is what this checks.
    let server = util::server_with(ServerConfig::default().strict_recipients()).await;
    let mut c = connect(server.smtp_addr()).await;
    assert_eq!(
        c.cmd(&format!("MAIL FROM:<{ALICE}>")).await,
        "503 5.5.1 Send EHLO/HELO first\r\n"
    );
    let ehlo = c.ehlo().await;
    assert_eq!(
        ehlo,
        "250-localhost Hello client.test\r\n250-SIZE 26214400\r\n250-PIPELINING\r\n\
         250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-SMTPUTF8\r\n250-STARTTLS\r\n\
         250 AUTH PLAIN LOGIN XOAUTH2\r\n"
    );
    assert_eq!(c.cmd("XYZZY").await, "500 5.5.2 Command not recognized\r\n");
    assert_eq!(c.cmd("noop").await, "250 2.0.0 Ok\r\n");
    assert_eq!(
        c.cmd(&format!("RCPT TO:<{BOB}>")).await,
        "503 5.5.1 Need MAIL command\r\n"
    );
    assert_eq!(c.cmd("DATA").await, "503 5.5.1 Need MAIL command\r\n");
    assert_eq!(
        c.cmd("MAIL FROM:alice").await,
        "501 5.5.4 Syntax: MAIL FROM:<address>\r\n"
    );
    assert_eq!(
        c.cmd("mail from:<> size=100 body=8bitmime").await,
        "250 2.1.0 Ok\r\n"
    );
    assert_eq!(
        c.cmd("MAIL FROM:<>").await,
        "503 5.5.1 Nested MAIL command\r\n"
    );
    assert_eq!(c.cmd("DATA").await, "503 5.5.1 No valid recipients\r\n");
    assert_eq!(
        c.cmd("RCPT TO:<nobody@mailtrip.test>").await,
        "550 5.1.1 <nobody@mailtrip.test>: Recipient address rejected: User unknown\r\n"
    );
    assert_eq!(c.cmd("RSET").await, "250 2.0.0 Ok\r\n");
    assert_eq!(
        c.cmd("MAIL FROM:<a@b> SIZE=999999999").await,
        "552 5.3.4 Message size exceeds fixed maximum message size\r\n"
    );
    assert_eq!(
        c.cmd("VRFY bob").await,
        "252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery\r\n"
    );
    assert_eq!(c.cmd("HELP").await, "214 2.0.0 See RFC 5321\r\n");
    assert_eq!(c.cmd("HELO other.test").await, "250 localhost\r\n");
    assert_eq!(c.cmd("QUIT").await, "221 2.0.0 Bye\r\n");
    let mut rest = Vec::new();
    c.io.read_to_end(&mut rest).await.expect("read to EOF");
    assert!(rest.is_empty(), "{rest:?}");
}

#[tokio::test]
async fn garbage_gets_replies_and_the_server_keeps_serving() {
    let server = util::server().await;
    let mut c = connect(server.smtp_addr()).await;
    c.send(b"\x00\xff\xfe\x01garbage\r\n").await;
    assert_eq!(c.reply().await, "500 5.5.2 Command not recognized\r\n");
    c.send(b"NOOP \x00\r\n").await;
    assert_eq!(
        c.reply().await,
        "501 5.5.4 Control characters in command\r\n"
    );
    c.send(b"\xff\xff\xff\xff\r\n\r\n").await;
    assert_eq!(c.reply().await, "500 5.5.2 Command not recognized\r\n");
    assert_eq!(c.reply().await, "500 5.5.2 Command not recognized\r\n");
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    for _ in 0..3 {
        assert_eq!(c.reply().await, "500 5.5.2 Command not recognized\r\n");
    }
    // Binary noise without a line ending, then the peer vanishes mid-line.
    c.send(&[0u8, 0xff, 0x80, b'\r', 0x16, 0x03, 0x01]).await;
    drop(c);

    let mut second = connect(server.smtp_addr()).await;
    second.ehlo().await;
    assert_eq!(second.cmd("NOOP").await, "250 2.0.0 Ok\r\n");
}

#[tokio::test]
async fn too_many_errors_close_the_connection() {
    let server = util::server().await;
    let mut c = connect(server.smtp_addr()).await;
    c.send("XYZZY\r\n".repeat(20).as_bytes()).await;
    for _ in 0..20 {
        assert_eq!(c.reply().await, "500 5.5.2 Command not recognized\r\n");
    }
    assert_eq!(c.reply().await, "421 4.7.0 Too many errors\r\n");
}

#[tokio::test]
async fn oversize_line_is_rejected_and_the_session_recovers() {
    let server = util::server().await;
    let mut c = connect(server.smtp_addr()).await;
    let mut long = b"NOOP ".to_vec();
    long.extend(std::iter::repeat_n(b'a', 20_000));
    long.extend_from_slice(b"\r\nNOOP\r\n");
    c.send(&long).await;
    assert_eq!(c.reply().await, "500 5.5.6 Line too long\r\n");
    assert_eq!(c.reply().await, "250 2.0.0 Ok\r\n");
}

#[tokio::test]
async fn pipelined_transaction_with_dot_stuffing() -> TestResult {
    // Strict: the 550 for an unknown user is what this checks.
    let server = util::server_with(ServerConfig::default().strict_recipients()).await;
    let mut c = connect(server.smtp_addr()).await;
    c.ehlo().await;
    c.send(
        format!(
            "MAIL FROM:<{ALICE}>\r\nRCPT TO:<{BOB}>\r\nRCPT TO:<nobody@mailtrip.test>\r\nDATA\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(c.reply().await, "250 2.1.0 Ok\r\n");
    assert_eq!(c.reply().await, "250 2.1.5 Ok\r\n");
    assert_eq!(
        c.reply().await,
        "550 5.1.1 <nobody@mailtrip.test>: Recipient address rejected: User unknown\r\n"
    );
    assert_eq!(c.reply().await, "354 End data with <CR><LF>.<CR><LF>\r\n");
    c.send(b"Subject: dots\r\n\r\n..leading dot\r\n...\r\nlast\r\n.\r\nQUIT\r\n")
        .await;
    let queued = c.reply().await;
    assert!(queued.starts_with("250 2.0.0 Ok: queued as "), "{queued:?}");
    assert_eq!(c.reply().await, "221 2.0.0 Bye\r\n");

    let msgs = server.wait_for_messages(BOB, "INBOX", 1, WAIT).await?;
    let (received, body) = split_received(&msgs[0].raw);
    assert_eq!(
        body.escape_ascii().to_string(),
        b"Subject: dots\r\n\r\n.leading dot\r\n..\r\nlast\r\n"
            .escape_ascii()
            .to_string()
    );
    let id = queued.trim_end().rsplit(' ').next().ok_or("no queue id")?;
    assert!(received.contains(&format!(" id {id}\r\n")), "{received:?}");
    assert!(received.contains("with ESMTP id"), "{received:?}");
    Ok(())
}

#[tokio::test]
async fn bare_lf_message_is_stored_with_crlf() -> TestResult {
    let server = util::server().await;
    send_plain(&server, b"Subject: lf\n\nline one\nline two\n").await;
    let msgs = server.wait_for_messages(BOB, "INBOX", 1, WAIT).await?;
    let (_, body) = split_received(&msgs[0].raw);
    assert_eq!(body, b"Subject: lf\r\n\r\nline one\r\nline two\r\n");
    Ok(())
}

#[tokio::test]
async fn submission_requires_starttls_then_auth() {
    let server = util::server().await;
    let mut c = connect(server.submission_addr()).await;
    let ehlo = c.ehlo().await;
    assert!(ehlo.ends_with("250 STARTTLS\r\n"), "{ehlo:?}");
    assert!(
        !ehlo.contains("AUTH"),
        "AUTH offered in the clear: {ehlo:?}"
    );
    assert_eq!(
        c.cmd(&format!("AUTH PLAIN {}", plain_auth(ALICE, PASSWORD)))
            .await,
        "530 5.7.0 Must issue a STARTTLS command first\r\n"
    );
    assert_eq!(
        c.cmd(&format!("MAIL FROM:<{ALICE}>")).await,
        "530 5.7.0 Authentication required\r\n"
    );

    let mut tls = starttls(&server, server.submission_addr()).await;
    assert_eq!(
        tls.cmd(&format!("AUTH PLAIN {}", plain_auth(ALICE, PASSWORD)))
            .await,
        "503 5.5.1 Send EHLO first\r\n",
        "STARTTLS forgets the EHLO"
    );
    let ehlo = tls.ehlo().await;
    assert!(!ehlo.contains("STARTTLS"), "{ehlo:?}");
    assert!(ehlo.contains("AUTH PLAIN LOGIN XOAUTH2"), "{ehlo:?}");
    assert_eq!(
        tls.cmd(&format!("MAIL FROM:<{ALICE}>")).await,
        "530 5.7.0 Authentication required\r\n"
    );
    assert_eq!(
        tls.cmd("STARTTLS").await,
        "503 5.5.1 TLS already active\r\n"
    );
}

/// CVE-2011-0411: commands pipelined after STARTTLS in the clear must not run inside TLS.
#[tokio::test]
async fn starttls_discards_pipelined_plaintext() {
    let server = util::server().await;
    let mut c = connect(server.smtp_addr()).await;
    c.ehlo().await;
    c.send(b"STARTTLS\r\nNOOP\r\n").await;
    assert_eq!(c.reply().await, "220 2.0.0 Ready to start TLS\r\n");
    assert!(c.io.buffer().is_empty(), "a plaintext reply to NOOP");
    let mut tls = Client {
        io: BufReader::new(tls_connect(c.io.into_inner(), server.ca_pem()).await),
    };
    // Were the NOOP executed, its `250 2.0.0 Ok` would arrive before the EHLO reply.
    let ehlo = tls.ehlo().await;
    assert!(
        ehlo.ends_with("250 AUTH PLAIN LOGIN XOAUTH2\r\n"),
        "{ehlo:?}"
    );
    assert_eq!(tls.cmd("NOOP").await, "250 2.0.0 Ok\r\n");
}

#[tokio::test]
async fn auth_plain_login_cancel_and_bad_base64() {
    let server = util::server().await;
    let mut c = connect(server.smtp_addr()).await;
    c.ehlo().await;
    assert_eq!(
        c.cmd("AUTH CRAM-MD5").await,
        "504 5.5.4 Unrecognized authentication type\r\n"
    );
    assert_eq!(c.cmd("AUTH PLAIN").await, "334 \r\n");
    assert_eq!(c.cmd("*").await, "501 5.7.0 Authentication aborted\r\n");
    assert_eq!(
        c.cmd("AUTH PLAIN !!!").await,
        "501 5.5.2 Cannot decode response\r\n"
    );
    assert_eq!(c.cmd("AUTH LOGIN").await, "334 VXNlcm5hbWU6\r\n");
    assert_eq!(c.cmd(&BASE64.encode(ALICE)).await, "334 UGFzc3dvcmQ6\r\n");
    assert_eq!(
        c.cmd(&BASE64.encode(PASSWORD)).await,
        "235 2.7.0 Authentication successful\r\n"
    );
    assert_eq!(
        c.cmd("AUTH PLAIN =").await,
        "503 5.5.1 Already authenticated\r\n"
    );

    let mut c = connect(server.smtp_addr()).await;
    c.ehlo().await;
    assert_eq!(c.cmd("AUTH PLAIN").await, "334 \r\n");
    assert_eq!(
        c.cmd(&plain_auth(BOB, PASSWORD)).await,
        "235 2.7.0 Authentication successful\r\n"
    );
}

#[tokio::test]
async fn three_failed_auths_close_with_421() {
    let server = util::server().await;
    let mut c = connect(server.smtp_addr()).await;
    c.ehlo().await;
    let bad = format!("AUTH PLAIN {}", plain_auth(ALICE, "nope"));
    for _ in 0..2 {
        assert_eq!(
            c.cmd(&bad).await,
            "535 5.7.8 Authentication credentials invalid\r\n"
        );
    }
    c.send(format!("{bad}\r\n").as_bytes()).await;
    assert_eq!(
        c.reply().await,
        "535 5.7.8 Authentication credentials invalid\r\n"
    );
    assert_eq!(
        c.reply().await,
        "421 4.7.0 Too many authentication failures\r\n"
    );
    let mut rest = Vec::new();
    c.io.read_to_end(&mut rest).await.expect("EOF");
    assert!(rest.is_empty());
}

#[tokio::test]
async fn greylisting_defers_the_first_attempt() {
    let server = util::server().await;
    server.set_faults(Faults {
        greylist: true,
        ..Faults::default()
    });
    let mut c = connect(server.smtp_addr()).await;
    c.ehlo().await;
    assert_eq!(
        c.cmd(&format!("MAIL FROM:<{ALICE}>")).await,
        "250 2.1.0 Ok\r\n"
    );
    assert_eq!(
        c.cmd(&format!("RCPT TO:<{BOB}>")).await,
        "451 4.7.1 Greylisted, please try again later\r\n"
    );
    assert_eq!(c.cmd(&format!("RCPT TO:<{BOB}>")).await, "250 2.1.5 Ok\r\n");
    assert_eq!(
        c.cmd(&format!("RCPT TO:<{ALICE}>")).await,
        "451 4.7.1 Greylisted, please try again later\r\n",
        "a new pair is greylisted too"
    );
}

#[tokio::test]
async fn lettre_xoauth2_with_a_registered_token() -> TestResult {
    let server = util::server().await;
    server.add_oauth_token(ALICE, "ya29.test-token")?;
    let mailer = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("localhost")
        .port(server.submission_addr().port())
        .tls(Tls::Required(tls_params(&server)?))
        .credentials(Credentials::new(ALICE.into(), "ya29.test-token".into()))
        .authentication(vec![Mechanism::Xoauth2])
        .timeout(Some(WAIT))
        .build();
    mailer.send(probe("oauth probe")?).await?;
    let msgs = server.wait_for_messages(BOB, "INBOX", 1, WAIT).await?;
    assert!(String::from_utf8_lossy(&msgs[0].raw).contains("Subject: oauth probe\r\n"));
    Ok(())
}

/// Gmail answers a bad XOAUTH2 token with a base64 JSON challenge, then 535 after an empty line.
#[tokio::test]
async fn xoauth2_bad_token_gets_gmail_style_error_challenge() -> TestResult {
    let server = util::server().await;
    server.add_oauth_token(ALICE, "good")?;
    let mut c = connect(server.smtp_addr()).await;
    c.ehlo().await;
    let bad = BASE64.encode(format!("user={ALICE}\x01auth=Bearer bad\x01\x01"));
    let challenge = c.cmd(&format!("AUTH XOAUTH2 {bad}")).await;
    let json = challenge
        .strip_prefix("334 ")
        .and_then(|s| s.strip_suffix("\r\n"))
        .ok_or("not a 334 challenge")?;
    let json: serde_json::Value = serde_json::from_slice(&BASE64.decode(json)?)?;
    assert_eq!(json["status"], "401");
    assert_eq!(
        c.cmd("").await,
        "535 5.7.8 Authentication credentials invalid\r\n"
    );
    assert_eq!(c.cmd("AUTH XOAUTH2").await, "334 \r\n");
    let good = BASE64.encode(format!("user={ALICE}\x01auth=Bearer good\x01\x01"));
    assert_eq!(
        c.cmd(&good).await,
        "235 2.7.0 Authentication successful\r\n"
    );
    Ok(())
}

#[tokio::test]
async fn deliver_twice_fault_stores_two_copies() -> TestResult {
    let server = util::server().await;
    server.set_faults(Faults {
        deliver_twice: true,
        ..Faults::default()
    });
    send_plain(&server, b"Subject: twice\r\n\r\nbody\r\n").await;
    let msgs = server.wait_for_messages(BOB, "INBOX", 2, WAIT).await?;
    assert_eq!(msgs.len(), 2);
    assert_eq!(
        split_received(&msgs[0].raw).1,
        split_received(&msgs[1].raw).1
    );
    Ok(())
}

#[tokio::test]
async fn junk_rule_fault_files_in_junk() -> TestResult {
    let server = util::server().await;
    server.set_faults(Faults {
        junk_rule: Some("X-Spam-Flag: YES".into()),
        ..Faults::default()
    });
    send_plain(
        &server,
        b"Subject: spam\r\nX-Spam-Flag: YES\r\n\r\nbody\r\n",
    )
    .await;
    let junk = server.wait_for_messages(BOB, "Junk", 1, WAIT).await?;
    assert!(String::from_utf8_lossy(&junk[0].raw).contains("Subject: spam\r\n"));
    assert!(server.messages(BOB, "INBOX")?.is_empty());
    Ok(())
}

#[tokio::test]
async fn append_footer_fault_mangles_the_body() -> TestResult {
    let server = util::server().await;
    server.set_faults(Faults {
        append_footer: Some("-- sent via mangler".into()),
        ..Faults::default()
    });
    send_plain(&server, b"Subject: footer\r\n\r\nbody\r\n").await;
    let msgs = server.wait_for_messages(BOB, "INBOX", 1, WAIT).await?;
    let (_, body) = split_received(&msgs[0].raw);
    assert_eq!(
        body,
        b"Subject: footer\r\n\r\nbody\r\n-- sent via mangler\r\n"
    );
    Ok(())
}

#[tokio::test]
async fn hang_on_data_never_answers() {
    let server = util::server().await;
    server.set_faults(Faults {
        smtp_hang_on: Some("data".into()),
        ..Faults::default()
    });
    let mut c = connect(server.smtp_addr()).await;
    c.ehlo().await;
    c.cmd(&format!("MAIL FROM:<{ALICE}>")).await;
    c.cmd(&format!("RCPT TO:<{BOB}>")).await;
    c.send(b"DATA\r\n").await;
    let mut line = String::new();
    let read = tokio::time::timeout(Duration::from_secs(1), c.io.read_line(&mut line)).await;
    assert!(
        read.is_err(),
        "answered DATA despite the hang fault: {line:?}"
    );
}

#[tokio::test]
async fn hang_on_greeting_sends_no_banner() {
    let server = util::server().await;
    server.set_faults(Faults {
        smtp_hang_on: Some("GREETING".into()),
        ..Faults::default()
    });
    let mut tcp = TcpStream::connect(server.smtp_addr())
        .await
        .expect("connect");
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(1), tcp.read(&mut buf)).await;
    assert!(read.is_err(), "got a banner: {read:?}");
}

#[tokio::test]
async fn drop_after_two_commands_closes_at_the_third() {
    let server = util::server().await;
    server.set_faults(Faults {
        smtp_drop_after: Some(2),
        ..Faults::default()
    });
    let mut c = connect(server.smtp_addr()).await;
    c.ehlo().await;
    assert_eq!(c.cmd("NOOP").await, "250 2.0.0 Ok\r\n");
    c.send(b"NOOP\r\n").await;
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(WAIT, c.io.read(&mut buf))
        .await
        .expect("closed in time")
        .expect("clean close");
    assert_eq!(n, 0, "got {:?}", &buf[..n]);
}

#[tokio::test]
async fn shutdown_says_421() {
    let server = util::server().await;
    let mut c = connect(server.smtp_addr()).await;
    c.ehlo().await;
    server.shutdown().await;
    assert_eq!(c.reply().await, "421 4.3.2 Shutting down\r\n");
}

/// A scratch directory for files handed to external clients.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mailtrip-smtp-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// curl is on Debian and in CI; a missing curl fails loudly rather than skipping.
#[tokio::test]
async fn curl_submits_over_starttls() -> TestResult {
    let server = util::server().await;
    let dir = scratch("curl");
    let ca = dir.join("ca.pem");
    let mail = dir.join("mail.eml");
    std::fs::write(&ca, server.ca_pem())?;
    let message = b"From: alice@mailtrip.test\r\nTo: bob@mailtrip.test\r\nSubject: curl\r\n\r\n.dot line\r\nbye\r\n";
    std::fs::write(&mail, message)?;
    let out = tokio::process::Command::new("curl")
        .arg("-sS")
        .arg("--ssl-reqd")
        .arg("--cacert")
        .arg(&ca)
        .arg(format!(
            "smtp://localhost:{}",
            server.submission_addr().port()
        ))
        .args(["--mail-from", ALICE, "--mail-rcpt", BOB])
        .arg("--user")
        .arg(format!("{ALICE}:{PASSWORD}"))
        .arg("--upload-file")
        .arg(&mail)
        .output()
        .await?;
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let msgs = server.wait_for_messages(BOB, "INBOX", 1, WAIT).await?;
    let (received, body) = split_received(&msgs[0].raw);
    assert_eq!(body, message);
    assert!(received.contains("with ESMTPSA"), "{received:?}");
    Ok(())
}

const SMTPLIB: &str = r#"
import smtplib, ssl, sys
port, cafile, user, password, rcpt = sys.argv[1:6]
ctx = ssl.create_default_context(cafile=cafile)
with smtplib.SMTP("localhost", int(port), timeout=10) as s:
    s.starttls(context=ctx)
    s.login(user, password)
    s.sendmail(user, [rcpt], b"Subject: python\r\n\r\n.leading dot\r\nbye\r\n")
"#;

#[tokio::test]
async fn python_smtplib_starttls_login_sendmail() -> TestResult {
    let server = util::server().await;
    let dir = scratch("python");
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, server.ca_pem())?;
    let out = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(SMTPLIB)
        .arg(server.submission_addr().port().to_string())
        .arg(&ca)
        .args([ALICE, PASSWORD, BOB])
        .output()
        .await?;
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "smtplib failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let msgs = server.wait_for_messages(BOB, "INBOX", 1, WAIT).await?;
    let (_, body) = split_received(&msgs[0].raw);
    assert_eq!(body, b"Subject: python\r\n\r\n.leading dot\r\nbye\r\n");
    Ok(())
}
