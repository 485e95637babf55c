//! Helpers shared by the integration tests: an embedded server with users (and faults) and
//! their accounts, verified TLS to it, the binary run with a clean environment, scratch
//! directories, temp files and CA files, a stored message's header, and the raw SMTP client
//! in [`smtp`].

pub mod smtp;

use std::path::{Path, PathBuf};
use std::time::Duration;

use mailtrip::config::{Protocol, Security};
use mailtrip::server::{Faults, ServerConfig, TestServer};
use mailtrip::{Account, Endpoint};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_native_tls::TlsStream;

/// Password of the users `server()` creates.
pub const PASSWORD: &str = "correct horse battery staple";
/// The users `server()` creates.
pub const ALICE: &str = "alice@mailtrip.test";
pub const BOB: &str = "bob@mailtrip.test";
/// The `mailtrip` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_mailtrip");
/// Upper bound for waits that should end much sooner; not a timing target.
pub const WAIT: Duration = Duration::from_secs(10);

/// An embedded server with alice@mailtrip.test and bob@mailtrip.test.
pub async fn server() -> TestServer {
    server_with(ServerConfig::default()).await
}

/// An embedded server started from `config`, plus alice and bob.
pub async fn server_with(config: ServerConfig) -> TestServer {
    let config = config.with_user(ALICE, PASSWORD).with_user(BOB, PASSWORD);
    TestServer::start(config)
        .await
        .expect("embedded server starts")
}

/// `addr`'s account on the embedded `server`, with the password [`server_with`] gave it.
pub fn account(server: &TestServer, addr: &str) -> Account {
    Account::embedded(server, addr, PASSWORD)
}

/// Asserts `user`'s `folder` on `server` holds no message: `why` is what should have emptied
/// it (or kept it empty), and a failure lists the start of each message left.
pub fn assert_empty(server: &TestServer, user: &str, folder: &str, why: &str) {
    let left = server.messages(user, folder).expect("the folder exists");
    let heads: Vec<String> = left
        .iter()
        .map(|m| String::from_utf8_lossy(&m.raw[..m.raw.len().min(160)]).into_owned())
        .collect();
    assert!(
        left.is_empty(),
        "expected {user}'s {folder} empty ({why}), {} left: {heads:#?}",
        left.len()
    );
}

/// An embedded server with alice and bob and one fault in force from the start, set by
/// `fault` on the defaults: `server_with_fault(|f| f.greylist = true)`.
pub async fn server_with_fault(fault: impl FnOnce(&mut Faults)) -> TestServer {
    let server = server().await;
    set_fault(&server, fault);
    server
}

/// Replaces the faults in force with the defaults changed by `fault`.
pub fn set_fault(server: &TestServer, fault: impl FnOnce(&mut Faults)) {
    let mut faults = Faults::default();
    fault(&mut faults);
    server.set_faults(faults);
}

/// SMTP on `localhost:port` with `security`.
pub fn local_smtp(security: Security, port: u16) -> Endpoint {
    Endpoint::new(Protocol::Smtp, security, "localhost", port)
}

/// IMAP on `localhost:port` with `security`.
pub fn local_imap(security: Security, port: u16) -> Endpoint {
    Endpoint::new(Protocol::Imap, security, "localhost", port)
}

/// The embedded server's submission port as a `--smtp` URL (STARTTLS on `localhost`).
pub fn smtp_url(server: &TestServer) -> String {
    format!(
        "smtp+starttls://localhost:{}",
        server.submission_addr().port()
    )
}

/// The embedded server's implicit-TLS IMAP port as an `--imap` URL on `localhost`.
pub fn imap_url(server: &TestServer) -> String {
    format!("imaps://localhost:{}", server.imaps_addr().port())
}

/// A loopback port free right now (the kernel's pick, bound and released): a connection to
/// it is refused until something binds it.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A fresh, empty directory `mailtrip-NAME-…` under the system temp dir, unique to this call.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "mailtrip-{name}-{}-{}",
        std::process::id(),
        uuid::Uuid::now_v7().simple()
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The trimmed value of the first `name` header (any case) in `raw`'s head, if it has one.
pub fn header(raw: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    head.lines().find_map(|l| {
        let (n, value) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name)
            .then(|| value.trim().to_string())
    })
}

/// A file `name` holding `contents`, in a fresh [`scratch_dir`]; returns its path.
pub fn temp_file(name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = scratch_dir("file").join(name);
    std::fs::write(&path, contents).expect("write temp file");
    path
}

/// Writes `server`'s CA to `dir/ca.pem` (creating `dir`) and returns that path, for
/// `--ca-file` or a config's `ca_file`.
pub fn write_ca(server: &TestServer, dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).expect("dir");
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, server.ca_pem()).expect("write CA");
    ca
}

/// The `mailtrip` binary as a command that inherits no `MAILTRIP_*` setting and no `RUST_LOG`
/// from the outer environment, so only what the test sets is in force.
pub fn mailtrip_command() -> std::process::Command {
    let mut cmd = std::process::Command::new(BIN);
    without_outer_settings(&mut cmd);
    cmd
}

/// Removes every `MAILTRIP_*` variable and `RUST_LOG` of the outer environment from `cmd`: for
/// a command that runs the binary in turn (a terminal driver, say).
pub fn without_outer_settings(cmd: &mut std::process::Command) -> &mut std::process::Command {
    cmd.env_remove("RUST_LOG");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("MAILTRIP_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// Runs the `mailtrip` binary with `args` to its end, as [`mailtrip_command`] starts it.
pub fn run_mailtrip(args: &[&str]) -> std::process::Output {
    mailtrip_command().args(args).output().expect("run")
}

/// What a finished process printed, stdout then stderr, as one string.
pub fn printed(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A finished process's stdout as JSON; fails the test with stdout and stderr if it is not.
pub fn stdout_json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {}\nstderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Fails the test with the client's stderr unless the external `client` exited cleanly.
pub fn succeeded(client: &str, out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{client} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// TLS to `addr`, verified against the server's generated CA.
pub async fn tls(server: &TestServer, addr: std::net::SocketAddr) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    upgrade(server, tcp).await
}

/// An async-imap client over verified IMAPS to `server`, its greeting read.
pub async fn imap_client(server: &TestServer) -> async_imap::Client<TlsStream<TcpStream>> {
    let mut client = async_imap::Client::new(tls(server, server.imaps_addr()).await);
    client
        .read_response()
        .await
        .expect("greeting read")
        .expect("greeting present");
    client
}

/// A TLS handshake over `stream` (after STARTTLS, say), verified against the server's CA.
pub async fn upgrade<S>(server: &TestServer, stream: S) -> TlsStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let ca = native_tls::Certificate::from_pem(server.ca_pem().as_bytes()).expect("CA parses");
    let connector = native_tls::TlsConnector::builder()
        .add_root_certificate(ca)
        .build()
        .expect("connector");
    tokio_native_tls::TlsConnector::from(connector)
        .connect("localhost", stream)
        .await
        .expect("TLS handshake verifies against the embedded CA")
}
