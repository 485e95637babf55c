//! Issue #15: the embedded IMAP server behaves like a real one, as Dovecot's imaptest
//! measures. Each test is a byte-level exchange over a real TLS socket, named after the
//! issue item it holds in place, one file per area (FETCH, mailboxes, search, protocol, the
//! Gmail profile); imaptest's own fixtures are used where the issue points at one, and
//! `clients` drives Python's imapclient / imaplib as independent clients.

mod clients;
mod fetch;
mod gmail;
mod mailboxes;
mod protocol;
mod search;

/// imaptest's fetch-body-mime message: a multipart with a text part and an attached
/// message that is itself multipart/alternative.
const NESTED: &str = "From: user@domain.org\r\nDate: Sat, 24 Mar 2007 23:00:00 +0200\r\nMime-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"foo\r\n bar\"\r\n\r\nRoot MIME prologue\r\n\r\n--foo bar\r\nContent-Type: text/x-myown; charset=us-ascii\r\n\r\nhello\r\n\r\n--foo bar\r\nContent-Type: message/rfc822\r\n\r\nFrom: sub@domain.org\r\nDate: Sun, 12 Aug 2012 12:34:56 +0300\r\nSubject: submsg\r\nContent-Type: multipart/alternative; boundary=\"sub1\"\r\n\r\nSub MIME prologue\r\n--sub1\r\nContent-Type: text/html\r\n\r\n<p>Hello world</p>\r\n\r\n--sub1\r\nContent-Type: text/plain\r\n\r\nHello another world\r\n\r\n--sub1--\r\nSub MIME epilogue\r\n\r\n--foo bar--\r\nRoot MIME epilogue\r\n";

/// A message whose body is an attached message whose body is an attached message.
const RFC822_X2: &str = "From: user@domain.org\r\nContent-Type: message/rfc822\r\n\r\nFrom: user2@domain.org\r\nContent-Type: message/rfc822\r\n\r\nFrom: sub@domain.org\r\nSubject: submsg\r\n\r\nHello world\r\n";

/// A mail with a PDF-ish attachment, as mail clients send it.
const WITH_ATTACHMENT: &str = "From: Alice <alice@mailtrip.test>\r\nTo: bob@mailtrip.test\r\nSubject: report\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee attached.\r\n--b1\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"report.pdf\"\r\n\r\nJVBERi0xLjQKJcfsj6IKMSAwIG9iago8PCAvVHlw\r\nZSAvQ2F0YWxvZyA+PgplbmRvYmoK\r\n--b1--\r\n";

/// The UIDVALIDITY of alice's mailbox `name`, which must exist.
fn uid_validity(server: &mailtrip::server::TestServer, name: &str) -> u32 {
    server
        .store()
        .status(crate::imap_raw::ALICE, name)
        .expect("the mailbox exists")
        .uid_validity
}

/// `s` as an IMAP literal.
fn literal(s: &str) -> String {
    format!("{{{}}}\r\n{s}", s.len())
}
