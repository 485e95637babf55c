//! LIST-EXTENDED (RFC 5258, 5819, 6154): selection options, several patterns and RETURN
//! options (SUBSCRIBED, CHILDREN, SPECIAL-USE, STATUS), which imap-codec does not read.

use crate::server::imap::args::{Arg, Token, list_at};

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

pub(super) fn list(t: &[Token], lsub: bool) -> Result<ListCommand, String> {
    let mut l = ListCommand {
        lsub,
        ..ListCommand::default()
    };
    let mut k = 0;
    if let Some(sel) = list_at(t, 0)
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
            let opts = list_at(t, k + 3).ok_or("RETURN needs a list")?;
            let mut j = 0;
            while j < opts.len() {
                match opts[j].arg.atom_upper().as_deref() {
                    Some("SUBSCRIBED") => l.return_subscribed = true,
                    Some("CHILDREN") => l.return_children = true,
                    Some("SPECIAL-USE") => l.return_special_use = true,
                    Some("STATUS") => {
                        j += 1;
                        let items = list_at(opts, j).ok_or("STATUS needs a list")?;
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
#[cfg(test)]
mod tests {
    use super::super::tests::ext;
    use super::super::{ExtCommand, Parsed, parse};

    #[test]
    fn list_extended() {
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
