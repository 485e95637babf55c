//! The commands imap-codec 2.0.0-alpha.10 does not parse, read with the `args` tokenizer, sans
//! I/O: here, any command whose quoted strings carry UTF-8 (rewritten into literals, which
//! imap-codec then decodes after all); one file per extension: [`search`] (SEARCH / SORT with
//! `RETURN (...)`: ESEARCH, ESORT, CONTEXT=SEARCH; X-GM keys), [`list`] (LIST-EXTENDED) and
//! [`append`] (MULTIAPPEND, CATENATE).

mod append;
mod list;
mod search;

use imap_codec::CommandCodec;
use imap_codec::decode::Decoder;
use imap_codec::imap_types::IntoStatic;
use imap_codec::imap_types::command::{Command, CommandBody};
use imap_codec::imap_types::core::Charset;
use imap_codec::imap_types::extensions::sort::SortCriterion;
use imap_codec::imap_types::search::SearchKey;

pub use append::AppendMessage;
pub use list::ListCommand;
pub use search::ReturnOpts;

use super::args::{Arg, Token, tokenize};
use super::gmail::{self, GmItem, GmKey};
use crate::server::FlagOp;

/// What the pre-parse made of a line imap-codec refused.
#[derive(Debug)]
pub enum Parsed {
    /// imap-codec decoded it after UTF-8 quoted strings became literals.
    Codec(Command<'static>),
    /// An extension command.
    Ext { tag: String, cmd: ExtCommand },
    /// A known extension verb with bad arguments: the tagged BAD text.
    Bad { tag: String, text: String },
}

/// An extension command.
#[derive(Debug)]
pub enum ExtCommand {
    Search {
        uid: bool,
        /// `None`: a plain SEARCH (with X-GM-EXT-1 keys).
        ret: Option<ReturnOpts>,
        charset: Option<Charset<'static>>,
        criteria: Vec<SearchKey<'static>>,
        gmail: Vec<GmKey>,
    },
    /// FETCH with X-GM-EXT-1 items; `body` is the rest as imap-codec read it.
    Fetch {
        body: CommandBody<'static>,
        gmail: Vec<GmItem>,
        /// UID was only added to have an item list imap-codec accepts.
        drop_uid: bool,
    },
    /// `STORE set [+|-]X-GM-LABELS[.SILENT] (labels)`.
    StoreLabels {
        uid: bool,
        set: imap_codec::imap_types::sequence::SequenceSet,
        op: FlagOp,
        silent: bool,
        labels: Vec<String>,
    },
    Sort {
        uid: bool,
        ret: ReturnOpts,
        criteria: Vec<SortCriterion>,
        search: Vec<SearchKey<'static>>,
    },
    List(ListCommand),
    Append {
        mailbox: Vec<u8>,
        messages: Vec<AppendMessage>,
    },
    /// `CANCELUPDATE "tag" ...` (RFC 5267).
    CancelUpdate(Vec<String>),
}

/// Verbs this server knows, for telling a syntax error from an unknown command.
const KNOWN_VERBS: &[&str] = &[
    "CAPABILITY",
    "NOOP",
    "LOGOUT",
    "STARTTLS",
    "AUTHENTICATE",
    "LOGIN",
    "SELECT",
    "EXAMINE",
    "CREATE",
    "DELETE",
    "RENAME",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "LIST",
    "LSUB",
    "STATUS",
    "APPEND",
    "CHECK",
    "CLOSE",
    "EXPUNGE",
    "SEARCH",
    "FETCH",
    "STORE",
    "COPY",
    "UID",
    "IDLE",
    "MOVE",
    "ID",
    "ENABLE",
    "NAMESPACE",
    "UNSELECT",
    "SORT",
    "THREAD",
    "CANCELUPDATE",
];

/// The reply to a line nobody could parse: `BAD Syntax error in UID SEARCH` names the
/// command as the client wrote it; an unknown verb, or no tag at all, says so.
pub fn bad_command(tag: Option<&str>, first: &str, second: &str) -> String {
    let name = if first == "UID" && KNOWN_VERBS.contains(&second) {
        format!("UID {second}")
    } else {
        first.to_string()
    };
    let text = if KNOWN_VERBS.contains(&first) {
        format!("BAD Syntax error in {name}")
    } else {
        "BAD Unknown command".to_string()
    };
    match tag {
        Some(tag) => format!("{tag} {text}\r\n"),
        None => "* BAD Invalid tag or command\r\n".to_string(),
    }
}

pub(super) fn decode(bytes: &[u8]) -> Option<Command<'static>> {
    match CommandCodec::default().decode(bytes) {
        Ok((b"", cmd)) => Some(cmd.into_static()),
        _ => None,
    }
}

/// Rewrites quoted strings and atoms holding 8-bit bytes into non-synchronizing literals;
/// `None` when there are none.
fn literalize(bytes: &[u8], tokens: &[Token]) -> Option<Vec<u8>> {
    fn collect(tokens: &[Token], spans: &mut Vec<(std::ops::Range<usize>, Vec<u8>)>) {
        for t in tokens {
            match &t.arg {
                // Quoted strings, and atoms too (Dovecot reads 8-bit atoms as strings).
                Arg::Quoted(q) | Arg::Atom(q) if !q.is_ascii() => {
                    spans.push((t.span.clone(), q.clone()))
                }
                Arg::List(l) => collect(l, spans),
                _ => {}
            }
        }
    }
    let mut spans = Vec::new();
    collect(tokens, &mut spans);
    if spans.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() + 16 * spans.len());
    let mut at = 0;
    for (span, data) in spans {
        out.extend_from_slice(&bytes[at..span.start]);
        out.extend_from_slice(format!("{{{}+}}\r\n", data.len()).as_bytes());
        out.extend_from_slice(&data);
        at = span.end;
    }
    out.extend_from_slice(&bytes[at..]);
    Some(out)
}

/// Parses a command imap-codec refused; `None` when it is not one of ours either.
pub fn parse(bytes: &[u8]) -> Option<Parsed> {
    let tokens = tokenize(bytes).ok()?;
    if let Some(rewritten) = literalize(bytes, &tokens) {
        if let Some(cmd) = decode(&rewritten) {
            return Some(Parsed::Codec(cmd));
        }
        let tokens = tokenize(&rewritten).ok()?;
        return parse_tokens(&rewritten, &tokens);
    }
    parse_tokens(bytes, &tokens)
}

fn parse_tokens(bytes: &[u8], t: &[Token]) -> Option<Parsed> {
    let tag = match t.first().map(|t| &t.arg) {
        Some(Arg::Atom(a)) => String::from_utf8_lossy(a).into_owned(),
        _ => return None,
    };
    let mut i = 1;
    let uid = t.get(i).is_some_and(|x| x.arg.is_atom("UID"));
    if uid {
        i += 1;
    }
    let verb = t.get(i)?.arg.atom_upper()?;
    let bad = |text: &str| {
        Some(Parsed::Bad {
            tag: tag.clone(),
            text: text.to_string(),
        })
    };
    let ext = |cmd| {
        Some(Parsed::Ext {
            tag: tag.clone(),
            cmd,
        })
    };
    match verb.as_str() {
        "SEARCH" => search::search(bytes, t, i, &tag, uid),
        "SORT" if t.get(i + 1).is_some_and(|x| x.arg.is_atom("RETURN")) => {
            search::sort(bytes, t, i, &tag, uid)
        }
        "FETCH" => gmail::parse_fetch(bytes, t, i, &tag, uid),
        "STORE" => gmail::parse_store(t, i, &tag, uid),
        "LIST" | "LSUB" if !uid => match list::list(&t[i + 1..], verb == "LSUB") {
            Ok(l) => ext(ExtCommand::List(l)),
            Err(why) => bad(&why),
        },
        "APPEND" if !uid => match append::append(&t[i + 1..]) {
            Ok((mailbox, messages)) => ext(ExtCommand::Append { mailbox, messages }),
            Err(why) => bad(&why),
        },
        // `ID ( "name" "x" )`: imap-codec wants no space inside the parentheses; clients vary.
        "ID" if !uid && t.len() == i + 2 => match &t[i + 1].arg {
            Arg::List(_) => Command::new(tag.clone(), CommandBody::Id { parameters: None })
                .ok()
                .map(Parsed::Codec),
            _ => bad("ID needs a parameter list or NIL"),
        },
        "CANCELUPDATE" if !uid => {
            let tags: Option<Vec<String>> = t[i + 1..]
                .iter()
                .map(|x| match &x.arg {
                    Arg::Quoted(q) => Some(String::from_utf8_lossy(q).into_owned()),
                    _ => None,
                })
                .collect();
            match tags {
                Some(tags) if !tags.is_empty() => ext(ExtCommand::CancelUpdate(tags)),
                _ => bad("CANCELUPDATE needs quoted tags"),
            }
        }
        _ => None,
    }
}

/// The bytes of `tokens` joined by single spaces, as they were sent.
pub(super) fn join(bytes: &[u8], tokens: &[&Token]) -> Vec<u8> {
    let mut out = Vec::new();
    for (n, t) in tokens.iter().enumerate() {
        if n > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(&bytes[t.span.clone()]);
    }
    out
}

pub(super) fn line(tag: &str, uid: bool, verb: &str, rest: &[u8]) -> Vec<u8> {
    let mut out = format!("{tag} {}{verb} ", if uid { "UID " } else { "" }).into_bytes();
    out.extend_from_slice(rest);
    out.extend_from_slice(b"\r\n");
    out
}

pub(super) fn bad(tag: &str, text: &str) -> Option<Parsed> {
    Some(Parsed::Bad {
        tag: tag.to_string(),
        text: text.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The extension command a line parses to (panics on anything else).
    pub(super) fn ext(line: &[u8]) -> ExtCommand {
        match parse(line) {
            Some(Parsed::Ext { cmd, .. }) => cmd,
            other => panic!("not an extension command: {other:?}"),
        }
    }

    #[test]
    fn utf8_quoted_strings_become_literals() {
        let Some(Parsed::Codec(cmd)) = parse("t SEARCH SUBJECT \"Café\"\r\n".as_bytes()) else {
            panic!("not decoded")
        };
        assert!(matches!(cmd.body, CommandBody::Search { .. }));
        assert!(matches!(
            parse("t SEARCH RETURN (COUNT) SUBJECT \"Café\"\r\n".as_bytes()),
            Some(Parsed::Ext {
                cmd: ExtCommand::Search { .. },
                ..
            })
        ));
    }
}
