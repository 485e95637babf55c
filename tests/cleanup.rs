//! Cleanup that cannot hurt (issue #10): a property test over random mailboxes — plain mail,
//! look-alike subjects, forged `X-Mailtrip-Probe` headers from other senders, quoted tags,
//! impostors in the sender's name (two From headers, a From list or group, a non-UUID tag, a
//! body that does not match its digest: issue #13 item 5), malformed bytes, random sizes and flags (`\Deleted`, `\Seen`, `\Flagged`) in INBOX and
//! Junk — runs `check` (the probe in INBOX or in Junk), `wait --delete` and `sweep --yes`, and
//! asserts that every other message keeps its UID, flags and bytes.

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;

use mailtrip::probe::{Sweep, Wait};
use mailtrip::report::Verdict;
use mailtrip::server::{Faults, FlagOp, TestServer};

use crate::util::{self, ALICE, BOB, account};

const FOLDERS: [&str; 6] = ["INBOX", "Junk", "Sent", "Trash", "Archive", "Drafts"];

#[derive(Debug, Clone)]
enum Kind {
    Plain,
    /// `Subject: mailtrip probe <hex>` without a tag header.
    LookAlike(u32),
    /// A full probe header set, but from someone else.
    Forged(u32),
    /// Alice's probe headers quoted in the body of a reply.
    Quoted(u32),
    /// A probe in alice's name with one thing that proves it is not hers (issue #13 item 5).
    Impostor(u32, Forgery),
    /// Arbitrary bytes.
    Malformed(Vec<u8>),
}

/// What gives an impostor away.
#[derive(Debug, Clone, Copy)]
enum Forgery {
    /// A foreign From header first, alice's second.
    TwoFroms,
    /// `From: alice, mallory`.
    FromList,
    /// `From: group: alice, mallory;`.
    Group,
    /// A tag that is not a UUID.
    NotUuid,
    /// A body that does not match its `X-Mailtrip-Digest`.
    BadDigest,
}

#[derive(Debug, Clone)]
struct Seed {
    kind: Kind,
    junk: bool,
    flags: Vec<&'static str>,
    size: usize,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        3 => Just(Kind::Plain),
        2 => any::<u32>().prop_map(Kind::LookAlike),
        2 => any::<u32>().prop_map(Kind::Forged),
        1 => any::<u32>().prop_map(Kind::Quoted),
        2 => (any::<u32>(), prop_oneof![
            Just(Forgery::TwoFroms),
            Just(Forgery::FromList),
            Just(Forgery::Group),
            Just(Forgery::NotUuid),
            Just(Forgery::BadDigest),
        ]).prop_map(|(n, f)| Kind::Impostor(n, f)),
        1 => proptest::collection::vec(any::<u8>(), 0..200).prop_map(Kind::Malformed),
    ]
}

fn seed() -> impl Strategy<Value = Seed> {
    (kind(), any::<bool>(), any::<[bool; 3]>(), 0usize..4000).prop_map(|(kind, junk, on, size)| {
        Seed {
            kind,
            junk,
            flags: ["\\Deleted", "\\Seen", "\\Flagged"]
                .into_iter()
                .zip(on)
                .filter_map(|(f, on)| on.then_some(f))
                .collect(),
            size,
        }
    })
}

fn probe_headers(from: &str, tag: &str, sent: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "From: {from}\r\nTo: {BOB}\r\nSubject: mailtrip probe {tag}\r\nMessage-ID: <{tag}@mailtrip.test>\r\n\
         X-Mailtrip-Probe: {tag}\r\nX-Mailtrip-Run: {tag}\r\n\
         X-Mailtrip-Sent: {}\r\nX-Mailtrip-Timeout: 60\r\n",
        sent.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    )
}

/// `X-Mailtrip-Digest` of a text body, as a probe carries it.
fn digest_header(body: &str) -> String {
    use sha2::Digest;
    let hex: String = sha2::Sha256::digest(body.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("X-Mailtrip-Digest: sha256={hex}\r\n")
}

/// A complete probe of alice's with a body that matches its digest; with `strip`, without
/// its `X-Mailtrip-Probe` header (a gateway removed it; the Message-ID still has the tag).
fn genuine_probe(tag: &str, sent: chrono::DateTime<chrono::Utc>, strip: bool) -> Vec<u8> {
    let body = format!("genuine probe body {tag}");
    let mut head = probe_headers(ALICE, tag, sent);
    if strip {
        head = head.replace(&format!("X-Mailtrip-Probe: {tag}\r\n"), "");
    }
    format!("{head}{}\r\n{body}\r\n", digest_header(&body)).into_bytes()
}

fn raw(seed: &Seed, i: usize) -> Vec<u8> {
    let old = chrono::Utc::now() - chrono::TimeDelta::days(3);
    let filler = "x".repeat(seed.size);
    match &seed.kind {
        Kind::Plain => {
            format!("From: friend{i}@x.test\r\nTo: {BOB}\r\nSubject: note {i}\r\n\r\n{filler}\r\n")
                .into_bytes()
        }
        Kind::LookAlike(n) => format!(
            "From: {ALICE}\r\nTo: {BOB}\r\nSubject: mailtrip probe {n:08x}\r\n\r\n{filler}\r\n"
        )
        .into_bytes(),
        Kind::Forged(n) => format!(
            "{}\r\n{filler}\r\n",
            probe_headers(
                "mallory@evil.test",
                &format!("0190{n:08x}-0000-7000-8000-00000000{i:04}"),
                old
            )
        )
        .into_bytes(),
        Kind::Quoted(n) => format!(
            "From: friend@x.test\r\nTo: {BOB}\r\nSubject: Re: mailtrip probe\r\n\r\n> {}",
            probe_headers(ALICE, &format!("0190{n:08x}-quoted"), old).replace("\r\n", "\r\n> ")
        )
        .into_bytes(),
        Kind::Malformed(bytes) => bytes.clone(),
        Kind::Impostor(n, forgery) => {
            let tag = format!("0190{n:08x}-1111-7000-8000-00000000{i:04}");
            let body = format!("genuine probe body {tag}");
            let mut head = probe_headers(ALICE, &tag, old);
            let mut text = body.clone();
            match forgery {
                Forgery::TwoFroms => {
                    head = format!("From: mallory@evil.test\r\n{head}");
                }
                Forgery::FromList => {
                    head = head.replace(
                        &format!("From: {ALICE}\r\n"),
                        &format!("From: {ALICE}, mallory@evil.test\r\n"),
                    );
                }
                Forgery::Group => {
                    head = head.replace(
                        &format!("From: {ALICE}\r\n"),
                        &format!("From: friends: {ALICE}, mallory@evil.test;\r\n"),
                    );
                }
                Forgery::NotUuid => {
                    head = head.replace(&tag, &format!("hello-not-a-uuid-{n}"));
                }
                Forgery::BadDigest => text = format!("{body}\r\nplus what mallory added"),
            }
            format!("{head}{}\r\n{text}\r\n{filler}\r\n", digest_header(&body)).into_bytes()
        }
    }
}

/// Every folder of bob's: UID → (flags, bytes).
type Snapshot = BTreeMap<(String, u32), (Vec<String>, Vec<u8>)>;

fn snapshot(server: &TestServer) -> Snapshot {
    let mut out = BTreeMap::new();
    for folder in FOLDERS {
        for m in server.messages(BOB, folder).expect("folder") {
            let mut flags = m.flags.clone();
            flags.sort();
            out.insert((folder.to_string(), m.uid), (flags, m.raw.to_vec()));
        }
    }
    out
}

/// Seeds the mailbox, runs check, wait --delete and sweep --yes, and checks after each that
/// nothing but their own targets changed.
async fn case(seeds: Vec<Seed>, probe_to_junk: bool, leftovers: usize) {
    let server = util::server().await;
    for (i, s) in seeds.iter().enumerate() {
        let folder = if s.junk { "Junk" } else { "INBOX" };
        let uid = server.deliver_raw(BOB, folder, &raw(s, i)).expect("seed");
        let flags: Vec<String> = s.flags.iter().map(|f| f.to_string()).collect();
        if !flags.is_empty() {
            server
                .store()
                .store_flags(BOB, folder, &[uid], FlagOp::Add, &flags)
                .expect("flags");
        }
    }
    let before = snapshot(&server);

    // check, the probe landing in INBOX or in Junk.
    if probe_to_junk {
        util::set_fault(&server, |f| f.junk_rule = Some("mailtrip probe".into()));
    }
    let r = crate::scenario::check(&server, Duration::from_secs(20)).await;
    let want = if probe_to_junk {
        Verdict::DeliveredToSpam
    } else {
        Verdict::Delivered
    };
    assert_eq!(r.verdict, want, "{r:#?}");
    assert_eq!(snapshot(&server), before, "check changed other mail");
    server.set_faults(Faults::default());

    // wait --delete: exactly the message that arrived for it.
    let target = format!(
        "From: app@app.test\r\nTo: {BOB}\r\nSubject: wait-target\r\n\r\nyour code is 123456\r\n"
    );
    let wait = Wait::new(account(&server, BOB))
        .subject(regex::Regex::new("^wait-target$").expect("regex"))
        .delete(true)
        .timeout(Duration::from_secs(20));
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = std::sync::Mutex::new(Some(tx));
    let wait = wait.on_ready(move |_, _| {
        if let Some(tx) = tx.lock().ok().and_then(|mut t| t.take()) {
            let _ = tx.send(());
        }
    });
    let handle = tokio::spawn(wait.run());
    rx.await.expect("wait is ready");
    server
        .deliver_raw(BOB, "INBOX", target.as_bytes())
        .expect("target");
    let m = handle.await.expect("join").expect("wait matched");
    assert!(m.deleted, "{m:#?}");
    assert_eq!(
        snapshot(&server),
        before,
        "wait --delete changed other mail"
    );

    // sweep --yes: exactly alice's genuine old probes.
    let old = chrono::Utc::now() - chrono::TimeDelta::days(2);
    for n in 0..leftovers {
        let tag = format!("0190ffff-0000-7000-8000-{n:012}");
        let folder = if n % 2 == 0 { "INBOX" } else { "Junk" };
        server
            .deliver_raw(BOB, folder, &genuine_probe(&tag, old, n == 1))
            .expect("leftover");
    }
    let sweep = Sweep::new(account(&server, BOB))
        .sender(ALICE)
        .older_than(Duration::from_secs(86400));
    let listed = sweep.list().await.expect("list");
    assert_eq!(listed.found.len(), leftovers, "{listed:#?}");
    sweep.delete(&listed).await.expect("delete");
    assert_eq!(snapshot(&server), before, "sweep changed other mail");
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn check_wait_and_sweep_leave_every_other_message_exactly_as_it_was(
        seeds in proptest::collection::vec(seed(), 0..40),
        probe_to_junk in any::<bool>(),
        leftovers in 0usize..4,
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(case(seeds, probe_to_junk, leftovers));
    }
}
