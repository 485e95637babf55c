//! The IMAP server's own words out of async-imap's errors, which carry them in Rust Debug form
//! (`\u{1b}`, `\0`, `\"`): back to the real characters, so every renderer escapes them the one
//! way it escapes everything (`\x1b`), and JSON carries them as they were sent.

use async_imap::error::Error;

use crate::config::Account;
use crate::diagnose::{Code, Diagnosis};

/// What async-imap's parser puts between its nom error and the unparsable input.
const DURING_PARSING: &str = " during parsing of \"";

/// `s` with Rust's `{:?}` string escapes undone (`\\`, `\"`, `\'`, `\n`, `\r`, `\t`, `\0`,
/// `\u{…}`); anything else stays as written.
pub(crate) fn undebug(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 1..];
        let (c, used) = match tail.chars().next() {
            Some('\\') => (Some('\\'), 1),
            Some('"') => (Some('"'), 1),
            Some('\'') => (Some('\''), 1),
            Some('n') => (Some('\n'), 1),
            Some('r') => (Some('\r'), 1),
            Some('t') => (Some('\t'), 1),
            Some('0') => (Some('\0'), 1),
            Some('u') => match tail.strip_prefix("u{").and_then(|t| t.split_once('}')) {
                Some((hex, _)) => (
                    u32::from_str_radix(hex, 16).ok().and_then(char::from_u32),
                    hex.len() + 3,
                ),
                None => (None, 0),
            },
            _ => (None, 0),
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &tail[used..];
            }
            None => {
                out.push('\\');
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The reply async-imap's parser could not read, as the server sent it (line break trimmed),
/// when that is what `e` is.
fn unparsable_reply(e: &Error) -> Option<String> {
    let Error::Io(io) = e else { return None };
    let text = io.to_string();
    let (_, quoted) = text.split_once(DURING_PARSING)?;
    let reply = undebug(quoted.strip_suffix('"').unwrap_or(quoted));
    Some(reply.trim_end_matches(['\r', '\n']).to_owned())
}

/// Whether `e` is a reply async-imap's parser could not read (not a connection problem).
pub(crate) fn is_unparsable(e: &Error) -> bool {
    unparsable_reply(e).is_some()
}

/// A `server_error` for a reply that breaks the IMAP protocol (mailtrip cannot parse it),
/// quoting the reply; `None` when `e` is something else. The reply is not `server_text`: it
/// proves no refusal (a login answered this way is not "auth failed").
pub(crate) fn protocol_broken(account: &Account, e: &Error) -> Option<Diagnosis> {
    let reply = unparsable_reply(e)?;
    let endpoint = account.imap.authority();
    Some(Diagnosis::new(
        Code::ServerError,
        format!(
            "The IMAP server at {endpoint} sent a reply that breaks the IMAP protocol (it cannot be parsed): {}.",
            reply.trim()
        ),
        "The server, not the network, broke the protocol: send its reply (quoted above) \
               to its administrator; -vv shows the whole exchange."
            .to_owned(),
    ))
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_escapes_are_undone() {
        let raw = "A1 NO Bad\x1b[2J\x1b]0;pwned\x07 \"q\" \\ \u{9b}\u{202e} login\0\r\n";
        assert_eq!(
            undebug(&format!("{raw:?}")[1..format!("{raw:?}").len() - 1]),
            raw
        );
        assert_eq!(undebug("a\\qb\\u{zz}"), "a\\qb\\u{zz}");
    }

    #[test]
    fn the_parsers_error_gives_back_the_reply() {
        let line = "A0001 NO [ALERT] Bad\x1b[2J login\0\r\n";
        let io = std::io::Error::other(format!(
            "Error(Error {{ input: [0, 13, 10], code: Tag }}) during parsing of {line:?}"
        ));
        assert_eq!(
            unparsable_reply(&Error::Io(io)).as_deref(),
            Some("A0001 NO [ALERT] Bad\x1b[2J login\0")
        );
        assert_eq!(unparsable_reply(&Error::ConnectionLost), None);
    }
}
