//! What `mailtrip server` prints: one JSON object on the first line of stdout (for scripts),
//! then a human summary on stderr.

use std::io::Write;
use std::path::Path;

use crate::server::TestServer;

/// Prints the JSON line and the summary. The passwords are the test server's own users'.
pub fn announce(
    server: &TestServer,
    ca_path: &Path,
    users: &[(String, String)],
) -> std::io::Result<()> {
    let a = server.addrs();
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
    });
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
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
    writeln!(
        err,
        "  oauth2      {}  (devicecode, authorize, token; consent is automatic)",
        server.oauth2_url()
    )?;
    for (address, _) in users {
        writeln!(err, "  user        {address}")?;
    }
    writeln!(err, "Ctrl-C or SIGTERM stops it.")?;
    Ok(())
}
