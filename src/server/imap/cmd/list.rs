//! LIST (with LIST-EXTENDED selection and return options, LIST-STATUS and SPECIAL-USE) and
//! LSUB. Wildcards and the reference argument follow RFC 3501 6.3.8; extended LIST follows
//! RFC 5258.

use super::store_error;
use crate::server::MailboxInfo;
use crate::server::imap::ext::ListCommand;
use crate::server::imap::session::Session;
use crate::server::imap::wire::{DELIMITER, quoted};

/// LIST wildcard match: `*` matches anything, `%` anything but the hierarchy delimiter.
/// Dynamic programming over (pattern, name) positions, so a pattern of many wildcards costs
/// O(pattern × name) instead of backtracking exponentially.
pub fn wildcard(pattern: &[u8], name: &[u8]) -> bool {
    // reach[j]: the pattern prefix read so far can match name[..j].
    let mut reach = vec![false; name.len() + 1];
    reach[0] = true;
    for &p in pattern {
        let mut next = vec![false; name.len() + 1];
        match p {
            b'*' | b'%' => {
                // on: some earlier reachable position extends to j through allowed bytes.
                let mut on = false;
                for j in 0..=name.len() {
                    if p == b'%' && j > 0 && name[j - 1] == DELIMITER {
                        on = false;
                    }
                    on |= reach[j];
                    next[j] = on;
                }
            }
            c => {
                for j in 1..=name.len() {
                    next[j] = reach[j - 1] && name[j - 1] == c;
                }
            }
        }
        reach = next;
    }
    reach[name.len()]
}

/// Whether `name` matches the pattern, with INBOX (and its children's first level) matched
/// case-insensitively as RFC 3501 5.1 asks.
fn matches(pattern: &[u8], name: &str) -> bool {
    if wildcard(pattern, name.as_bytes()) {
        return true;
    }
    let inbox = name
        .get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case("INBOX"));
    inbox && pattern.len() >= 5 && {
        let mut p = pattern.to_vec();
        p[..5].make_ascii_uppercase();
        wildcard(&p, name.as_bytes())
    }
}

/// Reference and pattern combined (RFC 3501 6.3.8): a pattern starting with the delimiter
/// or a reference ending in one are joined as they are; otherwise the delimiter goes between.
fn full_pattern(reference: &[u8], pattern: &[u8]) -> Vec<u8> {
    let mut full = reference.to_vec();
    if !full.is_empty() && !full.ends_with(&[DELIMITER]) && !pattern.starts_with(&[DELIMITER]) {
        full.push(DELIMITER);
    }
    full.extend_from_slice(pattern);
    full
}

fn parent_of(name: &str) -> Option<&str> {
    name.rfind(DELIMITER as char).map(|i| &name[..i])
}

/// One mailbox as LIST shows it.
struct Entry {
    name: String,
    attrs: Vec<&'static str>,
    childinfo: bool,
    status: bool,
}

impl Session {
    /// LIST and LSUB in every form.
    pub(super) fn list(&mut self, cmd: &ListCommand) -> String {
        let verb = if cmd.lsub { "LSUB" } else { "LIST" };
        if cmd.patterns.len() == 1 && cmd.patterns[0].is_empty() {
            // RFC 3501 6.3.8: the delimiter and root, whatever the reference.
            if !cmd.lsub {
                self.untagged("LIST (\\Noselect) \"/\" \"\"");
            }
            return format!("OK {verb} completed");
        }
        let user = self.user();
        let (folders, subs) = match (
            self.shared.store.list(&user),
            self.shared.store.subscriptions(&user),
        ) {
            (Ok(f), Ok(s)) => (f, s),
            (Err(e), _) | (_, Err(e)) => return store_error(e),
        };
        let patterns: Vec<Vec<u8>> = cmd
            .patterns
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| full_pattern(&cmd.reference, p))
            .collect();
        let hit = |name: &str| patterns.iter().any(|p| matches(p, name));
        let entries = if cmd.lsub {
            lsub_entries(&folders, &subs, &patterns)
        } else {
            list_entries(cmd, &folders, &subs, &hit)
        };
        for e in entries {
            let mut line = format!("{verb} ({}) \"/\" {}", e.attrs.join(" "), quoted(&e.name));
            if e.childinfo {
                line.push_str(" (\"CHILDINFO\" (\"SUBSCRIBED\"))");
            }
            self.untagged(&line);
            if e.status
                && let Some(items) = &cmd.return_status
            {
                // RFC 5819: errors for one mailbox are not reported.
                let _ = self.status_items(&e.name, items);
            }
        }
        format!("OK {verb} completed")
    }
}

/// LIST (RFC 3501) and LIST-EXTENDED (RFC 5258) entries.
fn list_entries(
    cmd: &ListCommand,
    folders: &[MailboxInfo],
    subs: &[String],
    hit: &dyn Fn(&str) -> bool,
) -> Vec<Entry> {
    let subscribed = |n: &str| {
        subs.iter()
            .any(|s| crate::server::store::same_mailbox(s, n))
    };
    let show_subscribed = cmd.subscribed || cmd.return_subscribed;
    let attrs_of = |f: &MailboxInfo| {
        let mut attrs = vec![if f.has_children {
            "\\HasChildren"
        } else {
            "\\HasNoChildren"
        }];
        if !f.selectable {
            attrs.push("\\Noselect");
        }
        if let Some(role) = f.special_use {
            attrs.push(role.attribute());
        }
        if show_subscribed && subscribed(&f.name) {
            attrs.push("\\Subscribed");
        }
        attrs
    };
    let mut out = Vec::new();
    if cmd.subscribed {
        // Subscribed names (existing or not), plus with RECURSIVEMATCH the matching parents
        // of subscribed names that the patterns do not reach themselves.
        let mut names: Vec<String> = Vec::new();
        for f in folders {
            if subscribed(&f.name) || cmd.recursive_match {
                names.push(f.name.clone());
            }
        }
        for s in subs {
            if !folders
                .iter()
                .any(|f| crate::server::store::same_mailbox(&f.name, s))
            {
                names.push(s.clone());
            }
        }
        for name in names {
            if !hit(&name) {
                continue;
            }
            let prefix = format!("{name}/");
            let childinfo =
                cmd.recursive_match && subs.iter().any(|s| s.starts_with(&prefix) && !hit(s));
            let is_sub = subscribed(&name);
            if !is_sub && !childinfo {
                continue;
            }
            let attrs = match folders
                .iter()
                .find(|f| crate::server::store::same_mailbox(&f.name, &name))
            {
                Some(f) => attrs_of(f),
                None => vec!["\\Subscribed", "\\NonExistent"],
            };
            let status = folders.iter().any(|f| f.name == name && f.selectable);
            out.push(Entry {
                name,
                attrs,
                childinfo,
                status,
            });
        }
        return out;
    }
    for f in folders {
        if !hit(&f.name) {
            continue;
        }
        if cmd.special_use_only && f.special_use.is_none() {
            continue;
        }
        out.push(Entry {
            name: f.name.clone(),
            attrs: attrs_of(f),
            childinfo: false,
            status: f.selectable,
        });
    }
    out
}

/// LSUB (RFC 3501 6.3.9): subscribed names; with `%` ending the pattern, an unsubscribed
/// parent of a subscribed name that matches is listed `\Noselect`.
fn lsub_entries(folders: &[MailboxInfo], subs: &[String], patterns: &[Vec<u8>]) -> Vec<Entry> {
    let hit = |name: &str| patterns.iter().any(|p| matches(p, name));
    let parent_hit = |name: &str| {
        patterns
            .iter()
            .any(|p| p.ends_with(b"%") && matches(p, name))
    };
    let mut out: Vec<Entry> = Vec::new();
    let push = |out: &mut Vec<Entry>, name: &str, noselect: bool| {
        if out.iter().any(|e| e.name == name) {
            return;
        }
        out.push(Entry {
            name: name.to_string(),
            attrs: if noselect { vec!["\\Noselect"] } else { vec![] },
            childinfo: false,
            status: false,
        });
    };
    for s in subs {
        if hit(s) {
            let selectable = folders
                .iter()
                .find(|f| crate::server::store::same_mailbox(&f.name, s))
                .is_none_or(|f| f.selectable);
            push(&mut out, s, !selectable);
            continue;
        }
        let mut p = parent_of(s);
        while let Some(parent) = p {
            if parent_hit(parent) && !subs.iter().any(|x| x == parent) {
                push(&mut out, parent, true);
                break;
            }
            p = parent_of(parent);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_wildcards() {
        assert!(wildcard(b"*", b"[Gmail]/Spam"));
        assert!(!wildcard(b"%", b"[Gmail]/Spam"));
        assert!(wildcard(b"%", b"[Gmail]"));
        assert!(wildcard(b"[Gmail]/%", b"[Gmail]/All Mail"));
        assert!(wildcard(b"J*", b"Junk"));
        assert!(!wildcard(b"J", b"Junk"));
        assert!(wildcard(b"%/%", b"a/b"));
        assert!(matches(b"inbox", "INBOX"));
        assert!(matches(b"Inbox/%", "INBOX/x"));
        assert!(!wildcard(b"a%", b"a/b"));
        assert!(wildcard(b"a%/b", b"ax/b"));
        assert!(wildcard(b"%/%/%", b"a/b/c"));
        assert!(!wildcard(b"%/%", b"a/b/c"));
        assert!(wildcard(b"*/c", b"a/b/c"));
        assert!(wildcard(b"", b""));
        assert!(!wildcard(b"", b"a"));
        // Many wildcards against a name they cannot match: answered at once, no backtracking.
        let stars = "*a".repeat(200) + "z";
        assert!(!wildcard(stars.as_bytes(), "a".repeat(300).as_bytes()));
    }

    #[test]
    fn names_and_patterns() {
        assert_eq!(full_pattern(b"a", b"%"), b"a/%");
        assert_eq!(full_pattern(b"a/", b"%"), b"a/%");
        assert_eq!(full_pattern(b"", b"*"), b"*");
    }

    fn info(name: &str, selectable: bool) -> MailboxInfo {
        MailboxInfo {
            name: name.into(),
            special_use: None,
            selectable,
            has_children: false,
            uid_validity: 1,
            uid_next: 1,
            exists: 0,
            unseen: 0,
            recent: 0,
        }
    }

    #[test]
    fn lsub_reports_noselect_parents_of_subscribed_children() {
        let folders = [
            info("t", true),
            info("t/a", true),
            info("t/b", true),
            info("t/b/c", true),
        ];
        let subs = ["t/a".to_string(), "t/b/c".to_string()];
        let got: Vec<(String, Vec<&str>)> = lsub_entries(&folders, &subs, &[b"t/%".to_vec()])
            .into_iter()
            .map(|e| (e.name, e.attrs))
            .collect();
        assert_eq!(
            got,
            vec![
                ("t/a".to_string(), vec![]),
                ("t/b".to_string(), vec!["\\Noselect"])
            ]
        );
    }
}
