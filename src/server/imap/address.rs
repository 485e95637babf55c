//! RFC 5322 address lists as IMAP sees them (RFC 3501 7.4.2 ENVELOPE): display names,
//! source routes, groups as start / end markers, comments as names when there is no other
//! (what Dovecot does). Lenient like Dovecot's parser: what cannot be read is skipped. Sans I/O.

/// One ENVELOPE address: a mailbox, or a group start (`mailbox` = group name, no host) or a
/// group end (all `None`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    pub name: Option<String>,
    pub route: Option<String>,
    pub mailbox: Option<String>,
    pub host: Option<String>,
}

impl Address {
    pub fn is_group_marker(&self) -> bool {
        self.host.is_none()
    }

    /// `name <mailbox@host>` (or just `mailbox@host`), the form SEARCH matches against.
    pub fn display(&self) -> String {
        let spec = match (&self.mailbox, &self.host) {
            (Some(m), Some(h)) => format!("{m}@{h}"),
            (Some(m), None) => m.clone(),
            _ => String::new(),
        };
        match &self.name {
            Some(n) if self.host.is_some() => format!("{n} <{spec}>"),
            _ => spec,
        }
    }
}

/// Dovecot's placeholders for an address without a local part or domain.
const MISSING_MAILBOX: &str = "MISSING_MAILBOX";
const MISSING_DOMAIN: &str = "MISSING_DOMAIN";

/// A mailbox address, Dovecot's placeholders standing in for a missing local part or domain.
fn mailbox_address(
    name: Option<String>,
    route: Option<String>,
    mailbox: String,
    host: Option<String>,
) -> Address {
    Address {
        name,
        route,
        mailbox: Some(if mailbox.is_empty() {
            MISSING_MAILBOX.into()
        } else {
            mailbox
        }),
        host: Some(match host {
            Some(h) if !h.is_empty() => h,
            _ => MISSING_DOMAIN.into(),
        }),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// An atom (dots included) or a quoted string (unquoted, `quoted` set).
    Word {
        text: String,
        quoted: bool,
    },
    Comment(String),
    /// `[1.2.3.4]`.
    DomainLiteral(String),
    Special(char),
}

fn lex(s: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            ' ' | '\t' | '\r' | '\n' => {
                chars.next();
            }
            '"' => {
                chars.next();
                let mut text = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => {
                            if let Some(n) = chars.next() {
                                text.push(n);
                            }
                        }
                        '\r' | '\n' => {}
                        c => text.push(c),
                    }
                }
                out.push(Tok::Word { text, quoted: true });
            }
            '(' => {
                chars.next();
                let mut depth = 1;
                let mut text = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '(' => {
                            depth += 1;
                            text.push(c);
                        }
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                            text.push(c);
                        }
                        '\\' => {
                            if let Some(n) = chars.next() {
                                text.push(n);
                            }
                        }
                        '\r' | '\n' => {}
                        c => text.push(c),
                    }
                }
                out.push(Tok::Comment(text.trim().to_string()));
            }
            '[' => {
                chars.next();
                let mut text = String::from("[");
                for c in chars.by_ref() {
                    text.push(c);
                    if c == ']' {
                        break;
                    }
                }
                out.push(Tok::DomainLiteral(text));
            }
            '<' | '>' | '@' | ',' | ';' | ':' | ')' | ']' => {
                chars.next();
                out.push(Tok::Special(c));
            }
            _ => {
                let mut text = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || "\"()<>@,;:[]".contains(c) {
                        break;
                    }
                    text.push(c);
                    chars.next();
                }
                out.push(Tok::Word {
                    text,
                    quoted: false,
                });
            }
        }
    }
    out
}

struct Parser {
    toks: Vec<Tok>,
    i: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i)
    }

    fn at(&self, c: char) -> bool {
        self.peek() == Some(&Tok::Special(c))
    }

    /// Words and comments up to the next special: (phrase words, last comment).
    fn phrase(&mut self) -> (Vec<String>, Option<String>) {
        let mut words = Vec::new();
        let mut comment = None;
        while let Some(t) = self.peek() {
            match t {
                Tok::Word { text, .. } => words.push(text.clone()),
                Tok::Comment(c) => comment = Some(c.clone()),
                Tok::DomainLiteral(d) => words.push(d.clone()),
                Tok::Special(_) => break,
            }
            self.i += 1;
        }
        (words, comment)
    }

    /// A domain after `@`: words, dots inside atoms, comments skipped; also the last comment
    /// that followed the domain (`user@domain (Real Name)`).
    fn domain(&mut self) -> (String, Option<String>) {
        let mut out = String::new();
        let mut trailing = None;
        while let Some(t) = self.peek() {
            match t {
                Tok::Word { text, .. } | Tok::DomainLiteral(text) => {
                    out.push_str(text);
                    trailing = None;
                }
                Tok::Comment(c) if !out.is_empty() => trailing = Some(c.clone()),
                Tok::Comment(_) => {}
                Tok::Special(_) => break,
            }
            self.i += 1;
        }
        (out, trailing)
    }

    /// `<[@route,@route:]local@domain>` after the `<`.
    fn angle(&mut self, name: Option<String>) -> Address {
        let mut route = None;
        if self.at('@') {
            let mut r = String::new();
            while let Some(t) = self.peek() {
                match t {
                    Tok::Special(':') => {
                        self.i += 1;
                        break;
                    }
                    Tok::Special('>') => break,
                    Tok::Special(c) => r.push(*c),
                    Tok::Word { text, .. } | Tok::DomainLiteral(text) => r.push_str(text),
                    Tok::Comment(_) => {}
                }
                self.i += 1;
            }
            route = Some(r);
        }
        let (local, _) = self.phrase();
        let mut host = None;
        if self.at('@') {
            self.i += 1;
            host = Some(self.domain().0);
        }
        // Skip to the closing '>'.
        while let Some(t) = self.peek() {
            let close = *t == Tok::Special('>');
            self.i += 1;
            if close {
                break;
            }
        }
        mailbox_address(name, route, local.join(" "), host)
    }

    /// One mailbox (name-addr or addr-spec); `None` when there is nothing to read.
    fn mailbox(&mut self) -> Option<Address> {
        let (words, comment) = self.phrase();
        if self.at('<') {
            self.i += 1;
            let name = (!words.is_empty()).then(|| words.join(" ")).or(comment);
            return Some(self.angle(name));
        }
        if words.is_empty() && !self.at('@') {
            return None;
        }
        let mut host = None;
        let mut name = comment;
        if self.at('@') {
            self.i += 1;
            let (domain, trailing) = self.domain();
            host = Some(domain);
            // A comment after the address is its name: `user@domain (Real Name)`.
            if trailing.is_some() {
                name = trailing;
            }
        }
        Some(mailbox_address(name, None, words.concat(), host))
    }

    /// Skips to the next top-level `,` (or `;` when in a group) after an unreadable address.
    fn skip_junk(&mut self, in_group: bool) {
        while let Some(t) = self.peek() {
            match t {
                Tok::Special(',') => return,
                Tok::Special(';') if in_group => return,
                _ => self.i += 1,
            }
        }
    }
}

/// Parses an address-list header value (From, To, Cc, ...).
pub fn parse_list(value: &str) -> Vec<Address> {
    let mut p = Parser {
        toks: lex(value),
        i: 0,
    };
    let mut out = Vec::new();
    while p.peek().is_some() {
        if p.at(',') || p.at(';') || p.at('>') {
            p.i += 1;
            continue;
        }
        // A group is a phrase followed by ':'.
        let start = p.i;
        let (words, _) = p.phrase();
        if p.at(':') {
            p.i += 1;
            out.push(Address {
                mailbox: Some(words.join(" ")),
                ..Address::default()
            });
            while p.peek().is_some() && !p.at(';') {
                if p.at(',') {
                    p.i += 1;
                    continue;
                }
                match p.mailbox() {
                    Some(a) => out.push(a),
                    None => {
                        // A stray special: step over it.
                        p.i += 1;
                        p.skip_junk(true);
                    }
                }
            }
            if p.at(';') {
                p.i += 1;
            }
            out.push(Address::default());
            continue;
        }
        p.i = start;
        match p.mailbox() {
            Some(a) => out.push(a),
            None => {
                p.i += 1;
                p.skip_junk(false);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(
        name: Option<&str>,
        route: Option<&str>,
        mailbox: Option<&str>,
        host: Option<&str>,
    ) -> Address {
        Address {
            name: name.map(Into::into),
            route: route.map(Into::into),
            mailbox: mailbox.map(Into::into),
            host: host.map(Into::into),
        }
    }

    #[test]
    fn names_comments_and_routes() {
        assert_eq!(
            parse_list("From Real <fromuser@fromdomain.org>"),
            vec![a(
                Some("From Real"),
                None,
                Some("fromuser"),
                Some("fromdomain.org")
            )]
        );
        assert_eq!(
            parse_list("user@domain (Real Name)"),
            vec![a(Some("Real Name"), None, Some("user"), Some("domain"))]
        );
        assert_eq!(
            parse_list("<@route:user@domain>"),
            vec![a(None, Some("@route"), Some("user"), Some("domain"))]
        );
        assert_eq!(
            parse_list("<user-from (comment)@ (comment) domain.org>"),
            vec![a(None, None, Some("user-from"), Some("domain.org"))]
        );
        assert_eq!(
            parse_list("\"Doe, John\" <j@x>, k@y"),
            vec![
                a(Some("Doe, John"), None, Some("j"), Some("x")),
                a(None, None, Some("k"), Some("y"))
            ]
        );
    }

    #[test]
    fn groups_have_start_and_end_markers() {
        let start = |n: &str| a(None, None, Some(n), None);
        let end = a(None, None, None, None);
        assert_eq!(
            parse_list("group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;"),
            vec![
                start("group"),
                a(None, None, Some("g1"), Some("d1.org")),
                a(None, None, Some("g2"), Some("d2.org")),
                end.clone(),
                start("group2"),
                a(None, None, Some("g3"), Some("d3.org")),
                end.clone(),
            ]
        );
        assert_eq!(
            parse_list("group:;, group2: (foo) ;"),
            vec![start("group"), end.clone(), start("group2"), end]
        );
        assert!(parse_list("").is_empty());
        assert_eq!(
            parse_list("user"),
            vec![a(None, None, Some("user"), Some(MISSING_DOMAIN))]
        );
    }
}
