//! The commands imap-codec 2.0.0-alpha.10 does not parse, read with the `args` tokenizer:
//! `SEARCH` / `SORT` with `RETURN (...)` (ESEARCH, ESORT, CONTEXT=SEARCH/SORT), MULTIAPPEND,
//! LIST-EXTENDED, and any command whose quoted strings carry UTF-8 (rewritten into literals,
//! which imap-codec accepts, then decoded by imap-codec after all). Sans I/O.

use imap_codec::CommandCodec;
use imap_codec::decode::Decoder;
use imap_codec::imap_types::IntoStatic;
use imap_codec::imap_types::command::{Command, CommandBody};
use imap_codec::imap_types::core::Charset;
use imap_codec::imap_types::extensions::sort::SortCriterion;
use imap_codec::imap_types::search::SearchKey;

use super::args::{Arg, Token, tokenize};
use super::catenate::CatPart;
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

/// RETURN options of SEARCH / SORT (RFC 4731, RFC 5267).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReturnOpts {
    pub min: bool,
    pub max: bool,
    pub all: bool,
    pub count: bool,
    /// `PARTIAL a:b` (1-based, inclusive, ordered).
    pub partial: Option<(u32, u32)>,
    /// `UPDATE` (CONTEXT=SEARCH): keep reporting changes until CANCELUPDATE.
    pub update: bool,
}

impl ReturnOpts {
    /// `RETURN ()` means `RETURN (ALL)` (RFC 4731 3.1).
    fn normalized(mut self) -> Self {
        if !self.min && !self.max && !self.count && self.partial.is_none() {
            self.all = true;
        }
        self
    }
}

/// LIST-EXTENDED selection and return options (RFC 5258, 5819, 6154).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListCommand {
    /// LSUB rather than LIST.
    pub lsub: bool,
    /// The extended syntax was used (selection options, several patterns or RETURN).
    pub extended: bool,
    pub subscribed: bool,
    pub recursive_match: bool,
    pub special_use_only: bool,
    pub reference: Vec<u8>,
    pub patterns: Vec<Vec<u8>>,
    pub return_subscribed: bool,
    pub return_children: bool,
    pub return_special_use: bool,
    /// `RETURN (STATUS (...))` items, upper-cased.
    pub return_status: Option<Vec<String>>,
}

/// One message of an APPEND (several with MULTIAPPEND).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendMessage {
    pub flags: Vec<String>,
    pub date: Option<chrono::DateTime<chrono::FixedOffset>>,
    pub data: Vec<u8>,
    /// Sent as a literal8 (`~{n}`, RFC 3516).
    pub binary: bool,
    /// `CATENATE (...)` (RFC 4469): the message is assembled from these instead of `data`.
    pub catenate: Option<Vec<CatPart>>,
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
        "SEARCH" => search(bytes, t, i, &tag, uid),
        "SORT" if t.get(i + 1).is_some_and(|x| x.arg.is_atom("RETURN")) => {
            let Some(opts) = t.get(i + 2).and_then(|x| x.arg.list()) else {
                return bad("SORT RETURN needs a list of options");
            };
            let ret = match return_opts(opts) {
                Ok(r) => r,
                Err(why) => return bad(&why),
            };
            let Some(rest) = t.get(i + 3) else {
                return bad("Missing SORT criteria");
            };
            let mut line = format!("{tag} SORT ").into_bytes();
            line.extend_from_slice(&bytes[rest.span.start..]);
            if !line.ends_with(b"\r\n") {
                line.extend_from_slice(b"\r\n");
            }
            match decode(&line).map(|c| c.body) {
                Some(CommandBody::Sort {
                    sort_criteria,
                    search_criteria,
                    ..
                }) => ext(ExtCommand::Sort {
                    uid,
                    ret,
                    criteria: sort_criteria.into_inner(),
                    search: search_criteria.into_inner(),
                }),
                _ => bad("Syntax error in SORT criteria"),
            }
        }
        "FETCH" => gmail::parse_fetch(bytes, t, i, &tag, uid),
        "STORE" => gmail::parse_store(t, i, &tag, uid),
        "LIST" | "LSUB" if !uid => match list(&t[i + 1..], verb == "LSUB") {
            Ok(l) => ext(ExtCommand::List(l)),
            Err(why) => bad(&why),
        },
        "APPEND" if !uid => match append(&t[i + 1..]) {
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

/// SEARCH with RETURN options and / or X-GM-EXT-1 keys (X-GM-RAW, X-GM-MSGID, X-GM-THRID,
/// X-GM-LABELS, top level only); the other keys go to imap-codec.
fn search(bytes: &[u8], t: &[Token], i: usize, tag: &str, uid: bool) -> Option<Parsed> {
    let mut k = i + 1;
    let mut ret = None;
    if t.get(k).is_some_and(|x| x.arg.is_atom("RETURN")) {
        let Some(opts) = t.get(k + 1).and_then(|x| x.arg.list()) else {
            return bad(tag, "SEARCH RETURN needs a list of options");
        };
        match return_opts(opts) {
            Ok(r) => ret = Some(r),
            Err(why) => return bad(tag, &why),
        }
        k += 2;
    }
    let mut gmail = Vec::new();
    let mut kept: Vec<&Token> = Vec::new();
    while k < t.len() {
        let word = t[k].arg.atom_upper().unwrap_or_default();
        if word.starts_with("X-GM-") {
            let Some(value) = t.get(k + 1).and_then(|x| x.arg.string()) else {
                return bad(tag, &format!("{word} needs an argument"));
            };
            let text = String::from_utf8_lossy(value).into_owned();
            gmail.push(match word.as_str() {
                "X-GM-RAW" => GmKey::Raw(text),
                "X-GM-MSGID" => GmKey::MsgId(text.parse().ok()?),
                "X-GM-THRID" => GmKey::ThrId(text.parse().ok()?),
                "X-GM-LABELS" => GmKey::Label(text),
                _ => return bad(tag, &format!("Unknown search key {word}")),
            });
            k += 2;
        } else {
            kept.push(&t[k]);
            k += 1;
        }
    }
    if ret.is_none() && gmail.is_empty() {
        return None;
    }
    let only_charset = kept.len() == 2 && kept[0].arg.is_atom("CHARSET");
    let mut rest = join(bytes, &kept);
    if kept.is_empty() || only_charset {
        if !rest.is_empty() {
            rest.push(b' ');
        }
        rest.extend_from_slice(b"ALL");
    }
    match decode(&line(tag, false, "SEARCH", &rest)).map(|c| c.body) {
        Some(CommandBody::Search {
            charset, criteria, ..
        }) => Some(Parsed::Ext {
            tag: tag.to_string(),
            cmd: ExtCommand::Search {
                uid,
                ret,
                charset,
                criteria: criteria.into_inner(),
                gmail,
            },
        }),
        _ => bad(tag, "Syntax error in SEARCH criteria"),
    }
}

fn return_opts(opts: &[Token]) -> Result<ReturnOpts, String> {
    let mut r = ReturnOpts::default();
    let mut k = 0;
    while k < opts.len() {
        let word = opts[k].arg.atom_upper().ok_or("Invalid RETURN option")?;
        match word.as_str() {
            "MIN" => r.min = true,
            "MAX" => r.max = true,
            "ALL" => r.all = true,
            "COUNT" => r.count = true,
            "UPDATE" => r.update = true,
            "PARTIAL" => {
                k += 1;
                let range = opts
                    .get(k)
                    .and_then(|x| x.arg.atom_upper())
                    .ok_or("PARTIAL needs a range")?;
                r.partial = Some(partial_range(&range).ok_or("Invalid PARTIAL range")?);
            }
            _ => return Err(format!("Unknown RETURN option {word}")),
        }
        k += 1;
    }
    Ok(r.normalized())
}

/// `4:2` → (2, 4); both ends are numbers from 1 (RFC 5267 4.4: no `*`).
fn partial_range(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once(':')?;
    let a: u32 = a.parse().ok().filter(|&n| n > 0)?;
    let b: u32 = b.parse().ok().filter(|&n| n > 0)?;
    Some((a.min(b), a.max(b)))
}

fn list(t: &[Token], lsub: bool) -> Result<ListCommand, String> {
    let mut l = ListCommand {
        lsub,
        ..ListCommand::default()
    };
    let mut k = 0;
    if let Some(sel) = t.first().and_then(|x| x.arg.list())
        && !lsub
    {
        l.extended = true;
        for o in sel {
            match o.arg.atom_upper().as_deref() {
                Some("SUBSCRIBED") => l.subscribed = true,
                Some("REMOTE") => {}
                Some("RECURSIVEMATCH") => l.recursive_match = true,
                Some("SPECIAL-USE") => l.special_use_only = true,
                _ => return Err("Unknown LIST selection option".into()),
            }
        }
        if l.recursive_match && !l.subscribed && !l.special_use_only {
            return Err("RECURSIVEMATCH needs another selection option".into());
        }
        k = 1;
    }
    let reference = t.get(k).ok_or("Missing LIST reference")?;
    l.reference = reference
        .arg
        .string()
        .ok_or("Invalid LIST reference")?
        .to_vec();
    let pattern = t.get(k + 1).ok_or("Missing LIST pattern")?;
    match &pattern.arg {
        Arg::List(ps) if !lsub => {
            l.extended = true;
            for p in ps {
                l.patterns
                    .push(p.arg.string().ok_or("Invalid LIST pattern")?.to_vec());
            }
            if l.patterns.is_empty() {
                return Err("Empty LIST pattern list".into());
            }
        }
        other => l
            .patterns
            .push(other.string().ok_or("Invalid LIST pattern")?.to_vec()),
    }
    match t.get(k + 2) {
        None => {}
        Some(r) if r.arg.is_atom("RETURN") && !lsub => {
            l.extended = true;
            let opts = t
                .get(k + 3)
                .and_then(|x| x.arg.list())
                .ok_or("RETURN needs a list")?;
            let mut j = 0;
            while j < opts.len() {
                match opts[j].arg.atom_upper().as_deref() {
                    Some("SUBSCRIBED") => l.return_subscribed = true,
                    Some("CHILDREN") => l.return_children = true,
                    Some("SPECIAL-USE") => l.return_special_use = true,
                    Some("STATUS") => {
                        j += 1;
                        let items = opts
                            .get(j)
                            .and_then(|x| x.arg.list())
                            .ok_or("STATUS needs a list")?;
                        let mut names = Vec::new();
                        for it in items {
                            names.push(it.arg.atom_upper().ok_or("Invalid STATUS item")?);
                        }
                        l.return_status = Some(names);
                    }
                    _ => return Err("Unknown LIST return option".into()),
                }
                j += 1;
            }
            if t.len() > k + 4 {
                return Err("Unexpected LIST arguments".into());
            }
        }
        Some(_) => return Err("Unexpected LIST arguments".into()),
    }
    Ok(l)
}

/// `APPEND mailbox 1*(SP [flag-list SP] [date-time SP] literal)` (RFC 3502).
fn append(t: &[Token]) -> Result<(Vec<u8>, Vec<AppendMessage>), String> {
    let mailbox = t
        .first()
        .and_then(|x| x.arg.string())
        .ok_or("Invalid APPEND mailbox")?
        .to_vec();
    let mut messages = Vec::new();
    let mut k = 1;
    while k < t.len() {
        let mut flags = Vec::new();
        if let Some(list) = t[k].arg.list() {
            for f in list {
                match &f.arg {
                    Arg::Atom(a) => flags.push(String::from_utf8_lossy(a).into_owned()),
                    _ => return Err("Invalid APPEND flags".into()),
                }
            }
            k += 1;
        }
        let mut date = None;
        if let Some(Arg::Quoted(q)) = t.get(k).map(|x| &x.arg) {
            let text = String::from_utf8_lossy(q);
            date = Some(
                chrono::DateTime::parse_from_str(text.trim_start(), "%d-%b-%Y %H:%M:%S %z")
                    .map_err(|_| "Invalid APPEND date-time".to_string())?,
            );
            k += 1;
        }
        match t.get(k).map(|x| &x.arg) {
            Some(Arg::Literal { data, binary }) => messages.push(AppendMessage {
                flags,
                date,
                data: data.clone(),
                binary: *binary,
                catenate: None,
            }),
            Some(a) if a.is_atom("CATENATE") => {
                k += 1;
                let list = t
                    .get(k)
                    .and_then(|x| x.arg.list())
                    .ok_or("CATENATE needs a list")?;
                let mut parts = Vec::new();
                let mut j = 0;
                while j < list.len() {
                    let value = list.get(j + 1).map(|x| &x.arg);
                    match (list[j].arg.atom_upper().as_deref(), value) {
                        (Some("TEXT"), Some(Arg::Literal { data, .. })) => {
                            parts.push(CatPart::Text(data.clone()))
                        }
                        (Some("URL"), Some(v)) => match v.string() {
                            Some(u) => parts.push(CatPart::Url(String::from_utf8_lossy(u).into())),
                            None => return Err("Invalid CATENATE URL".into()),
                        },
                        _ => return Err("CATENATE parts are TEXT literal or URL string".into()),
                    }
                    j += 2;
                }
                if parts.is_empty() {
                    return Err("Empty CATENATE list".into());
                }
                messages.push(AppendMessage {
                    flags,
                    date,
                    data: Vec::new(),
                    binary: false,
                    catenate: Some(parts),
                });
            }
            _ => return Err("APPEND needs a message literal".into()),
        }
        k += 1;
    }
    if messages.is_empty() {
        return Err("APPEND needs a message literal".into());
    }
    Ok((mailbox, messages))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(line: &[u8]) -> ExtCommand {
        match parse(line) {
            Some(Parsed::Ext { cmd, .. }) => cmd,
            other => panic!("not an extension command: {other:?}"),
        }
    }

    #[test]
    fn search_return_options() {
        let ExtCommand::Search {
            uid, ret, criteria, ..
        } = ext(b"t UID SEARCH RETURN () SEEN 1:*\r\n")
        else {
            panic!("not a search")
        };
        assert!(uid);
        let ret = ret.expect("RETURN options");
        assert!(ret.all && !ret.min);
        assert_eq!(criteria.len(), 2);
        let ExtCommand::Search { ret: Some(ret), .. } =
            ext(b"t SEARCH RETURN (MIN PARTIAL 4:2) ALL\r\n")
        else {
            panic!("not a search")
        };
        assert_eq!((ret.min, ret.all, ret.partial), (true, false, Some((2, 4))));
        assert!(matches!(
            parse(b"t SEARCH RETURN (PARTIAL 1:*) ALL\r\n"),
            Some(Parsed::Bad { .. })
        ));
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

    #[test]
    fn multiappend_and_list_extended() {
        let ExtCommand::Append { mailbox, messages } =
            ext(b"t APPEND box (\\Seen) \"01-Jan-2024 10:00:00 +0000\" {2}\r\nab {1+}\r\nc\r\n")
        else {
            panic!("not an append")
        };
        assert_eq!(mailbox, b"box");
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].flags, vec!["\\Seen".to_string()]);
        assert!(messages[0].date.is_some());
        assert_eq!(messages[1].data, b"c");
        let ExtCommand::List(l) =
            ext(b"t LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (a b) RETURN (CHILDREN STATUS (MESSAGES))\r\n")
        else {
            panic!("not a list")
        };
        assert!(l.subscribed && l.recursive_match && l.return_children);
        assert_eq!(l.patterns, vec![b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(l.return_status, Some(vec!["MESSAGES".to_string()]));
        for bad in [
            &b"t LIST (imaptest) \"\" \"\"\r\n"[..],
            b"t LIST (RECURSIVEMATCH) \"\" \"\"\r\n",
            b"t LIST \"\" \"\" RETURN (imaptest)\r\n",
        ] {
            assert!(matches!(parse(bad), Some(Parsed::Bad { .. })), "{bad:?}");
        }
    }
}
