//! Issue 16 through the `mailtrip server` binary and the clients a Python project uses: a
//! Flask-Mail-like smtplib send to an undeclared address found by the HTTP API's wait,
//! imaplib reading it as README says, faults from flags and a TOML file, strict recipients,
//! and credentials on the HTTP side once it may be reached from elsewhere.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;

use crate::cli::ServerProcess;
use crate::http_api::request;
use crate::util;

/// The README's helpers ("Catch your app's mail while developing"), then a Flask-Mail-like
/// send: STARTTLS on the submission port trusting the printed CA, any login, any recipient.
const SEND_AND_WAIT: &str = r#"
import json, smtplib, ssl, sys, urllib.parse, urllib.request
from email.message import EmailMessage

MAILTRIP = sys.argv[1]                  # "api" from mailtrip server's JSON line
SUBMISSION_PORT, CA = int(sys.argv[2]), sys.argv[3]

def wait_for_mail(to, timeout="10s", **criteria):
    query = urllib.parse.urlencode({"to": to, "wait": timeout, "existing": "true", **criteria})
    with urllib.request.urlopen(f"{MAILTRIP}/messages?{query}") as r:
        return json.load(r)["messages"][0]

def message(id):
    with urllib.request.urlopen(f"{MAILTRIP}/messages/{id}") as r:
        return json.load(r)

# What Flask-Mail does with MAIL_SERVER=localhost, MAIL_PORT=<submission>, MAIL_USE_TLS=True.
msg = EmailMessage()
msg["From"], msg["To"], msg["Subject"] = "app@dev.test", "someone+x@example.com", "Confirm your address"
msg.set_content("Click https://app.test/confirm?token=t0k3n to confirm.")
with smtplib.SMTP("localhost", SUBMISSION_PORT, timeout=10) as s:
    s.starttls(context=ssl.create_default_context(cafile=CA))
    s.login("app@dev.test", "any password")
    refused = s.send_message(msg)
    assert refused == {}, refused

mail = wait_for_mail("someone@example.com", subject="Confirm")
detail = message(mail["id"])
assert detail["delivered_to"] == "someone+x@example.com", detail
assert "https://app.test/confirm?token=t0k3n" in detail["links"], detail["links"]
print(json.dumps({"id": mail["id"], "mailbox": mail["mailbox"]}))
"#;

/// The README's IMAP recipe: log in as the address (any password), search, fetch.
const READ_OVER_IMAP: &str = r#"
import imaplib, ssl, sys
port, ca, address = int(sys.argv[1]), sys.argv[2], sys.argv[3]
m = imaplib.IMAP4_SSL("localhost", port, ssl_context=ssl.create_default_context(cafile=ca))
m.login(address, "anything")
m.select("INBOX")
typ, data = m.search(None, "SUBJECT", "Confirm")
assert typ == "OK" and len(data[0].split()) == 1, data
typ, data = m.fetch(data[0].split()[0], "(BODY.PEEK[])")
sys.stdout.buffer.write(data[0][1])
m.logout()
"#;

fn python(script: &str, args: &[String]) -> std::process::Output {
    std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 runs (apt-get install python3)")
}

/// Python's smtplib sends `message` from `from` to `to` through the server's SMTP port;
/// returns `accepted`, or the reply code that refused the recipient.
fn smtplib_send(server: &ServerProcess, from: &str, to: &str, message: &str) -> String {
    let script = r#"
import smtplib, sys
port, sender, rcpt, message = sys.argv[1:5]
with smtplib.SMTP("localhost", int(port), timeout=10) as s:
    try:
        s.sendmail(sender, [rcpt], message.encode())
        print("accepted")
    except smtplib.SMTPRecipientsRefused as e:
        print(e.recipients[rcpt][0])
"#;
    let args = [
        server.port("smtp").to_string(),
        from.into(),
        to.into(),
        message.into(),
    ];
    let out = python(script, &args);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn http_addr(server: &ServerProcess) -> SocketAddr {
    server.info["http"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .expect("http address in the JSON line")
}

#[test]
fn issue16_python_smtplib_to_an_undeclared_address_is_found_by_the_api_wait() {
    let server = ServerProcess::start(&[]);
    assert_eq!(server.info["catch_all"], true);
    assert_eq!(server.info["http_auth"]["scheme"], "none");
    let api = server.info["api"].as_str().expect("api URL").to_string();
    assert!(api.starts_with("http://127.0.0.1:"), "{api}");
    let out = python(
        SEND_AND_WAIT,
        &[api, server.port("submission").to_string(), server.ca()],
    );
    util::succeeded("python", &out);
    let found: serde_json::Value = serde_json::from_slice(&out.stdout).expect("python's JSON");
    assert_eq!(found["mailbox"], "someone@example.com");
}

#[test]
fn issue16_python_imaplib_reads_the_caught_mail_as_the_readme_says() {
    let server = ServerProcess::start(&[]);
    let api = server.info["api"].as_str().expect("api URL").to_string();
    let sent = python(
        SEND_AND_WAIT,
        &[api, server.port("submission").to_string(), server.ca()],
    );
    util::succeeded("python", &sent);
    for login in ["someone@example.com", "someone+x@example.com"] {
        let out = python(
            READ_OVER_IMAP,
            &[
                server.port("imaps").to_string(),
                server.ca(),
                login.to_string(),
            ],
        );
        assert!(
            out.status.success(),
            "imaplib as {login}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let raw = String::from_utf8_lossy(&out.stdout);
        assert!(raw.contains("Subject: Confirm your address"), "{raw}");
        assert!(raw.contains("for <someone+x@example.com>;"), "{raw}");
    }
}

#[tokio::test]
async fn issue16_faults_come_from_flags_over_a_toml_file() {
    let file = util::temp_file(
        "faults.toml",
        b"greylist = true\njunk_rule = \"[promo]\"\ndelivery_delay = \"0s..50ms\"\n",
    );
    let path = file.display().to_string();
    let server = ServerProcess::start(&["--faults", &path, "--fault", "junk_rule=[ads]"]);
    let want = serde_json::json!({
        "delivery_delay": "0s..50ms", "greylist": true, "junk_rule": "[ads]"
    });
    assert_eq!(server.info["faults"], want, "the flag overrides the file");
    let got = request(http_addr(&server), "GET", "/api/v1/faults", &[], b"").await;
    assert_eq!(got.json(), want);
    let ads = "Subject: [ads] deals\r\n\r\nbuy\r\n";
    let send = || smtplib_send(&server, "shop@x.test", "c@example.com", ads);
    assert_eq!(send(), "451", "greylisted");
    assert_eq!(send(), "accepted");
    let junk = request(
        http_addr(&server),
        "GET",
        "/api/v1/messages?folder=Junk&subject=deals&wait=10s&existing=true",
        &[],
        b"",
    )
    .await;
    assert_eq!(junk.status, 200, "the junk rule filed it in Junk");
}

#[test]
fn issue16_a_bad_fault_is_a_usage_error_naming_the_key() {
    for (args, says) in [
        (vec!["--fault", "drop_percent=150"], "drop_percent"),
        (vec!["--fault", "greylsit"], "greylsit"),
        (
            vec!["--faults", "/nonexistent/faults.toml"],
            "/nonexistent/faults.toml",
        ),
    ] {
        let out = util::mailtrip_command()
            .arg("server")
            .args(&args)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn issue16_strict_recipients_flag_restores_the_550() {
    let server = ServerProcess::start(&["--strict-recipients"]);
    assert_eq!(server.info["catch_all"], false);
    let sent = smtplib_send(
        &server,
        "app@dev.test",
        "new-user+123@example.com",
        "Subject: x\r\n\r\nx\r\n",
    );
    assert_eq!(sent, "550");
}

/// With `--allow-remote` (bound to loopback here: tests never listen beyond), the HTTP side
/// wants the token printed once on stderr; the JSON line names the scheme, not the secret.
#[tokio::test]
async fn issue16_allow_remote_makes_the_http_side_require_credentials() {
    let mut server = ServerProcess::start(&["--allow-remote"]);
    let auth = &server.info["http_auth"];
    assert_eq!(auth["scheme"], "basic");
    assert_eq!(auth["user"], "mailtrip");
    let stderr = server.child.stderr.take().expect("stderr");
    let token = BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| {
            let rest = l.split_once(", token ")?.1;
            Some(rest.split_whitespace().next()?.to_string())
        })
        .expect("a token line on stderr");
    assert!(token.len() >= 32, "{token}");
    assert!(
        !server.info.to_string().contains(&token),
        "the token is not in the JSON line"
    );
    let a = http_addr(&server);
    let anon = request(a, "GET", "/api/v1/messages", &[], b"").await;
    assert_eq!(anon.status, 401);
    assert_eq!(anon.json()["error"], "unauthorized");
    assert_eq!(request(a, "GET", "/", &[], b"").await.status, 401);
    let bearer = format!("Bearer {token}");
    let ok = request(
        a,
        "GET",
        "/api/v1/messages",
        &[("Authorization", &bearer)],
        b"",
    )
    .await;
    assert_eq!(ok.status, 200);

    // Auto-created mailboxes open with the token, not with any password.
    let script = r#"
import imaplib, ssl, sys
port, ca, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
m = imaplib.IMAP4_SSL("localhost", port, ssl_context=ssl.create_default_context(cafile=ca))
try:
    m.login("dev@example.com", password)
    print("in")
except imaplib.IMAP4.error:
    print("refused")
"#;
    let imaps = server.port("imaps").to_string();
    let guess = python(script, &[imaps.clone(), server.ca(), "guess".into()]);
    assert_eq!(String::from_utf8_lossy(&guess.stdout).trim(), "refused");
    let right = python(script, &[imaps, server.ca(), token]);
    assert_eq!(String::from_utf8_lossy(&right.stdout).trim(), "in");
}

#[tokio::test]
async fn issue16_http_auth_flag_wants_basic_and_never_prints_the_password() {
    let mut server = ServerProcess::start(&["--http-auth", "dev:http-s3cret-pw"]);
    assert_eq!(server.info["http_auth"]["scheme"], "basic");
    assert_eq!(server.info["http_auth"]["user"], "dev");
    assert!(!server.info.to_string().contains("http-s3cret-pw"));
    let a = http_addr(&server);
    assert_eq!(
        request(a, "GET", "/api/v1/info", &[], b"").await.status,
        401
    );
    // dev:http-s3cret-pw
    let basic = "Basic ZGV2Omh0dHAtczNjcmV0LXB3";
    let ok = request(a, "GET", "/api/v1/info", &[("Authorization", basic)], b"").await;
    assert_eq!(ok.status, 200);
    let _ = server.child.kill();
    let mut err = String::new();
    if let Some(mut e) = server.child.stderr.take() {
        std::io::Read::read_to_string(&mut e, &mut err).expect("stderr");
    }
    assert!(!err.contains("http-s3cret-pw"), "{err}");
    assert!(err.contains("HTTP login  user dev"), "{err}");
}

/// Runs `mailtrip load` against the embedded server (no account configured) with `--html`;
/// returns the report file's path and the JSON report.
pub(crate) fn load_with_html(name: &str) -> (std::path::PathBuf, serde_json::Value) {
    let dir = util::scratch_dir(name);
    let page = dir.join(format!("{name}.html"));
    let out = util::mailtrip_command()
        .args([
            "load",
            "--probes",
            "40",
            "--concurrency",
            "8",
            "--format",
            "json",
            "--html",
        ])
        .arg(&page)
        .env("HOME", &dir)
        .env("XDG_CONFIG_HOME", &dir)
        .current_dir(&dir)
        .output()
        .expect("run mailtrip load");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = serde_json::from_slice(&out.stdout).expect("JSON report");
    (page, report)
}

#[test]
fn issue16_load_html_writes_a_self_contained_report_with_its_timeline() {
    let (page, report) = load_with_html("load-report");
    let timeline = &report["timeline"];
    let sent: u64 = timeline["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .filter_map(|b| b["sent"].as_u64())
        .sum();
    assert_eq!(sent, 40, "every send is in a bucket");
    assert_eq!(
        timeline["latencies"].as_array().map(Vec::len),
        Some(40),
        "every delivered probe has a point"
    );
    let html = std::fs::read_to_string(&page).expect("the report was written");
    for id in ["summary", "histogram", "latency-over-time", "per-second"] {
        assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
    }
    assert_eq!(html.matches("class=\"pt\"").count(), 40);
    assert!(!html.contains("<script") && !html.contains("src=\"http"));
}
