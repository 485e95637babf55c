//! What `mailtrip server` prints: a human summary on stderr, then one JSON object on the
//! first line of stdout (for scripts: listener addresses, CA file, users, the HTTP API and
//! its auth scheme, faults), which also says the server is ready.

use std::io::Write;
use std::path::Path;

use crate::server::http::{HttpAuth, HttpServer};
use crate::server::{FaultSpec, TestServer};

/// The HTTP side, for the JSON line and the summary.
#[derive(Debug)]
pub struct HttpLine<'a> {
    pub server: &'a HttpServer,
    pub auth: &'a HttpAuth,
    /// A generated token: printed once, on stderr only.
    pub token: Option<&'a str>,
}

/// Prints the JSON line and the summary. The passwords are the test server's own users';
/// the HTTP password never appears, and a generated HTTP token only on stderr.
pub fn announce(
    server: &TestServer,
    ca_path: &Path,
    users: &[(String, String)],
    http: &HttpLine<'_>,
) -> std::io::Result<()> {
    let a = server.addrs();
    let url = http.server.url();
    let http_auth = match http.auth {
        HttpAuth::None => serde_json::json!({"scheme": "none"}),
        HttpAuth::Basic { user, .. } => match http.token {
            Some(_) => {
                serde_json::json!({"scheme": "basic", "user": user, "credentials": "generated token, printed once on stderr"})
            }
            None => {
                serde_json::json!({"scheme": "basic", "user": user, "credentials": "--http-auth"})
            }
        },
    };
    let faults = FaultSpec::from(&server.faults());
    let line = serde_json::json!({
        "smtp": a.smtp.to_string(),
        "submission": a.submission.to_string(),
        "smtps": a.smtps.to_string(),
        "imap": a.imap.to_string(),
        "imaps": a.imaps.to_string(),
        "ca_cert": ca_path.display().to_string(),
        "oauth2": server.oauth2_url(),
        "users": users
            .iter()
            .map(|(address, password)| serde_json::json!({"address": address, "password": password}))
            .collect::<Vec<_>>(),
        "http": http.server.addr().to_string(),
        "web": format!("{url}/"),
        "api": format!("{url}/api/v1"),
        "http_auth": http_auth,
        "catch_all": server.store().auto_creates(),
        "faults": faults,
    });
    // The summary first: a script that waits for the JSON line then finds stderr complete.
    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "mailtrip embedded server ({:?} profile) is up:",
        server.profile()
    )?;
    writeln!(
        err,
        "  smtp        smtp://localhost:{}  (STARTTLS offered; inbound, AUTH optional)",
        a.smtp.port()
    )?;
    writeln!(
        err,
        "  submission  smtp+starttls://localhost:{}  (STARTTLS, then AUTH)",
        a.submission.port()
    )?;
    writeln!(err, "  smtps       smtps://localhost:{}", a.smtps.port())?;
    writeln!(
        err,
        "  imap        imap+starttls://localhost:{}",
        a.imap.port()
    )?;
    writeln!(err, "  imaps       imaps://localhost:{}", a.imaps.port())?;
    writeln!(
        err,
        "  CA cert     {}  (trust it; verification stays on)",
        ca_path.display()
    )?;
    let consent = match http.auth {
        HttpAuth::None => "consent is automatic",
        HttpAuth::Basic { .. } => "consent on /device or /authorize with the HTTP login",
    };
    writeln!(
        err,
        "  oauth2      {}  (devicecode, authorize, token; {consent})",
        server.oauth2_url()
    )?;
    for (address, _) in users {
        writeln!(err, "  user        {address}")?;
    }
    writeln!(err, "  web view    {url}/")?;
    writeln!(err, "  HTTP API    {url}/api/v1  (docs/api.md)")?;
    match (http.auth, http.token) {
        (HttpAuth::Basic { user, .. }, Some(token)) => writeln!(
            err,
            "  HTTP login  user {user}, token {token}  (printed once; Basic or Bearer)"
        )?,
        (HttpAuth::Basic { user, .. }, None) => writeln!(
            err,
            "  HTTP login  user {user} (Basic, password from --http-auth)"
        )?,
        (HttpAuth::None, _) => {}
    }
    if server.store().auto_creates() {
        writeln!(
            err,
            "  recipients  any address (a mailbox per address on first delivery; user+tag@ is user@'s)"
        )?;
    } else {
        writeln!(
            err,
            "  recipients  declared users only (--strict-recipients)"
        )?;
    }
    if faults != FaultSpec::default() {
        let json = serde_json::to_string(&faults).unwrap_or_default();
        writeln!(err, "  faults      {json}")?;
    }
    writeln!(err, "Ctrl-C or SIGTERM stops it.")?;
    err.flush()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}
