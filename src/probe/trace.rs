//! Client-side wire traces at `trace` level (`-vvv`): a stream adapter that logs each line
//! sent (`>>`) and received (`<<`) with CR/LF escaped, after a stateful redactor has replaced
//! every credential with `****` (AUTH PLAIN/LOGIN/XOAUTH2 payloads and their continuation
//! lines, IMAP LOGIN arguments and AUTHENTICATE responses). Unknown client lines are redacted
//! too: the redactor shows what it recognises and hides the rest.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::seen::Seen;

/// Which protocol the redactor parses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    Smtp,
    Imap,
}

const MASK: &str = "****";
/// Longest line shown; the rest is summarised by its length.
const SHOW_MAX: usize = 200;
/// Longest partial line buffered before it is logged as a byte count.
const BUFFER_MAX: usize = 16 * 1024;

/// The sans-I/O redactor: feed it whole lines in wire order, get what may be shown.
#[derive(Debug)]
pub struct Redactor {
    wire: Wire,
    /// The client is inside a credential exchange (SASL responses, AUTH LOGIN lines, a LOGIN
    /// literal): every client line is masked until the server ends it.
    secret: bool,
    /// SMTP: STARTTLS was sent; the next 220 starts TLS under this adapter.
    starttls: bool,
    /// SMTP: inside DATA; message lines are counted, not shown.
    data: Option<usize>,
    /// The bytes below are TLS records: after STARTTLS the connection is traced by a new
    /// adapter inside TLS, and this one sees only the handshake, if anything.
    opaque: bool,
}

impl Redactor {
    pub fn new(wire: Wire) -> Redactor {
        Redactor {
            wire,
            secret: false,
            starttls: false,
            data: None,
            opaque: false,
        }
    }

    /// What to show for a line the client sent (without its line end); `None` to show nothing.
    pub fn client(&mut self, line: &[u8]) -> Option<String> {
        if self.opaque {
            return None;
        }
        if let Some(n) = self.data.as_mut() {
            if line == b"." {
                let n = *n;
                self.data = None;
                return Some(format!("[message, {n} lines] ."));
            }
            *n += 1;
            return None;
        }
        if self.secret {
            return Some(MASK.into());
        }
        let text = String::from_utf8_lossy(line);
        let shown = match self.wire {
            Wire::Smtp => self.smtp_command(&text),
            Wire::Imap => self.imap_command(&text),
        };
        Some(shown)
    }

    fn smtp_command(&mut self, text: &str) -> String {
        let mut words = text.split(' ');
        let verb = words.next().unwrap_or("").to_ascii_uppercase();
        match verb.as_str() {
            "AUTH" => {
                self.secret = true;
                match words.next() {
                    Some(mech) if words.next().is_some() => format!("AUTH {mech} {MASK}"),
                    Some(mech) => format!("AUTH {mech}"),
                    None => "AUTH".into(),
                }
            }
            "STARTTLS" => {
                self.starttls = true;
                text.into()
            }
            "EHLO" | "HELO" | "MAIL" | "RCPT" | "DATA" | "RSET" | "NOOP" | "QUIT" | "VRFY" => {
                text.into()
            }
            // An empty line answers an error challenge (XOAUTH2); anything else is unknown.
            "" => String::new(),
            _ => MASK.into(),
        }
    }

    fn imap_command(&mut self, text: &str) -> String {
        if text.eq_ignore_ascii_case("DONE") {
            return text.into();
        }
        let mut words = text.splitn(3, ' ');
        let (Some(tag), Some(verb)) = (words.next(), words.next()) else {
            return MASK.into();
        };
        let rest = words.next();
        let upper = verb.to_ascii_uppercase();
        match upper.as_str() {
            "LOGIN" => {
                // The user stays visible when it is a plain atom or quoted string; the
                // password (and a literal of either) never.
                self.secret = true;
                let user = rest
                    .and_then(first_imap_string)
                    .unwrap_or_else(|| MASK.into());
                format!("{tag} LOGIN {user} {MASK}")
            }
            "AUTHENTICATE" => {
                self.secret = true;
                let mut args = rest.unwrap_or("").split(' ');
                let mech = args.next().unwrap_or("");
                if args.next().is_some() {
                    format!("{tag} AUTHENTICATE {mech} {MASK}")
                } else {
                    format!("{tag} AUTHENTICATE {mech}")
                }
            }
            "CAPABILITY" | "NOOP" | "LOGOUT" | "STARTTLS" | "SELECT" | "EXAMINE" | "LIST"
            | "LSUB" | "STATUS" | "FETCH" | "STORE" | "COPY" | "MOVE" | "UID" | "EXPUNGE"
            | "SEARCH" | "IDLE" | "ID" | "ENABLE" | "NAMESPACE" | "UNSELECT" | "CHECK"
            | "CLOSE" | "CREATE" => text.into(),
            _ => format!("{tag} {MASK}"),
        }
    }

    /// What to show for a line the server sent; updates the exchange state.
    pub fn server(&mut self, line: &[u8]) -> Option<String> {
        if self.opaque {
            return None;
        }
        let text = String::from_utf8_lossy(line).into_owned();
        match self.wire {
            Wire::Smtp => {
                let code = text.get(..3).unwrap_or("");
                let last = text.as_bytes().get(3) != Some(&b'-');
                if self.secret && code != "334" && last {
                    self.secret = false;
                }
                if code == "354" {
                    self.data = Some(0);
                }
                if self.starttls && last {
                    self.starttls = false;
                    if code == "220" {
                        self.opaque = true;
                        return Some(format!(
                            "{text}  [TLS starts; the trace goes on inside TLS]"
                        ));
                    }
                }
            }
            Wire::Imap => {
                // A continuation (`+ ...`) keeps the exchange open; untagged data (`* ...`)
                // does not end it; a tagged reply does.
                if self.secret && !text.starts_with('+') && !text.starts_with('*') {
                    self.secret = false;
                }
            }
        }
        Some(text)
    }
}

/// The first argument of an IMAP command when it is an atom or a quoted string.
fn first_imap_string(rest: &str) -> Option<String> {
    if let Some(q) = rest.strip_prefix('"') {
        let mut out = String::from("\"");
        let mut escaped = false;
        for c in q.chars() {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => return Some(out),
                _ => {}
            }
        }
        return None;
    }
    let atom = rest.split(' ').next()?;
    (!atom.is_empty() && !atom.starts_with('{')).then(|| atom.to_string())
}

/// CR, LF, TAB and other control characters as escapes; everything else as is.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Escapes a shown line and caps its length.
fn shown_line(shown: &str, line_end: &[u8]) -> String {
    let mut out = escape(shown);
    let end = escape(&String::from_utf8_lossy(line_end));
    if out.len() > SHOW_MAX {
        let total = shown.len();
        let mut cut = SHOW_MAX;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str(&format!("... ({total} bytes)"));
    }
    out + &end
}

/// A stream that traces whole lines in both directions through a [`Redactor`]. Costs nothing
/// unless `trace` level is enabled for this module when it is created.
#[derive(Debug)]
pub struct Traced<S> {
    inner: S,
    state: Option<Box<TraceState>>,
    /// What was received, for diagnoses (kept at any log level).
    seen: Option<Arc<Seen>>,
    /// A read found the peer's end of the stream (see [`Traced::at_eof`]).
    eof: bool,
}

#[derive(Debug)]
struct TraceState {
    redactor: Redactor,
    sent: Vec<u8>,
    received: Vec<u8>,
}

impl<S> Traced<S> {
    pub fn new(inner: S, wire: Wire) -> Traced<S> {
        let state = tracing::enabled!(tracing::Level::TRACE).then(|| {
            Box::new(TraceState {
                redactor: Redactor::new(wire),
                sent: Vec::new(),
                received: Vec::new(),
            })
        });
        Traced {
            inner,
            state,
            seen: None,
            eof: false,
        }
    }

    /// A traced stream that also records what it receives in `seen`.
    pub fn observed(inner: S, wire: Wire, seen: Arc<Seen>) -> Traced<S> {
        Traced {
            seen: Some(seen),
            ..Traced::new(inner, wire)
        }
    }

    /// Whether the peer has closed its side. async-imap ends a command's answer silently at
    /// EOF, so an empty answer is only an answer if this is false.
    pub fn at_eof(&self) -> bool {
        self.eof
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl TraceState {
    fn feed(&mut self, bytes: &[u8], outgoing: bool) {
        let buf = if outgoing {
            &mut self.sent
        } else {
            &mut self.received
        };
        buf.extend_from_slice(bytes);
        loop {
            let buf = if outgoing {
                &mut self.sent
            } else {
                &mut self.received
            };
            let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
                if buf.len() > BUFFER_MAX {
                    let n = buf.len();
                    buf.clear();
                    let dir = if outgoing { ">>" } else { "<<" };
                    tracing::trace!("{dir} [{n} bytes without a line end]");
                }
                return;
            };
            let line: Vec<u8> = buf.drain(..=nl).collect();
            let body_end = if line.ends_with(b"\r\n") {
                line.len() - 2
            } else {
                line.len() - 1
            };
            let (body, end) = line.split_at(body_end);
            let shown = if outgoing {
                self.redactor.client(body)
            } else {
                self.redactor.server(body)
            };
            if let Some(shown) = shown {
                if outgoing {
                    tracing::trace!(">> {}", shown_line(&shown, end));
                } else {
                    tracing::trace!("<< {}", shown_line(&shown, end));
                }
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Traced<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let room = buf.remaining() > 0;
        let this = &mut *self;
        let res = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(res, Poll::Ready(Ok(()))) && room && buf.filled().len() == before {
            this.eof = true;
        }
        if let (Poll::Ready(Ok(())), Some(seen)) = (&res, this.seen.as_ref()) {
            seen.record(&buf.filled()[before..]);
        }
        if let (Poll::Ready(Ok(())), Some(state)) = (&res, this.state.as_mut()) {
            state.feed(&buf.filled()[before..], false);
        }
        res
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Traced<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let res = Pin::new(&mut this.inner).poll_write(cx, data);
        if let (Poll::Ready(Ok(n)), Some(state)) = (&res, this.state.as_mut()) {
            state.feed(&data[..*n], true);
        }
        res
    }
    write_through_inner!();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(wire: Wire, script: &[(bool, &str)]) -> Vec<String> {
        let mut r = Redactor::new(wire);
        script
            .iter()
            .filter_map(|(client, line)| {
                let shown = if *client {
                    r.client(line.as_bytes())
                } else {
                    r.server(line.as_bytes())
                };
                shown.map(|s| format!("{} {s}", if *client { ">>" } else { "<<" }))
            })
            .collect()
    }

    #[test]
    fn smtp_auth_plain_initial_response_is_masked() {
        let out = run(
            Wire::Smtp,
            &[
                (true, "AUTH PLAIN AGFsaWNlAHMzY3IzdA=="),
                (false, "235 2.7.0 Authentication successful"),
                (true, "MAIL FROM:<a@x>"),
            ],
        );
        assert_eq!(
            out,
            [
                ">> AUTH PLAIN ****",
                "<< 235 2.7.0 Authentication successful",
                ">> MAIL FROM:<a@x>"
            ]
        );
    }

    #[test]
    fn smtp_auth_login_masks_both_continuation_lines() {
        let out = run(
            Wire::Smtp,
            &[
                (true, "AUTH LOGIN"),
                (false, "334 VXNlcm5hbWU6"),
                (true, "YWxpY2U="),
                (false, "334 UGFzc3dvcmQ6"),
                (true, "czNjcjN0"),
                (false, "535 5.7.8 Authentication credentials invalid"),
                (true, "QUIT"),
            ],
        );
        assert_eq!(
            out,
            [
                ">> AUTH LOGIN",
                "<< 334 VXNlcm5hbWU6",
                ">> ****",
                "<< 334 UGFzc3dvcmQ6",
                ">> ****",
                "<< 535 5.7.8 Authentication credentials invalid",
                ">> QUIT"
            ]
        );
    }

    #[test]
    fn smtp_xoauth2_and_its_error_challenge_answer_are_masked() {
        let out = run(
            Wire::Smtp,
            &[
                (true, "AUTH XOAUTH2 dXNlcj1hAWF1dGg9QmVhcmVyIHRvawEB"),
                (false, "334 eyJzdGF0dXMiOiI0MDEifQ=="),
                (true, ""),
                (false, "535 5.7.8 bad"),
            ],
        );
        assert_eq!(
            out,
            [
                ">> AUTH XOAUTH2 ****",
                "<< 334 eyJzdGF0dXMiOiI0MDEifQ==",
                ">> ****",
                "<< 535 5.7.8 bad"
            ]
        );
    }

    #[test]
    fn smtp_data_is_summarised_and_starttls_ends_the_plaintext_trace() {
        let out = run(
            Wire::Smtp,
            &[
                (true, "DATA"),
                (false, "354 go"),
                (true, "Subject: x"),
                (true, ""),
                (true, "AUTH PLAIN looks-like-a-command"),
                (true, "."),
                (false, "250 ok"),
                (true, "STARTTLS"),
                (false, "220 2.0.0 Ready"),
                (true, "\u{16}\u{3}\u{1}binary"),
                (false, "\u{16}\u{3}\u{3}binary"),
            ],
        );
        assert_eq!(out.len(), 6, "{out:#?}");
        assert_eq!(out[2], ">> [message, 3 lines] .");
        assert!(
            out[5].starts_with("<< 220 2.0.0 Ready  [TLS starts"),
            "{out:#?}"
        );
    }

    #[test]
    fn imap_login_keeps_the_user_and_masks_the_password() {
        let out = run(
            Wire::Imap,
            &[
                (true, "A1 LOGIN \"bob@x.test\" \"pa ss\\\"word\""),
                (false, "A1 OK Logged in"),
                (true, "A2 SELECT INBOX"),
            ],
        );
        assert_eq!(
            out,
            [
                ">> A1 LOGIN \"bob@x.test\" ****",
                "<< A1 OK Logged in",
                ">> A2 SELECT INBOX"
            ]
        );
    }

    #[test]
    fn imap_login_literals_and_authenticate_responses_are_masked() {
        let out = run(
            Wire::Imap,
            &[
                (true, "A1 LOGIN {5}"),
                (false, "+ Ready"),
                (true, "alice {6}"),
                (false, "+ Ready"),
                (true, "secret"),
                (false, "A1 NO [AUTHENTICATIONFAILED] no"),
                (true, "A2 AUTHENTICATE XOAUTH2"),
                (false, "+ "),
                (true, "dXNlcj1hAWF1dGg9QmVhcmVyIHRvawEB"),
                (false, "* CAPABILITY IMAP4rev1"),
                (false, "A2 OK"),
                (true, "A3 AUTHENTICATE PLAIN AGEAYg=="),
                (true, "garbage without tag"),
            ],
        );
        assert_eq!(
            out,
            [
                ">> A1 LOGIN **** ****",
                "<< + Ready",
                ">> ****",
                "<< + Ready",
                ">> ****",
                "<< A1 NO [AUTHENTICATIONFAILED] no",
                ">> A2 AUTHENTICATE XOAUTH2",
                "<< + ",
                ">> ****",
                "<< * CAPABILITY IMAP4rev1",
                "<< A2 OK",
                ">> A3 AUTHENTICATE PLAIN ****",
                ">> ****"
            ]
        );
    }

    #[test]
    fn unknown_imap_verbs_hide_their_arguments() {
        let out = run(
            Wire::Imap,
            &[(true, "A9 XSECRET hunter2"), (true, "nonsense")],
        );
        assert_eq!(out, [">> A9 ****", ">> ****"]);
    }

    #[test]
    fn long_lines_are_cut_and_line_ends_escaped() {
        let long = "x".repeat(500);
        let shown = shown_line(&long, b"\r\n");
        assert!(shown.ends_with("... (500 bytes)\\r\\n"), "{shown}");
    }
}
