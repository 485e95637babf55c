//! SEARCH and SORT with `RETURN (...)` (ESEARCH, ESORT, CONTEXT=SEARCH: RFC 4731, 5267) and
//! SEARCH with X-GM-EXT-1 keys: the options and Gmail keys are read here, the rest of the
//! criteria handed back to imap-codec.

use imap_codec::imap_types::command::CommandBody;

use super::{ExtCommand, Parsed, bad, decode, join, line};
use crate::server::imap::args::{Token, list_at};
use crate::server::imap::gmail::GmKey;

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

/// SEARCH with RETURN options and / or X-GM-EXT-1 keys (X-GM-RAW, X-GM-MSGID, X-GM-THRID,
/// X-GM-LABELS, top level only); the other keys go to imap-codec.
pub(super) fn search(bytes: &[u8], t: &[Token], i: usize, tag: &str, uid: bool) -> Option<Parsed> {
    let mut k = i + 1;
    let mut ret = None;
    if t.get(k).is_some_and(|x| x.arg.is_atom("RETURN")) {
        let Some(opts) = list_at(t, k + 1) else {
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

/// `SORT RETURN (...) criteria charset search-criteria` (ESORT): the options read here, the
/// rest by imap-codec.
pub(super) fn sort(bytes: &[u8], t: &[Token], i: usize, tag: &str, uid: bool) -> Option<Parsed> {
    let Some(opts) = list_at(t, i + 2) else {
        return bad(tag, "SORT RETURN needs a list of options");
    };
    let ret = match return_opts(opts) {
        Ok(r) => r,
        Err(why) => return bad(tag, &why),
    };
    let Some(rest) = t.get(i + 3) else {
        return bad(tag, "Missing SORT criteria");
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
        }) => Some(Parsed::Ext {
            tag: tag.to_string(),
            cmd: ExtCommand::Sort {
                uid,
                ret,
                criteria: sort_criteria.into_inner(),
                search: search_criteria.into_inner(),
            },
        }),
        _ => bad(tag, "Syntax error in SORT criteria"),
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

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::super::tests::ext;
    use super::*;

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
}
