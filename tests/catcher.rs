//! Issue 16 item 1, the mail catcher: any recipient at any domain gets a mailbox on first
//! delivery, `user+tag@` lands in `user@`'s, auto-created mailboxes open with any password
//! (or the catch-all's own), declared users keep theirs, and strict mode still says 550.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::time::Duration;

use mailtrip::server::{Recipients, ServerConfig, TestServer};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::util::{self, PASSWORD};

const WAIT: Duration = Duration::from_secs(10);

/// Speaks SMTP on the plain relay port and returns the first line of each reply, in order:
/// greeting, EHLO, MAIL, one per RCPT, then DATA and the final reply when one RCPT passed.
pub async fn smtp_send(addr: SocketAddr, from: &str, rcpts: &[&str], data: &str) -> Vec<String> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (r, mut w) = tcp.into_split();
    let mut r = BufReader::new(r);
    let mut replies = Vec::new();
    async fn reply(r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> String {
        let mut first = String::new();
        loop {
            let mut line = String::new();
            r.read_line(&mut line).await.expect("read reply");
            assert!(!line.is_empty(), "server closed mid-reply");
            if first.is_empty() {
                first = line.trim_end().to_string();
            }
            if line.as_bytes().get(3) != Some(&b'-') {
                return first;
            }
        }
    }
    replies.push(reply(&mut r).await);
    let mut cmd = async |line: String, r: &mut BufReader<_>| {
        w.write_all(line.as_bytes()).await.expect("write");
        reply(r).await
    };
    replies.push(cmd("EHLO client.test\r\n".into(), &mut r).await);
    replies.push(cmd(format!("MAIL FROM:<{from}>\r\n"), &mut r).await);
    let mut any = false;
    for rcpt in rcpts {
        let got = cmd(format!("RCPT TO:<{rcpt}>\r\n"), &mut r).await;
        any |= got.starts_with("250");
        replies.push(got);
    }
    if any {
        replies.push(cmd("DATA\r\n".into(), &mut r).await);
        replies.push(cmd(format!("{data}\r\n.\r\n"), &mut r).await);
    }
    let _ = cmd("QUIT\r\n".into(), &mut r).await;
    replies
}

/// Logs in over verified IMAPS; `Err` carries the server's refusal.
async fn imap_login(server: &TestServer, user: &str, password: &str) -> Result<(), String> {
    let client = util::imap_client(server).await;
    let mut session = client
        .login(user, password)
        .await
        .map_err(|(e, _)| e.to_string())?;
    let inbox = session.select("INBOX").await.map_err(|e| e.to_string())?;
    let _ = session.logout().await;
    assert!(inbox.exists < 1000);
    Ok(())
}

/// The app (app@dev.test) sends `subject` to `rcpts` (all named in its To: header) on the
/// plain relay port; the first line of each reply, as [`smtp_send`] gives them.
async fn app_sends(server: &TestServer, rcpts: &[&str], subject: &str) -> Vec<String> {
    let to = rcpts.join(", ");
    let data = format!("From: app@dev.test\r\nTo: {to}\r\nSubject: {subject}\r\n\r\nhello\r\n");
    smtp_send(server.smtp_addr(), "app@dev.test", rcpts, &data).await
}

#[tokio::test]
async fn issue16_any_recipient_gets_a_mailbox_and_plus_tags_land_in_the_base_one() {
    let server = util::server().await;
    let replies = app_sends(
        &server,
        &["someone+x@example.com", "New.User@Other.Test"],
        "welcome",
    )
    .await;
    assert_eq!(replies[3], "250 2.1.5 Ok", "{replies:?}");
    assert_eq!(replies[4], "250 2.1.5 Ok", "{replies:?}");
    assert!(
        replies[6].starts_with("250 2.0.0 Ok: queued as "),
        "{replies:?}"
    );

    let tagged = server
        .wait_for_messages("someone@example.com", "INBOX", 1, WAIT)
        .await
        .expect("someone@example.com's INBOX has it");
    let raw = String::from_utf8_lossy(&tagged[0].raw);
    assert!(
        raw.contains("for <someone+x@example.com>;"),
        "the Received header keeps the address as sent: {raw}"
    );
    assert!(
        !server.store().is_user("someone+x@example.com"),
        "no separate mailbox for the tag"
    );
    server
        .wait_for_messages("new.user@other.test", "INBOX", 1, WAIT)
        .await
        .expect("addresses are case-insensitive");
    let infos = server.store().user_infos();
    let auto: Vec<_> = infos
        .iter()
        .filter(|u| u.auto_created)
        .map(|u| u.address.as_str())
        .collect();
    assert_eq!(auto, ["New.User@Other.Test", "someone@example.com"]);
    // A mailbox gets the profile's folders, like a declared user's.
    let folders = server.store().list("someone@example.com").expect("list");
    assert!(folders.iter().any(|f| f.name == "Junk"), "{folders:?}");
}

#[tokio::test]
async fn issue16_auto_created_mailboxes_open_with_any_password_declared_users_keep_theirs() {
    let server = util::server().await;
    app_sends(&server, &["someone+x@example.com"], "hi").await;
    server
        .wait_for_messages("someone@example.com", "INBOX", 1, WAIT)
        .await
        .expect("delivered");
    imap_login(&server, "someone@example.com", "anything")
        .await
        .expect("any password");
    imap_login(&server, "someone+x@example.com", "other")
        .await
        .expect("the tagged address too");
    // Logging in first creates the mailbox (a watcher may start before the mail is sent).
    imap_login(&server, "later@example.com", "x")
        .await
        .expect("login creates");
    assert!(server.store().is_user("later@example.com"));
    // Declared users keep their passwords.
    let refused = imap_login(&server, "alice@mailtrip.test", "wrong").await;
    assert!(
        refused.is_err(),
        "a declared user's wrong password is refused"
    );
    imap_login(&server, "alice@mailtrip.test", PASSWORD)
        .await
        .expect("right password");
    // Not an address: nothing is created.
    assert!(imap_login(&server, "just-a-name", "x").await.is_err());
}

#[tokio::test]
async fn issue16_a_catch_all_password_guards_auto_created_mailboxes() {
    let config = ServerConfig {
        recipients: Recipients::CatchAllWithPassword("team-secret".to_string().into()),
        ..ServerConfig::default()
    };
    let server = util::server_with(config).await;
    let replies = app_sends(&server, &["qa@example.com"], "hi").await;
    assert_eq!(replies[3], "250 2.1.5 Ok");
    assert!(
        imap_login(&server, "qa@example.com", "guess")
            .await
            .is_err()
    );
    assert!(
        imap_login(&server, "nobody-yet@example.com", "guess")
            .await
            .is_err()
    );
    assert!(!server.store().is_user("nobody-yet@example.com"));
    imap_login(&server, "qa@example.com", "team-secret")
        .await
        .expect("the catch-all password");
}

#[tokio::test]
async fn issue16_strict_recipients_still_refuse_unknown_users_but_understand_plus_tags() {
    let server = util::server_with(ServerConfig::default().strict_recipients()).await;
    let replies = app_sends(
        &server,
        &["new-user+123@example.com", "bob+signup@mailtrip.test"],
        "hi",
    )
    .await;
    assert_eq!(
        replies[3],
        "550 5.1.1 <new-user+123@example.com>: Recipient address rejected: User unknown"
    );
    assert_eq!(
        replies[4], "250 2.1.5 Ok",
        "a declared user's tag is theirs"
    );
    server
        .wait_for_messages("bob@mailtrip.test", "INBOX", 1, WAIT)
        .await
        .expect("bob gets his tagged mail");
    assert!(!server.store().is_user("new-user@example.com"));
    assert!(
        imap_login(&server, "stranger@example.com", "x")
            .await
            .is_err()
    );
}

#[tokio::test]
async fn issue16_an_address_the_catch_all_cannot_hold_is_refused() {
    let server = util::server().await;
    let replies = app_sends(&server, &["no-domain", "ok@example.com"], "hi").await;
    assert!(replies[3].starts_with("550 5.1.1"), "{replies:?}");
    assert_eq!(replies[4], "250 2.1.5 Ok");
}

/// `wait_for` on an address nobody declared: before its first mail the mailbox does not
/// exist yet (it used to fail at once with "no such user"), and a `+tag` address reads the
/// mailbox its mail lands in.
#[tokio::test]
async fn issue16_wait_for_an_undeclared_address_waits_for_its_first_mail() {
    let server = util::server().await;
    let waiting = server
        .wait_for("fresh+signup@example.com")
        .subject("(?i)confirm")
        .timeout(WAIT);
    let send = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        app_sends(
            &server,
            &["fresh+signup@example.com"],
            "Confirm your address",
        )
        .await
    };
    let (got, replies) = tokio::join!(waiting.into_future(), send);
    assert!(
        replies.last().is_some_and(|r| r.starts_with("250")),
        "{replies:?}"
    );
    let mail = got.expect("found once it arrived");
    assert_eq!(mail.subject, "Confirm your address");
}
