//! Independent SMTP clients against the embedded server: lettre over STARTTLS and implicit
//! TLS (byte-exact delivery, AUTH failures as lettre reports them, XOAUTH2), curl and Python's
//! smtplib.

use std::error::Error;
use std::path::PathBuf;

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use mailtrip::server::{TestServer, gmail};

use crate::util::smtp::arrived;
use crate::util::{self, ALICE, BOB, PASSWORD, WAIT, succeeded};

type TestResult = Result<(), Box<dyn Error>>;

fn tls_params(server: &TestServer) -> Result<TlsParameters, Box<dyn Error>> {
    Ok(TlsParameters::builder("localhost".into())
        .add_root_certificate(Certificate::from_pem(server.ca_pem().as_bytes())?)
        .build_native()?)
}

/// lettre on the submission port: STARTTLS required, verified, with these credentials.
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

/// What lettre's refusal looks like when `secret` (or the faults) fail AUTH: (code, error).
async fn refused(server: &TestServer, secret: &str) -> Result<(String, String), Box<dyn Error>> {
    let err = submission_mailer(server, ALICE, secret)?
        .send(probe("x")?)
        .await
        .err()
        .ok_or("sent despite the refusal")?;
    let code = err.status().map(|c| c.to_string()).unwrap_or_default();
    assert!(err.is_permanent());
    Ok((code, err.to_string()))
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

    let (received, body) = arrived(&server).await;
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
async fn lettre_wrong_password_is_535() -> TestResult {
    let server = util::server().await;
    let (code, err) = refused(&server, "wrong password").await?;
    assert_eq!(code, "535");
    assert!(err.contains("5.7.8"), "{err}");
    Ok(())
}

/// Gmail's reply when 2-step verification is on and the account password is used.
#[tokio::test]
async fn lettre_sees_gmail_app_password_required() -> TestResult {
    let server = util::server_with_fault(|f| {
        f.smtp_auth_reject = Some(gmail::SMTP_APP_PASSWORD_REQUIRED.into())
    })
    .await;
    let (code, err) = refused(&server, PASSWORD).await?;
    assert_eq!(code, "534");
    assert!(err.contains("5.7.9"), "{err}");
    util::assert_empty(&server, BOB, "INBOX", "the refused login sends nothing");
    Ok(())
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

/// A scratch directory holding the server's CA, for files handed to external clients.
fn scratch_with_ca(server: &TestServer, name: &str) -> (PathBuf, PathBuf) {
    let dir = util::scratch_dir(&format!("smtp-{name}"));
    let ca = util::write_ca(server, &dir);
    (dir, ca)
}

/// curl is on Debian and in CI; a missing curl fails loudly rather than skipping.
#[tokio::test]
async fn curl_submits_over_starttls() -> TestResult {
    let server = util::server().await;
    let (dir, ca) = scratch_with_ca(&server, "curl");
    let mail = dir.join("mail.eml");
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
    succeeded("curl", &out);
    let (received, body) = arrived(&server).await;
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
    let (dir, ca) = scratch_with_ca(&server, "python");
    let out = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(SMTPLIB)
        .arg(server.submission_addr().port().to_string())
        .arg(&ca)
        .args([ALICE, PASSWORD, BOB])
        .output()
        .await?;
    let _ = std::fs::remove_dir_all(&dir);
    succeeded("smtplib", &out);
    let (_, body) = arrived(&server).await;
    assert_eq!(body, b"Subject: python\r\n\r\n.leading dot\r\nbye\r\n");
    Ok(())
}
