//! A signup-link test against the embedded server: the "app" sends its confirmation mail with
//! lettre, then the test reads it back — straight from the server's store, and over IMAP with
//! `Wait` — and pulls out the confirmation link. `cargo run --example signup_link`

use std::time::Duration;

use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use mailtrip::Account;
use mailtrip::probe::{Extract, Wait};
use mailtrip::server::{ServerConfig, TestServer};

const USER: &str = "new-user@test.local";

/// The application under test: it mails a confirmation link through the SMTP server at `port`.
async fn app_signs_up(port: u16, email: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mail = lettre::Message::builder()
        .from("My App <noreply@myapp.test>".parse()?)
        .to(email.parse()?)
        .subject("Confirm your account")
        .body(String::from(
            "Welcome!\nConfirm your account: https://myapp.test/confirm?token=abc123\n",
        ))?;
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(port)
        .build()
        .send(mail)
        .await?;
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = TestServer::start(ServerConfig::default().with_user(USER, "pw")).await?;

    // Arm an IMAP wait first, so only mail sent from now on can match...
    let armed = Wait::new(Account::embedded(&server, USER, "pw"))
        .subject("(?i)confirm")
        .timeout(Duration::from_secs(10))
        .arm()
        .await?;
    app_signs_up(server.smtp_addr().port(), USER).await?;
    let over_imap = armed.await?;

    // ...and read the same message straight from what the server caught.
    let caught = server
        .wait_for(USER)
        .from("myapp.test")
        .subject("(?i)confirm")
        .await?;

    let link = caught.extract(&"link:/confirm".parse::<Extract>()?);
    assert_eq!(
        link.as_deref(),
        Some("https://myapp.test/confirm?token=abc123")
    );
    assert_eq!(over_imap.links, caught.links);
    println!(
        "signup mail UID {} after {:.0} ms; confirmation link: {}",
        over_imap.uid,
        over_imap.waited_ms,
        link.unwrap_or_default()
    );
    Ok(())
}
