//! Issue #15 through independent clients: Python's imapclient and imaplib find the attachment
//! BODYSTRUCTURE names and download it.

use mailtrip::server::{Profile, ServerConfig};

use super::*;
use crate::imap_raw::{ALICE, missing, python_client, server_for};
use crate::util::server_with;

/// Python's imapclient (pip) finds the attachment in BODYSTRUCTURE and downloads it; the
/// same path imapflow, curl and imapclient users broke on when BODY[n] was NIL.
#[tokio::test]
async fn issue_15_imapclient_downloads_the_attachment_bodystructure_names() {
    if missing("python3") {
        return;
    }
    let has_imapclient = std::process::Command::new("python3")
        .args(["-c", "import imapclient"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_imapclient {
        eprintln!("python imapclient not installed (pip install imapclient); skipping");
        return;
    }
    let server = server_with(ServerConfig::default().profile(Profile::Standard)).await;
    server
        .deliver_raw(ALICE, "INBOX", WITH_ATTACHMENT.as_bytes())
        .expect("seed");
    let script = r#"
import base64, ssl, sys
from imapclient import IMAPClient
ca, port, user, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
with IMAPClient('localhost', port=port, ssl=True, ssl_context=ssl.create_default_context(cafile=ca)) as c:
    c.login(user, pw)
    c.select_folder('INBOX', readonly=True)
    uid = c.search(['ALL'])[0]
    bs = c.fetch([uid], ['BODYSTRUCTURE'])[uid][b'BODYSTRUCTURE']
    assert bs.is_multipart, bs
    parts, subtype = bs[0], bs[1]
    assert subtype == b'mixed', subtype
    found = None
    for n, p in enumerate(parts, 1):
        disposition = p[8] if len(p) > 8 else None
        if disposition and disposition[0].lower() == b'attachment':
            found = (n, p)
    assert found, parts
    n, p = found
    assert (p[0], p[1], p[5]) == (b'application', b'pdf', b'base64'), p
    section = 'BODY[%d]' % n
    data = c.fetch([uid], [section.replace('BODY', 'BODY.PEEK')])[uid][section.encode()]
    name = dict(zip(p[2][::2], p[2][1::2]))[b'name'].decode()
    sys.stdout.write(name + '\n')
    sys.stdout.buffer.write(base64.b64decode(data))
"#;
    let stdout = python_client(&server, script).await;
    assert_eq!(
        stdout,
        b"report.pdf\n%PDF-1.4\n%\xc7\xec\x8f\xa2\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
    );
}

/// The same download with the standard library's imaplib, which any CI has.
#[tokio::test]
async fn issue_15_imaplib_downloads_body_part_2() {
    let Some(server) = server_for("python3").await else {
        return;
    };
    server
        .deliver_raw(ALICE, "INBOX", WITH_ATTACHMENT.as_bytes())
        .expect("seed");
    let script = r#"
import base64, imaplib, ssl, sys
ca, port, user, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
m = imaplib.IMAP4_SSL('localhost', port, ssl_context=ssl.create_default_context(cafile=ca))
m.login(user, pw)
m.select('INBOX', readonly=True)
typ, data = m.fetch('1', '(BODYSTRUCTURE)')
assert typ == 'OK' and b'"attachment" ("filename" "report.pdf")' in data[0], data
typ, data = m.fetch('1', '(BODY.PEEK[2])')
assert typ == 'OK', (typ, data)
sys.stdout.buffer.write(base64.b64decode(data[0][1]))
m.logout()
"#;
    let stdout = python_client(&server, script).await;
    assert_eq!(
        stdout,
        b"%PDF-1.4\n%\xc7\xec\x8f\xa2\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
    );
}
