//! APPEND as imap-codec does not read it: MULTIAPPEND (RFC 3502, several messages in one
//! command) and CATENATE (RFC 4469, a message assembled from text and IMAP URLs).

use crate::server::imap::args::{Arg, Token, list_at};
use crate::server::imap::catenate::CatPart;

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

pub(super) fn append(t: &[Token]) -> Result<(Vec<u8>, Vec<AppendMessage>), String> {
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
                let list = list_at(t, k).ok_or("CATENATE needs a list")?;
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
    use super::super::ExtCommand;
    use super::super::tests::ext;

    #[test]
    fn multiappend() {
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
    }
}
