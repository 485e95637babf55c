//! `mailtrip::Verify` and the `mailtrip verify` / `mailtrip providers` binary against the
//! embedded server over real sockets: every diagnosis that can be produced on loopback (asserted
//! by code and hint), certificates, capabilities, one AUTH per protocol, and no secret in output.
//! Just past 600 lines: one diagnosis per test, each a few lines over the shared helpers.

use std::time::Duration;

use mailtrip::config::{Credential, Protocol, Security};
use mailtrip::diagnose::{CertProblem, Code};
use mailtrip::report::verify::{CertificateInfo, ProtocolReport, Status, Step, VerifyReport};
use mailtrip::server::{CertKind, Faults, Profile, ServerConfig, TestServer, gmail};
use mailtrip::{Account, Endpoint};
use secrecy::SecretString;

use crate::scenario::{self, assert_step_failed, assert_step_ok as assert_ok, silent_port};
use crate::util::{self, ALICE, PASSWORD, local_imap, local_smtp};

/// alice's account on `server`.
fn account(server: &TestServer) -> Account {
    util::account(server, ALICE)
}

/// alice's account on `server` with her SMTP at `smtp` and her IMAP at `imap`.
fn alice_at(server: &TestServer, smtp: Endpoint, imap: Endpoint) -> Account {
    Account {
        smtp,
        imap,
        ..account(server)
    }
}

/// `account`'s verify with a 5 s timeout.
async fn verify(account: Account) -> VerifyReport {
    scenario::verify(account, Duration::from_secs(5)).await
}

/// Asserts `p` failed at `step` with `code` (see [`assert_step_failed`]), and returns the
/// hint for further checks.
fn assert_failed(p: &ProtocolReport, step: Step, code: Code) -> String {
    assert_step_failed(p, step, code).diagnosis.hint.clone()
}

/// Asserts SMTP and IMAP both failed at `step` with `code`, their hints containing `hints`
/// (SMTP's first).
fn assert_both_failed(r: &VerifyReport, step: Step, code: Code, hints: [impl AsRef<str>; 2]) {
    for ((name, p), hint) in r.protocols().into_iter().zip(hints) {
        let text = assert_failed(p, step, code);
        assert!(text.contains(hint.as_ref()), "{name}: {text}");
    }
}

/// A server started from `config`, and alice's verify against it.
async fn verify_against(config: ServerConfig) -> (TestServer, VerifyReport) {
    let server = util::server_with(config).await;
    let r = verify(account(&server)).await;
    (server, r)
}

/// A server presenting a `kind` certificate, and alice's verify against it.
async fn verify_with_cert(kind: CertKind) -> (TestServer, VerifyReport) {
    verify_against(ServerConfig {
        cert: kind,
        ..ServerConfig::default()
    })
    .await
}

/// A Gmail-profile server refusing every login with Gmail's own `smtp` and `imap` texts, and
/// alice's verify against it.
async fn verify_gmail_refusing(smtp: &str, imap: &str) -> (TestServer, VerifyReport) {
    let faults = Faults {
        smtp_auth_reject: Some(smtp.into()),
        imap_auth_reject: Some(imap.into()),
        ..Faults::default()
    };
    verify_against(
        ServerConfig::default()
            .profile(Profile::Gmail)
            .faults(faults),
    )
    .await
}

/// Asserts both protocols were refused at auth with `code`, each hint containing `hint` and
/// each diagnosis linking to Google's help page `link`.
fn assert_gmail_refused(r: &VerifyReport, code: Code, hint: &str, link: &str) {
    assert_both_failed(r, Step::Auth, code, [hint; 2]);
    for (name, p) in r.protocols() {
        let d = &p.error.as_ref().expect("error").diagnosis;
        assert_eq!(d.link.as_deref(), Some(link), "{name}: {d:#?}");
    }
}

/// alice's verify against a server presenting a `kind` certificate: both protocols stop at TLS
/// on a certificate with `problem`, their hints containing `hint`, and no password is sent.
/// Returns the two certificates, read anyway.
async fn assert_bad_cert(kind: CertKind, problem: CertProblem, hint: &str) -> [CertificateInfo; 2] {
    let (server, r) = verify_with_cert(kind).await;
    let certs = [&r.smtp, &r.imap].map(|p| {
        let text = assert_failed(p, Step::Tls, Code::TlsCertificateInvalid);
        assert!(text.contains(hint), "{text}");
        let c = p.certificate.clone().expect("certificate read anyway");
        assert_eq!(c.problem, Some(problem), "{c:#?}");
        c
    });
    assert_eq!(
        server.auth_attempts(),
        (0, 0),
        "no password after a bad certificate"
    );
    certs
}

#[tokio::test]
async fn a_good_account_passes_with_certificate_capabilities_and_junk() {
    let server = util::server().await;
    let r = verify(account(&server)).await;
    assert_eq!((r.status, r.exit_code()), (Status::Ok, 0), "{r:#?}");
    assert!(r.warnings.is_empty(), "{r:#?}");
    assert_ok(&r.smtp);
    assert_ok(&r.imap);
    assert_eq!(r.junk_folder.as_deref(), Some("Junk"));
    assert!(r.junk_checked);
    assert_eq!(r.auth, "password");
    for (_, p) in r.protocols() {
        let c = p.certificate.as_ref().expect("certificate");
        assert!(c.verified, "{c:#?}");
        assert!(c.issuer.contains("mailtrip embedded test CA"), "{c:#?}");
        assert!(c.names.iter().any(|n| n == "localhost"), "{c:#?}");
        assert!(c.names.iter().any(|n| n == "127.0.0.1"), "{c:#?}");
        assert!(c.days_left > 14, "{c:#?}");
        assert_eq!(c.problem, None);
    }
    let auth = r
        .smtp
        .features
        .iter()
        .find(|f| f.name == "AUTH")
        .expect("AUTH");
    assert!(auth.present, "{:#?}", r.smtp);
    assert!(
        auth.detail.as_deref().is_some_and(|d| d.contains("PLAIN")),
        "{auth:?}"
    );
    assert_eq!(r.smtp.feature("SIZE"), Some(true), "{:#?}", r.smtp);
    assert_eq!(r.smtp.feature("STARTTLS"), Some(true), "{:#?}", r.smtp);
    for cap in ["IDLE", "UIDPLUS", "MOVE", "SPECIAL-USE"] {
        assert_eq!(r.imap.feature(cap), Some(true), "{cap}: {:#?}", r.imap);
    }
    assert!(
        r.imap.capabilities.iter().any(|c| c == "IMAP4rev1"),
        "{r:#?}"
    );
    assert_eq!(server.auth_attempts(), (1, 1), "one AUTH per protocol");
    util::assert_empty(&server, ALICE, "INBOX", "verify sends nothing");
    // The JSON form carries the schema and stable names.
    let json = serde_json::to_value(&r).expect("json");
    assert_eq!(json["schema"], 1);
    assert_eq!(json["status"], "ok");
    assert_eq!(json["smtp"]["steps"][2]["name"], "auth");
}

#[tokio::test]
async fn implicit_tls_smtp_and_starttls_imap_pass_too() {
    let server = util::server().await;
    let smtps = local_smtp(Security::Tls, server.smtps_addr().port());
    let starttls = local_imap(Security::StartTls, server.imap_addr().port());
    let r = verify(alice_at(&server, smtps, starttls)).await;
    assert_eq!(r.exit_code(), 0, "{r:#?}");
    assert_ok(&r.smtp);
    assert_ok(&r.imap);
    assert_eq!(r.smtp.feature("STARTTLS"), Some(false), "not needed on 465");
    assert!(r.imap.certificate.as_ref().is_some_and(|c| c.verified));
}

#[tokio::test]
async fn gmail_profile_finds_its_spam_folder() {
    let server = util::server_with(ServerConfig::default().profile(Profile::Gmail)).await;
    let r = verify(account(&server)).await;
    assert_eq!(r.exit_code(), 0, "{r:#?}");
    assert_eq!(r.junk_folder.as_deref(), Some("[Gmail]/Spam"));
    assert!(r.imap.capabilities.iter().any(|c| c == "X-GM-EXT-1"));
}

/// Regression for the rule "a wrong password must never be retried in a loop".
#[tokio::test]
async fn a_wrong_password_is_auth_rejected_after_exactly_one_attempt_per_protocol() {
    let server = util::server().await;
    let r = verify(Account::embedded(&server, ALICE, "not the password")).await;
    assert_eq!((r.status, r.exit_code()), (Status::Failed, 2), "{r:#?}");
    assert_both_failed(&r, Step::Auth, Code::AuthRejected, ["app password"; 2]);
    assert_eq!(
        server.auth_attempts(),
        (1, 1),
        "no retry of a wrong password"
    );
    assert!(!r.junk_checked && r.junk_folder.is_none());
}

#[tokio::test]
async fn gmail_app_password_required_on_both_protocols() {
    let (server, r) = verify_gmail_refusing(
        gmail::SMTP_APP_PASSWORD_REQUIRED,
        gmail::IMAP_APP_PASSWORD_REQUIRED,
    )
    .await;
    assert_eq!(r.exit_code(), 2);
    assert_gmail_refused(
        &r,
        Code::AppPasswordRequired,
        "myaccount.google.com/apppasswords",
        "https://support.google.com/accounts/answer/185833",
    );
    for p in [&r.smtp, &r.imap] {
        let d = &p.error.as_ref().expect("error").diagnosis;
        assert!(
            d.server_text
                .as_deref()
                .is_some_and(|t| t.contains("Application-specific password required")),
            "{d:#?}"
        );
    }
    assert_eq!(server.auth_attempts(), (1, 1));
}

#[tokio::test]
async fn gmail_web_login_required_on_both_protocols() {
    let (_server, r) = verify_gmail_refusing(
        gmail::SMTP_WEB_LOGIN_REQUIRED,
        gmail::IMAP_WEB_LOGIN_REQUIRED,
    )
    .await;
    assert_gmail_refused(
        &r,
        Code::WebLoginRequired,
        "browser",
        "https://support.google.com/mail/answer/78754",
    );
}

#[tokio::test]
async fn too_many_imap_connections() {
    let (_server, r) = verify_against(ServerConfig::default().faults(Faults {
        max_imap_connections: Some(0),
        ..Faults::default()
    }))
    .await;
    assert_ok(&r.smtp);
    let hint = assert_failed(&r.imap, Step::Auth, Code::TooManyConnections);
    assert!(hint.contains("15 IMAP connections"), "{hint}");
    assert_eq!(r.exit_code(), 2);
}

#[tokio::test]
async fn connection_refused_on_both() {
    let server = util::server().await;
    let port = util::free_port();
    let smtp = Endpoint::new(Protocol::Smtp, Security::Tls, "127.0.0.1", port);
    let imap = Endpoint::new(Protocol::Imap, Security::Tls, "127.0.0.1", port);
    let r = verify(alice_at(&server, smtp, imap)).await;
    assert_both_failed(&r, Step::Connect, Code::ConnectRefused, ["port"; 2]);
    assert_eq!(server.auth_attempts(), (0, 0));
}

/// A server that accepts and never says a word: the greeting (SMTP, STARTTLS mode) and the TLS
/// handshake (IMAP, implicit TLS) time out.
#[tokio::test]
async fn a_silent_server_times_out() {
    let server = util::server().await;
    let (port, hold) = silent_port().await;
    let (starttls, tls) = (
        local_smtp(Security::StartTls, port),
        local_imap(Security::Tls, port),
    );
    let r = scenario::verify(alice_at(&server, starttls, tls), Duration::from_millis(300)).await;
    hold.abort();
    let hint = assert_failed(&r.smtp, Step::Connect, Code::Timeout);
    assert!(hint.contains("timeout"), "{hint}");
    assert_failed(&r.imap, Step::Tls, Code::Timeout);
}

#[tokio::test]
async fn implicit_tls_against_starttls_ports_is_a_mode_mismatch() {
    let server = util::server().await;
    let imap_port = server.imap_addr().port();
    let smtp_tls = local_smtp(Security::Tls, server.submission_addr().port());
    let r = verify(alice_at(
        &server,
        smtp_tls,
        local_imap(Security::Tls, imap_port),
    ))
    .await;
    let hints = [
        util::smtp_url(&server),
        format!("imap+starttls://localhost:{imap_port}"),
    ];
    assert_both_failed(&r, Step::Tls, Code::TlsModeMismatch, hints);
    assert_eq!(server.auth_attempts(), (0, 0));
}

#[tokio::test]
async fn starttls_against_implicit_tls_ports_is_a_mode_mismatch() {
    let server = util::server().await;
    let smtps = server.smtps_addr().port();
    let imap_starttls = local_imap(Security::StartTls, server.imaps_addr().port());
    let a = alice_at(
        &server,
        local_smtp(Security::StartTls, smtps),
        imap_starttls,
    );
    // The timeout is a budget for the whole run (issue #13 item 10): the TLS sniff after the
    // missing greeting must fit in it, alongside the greeting wait.
    let r = scenario::verify(a, Duration::from_secs(2)).await;
    let hints = [
        format!("smtps://localhost:{smtps}"),
        util::imap_url(&server),
    ];
    assert_both_failed(&r, Step::Connect, Code::TlsModeMismatch, hints);
}

/// Plaintext URLs to loopback are allowed, but the server only takes a login after STARTTLS.
#[tokio::test]
async fn plaintext_urls_get_starttls_unavailable_before_any_password_is_sent() {
    let server = util::server().await;
    let smtp_plain = local_smtp(Security::Plain, server.submission_addr().port());
    let imap_plain = local_imap(Security::Plain, server.imap_addr().port());
    let r = verify(alice_at(&server, smtp_plain, imap_plain)).await;
    let hints = ["smtp+starttls://", "imaps://"];
    assert_both_failed(&r, Step::Auth, Code::StarttlsUnavailable, hints);
    // SMTP never sent AUTH (nothing offered); IMAP's LOGIN was refused before checking it.
    assert_eq!(server.auth_attempts().0, 0);
    assert!(
        r.warnings.iter().any(|w| w.contains("not encrypted")),
        "{r:#?}"
    );
}

#[tokio::test]
async fn an_expired_certificate_is_invalid_with_its_reason_and_dates() {
    for c in assert_bad_cert(CertKind::Expired, CertProblem::Expired, "renew").await {
        assert!(!c.verified && c.days_left < 0, "{c:#?}");
        assert!(c.not_after.starts_with("2021-01-01"), "{c:#?}");
    }
}

#[tokio::test]
async fn a_wrong_name_certificate_is_invalid_and_shows_its_names() {
    for c in assert_bad_cert(CertKind::WrongName, CertProblem::WrongName, "host name").await {
        assert_eq!(c.names, ["wrong.example"], "{c:#?}");
    }
}

#[tokio::test]
async fn a_certificate_expiring_soon_is_a_warning() {
    let (_server, r) = verify_with_cert(CertKind::ExpiringSoon).await;
    assert_ok(&r.smtp);
    assert_ok(&r.imap);
    assert_eq!((r.status, r.exit_code()), (Status::Warning, 1), "{r:#?}");
    for (name, p) in r.protocols() {
        let c = p.certificate.as_ref().expect("certificate");
        assert!(c.verified && (0..14).contains(&c.days_left), "{c:#?}");
        let label = name.to_ascii_uppercase();
        assert!(
            r.warnings
                .iter()
                .any(|w| w.contains(&format!("{label} server's certificate expires in"))),
            "{r:#?}"
        );
    }
}

#[tokio::test]
async fn xoauth2_works_on_both_protocols_and_a_bad_token_is_rejected() {
    let server = util::server().await;
    server
        .add_oauth_token(ALICE, "ya29.good-token")
        .expect("token");
    let mut a = account(&server);
    a.credential = Credential::OAuth2Token(SecretString::from("ya29.good-token"));
    let r = verify(a.clone()).await;
    assert_eq!(r.exit_code(), 0, "{r:#?}");
    assert_eq!(r.auth, "oauth2");
    assert!(
        r.smtp
            .step(Step::Auth)
            .is_some_and(|s| s.detail.contains("XOAUTH2")),
        "{r:#?}"
    );
    assert!(
        r.imap
            .step(Step::Auth)
            .is_some_and(|s| s.detail.contains("XOAUTH2")),
        "{r:#?}"
    );

    a.credential = Credential::OAuth2Token(SecretString::from("ya29.expired"));
    let r = verify(a).await;
    let refused = "OAuth2 access token was refused";
    assert_both_failed(&r, Step::Auth, Code::AuthRejected, [refused; 2]);
    assert!(
        r.smtp
            .error
            .as_ref()
            .and_then(|e| e.diagnosis.server_text.as_deref())
            .is_some_and(|t| t.starts_with("535")),
        "the final reply after Gmail's error challenge: {r:#?}"
    );
    assert!(
        !format!("{r:?}").contains("ya29."),
        "the token is not in the report"
    );
}

/// A name under the reserved `.invalid` TLD with an over-long (70-octet) label: glibc refuses
/// to build the query, so resolution fails at once without a packet leaving the machine (a
/// plain `x.invalid` would be sent to the configured nameserver).
#[tokio::test]
async fn an_unresolvable_host_is_dns_failed() {
    let server = util::server().await;
    let host = format!("{}.invalid", "a".repeat(70));
    let smtp = Endpoint::new(Protocol::Smtp, Security::Tls, &host, 465);
    let imap = Endpoint::new(Protocol::Imap, Security::Tls, &host, 993);
    let r = verify(alice_at(&server, smtp, imap)).await;
    assert_both_failed(&r, Step::Connect, Code::DnsFailed, ["host name"; 2]);
}

// --- The binary --------------------------------------------------------------------------------

fn ca_file(server: &TestServer) -> tempfile_path::TempPath {
    tempfile_path::TempPath::write("ca.pem", server.ca_pem())
}

/// A file under the target temp dir, removed on drop; enough for a CA file.
mod tempfile_path {
    use std::path::PathBuf;

    pub struct TempPath(pub PathBuf);

    impl TempPath {
        pub fn write(name: &str, contents: &str) -> TempPath {
            let dir = std::env::temp_dir().join(format!(
                "mailtrip-verify-{}-{}",
                std::process::id(),
                rand_suffix()
            ));
            std::fs::create_dir_all(&dir).expect("temp dir");
            let path = dir.join(name);
            std::fs::write(&path, contents).expect("write");
            TempPath(path)
        }
    }

    impl Drop for TempPath {
        fn drop(&mut self) {
            if let Some(dir) = self.0.parent() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }

    fn rand_suffix() -> u128 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    }
}

/// Runs `mailtrip verify` against `server` as alice with `password`, returns (code, stdout+stderr).
fn run_verify(
    server: &TestServer,
    ca: &std::path::Path,
    password: &str,
    extra: &[&str],
) -> (i32, String) {
    let out = util::mailtrip_command()
        .arg("verify")
        .args([
            "--smtp",
            &util::smtp_url(server),
            "--imap",
            &util::imap_url(server),
            "--user",
            ALICE,
            "--password-env",
            "MAILTRIP_TEST_SECRET",
            "--ca-file",
        ])
        .arg(ca)
        .args(extra)
        .env("MAILTRIP_TEST_SECRET", password)
        .output()
        .expect("run mailtrip");
    let text = util::printed(&out);
    (out.status.code().unwrap_or(-1), text)
}

/// The secrets rule: whatever the format and verbosity, the password is never printed.
#[tokio::test(flavor = "multi_thread")]
async fn the_binary_never_prints_the_password_at_any_verbosity_or_format() {
    let server = util::server().await;
    let ca = ca_file(&server);
    let wrong = "Wr0ng-pa55word-do-not-print";
    for (password, want) in [(PASSWORD, 0), (wrong, 2)] {
        for format in ["human", "json", "junit", "nagios", "prometheus"] {
            let (code, text) = run_verify(
                &server,
                &ca.0,
                password,
                &["-vvv", "--format", format, "--color", "always"],
            );
            assert_eq!(code, want, "{format} with {password:?}:\n{text}");
            assert!(
                !text.contains(password),
                "{format}: password printed:\n{text}"
            );
            assert!(
                !text.contains("Y29ycmVjdCBob3JzZ"),
                "{format}: base64 of the password printed:\n{text}"
            );
            if format == "json" {
                let line = text
                    .lines()
                    .find(|l| l.starts_with('{'))
                    .expect("json line");
                let v: serde_json::Value = serde_json::from_str(line).expect("valid json");
                assert_eq!(v["schema"], 1);
                assert_eq!(v["status"], if want == 0 { "ok" } else { "failed" });
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_prints_a_table_and_diagnosis() {
    let server = util::server().await;
    let ca = ca_file(&server);
    let (code, text) = run_verify(&server, &ca.0, "nope", &["--color", "never"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("✗"), "{text}");
    assert!(text.contains("auth_rejected"), "{text}");
    assert!(text.contains("hint:"), "{text}");
    let (code, text) = run_verify(&server, &ca.0, PASSWORD, &["--color", "never"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("✓") && text.contains("Junk"), "{text}");
}

#[test]
fn the_binary_exits_3_on_a_usage_error() {
    let out = util::mailtrip_command()
        .args(["verify", "--smtp", "http://nope"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(3), "{out:?}");
}

#[test]
fn providers_lists_every_preset_as_a_table_and_as_json() {
    let out = crate::util::run_mailtrip(&["providers", "--color", "never"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    for p in mailtrip::providers::PRESETS {
        assert!(text.contains(p.name), "{} missing:\n{text}", p.name);
        assert!(text.contains(p.smtp), "{}", p.smtp);
    }
    assert!(text.contains("myaccount.google.com/apppasswords"), "{text}");
    assert!(text.contains("office365"), "aliases shown:\n{text}");

    let out = crate::util::run_mailtrip(&["providers", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["schema"], 1);
    let list = v["providers"].as_array().expect("providers array");
    assert_eq!(list.len(), mailtrip::providers::PRESETS.len());
    assert_eq!(list[0]["name"], "gmail");
    assert_eq!(list[0]["smtp"]["security"], "tls");
    assert_eq!(list[0]["smtp"]["port"], 465);
    assert!(list[0]["quirks"].as_array().is_some_and(|q| !q.is_empty()));
}

/// The human table for Gmail's "app password required": code, the server's words, the hint
/// and Google's help link, on both protocols.
#[tokio::test]
async fn the_human_output_shows_diagnosis_hint_and_link() {
    use mailtrip::render::{Style, verify::renderer};
    let (_server, r) = verify_gmail_refusing(
        gmail::SMTP_APP_PASSWORD_REQUIRED,
        gmail::IMAP_APP_PASSWORD_REQUIRED,
    )
    .await;
    let mut out = Vec::new();
    renderer(mailtrip::render::Format::Human, Style::default())
        .render(&r, &mut out)
        .expect("render");
    let text = String::from_utf8(out).expect("utf-8");
    println!("{text}");
    assert_eq!(
        text.matches("app_password_required at auth").count(),
        2,
        "{text}"
    );
    assert_eq!(
        text.matches("see: https://support.google.com/accounts/answer/185833")
            .count(),
        2,
        "{text}"
    );
    assert!(text.contains("hint: Create an app password"), "{text}");
    assert!(text.contains("FAILED: SMTP app_password_required, IMAP app_password_required"));
}
