//! One set of round-trip tests, two servers: every case runs as `interop::embedded::<case>`
//! against the embedded server and as `interop::real::<case>` against Postfix + Dovecot
//! (`bash ci/interop.sh`), through a harness that reads and seeds mailboxes only over IMAP.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_imap::types::{Fetch, Flag};
use futures::TryStreamExt;
use mailtrip::config::{Protocol, Security};
use mailtrip::report::{Phase, Placement, Verdict};
use mailtrip::server::{Faults, ServerConfig, TestServer};
use mailtrip::{Account, Check, Endpoint, Report};
use sha2::{Digest, Sha256};
use tokio::net::TcpStream;
use tokio_native_tls::TlsStream;

/// The real-stack tests' ignore reason, also the panic message when the env file is missing.
const NEEDS_STACK: &str = "needs Postfix+Dovecot: bash ci/interop.sh (sets MAILTRIP_MAILSTACK_ENV)";
/// How long a check waits for delivery; an upper bound, not a timing target.
const TIMEOUT: Duration = Duration::from_secs(30);
/// The junk marker the embedded server is told to file into Junk, as ci/mailstack's Sieve does.
const JUNK_HEADER: (&str, &str) = ("X-Mailtrip-Test-Spam", "yes");

/// The stack's users: A and B for round trips (shared by concurrent tests: probes are told
/// apart by tag), C only for the mailbox-intact test (nothing else may come or go there).
#[derive(Debug, Clone, Copy)]
enum Who {
    A,
    B,
    C,
}

/// How an account reaches both servers.
#[derive(Debug, Clone, Copy)]
enum Tls {
    /// Submission with STARTTLS, IMAP with STARTTLS.
    StartTls,
    /// Submissions (implicit TLS) and IMAPS.
    Implicit,
}

/// A mail system to test against: the embedded server set up like ci/mailstack, or the real
/// stack described by the env file that `ci/mailstack/start.sh` writes.
struct Stack {
    /// Keeps the embedded server running; `None` for the real stack.
    _server: Option<TestServer>,
    host: String,
    ca_pem: String,
    submission: u16,
    submissions: u16,
    imap: u16,
    imaps: u16,
    /// Submissions (implicit TLS) through a gateway that strips `X-Mailtrip-Probe`; on the
    /// embedded server the plain port, once `strip_tag_header` set the fault.
    strip_submissions: u16,
    /// (address, password) of A, B and C.
    users: [(String, String); 3],
    junk_header: (String, String),
    junk_folder: String,
}

impl Stack {
    /// The embedded server with alice, bob and carol, filing `JUNK_HEADER` into Junk.
    async fn embedded() -> Stack {
        let pw = "correct horse battery staple";
        let users =
            ["alice", "bob", "carol"].map(|u| (format!("{u}@mailtrip.test"), pw.to_string()));
        let mut config = ServerConfig::default().faults(Faults {
            junk_rule: Some(format!("{}: {}", JUNK_HEADER.0, JUNK_HEADER.1)),
            ..Faults::default()
        });
        for (address, password) in &users {
            config = config.with_user(address, password);
        }
        let server = TestServer::start(config).await.expect("embedded server");
        Stack {
            host: "localhost".into(),
            ca_pem: server.ca_pem().to_string(),
            submission: server.submission_addr().port(),
            submissions: server.smtps_addr().port(),
            imap: server.imap_addr().port(),
            imaps: server.imaps_addr().port(),
            strip_submissions: server.smtps_addr().port(),
            users,
            junk_header: (JUNK_HEADER.0.into(), JUNK_HEADER.1.into()),
            junk_folder: "Junk".into(),
            _server: Some(server),
        }
    }

    /// The real stack from `$MAILTRIP_MAILSTACK_ENV`; panics (never skips) without it.
    fn real() -> Stack {
        let path = std::env::var("MAILTRIP_MAILSTACK_ENV")
            .unwrap_or_else(|_| panic!("MAILTRIP_MAILSTACK_ENV is not set: {NEEDS_STACK}"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("cannot read the stack env file {path}: {e}: {NEEDS_STACK}")
        });
        let env: BTreeMap<&str, &str> = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim(), v.trim()))
            .collect();
        let var = |k: &str| -> String {
            env.get(k)
                .unwrap_or_else(|| panic!("{path} has no {k}"))
                .to_string()
        };
        let port = |k: &str| -> u16 { var(k).parse().unwrap_or_else(|e| panic!("{k}: {e}")) };
        let ca = var("MAILSTACK_CA");
        let user = |n: u8| {
            (
                var(&format!("MAILSTACK_USER{n}")),
                var(&format!("MAILSTACK_PASS{n}")),
            )
        };
        Stack {
            _server: None,
            host: var("MAILSTACK_TLS_NAME"),
            ca_pem: std::fs::read_to_string(&ca).unwrap_or_else(|e| panic!("CA {ca}: {e}")),
            submission: port("MAILSTACK_SUBMISSION_PORT"),
            submissions: port("MAILSTACK_SUBMISSIONS_PORT"),
            imap: port("MAILSTACK_IMAP_PORT"),
            imaps: port("MAILSTACK_IMAPS_PORT"),
            strip_submissions: port("MAILSTACK_STRIP_SUBMISSIONS_PORT"),
            users: [user(1), user(2), user(3)],
            junk_header: (
                var("MAILSTACK_JUNK_HEADER_NAME"),
                var("MAILSTACK_JUNK_HEADER_VALUE"),
            ),
            junk_folder: var("MAILSTACK_JUNK_MAILBOX"),
        }
    }

    /// Makes submissions on `strip_submissions` lose their `X-Mailtrip-Probe` header: the
    /// embedded server gets the fault; Postfix's strip port does it with `header_checks`.
    fn strip_tag_header(&self) {
        if let Some(server) = &self._server {
            let mut faults = server.faults();
            faults.strip_header = Some("X-Mailtrip-Probe".into());
            server.set_faults(faults);
        }
    }

    fn user(&self, who: Who) -> &(String, String) {
        &self.users[who as usize]
    }

    fn address(&self, who: Who) -> &str {
        &self.user(who).0
    }

    /// `who` with the right password.
    fn account(&self, who: Who, tls: Tls) -> Account {
        self.account_with(who, tls, &self.user(who).1)
    }

    /// `who` logging in with `password`.
    fn account_with(&self, who: Who, tls: Tls, password: &str) -> Account {
        let (smtp, imap) = match tls {
            Tls::StartTls => (
                (Security::StartTls, self.submission),
                (Security::StartTls, self.imap),
            ),
            Tls::Implicit => (
                (Security::Tls, self.submissions),
                (Security::Tls, self.imaps),
            ),
        };
        let smtp = Endpoint::new(Protocol::Smtp, smtp.0, &self.host, smtp.1);
        let imap = Endpoint::new(Protocol::Imap, imap.0, &self.host, imap.1);
        Account::new(self.address(who), password, smtp, imap).trust_pem(&self.ca_pem)
    }

    /// A check from `from` to `to` over `tls`.
    fn check(&self, from: Who, to: Who, tls: Tls) -> Check {
        Check::new(self.account(from, tls), self.account(to, tls)).timeout(TIMEOUT)
    }

    /// An IMAP session (IMAPS, verified against the stack's CA) logged in as `who`.
    async fn imap(&self, who: Who) -> Mailbox {
        let tcp = TcpStream::connect((self.host.as_str(), self.imaps))
            .await
            .expect("connect to IMAPS");
        let ca = native_tls::Certificate::from_pem(self.ca_pem.as_bytes()).expect("CA");
        let tls = native_tls::TlsConnector::builder()
            .add_root_certificate(ca)
            .build()
            .expect("TLS connector");
        let stream = tokio_native_tls::TlsConnector::from(tls)
            .connect(&self.host, tcp)
            .await
            .expect("TLS handshake");
        let mut client = async_imap::Client::new(stream);
        client
            .read_response()
            .await
            .expect("greeting")
            .expect("greeting");
        let (user, password) = self.user(who);
        let session = client
            .login(user, password)
            .await
            .map_err(|(e, _)| e)
            .expect("harness login");
        Mailbox { session }
    }
}

/// One message as the harness compares it: everything a cleanup must not change.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    uid: u32,
    /// Sorted, without `\Recent` (which only says which session saw the message first).
    flags: Vec<String>,
    size: u32,
    /// SHA-256 of the full message bytes as fetched.
    digest: String,
    /// The `X-Mailtrip-Probe` value, if any.
    tag: Option<String>,
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn flag_name(f: Flag<'_>) -> Option<String> {
    Some(match f {
        Flag::Seen => "\\Seen".into(),
        Flag::Answered => "\\Answered".into(),
        Flag::Flagged => "\\Flagged".into(),
        Flag::Deleted => "\\Deleted".into(),
        Flag::Draft => "\\Draft".into(),
        Flag::Recent | Flag::MayCreate => return None,
        Flag::Custom(c) => c.into_owned(),
    })
}

fn probe_tag(raw: &[u8]) -> Option<String> {
    crate::util::header(raw, "X-Mailtrip-Probe")
}

fn entry(f: &Fetch) -> Entry {
    let raw = f.body().expect("BODY[] fetched");
    let mut flags: Vec<String> = f.flags().filter_map(flag_name).collect();
    flags.sort();
    Entry {
        uid: f.uid.expect("UID fetched"),
        flags,
        size: f.size.expect("RFC822.SIZE fetched"),
        digest: sha256(raw),
        tag: probe_tag(raw),
    }
}

/// The harness's own IMAP session: seeds folders and reads them back, the same way on both
/// servers.
struct Mailbox {
    session: async_imap::Session<TlsStream<TcpStream>>,
}

impl Mailbox {
    /// Creates a folder no other test uses and returns its name.
    async fn fresh_folder(&mut self) -> String {
        let name = format!("interop-{}", uuid::Uuid::now_v7().simple());
        self.session.create(&name).await.expect("CREATE");
        name
    }

    /// APPENDs `raw` to `folder` with `flags` (e.g. `\\Seen \\Deleted`).
    async fn append(&mut self, folder: &str, raw: &[u8], flags: &str) {
        let flags = (!flags.is_empty()).then(|| format!("({flags})"));
        self.session
            .append(folder, flags.as_deref(), None, raw)
            .await
            .unwrap_or_else(|e| panic!("APPEND to {folder}: {e}"));
    }

    /// `items` of every message in `folder`, read without changing anything: EXAMINE, then
    /// UID FETCH 1:* (none when the folder is empty).
    async fn fetch_all(&mut self, folder: &str, items: &str) -> Vec<Fetch> {
        let mb = self.session.examine(folder).await.expect("EXAMINE");
        if mb.exists == 0 {
            return Vec::new();
        }
        self.session
            .uid_fetch("1:*", items)
            .await
            .expect("UID FETCH")
            .try_collect()
            .await
            .expect("UID FETCH responses")
    }

    /// Every message in `folder`, by UID, read without changing anything (EXAMINE, PEEK).
    async fn list(&mut self, folder: &str) -> Vec<Entry> {
        let fetches = self
            .fetch_all(folder, "(UID FLAGS RFC822.SIZE BODY.PEEK[])")
            .await;
        let mut entries: Vec<Entry> = fetches.iter().map(entry).collect();
        entries.sort_by_key(|e| e.uid);
        entries
    }

    /// The copies of probe `tag` in `folder`.
    async fn find(&mut self, folder: &str, tag: &str) -> Vec<Entry> {
        let mut all = self.list(folder).await;
        all.retain(|e| e.tag.as_deref() == Some(tag));
        all
    }

    /// Deletes exactly the messages carrying probe `tag` in `folder` (UID EXPUNGE); returns
    /// what it deleted. Used after a `keep(true)` check.
    async fn remove(&mut self, folder: &str, tag: &str) -> Vec<Entry> {
        let found = self.find(folder, tag).await;
        if found.is_empty() {
            return found;
        }
        let uids: Vec<u32> = found.iter().map(|e| e.uid).collect();
        self.delete_uids(folder, &uids).await;
        found
    }

    /// Deletes exactly `uids` from `folder` (UID STORE \Deleted + UID EXPUNGE), then leaves it.
    async fn delete_uids(&mut self, folder: &str, uids: &[u32]) {
        let set = uids
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        self.session.select(folder).await.expect("SELECT");
        let _: Vec<Fetch> = self
            .session
            .uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
            .await
            .expect("UID STORE")
            .try_collect()
            .await
            .expect("UID STORE responses");
        let _: Vec<u32> = self
            .session
            .uid_expunge(&set)
            .await
            .expect("UID EXPUNGE")
            .try_collect()
            .await
            .expect("UID EXPUNGE responses");
        self.session
            .run_command_and_check_ok("UNSELECT")
            .await
            .expect("UNSELECT");
    }

    async fn logout(mut self) {
        let _ = self.session.logout().await;
    }
}

/// A message for seeding: `n` picks its look (plain, a look-alike of a probe subject, a forged
/// `X-Mailtrip-Probe` header with some other tag) so mailboxes hold what real ones might.
fn other_message(n: usize, to: &str) -> Vec<u8> {
    let mut head = format!(
        "From: Someone {n} <someone{n}@elsewhere.test>\r\nTo: {to}\r\n\
         Date: Sun, 10 Mar 2024 12:{:02}:00 +0000\r\nMessage-ID: <other-{n}@elsewhere.test>\r\n",
        n % 60
    );
    // Shaped like a real tag (UUID v7), but never one a check generates.
    let fake = format!("0190a0b1-c2d3-7e4f-8a5b-{n:012}");
    if n.is_multiple_of(5) {
        head.push_str(&format!("Subject: mailtrip probe 0190a0b1{n:03}\r\n"));
    } else {
        head.push_str(&format!("Subject: newsletter {n}\r\n"));
    }
    if n.is_multiple_of(3) {
        head.push_str(&format!(
            "X-Mailtrip-Probe: {fake}\r\nX-Mailtrip-Run: someone-else\r\n"
        ));
    }
    let body: String = (0..n % 7 + 1)
        .map(|i| format!("line {i} of message {n}: Grüße\r\n"))
        .collect();
    format!(
        "{head}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n{body}"
    )
    .into_bytes()
}

/// Flags for seeded message `n`: some `\Deleted`, some read, flagged, answered, keywords.
fn other_flags(n: usize) -> &'static str {
    match n % 6 {
        0 => "\\Deleted",
        1 => "\\Seen",
        2 => "\\Seen \\Flagged",
        3 => "",
        4 => "\\Answered \\Seen $Label1",
        _ => "\\Deleted \\Seen",
    }
}

fn assert_delivered(r: &Report, verdict: Verdict, placement: Placement) {
    assert_eq!(r.verdict, verdict, "{r:#?}");
    assert_eq!(r.placement, Some(placement), "{r:#?}");
    assert!(r.error.is_none(), "{r:#?}");
    assert!(r.phases.iter().all(|p| p.ok), "{r:#?}");
    assert_eq!(r.evidence.copies, 1, "{r:#?}");
    assert_eq!(r.evidence.digest_ok, Some(true), "{r:#?}");
    assert!(r.tls_verified, "{r:#?}");
    assert!(r.warnings.is_empty(), "{r:#?}");
}

fn assert_auth_failed(r: &Report, phase: &str) {
    assert_eq!(r.verdict, Verdict::AuthFailed, "{r:#?}");
    let json = serde_json::to_value(r).expect("report serializes");
    let error = &json["error"];
    assert_eq!(error["phase"], phase, "{r:#?}");
    assert_eq!(error["code"], "auth_rejected", "{r:#?}");
    let e = r.error.as_ref().expect("error");
    assert!(
        e.diagnosis
            .server_text
            .as_deref()
            .is_some_and(|t| !t.is_empty()),
        "the server's own words are kept: {r:#?}"
    );
    assert!(!e.diagnosis.hint.is_empty(), "{r:#?}");
}

/// Generates `interop::embedded::<case>` and `interop::real::<case>` for every case.
macro_rules! on_both_servers {
    ($($case:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(&super::Stack::embedded().await).await;
                }
            )*
        }
        mod real {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = "needs Postfix+Dovecot: bash ci/interop.sh (sets MAILTRIP_MAILSTACK_ENV)"]
                async fn $case() {
                    super::$case(&super::Stack::real()).await;
                }
            )*
        }
    };
}

on_both_servers!(
    starttls_round_trip,
    implicit_tls_round_trip,
    wrong_password_smtp,
    wrong_password_imap,
    delivered_to_inbox,
    delivered_to_junk,
    cross_account,
    self_round_trip,
    idle_detected,
    seeded_folder_reads_back,
    recent_flag_is_refused,
    cleanup_leaves_mailbox_intact,
    wait_in_both_orders_and_since_now,
);

// The cases, written once.
mod cases;
use cases::*;

// Issue #13's cases (a `--to` the watch cannot see, a stripped tag header, a lost reply to
// the end of DATA, load with probes that never arrive), on both servers too.
mod issue13;
