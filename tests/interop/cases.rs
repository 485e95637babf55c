//! The round-trip cases, each written once against a [`Stack`]: `mod.rs` runs every one on
//! the embedded server and on Postfix + Dovecot.

use super::*;

/// Submission with STARTTLS, IMAP with STARTTLS.
pub(super) async fn starttls_round_trip(stack: &Stack) {
    let r = stack.check(Who::A, Who::B, Tls::StartTls).run().await;
    assert_delivered(&r, Verdict::Delivered, Placement::Inbox);
    assert!(r.smtp.starts_with("smtp+starttls://"), "{}", r.smtp);
    assert!(r.imap.starts_with("imap+starttls://"), "{}", r.imap);
    assert!(r.phase(Phase::SmtpTls).is_some_and(|p| p.ok), "{r:#?}");
}

/// Submissions and IMAPS, both implicit TLS.
pub(super) async fn implicit_tls_round_trip(stack: &Stack) {
    let r = stack.check(Who::A, Who::B, Tls::Implicit).run().await;
    assert_delivered(&r, Verdict::Delivered, Placement::Inbox);
    assert!(r.smtp.starts_with("smtps://"), "{}", r.smtp);
    assert!(r.imap.starts_with("imaps://"), "{}", r.imap);
}

/// A wrong SMTP password is diagnosed as rejected credentials in the smtp_auth phase.
pub(super) async fn wrong_password_smtp(stack: &Stack) {
    let from = stack.account_with(Who::A, Tls::StartTls, "not-the-password");
    let r = Check::new(from, stack.account(Who::B, Tls::StartTls))
        .timeout(TIMEOUT)
        .run()
        .await;
    assert_auth_failed(&r, "smtp_auth");
}

/// A wrong IMAP password is diagnosed as rejected credentials in the imap_auth phase, and
/// nothing is sent.
pub(super) async fn wrong_password_imap(stack: &Stack) {
    let to = stack.account_with(Who::B, Tls::Implicit, "not-the-password");
    let r = Check::new(stack.account(Who::A, Tls::Implicit), to)
        .timeout(TIMEOUT)
        .run()
        .await;
    assert_auth_failed(&r, "imap_auth");
    assert!(r.phase(Phase::SmtpSubmit).is_none(), "{r:#?}");
}

/// A plain probe lands in INBOX: the report says so and an independent IMAP client finds it
/// there, byte-identical to what the report verified, and not in Junk.
pub(super) async fn delivered_to_inbox(stack: &Stack) {
    let r = stack
        .check(Who::B, Who::A, Tls::Implicit)
        .keep(true)
        .run()
        .await;
    assert_delivered(&r, Verdict::Delivered, Placement::Inbox);
    assert_eq!(r.evidence.mailbox.as_deref(), Some("INBOX"), "{r:#?}");
    let mut mb = stack.imap(Who::A).await;
    assert!(mb.find(&stack.junk_folder, &r.probe_id).await.is_empty());
    let kept = mb.remove("INBOX", &r.probe_id).await;
    assert_eq!(kept.len(), 1, "exactly one copy in INBOX: {kept:?}");
    assert_eq!(Some(kept[0].uid), r.evidence.uid, "{r:#?}");
    assert!(mb.find("INBOX", &r.probe_id).await.is_empty());
    mb.logout().await;
}

/// A probe carrying the stack's spam marker is filed into Junk and reported as spam.
pub(super) async fn delivered_to_junk(stack: &Stack) {
    let (name, value) = &stack.junk_header;
    let r = stack
        .check(Who::B, Who::A, Tls::StartTls)
        .header(name, value)
        .expect("a valid header")
        .keep(true)
        .run()
        .await;
    assert_delivered(&r, Verdict::DeliveredToSpam, Placement::Spam);
    assert_eq!(r.evidence.mailbox.as_deref(), Some(&*stack.junk_folder));
    let mut mb = stack.imap(Who::A).await;
    assert!(mb.find("INBOX", &r.probe_id).await.is_empty());
    let kept = mb.remove(&stack.junk_folder, &r.probe_id).await;
    assert_eq!(kept.len(), 1, "exactly one copy in Junk: {kept:?}");
    mb.logout().await;

    // And cleanup works there too.
    let r = stack
        .check(Who::B, Who::A, Tls::Implicit)
        .header(name, value)
        .expect("a valid header")
        .run()
        .await;
    assert_delivered(&r, Verdict::DeliveredToSpam, Placement::Spam);
    let mut mb = stack.imap(Who::A).await;
    assert!(mb.find(&stack.junk_folder, &r.probe_id).await.is_empty());
    mb.logout().await;
}

/// User A to user B: it reaches B, never A, and is cleaned from B's INBOX.
pub(super) async fn cross_account(stack: &Stack) {
    let r = stack.check(Who::A, Who::B, Tls::Implicit).run().await;
    assert_delivered(&r, Verdict::Delivered, Placement::Inbox);
    assert_eq!(r.from, stack.address(Who::A));
    assert_eq!(r.to, stack.address(Who::B));
    assert!(r.evidence.received_hops.is_some_and(|n| n >= 1), "{r:#?}");
    for who in [Who::A, Who::B] {
        let mut mb = stack.imap(who).await;
        assert!(mb.find("INBOX", &r.probe_id).await.is_empty(), "{who:?}");
        mb.logout().await;
    }
}

/// User A to itself.
pub(super) async fn self_round_trip(stack: &Stack) {
    let r = stack.check(Who::A, Who::A, Tls::StartTls).run().await;
    assert_delivered(&r, Verdict::Delivered, Placement::Inbox);
    let mut mb = stack.imap(Who::A).await;
    assert!(mb.find("INBOX", &r.probe_id).await.is_empty());
    mb.logout().await;
}

/// Both servers advertise IDLE, and the check waits with it rather than polling.
pub(super) async fn idle_detected(stack: &Stack) {
    let r = stack.check(Who::B, Who::A, Tls::Implicit).run().await;
    assert_delivered(&r, Verdict::Delivered, Placement::Inbox);
    assert_eq!(r.evidence.idle, Some(true), "{r:#?}");
}

/// The harness itself: what is APPENDed with flags reads back with the same flags, sizes
/// and bytes, in UID order (so the intact check below compares like with like).
pub(super) async fn seeded_folder_reads_back(stack: &Stack) {
    let mut mb = stack.imap(Who::B).await;
    let folder = mb.fresh_folder().await;
    let mut want = Vec::new();
    for n in 0..12 {
        let raw = other_message(n, stack.address(Who::B));
        mb.append(&folder, &raw, other_flags(n)).await;
        let mut flags: Vec<String> = other_flags(n)
            .split_whitespace()
            .map(String::from)
            .collect();
        flags.sort();
        want.push((flags, raw.len() as u32, sha256(&raw), probe_tag(&raw)));
    }
    let got = mb.list(&folder).await;
    let got_view: Vec<_> = got
        .iter()
        .map(|e| (e.flags.clone(), e.size, e.digest.clone(), e.tag.clone()))
        .collect();
    assert_eq!(got_view, want);
    assert!(got.windows(2).all(|w| w[0].uid < w[1].uid), "{got:?}");
    mb.logout().await;
}

/// `\Recent` belongs to the server: APPEND and STORE naming it get BAD (Dovecot's answer,
/// which the embedded server once differed from by storing it as a flag).
pub(super) async fn recent_flag_is_refused(stack: &Stack) {
    let mut mb = stack.imap(Who::B).await;
    let folder = mb.fresh_folder().await;
    let raw = other_message(1, stack.address(Who::B));
    // async-imap reports a BAD in place of the `+` continuation as `Error::Append`.
    let append = mb
        .session
        .append(&folder, Some("(\\Recent)"), None, &raw)
        .await;
    assert!(append.is_err(), "APPEND (\\Recent) was accepted");
    mb.append(&folder, &raw, "\\Seen").await;
    mb.session.select(&folder).await.expect("SELECT");
    let store = mb
        .session
        .run_command_and_check_ok("UID STORE 1:* +FLAGS (\\Recent)")
        .await;
    assert!(
        matches!(store, Err(async_imap::error::Error::Bad(_))),
        "{store:?}"
    );
    let listed = mb.list(&folder).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].flags, ["\\Seen"]);
    mb.logout().await;
}

/// The cleanup deletes the probe and nothing else: 200 other messages in the receiving INBOX
/// (some `\Deleted`, some with probe-like subjects, some with other probes' tags; the last 20
/// arrive during the check, above its watermark, where it scans) keep their UIDs, flags,
/// sizes and bytes.
pub(super) async fn cleanup_leaves_mailbox_intact(stack: &Stack) {
    const BEFORE: usize = 180;
    const DURING: usize = 20;
    let to = stack.address(Who::C).to_string();
    let mut seeder = stack.imap(Who::C).await;
    let baseline = seeder.list("INBOX").await;
    for n in 0..BEFORE {
        seeder
            .append("INBOX", &other_message(n, &to), other_flags(n))
            .await;
    }

    // Once the check has noted its watermarks and starts sending, add the rest: the check
    // must see them (they are new to it) and leave them alone.
    let seeder = Arc::new(tokio::sync::Mutex::new(Some(seeder)));
    let handle = tokio::runtime::Handle::current();
    let (s, to2) = (seeder.clone(), to.clone());
    let added = Arc::new(Mutex::new(false));
    let added2 = added.clone();
    let r = Check::new(
        stack.account(Who::A, Tls::Implicit),
        stack.account(Who::C, Tls::Implicit),
    )
    .timeout(TIMEOUT)
    .on_progress(move |phase| {
        if phase != Phase::SmtpConnect
            || std::mem::replace(&mut *added2.lock().expect("lock"), true)
        {
            return;
        }
        tokio::task::block_in_place(|| {
            handle.block_on(async {
                let mut guard = s.lock().await;
                let mb = guard.as_mut().expect("seeder");
                for n in BEFORE..BEFORE + DURING {
                    mb.append("INBOX", &other_message(n, &to2), other_flags(n))
                        .await;
                }
            })
        });
    })
    .run()
    .await;
    assert!(*added.lock().expect("lock"), "the late messages were added");
    assert_delivered(&r, Verdict::Delivered, Placement::Inbox);

    let mut mb = seeder.lock().await.take().expect("seeder");
    let after = mb.list("INBOX").await;
    assert!(after.iter().all(|e| e.tag.as_deref() != Some(&*r.probe_id)));
    let seeded = &after[baseline.len().min(after.len())..];
    assert_eq!(
        &after[..baseline.len()],
        &baseline[..],
        "older mail changed"
    );
    assert_eq!(seeded.len(), BEFORE + DURING, "{r:#?}");
    for (n, e) in seeded.iter().enumerate() {
        let raw = other_message(n, &to);
        assert_eq!(e.size, raw.len() as u32, "message {n}");
        assert_eq!(e.digest, sha256(&raw), "message {n}");
        assert_eq!(probe_tag(&raw).is_some(), e.tag.is_some(), "message {n}");
        let mut flags: Vec<String> = other_flags(n)
            .split_whitespace()
            .map(String::from)
            .collect();
        flags.sort();
        assert_eq!(e.flags, flags, "message {n}");
    }
    assert!(
        seeded
            .iter()
            .filter(|e| e.flags.contains(&"\\Deleted".into()))
            .count()
            > 50
    );
    assert!(seeded.windows(2).all(|w| w[0].uid < w[1].uid));
    mb.logout().await;
}

/// Issue 17 on both servers: `Wait::run` finds mail that arrived just before it (look-back by
/// INTERNALDATE), `arm` then deliver returns only the new look-alike, `since(now)` taken just
/// before delivering matches every time (Dovecot's INTERNALDATE has whole seconds), and
/// `delete(true)` says deleted exactly when the message is gone. Mail is APPENDed into a
/// fresh folder, so nothing else can match.
pub(super) async fn wait_in_both_orders_and_since_now(stack: &Stack) {
    let mut mb = stack.imap(Who::B).await;
    let folder = mb.fresh_folder().await;
    let to = stack.address(Who::B).to_string();
    let raw = |token: &str| {
        format!(
            "From: App <noreply@app.test>\r\nTo: {to}\r\nSubject: Confirm {token}\r\n\r\n\
             Confirm: https://app.test/confirm?t={token}\r\n"
        )
    };
    let wait = |subject: &str| {
        mailtrip::Wait::new(stack.account(Who::B, Tls::Implicit))
            .folder(folder.clone())
            .subject(format!("^Confirm ({subject})$"))
            .timeout(TIMEOUT)
    };

    mb.append(&folder, raw("early").as_bytes(), "").await;
    let m = wait("early")
        .run()
        .await
        .expect("mail from just before the wait");
    assert_eq!(m.links, ["https://app.test/confirm?t=early"], "{m:#?}");

    let armed = wait("early|armed").arm().await.expect("armed");
    mb.append(&folder, raw("armed").as_bytes(), "").await;
    let m = armed.await.expect("the mail after arm");
    assert_eq!(m.subject, "Confirm armed", "{m:#?}");

    for i in 0..10 {
        let now = std::time::SystemTime::now();
        mb.append(&folder, raw(&format!("since{i}")).as_bytes(), "")
            .await;
        let m = wait(&format!("since{i}"))
            .since(now)
            .delete(true)
            .run()
            .await
            .unwrap_or_else(|e| panic!("since(now), round {i}: {e}"));
        assert!(m.deleted, "round {i}: {m:#?}");
    }
    let left: Vec<String> = mb
        .list(&folder)
        .await
        .iter()
        .map(|e| format!("UID {}", e.uid))
        .collect();
    assert_eq!(
        left,
        ["UID 1", "UID 2"],
        "the since mails were deleted, nothing else"
    );
    mb.logout().await;
}
