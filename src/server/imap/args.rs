//! A generic IMAP argument tokenizer (atoms, quoted strings, literals, literal8s and
//! parenthesized lists, each with its byte span), sans I/O. It reads the extension syntax
//! imap-codec does not (`SEARCH RETURN (...)`, MULTIAPPEND, LIST-EXTENDED) in `ext`.

use std::ops::Range;

/// One argument of a command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    /// An atom as sent (`NIL`, `1:*`, `\Seen`, `RETURN`).
    Atom(Vec<u8>),
    /// A quoted string, unescaped.
    Quoted(Vec<u8>),
    /// A literal's bytes; `binary` for `~{n}` (RFC 3516 literal8).
    Literal { data: Vec<u8>, binary: bool },
    /// A parenthesized list.
    List(Vec<Token>),
}

/// An argument and where it sits in the command's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub arg: Arg,
    pub span: Range<usize>,
}

impl Arg {
    /// The atom, case-folded to upper case, or `None` for other kinds.
    pub fn atom_upper(&self) -> Option<String> {
        match self {
            Arg::Atom(a) => Some(String::from_utf8_lossy(a).to_ascii_uppercase()),
            _ => None,
        }
    }

    /// Whether this is the atom `word` (case-insensitive).
    pub fn is_atom(&self, word: &str) -> bool {
        matches!(self, Arg::Atom(a) if a.eq_ignore_ascii_case(word.as_bytes()))
    }

    /// An astring's bytes (atom, quoted or literal); `None` for a list.
    pub fn string(&self) -> Option<&[u8]> {
        match self {
            Arg::Atom(a) | Arg::Quoted(a) => Some(a),
            Arg::Literal { data, .. } => Some(data),
            Arg::List(_) => None,
        }
    }

    pub fn list(&self) -> Option<&[Token]> {
        match self {
            Arg::List(l) => Some(l),
            _ => None,
        }
    }
}

/// The parenthesized list at `t[i]`; `None` when there is no argument there or it is not a list.
pub fn list_at(t: &[Token], i: usize) -> Option<&[Token]> {
    t.get(i).and_then(|x| x.arg.list())
}

/// Why a line does not tokenize.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// Lists nested deeper than this are refused (a guard against stack exhaustion).
const MAX_DEPTH: usize = 32;

/// Tokenizes a whole command (literals inline, as the fragmentizer assembles them), up to
/// the final CRLF. Arguments are separated by single spaces, as RFC 3501 requires; runs of
/// spaces are tolerated.
pub fn tokenize(bytes: &[u8]) -> Result<Vec<Token>, Malformed> {
    let end = bytes
        .strip_suffix(b"\r\n")
        .or_else(|| bytes.strip_suffix(b"\n"))
        .map_or(bytes.len(), <[u8]>::len);
    let mut p = Parser {
        b: &bytes[..end],
        i: 0,
    };
    let out = p.list_items(0, false)?;
    if p.i != p.b.len() {
        return Err(Malformed);
    }
    Ok(out)
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn list_items(&mut self, depth: usize, inner: bool) -> Result<Vec<Token>, Malformed> {
        if depth > MAX_DEPTH {
            return Err(Malformed);
        }
        let mut out = Vec::new();
        loop {
            while self.b.get(self.i) == Some(&b' ') {
                self.i += 1;
            }
            match self.b.get(self.i) {
                None if inner => return Err(Malformed),
                None => return Ok(out),
                Some(b')') if inner => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b')') => return Err(Malformed),
                Some(_) => out.push(self.token(depth)?),
            }
        }
    }

    fn token(&mut self, depth: usize) -> Result<Token, Malformed> {
        let start = self.i;
        let arg = match self.b[self.i] {
            b'(' => {
                self.i += 1;
                Arg::List(self.list_items(depth + 1, true)?)
            }
            b'"' => self.quoted()?,
            b'{' => self.literal(false)?,
            b'~' if self.b.get(self.i + 1) == Some(&b'{') => {
                self.i += 1;
                self.literal(true)?
            }
            _ => self.atom()?,
        };
        Ok(Token {
            arg,
            span: start..self.i,
        })
    }

    fn quoted(&mut self) -> Result<Arg, Malformed> {
        self.i += 1;
        let mut out = Vec::new();
        loop {
            match self.b.get(self.i) {
                None | Some(b'\r' | b'\n') => return Err(Malformed),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(Arg::Quoted(out));
                }
                Some(b'\\') => {
                    let c = *self.b.get(self.i + 1).ok_or(Malformed)?;
                    if c != b'"' && c != b'\\' {
                        return Err(Malformed);
                    }
                    out.push(c);
                    self.i += 2;
                }
                Some(&c) => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
    }

    fn literal(&mut self, binary: bool) -> Result<Arg, Malformed> {
        let close = self.b[self.i..]
            .iter()
            .position(|&c| c == b'}')
            .ok_or(Malformed)?;
        let inside = &self.b[self.i + 1..self.i + close];
        let digits = inside.strip_suffix(b"+").unwrap_or(inside);
        if digits.is_empty() || digits.len() > 10 || !digits.iter().all(u8::is_ascii_digit) {
            return Err(Malformed);
        }
        let n: usize = std::str::from_utf8(digits)
            .ok()
            .and_then(|d| d.parse().ok())
            .ok_or(Malformed)?;
        let mut at = self.i + close + 1;
        if self.b[at..].starts_with(b"\r\n") {
            at += 2;
        } else if self.b[at..].starts_with(b"\n") {
            at += 1;
        } else {
            return Err(Malformed);
        }
        let data = self.b.get(at..at + n).ok_or(Malformed)?.to_vec();
        self.i = at + n;
        Ok(Arg::Literal { data, binary })
    }

    fn atom(&mut self) -> Result<Arg, Malformed> {
        let start = self.i;
        let mut brackets = 0usize;
        while let Some(&c) = self.b.get(self.i) {
            match c {
                b'[' => brackets += 1,
                b']' => brackets = brackets.saturating_sub(1),
                // Inside `BODY[HEADER.FIELDS (A B)]` spaces and parentheses belong to the atom.
                b' ' | b'(' | b')' if brackets > 0 => {}
                b' ' | b'(' | b')' | b'"' | b'{' | b'\r' | b'\n' => break,
                c if c < 0x20 || c == 0x7f => return Err(Malformed),
                _ => {}
            }
            self.i += 1;
        }
        if self.i == start {
            return Err(Malformed);
        }
        Ok(Arg::Atom(self.b[start..self.i].to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn atom(a: &str) -> Arg {
        Arg::Atom(a.as_bytes().to_vec())
    }

    /// An atom inside a list, standing at `span` of the line.
    fn listed(a: &str, span: std::ops::Range<usize>) -> Token {
        Token { arg: atom(a), span }
    }

    fn args(s: &[u8]) -> Vec<Arg> {
        tokenize(s)
            .expect("tokenizes")
            .into_iter()
            .map(|t| t.arg)
            .collect()
    }

    #[test]
    fn atoms_strings_lists_and_literals() {
        let got =
            args(b"a SEARCH RETURN (MIN MAX) \"x \\\"y\\\"\" {3}\r\nab\x00 ~{2}\r\n\x00\x01\r\n");
        assert_eq!(
            got,
            vec![
                atom("a"),
                atom("SEARCH"),
                atom("RETURN"),
                Arg::List(vec![listed("MIN", 17..20), listed("MAX", 21..24)]),
                Arg::Quoted(b"x \"y\"".to_vec()),
                Arg::Literal {
                    data: b"ab\x00".to_vec(),
                    binary: false
                },
                Arg::Literal {
                    data: b"\x00\x01".to_vec(),
                    binary: true
                },
            ]
        );
    }

    #[test]
    fn spans_cover_the_source() {
        let line = b"t LIST \"\" (a \"b c\") RETURN ()\r\n";
        let toks = tokenize(line).expect("tokenizes");
        assert_eq!(&line[toks[3].span.clone()], b"(a \"b c\")");
        assert_eq!(&line[toks[5].span.clone()], b"()");
    }

    #[test]
    fn bracketed_atoms_and_errors() {
        assert_eq!(
            args(b"t FETCH 1 (BODY.PEEK[HEADER.FIELDS (A B)] UID)"),
            vec![
                atom("t"),
                atom("FETCH"),
                atom("1"),
                Arg::List(vec![
                    listed("BODY.PEEK[HEADER.FIELDS (A B)]", 11..41),
                    listed("UID", 42..45),
                ]),
            ]
        );
        assert_eq!(tokenize(b"t X (a"), Err(Malformed));
        assert_eq!(tokenize(b"t X a)"), Err(Malformed));
        assert_eq!(tokenize(b"t X {5}\r\nab"), Err(Malformed));
        assert_eq!(tokenize(b"t X \"a\\b\""), Err(Malformed));
    }
}
