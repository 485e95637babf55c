//! `ENVELOPE` (RFC 3501 7.4.2) from a header block: raw (undecoded) strings as Dovecot sends
//! them, address lists from `address`, Sender and Reply-To defaulting to From. Sans I/O.

use super::address::{Address, parse_list};
use super::message;
use super::wire::push_nstring;

fn push_addresses(out: &mut Vec<u8>, list: &[Address]) {
    if list.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for a in list {
        out.push(b'(');
        push_nstring(out, a.name.as_deref().map(str::as_bytes));
        out.push(b' ');
        push_nstring(out, a.route.as_deref().map(str::as_bytes));
        out.push(b' ');
        push_nstring(out, a.mailbox.as_deref().map(str::as_bytes));
        out.push(b' ');
        push_nstring(out, a.host.as_deref().map(str::as_bytes));
        out.push(b')');
    }
    out.push(b')');
}

/// The addresses of the first non-empty field called `name`.
pub fn addresses(header: &[u8], name: &str) -> Vec<Address> {
    message::values(header, name)
        .into_iter()
        .map(|v| parse_list(&v))
        .find(|l| !l.is_empty())
        .unwrap_or_default()
}

/// Appends the parenthesized envelope (without the `ENVELOPE ` label).
pub fn push(out: &mut Vec<u8>, header: &[u8]) {
    let first = |name: &str| message::values(header, name).into_iter().next();
    let nstr = |out: &mut Vec<u8>, v: Option<String>| {
        let v = v.filter(|s| !s.is_empty());
        push_nstring(out, v.as_deref().map(str::as_bytes))
    };
    out.push(b'(');
    nstr(out, first("Date"));
    out.push(b' ');
    nstr(out, first("Subject"));
    let from = addresses(header, "From");
    for name in ["From", "Sender", "Reply-To"] {
        out.push(b' ');
        let list = if name == "From" {
            from.clone()
        } else {
            // RFC 3501 7.4.2: Sender and Reply-To default to From.
            let own = addresses(header, name);
            if own.is_empty() { from.clone() } else { own }
        };
        push_addresses(out, &list);
    }
    for name in ["To", "Cc", "Bcc"] {
        out.push(b' ');
        push_addresses(out, &addresses(header, name));
    }
    out.push(b' ');
    nstr(out, first("In-Reply-To"));
    out.push(b' ');
    nstr(out, first("Message-ID"));
    out.push(b')');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(header: &str) -> String {
        let mut out = Vec::new();
        push(&mut out, header.as_bytes());
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn imaptest_fetch_envelope_groups_and_routes() {
        assert_eq!(
            envelope(
                "Date: Thu, 15 Feb 2007 01:02:03 +0200\r\nFrom: user@domain (Real Name)\r\nTo: group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;\r\nCc: group:;, group2: (foo) ;\r\n\r\n"
            ),
            "(\"Thu, 15 Feb 2007 01:02:03 +0200\" NIL ((\"Real Name\" NIL \"user\" \"domain\")) ((\"Real Name\" NIL \"user\" \"domain\")) ((\"Real Name\" NIL \"user\" \"domain\")) ((NIL NIL \"group\" NIL)(NIL NIL \"g1\" \"d1.org\")(NIL NIL \"g2\" \"d2.org\")(NIL NIL NIL NIL)(NIL NIL \"group2\" NIL)(NIL NIL \"g3\" \"d3.org\")(NIL NIL NIL NIL)) ((NIL NIL \"group\" NIL)(NIL NIL NIL NIL)(NIL NIL \"group2\" NIL)(NIL NIL NIL NIL)) NIL NIL NIL)"
        );
        assert_eq!(
            envelope("From: <@route:user@domain>\r\nSender: \r\n\r\n"),
            "(NIL NIL ((NIL \"@route\" \"user\" \"domain\")) ((NIL \"@route\" \"user\" \"domain\")) ((NIL \"@route\" \"user\" \"domain\")) NIL NIL NIL NIL NIL)"
        );
    }
}
