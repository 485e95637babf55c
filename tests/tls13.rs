//! Issue 14: the embedded server negotiates TLS 1.3 (it offered only TLS 1.2), still offers
//! TLS 1.2, and verifies against its CA, as independent clients see it: `openssl s_client` and
//! Python's `ssl`.

use crate::imap_raw::{ALICE, ca_file, server_for};
use crate::util::{PASSWORD, succeeded};

/// `openssl s_client -tls1_3 -brief` against `port` (with `-starttls smtp` when asked).
async fn s_client(ca: &std::path::Path, port: u16, starttls: Option<&str>) -> String {
    let mut cmd = tokio::process::Command::new("openssl");
    cmd.args(["s_client", "-tls1_3", "-brief", "-verify_return_error"])
        .args([
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-servername",
            "localhost",
        ])
        .args(["-verify_hostname", "localhost", "-CAfile"])
        .arg(ca);
    if let Some(proto) = starttls {
        cmd.args(["-starttls", proto]);
    }
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("openssl runs");
    // -brief reports the session on stderr.
    crate::util::printed(&out)
}

#[tokio::test]
async fn issue14_openssl_s_client_negotiates_tls13_on_imaps_smtps_and_starttls() {
    let Some(server) = server_for("openssl").await else {
        return;
    };
    let ca = ca_file(&server);
    for (what, port, starttls) in [
        ("imaps", server.imaps_addr().port(), None),
        ("smtps", server.smtps_addr().port(), None),
        (
            "submission STARTTLS",
            server.submission_addr().port(),
            Some("smtp"),
        ),
    ] {
        let text = s_client(&ca, port, starttls).await;
        assert!(
            text.contains("Protocol version: TLSv1.3"),
            "{what}: no TLS 1.3:\n{text}"
        );
        assert!(
            text.contains("Verification: OK"),
            "{what}: not verified:\n{text}"
        );
    }
    let _ = std::fs::remove_file(&ca);
}

#[tokio::test]
async fn issue14_python_ssl_gets_tls13_and_can_still_use_tls12() {
    let Some(server) = server_for("python3").await else {
        return;
    };
    let ca = ca_file(&server);
    let script = r#"
import imaplib, smtplib, ssl, sys
ca, imaps, sub, user, pw = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
def ctx(version):
    c = ssl.create_default_context(cafile=ca)
    c.minimum_version = c.maximum_version = version
    return c
for v in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
    m = imaplib.IMAP4_SSL('localhost', imaps, ssl_context=ctx(v))
    m.login(user, pw)
    print('imaps', m.sock.version())
    m.logout()
    s = smtplib.SMTP('localhost', sub, timeout=15)
    s.starttls(context=ctx(v))
    s.login(user, pw)
    print('starttls', s.sock.version())
    s.quit()
"#;
    let out = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&ca)
        .arg(server.imaps_addr().port().to_string())
        .arg(server.submission_addr().port().to_string())
        .args([ALICE, PASSWORD])
        .output()
        .await
        .expect("python3 runs");
    let _ = std::fs::remove_file(&ca);
    let stdout = String::from_utf8_lossy(&out.stdout);
    succeeded("python", &out);
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "imaps TLSv1.3",
            "starttls TLSv1.3",
            "imaps TLSv1.2",
            "starttls TLSv1.2"
        ]
    );
}
