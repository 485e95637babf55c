//! Every rule checked against real replies: `fixtures/replies/*.txt` hold what servers really
//! said (a short header naming protocol, stage, code or status and the expected diagnosis, then
//! the reply), and each must classify as its header says, with and without reply-code prefixes.

use std::path::Path;

use crate::diagnose::{Code, Diagnosis, Protocol, Stage, classify_imap, classify_smtp};

struct Fixture {
    name: String,
    protocol: Protocol,
    stage: Stage,
    smtp_code: Option<u16>,
    imap_status: Option<String>,
    expect: Code,
    link: Option<String>,
    body: String,
}

fn parse_stage(s: &str) -> Stage {
    match s {
        "greeting" => Stage::Greeting,
        "ehlo" => Stage::Ehlo,
        "starttls" => Stage::StartTls,
        "auth" => Stage::Auth,
        "mail_from" => Stage::MailFrom,
        "rcpt_to" => Stage::RcptTo,
        "data" => Stage::Data,
        "login" => Stage::Login,
        "select" => Stage::Select,
        "other" => Stage::Other,
        other => panic!("unknown stage {other:?}"),
    }
}

fn parse_fixture(path: &Path) -> Fixture {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let raw = std::fs::read_to_string(path).unwrap();
    let (header, body) = raw
        .split_once("\n\n")
        .unwrap_or_else(|| panic!("{name}: no blank line after the header"));
    let mut protocol = None;
    let mut stage = None;
    let mut smtp_code = None;
    let mut imap_status = None;
    let mut expect = None;
    let mut link = None;
    for line in header.lines() {
        let (key, value) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("{name}: bad header line {line:?}"));
        let value = value.trim();
        match key.trim() {
            "protocol" => {
                protocol = Some(match value {
                    "smtp" => Protocol::Smtp,
                    "imap" => Protocol::Imap,
                    other => panic!("{name}: unknown protocol {other:?}"),
                })
            }
            "stage" => stage = Some(parse_stage(value)),
            "code" => smtp_code = Some(value.parse().unwrap()),
            "status" => imap_status = Some(value.to_owned()),
            "expect" => {
                expect = Some(
                    serde_json::from_value(serde_json::Value::String(value.to_owned()))
                        .unwrap_or_else(|e| panic!("{name}: bad expect {value:?}: {e}")),
                )
            }
            "link" => link = Some(value.to_owned()),
            "note" => {}
            other => panic!("{name}: unknown header {other:?}"),
        }
    }
    let protocol = protocol.unwrap_or_else(|| panic!("{name}: missing protocol"));
    match protocol {
        Protocol::Smtp => assert!(smtp_code.is_some(), "{name}: smtp fixture needs code"),
        Protocol::Imap => assert!(imap_status.is_some(), "{name}: imap fixture needs status"),
    }
    Fixture {
        protocol,
        stage: stage.unwrap_or_else(|| panic!("{name}: missing stage")),
        smtp_code,
        imap_status,
        expect: expect.unwrap_or_else(|| panic!("{name}: missing expect")),
        link,
        body: body.trim_end_matches(['\n', '\r']).to_owned(),
        name,
    }
}

/// Drops the "535-" / "535 " prefix of every line, as a client library may already do.
fn strip_reply_codes(text: &str) -> String {
    text.lines()
        .map(|l| match l.as_bytes() {
            [a, b, c, b'-' | b' ', ..]
                if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() =>
            {
                &l[4..]
            }
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn classify_fixture(f: &Fixture, text: &str) -> Diagnosis {
    match f.protocol {
        Protocol::Smtp => classify_smtp(f.stage, f.smtp_code.unwrap(), text),
        Protocol::Imap => classify_imap(f.stage, f.imap_status.as_deref().unwrap(), text),
    }
}

/// Issue 18 item 3: Gmail's real refusals, on either protocol, name a wrong app password
/// and one pasted with spaces among the causes.
#[test]
fn gmail_bad_credentials_name_a_spaced_or_wrong_app_password() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/replies");
    for name in [
        "gmail-smtp-bad-credentials.txt",
        "gmail-imap-authentication-failed.txt",
    ] {
        let f = parse_fixture(&dir.join(name));
        let d = classify_fixture(&f, &f.body);
        assert_eq!(d.code, Code::AuthRejected, "{name}");
        assert!(d.summary.contains("Gmail"), "{name}: {}", d.summary);
        for cause in ["wrong", "revoked", "pasted with spaces", "app password"] {
            assert!(
                d.hint.contains(cause),
                "{name}: {cause:?} not in {}",
                d.hint
            );
        }
    }
    // Dovecot's refusal keeps the generic advice.
    let d = classify_imap(
        Stage::Login,
        "NO",
        "[AUTHENTICATIONFAILED] Authentication failed.",
    );
    assert!(!d.summary.contains("Gmail"), "{}", d.summary);
}

#[test]
fn every_fixture_classifies_as_expected() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/replies");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 30,
        "expected at least 30 fixtures, found {}",
        paths.len()
    );
    let mut failures = Vec::new();
    for path in &paths {
        let f = parse_fixture(path);
        let d = classify_fixture(&f, &f.body);
        if d.code != f.expect {
            failures.push(format!(
                "{}: expected {}, got {} ({})",
                f.name, f.expect, d.code, d.summary
            ));
            continue;
        }
        assert!(!d.summary.trim().is_empty(), "{}: empty summary", f.name);
        assert!(!d.hint.trim().is_empty(), "{}: empty hint", f.name);
        assert_eq!(d.server_text.as_deref(), Some(f.body.trim()), "{}", f.name);
        if let Some(link) = &f.link {
            assert_eq!(d.link.as_deref(), Some(link.as_str()), "{}: link", f.name);
        }
        if f.protocol == Protocol::Smtp {
            let stripped = strip_reply_codes(&f.body);
            let again = classify_fixture(&f, &stripped);
            if again.code != f.expect {
                failures.push(format!(
                    "{} (without reply-code prefixes): expected {}, got {}",
                    f.name, f.expect, again.code
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "fixture mismatches:\n{}",
        failures.join("\n")
    );
}

/// Issue #20: Microsoft's reply once basic SMTP AUTH is off points at `mailtrip login`.
#[test]
fn basic_auth_disabled_hint_points_at_mailtrip_login_issue_20() {
    let d = classify_smtp(
        Stage::Auth,
        550,
        "5.7.30 Basic authentication is not supported for Client Submission",
    );
    assert_eq!(d.code, Code::BasicAuthDisabled);
    assert!(d.hint.contains("mailtrip login"), "{}", d.hint);
    assert!(Code::SignInRequired.is_credential_refusal());
}
