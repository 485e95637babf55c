//! The I/O half of one IMAP connection: imap-codec's `Fragmentizer` over the stream finds line
//! and literal boundaries, answers accepted synchronizing literals with `+`, and bounds line
//! length and idle time, knowing nothing of the protocol beyond that.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use imap_codec::fragmentizer::{FragmentInfo, Fragmentizer};
use imap_codec::imap_types::core::LiteralMode;
use tokio::io::AsyncReadExt;
use tokio::sync::watch;

use super::wire;
use crate::server::conn::ServerStream;
use crate::server::until_shutdown;

/// A command line longer than this (literals excluded) ends the connection.
const MAX_LINE: usize = 64 * 1024;
/// A session silent for this long is logged out (RFC 3501 5.4 asks for at least 30 minutes).
pub(super) const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// What the framing layer found.
pub(super) enum Step {
    /// A complete message is in the fragmentizer.
    Message,
    /// A synchronizing literal was announced and accepted: send the continuation.
    LiteralOk,
    /// A literal larger than allowed was announced.
    LiteralTooBig { tag: Option<String>, sync: bool },
    /// A line exceeded [`MAX_LINE`].
    LineTooLong,
}

/// Why waiting for the next message ended without one.
pub(super) enum Event {
    Step(Step),
    Eof,
    Shutdown,
    Timeout,
}

/// Framing over the stream, sans protocol knowledge beyond line and literal boundaries.
pub(super) struct Conn {
    pub(super) stream: ServerStream,
    pub(super) frag: Fragmentizer,
    /// Where the current line starts within the fragmentizer's message bytes.
    pub(super) line_start: usize,
    /// Where the literal being received ends (0: none), so its bytes never count as a line.
    pub(super) literal_end: usize,
    pub(super) max_literal: usize,
    pub(super) peer: SocketAddr,
    pub(super) buf: Vec<u8>,
    /// The `slow_drip` fault in force: pause between reply bytes.
    pub(super) drip: Option<std::time::Duration>,
}

impl Conn {
    pub(super) fn new(stream: ServerStream, max_literal: usize, peer: SocketAddr) -> Self {
        Conn {
            stream,
            frag: Self::fragmentizer(max_literal),
            line_start: 0,
            literal_end: 0,
            max_literal,
            peer,
            buf: vec![0; 16 * 1024],
            drip: None,
        }
    }

    fn fragmentizer(max_literal: usize) -> Fragmentizer {
        let cap = max_literal
            .saturating_add(2 * MAX_LINE)
            .min(u32::MAX as usize);
        Fragmentizer::new(cap as u32)
    }

    /// Forgets everything received but not yet processed (after STARTTLS).
    pub(super) fn discard_buffered(&mut self) {
        self.frag = Self::fragmentizer(self.max_literal);
        self.line_start = 0;
        self.literal_end = 0;
    }

    /// Advances the fragmentizer over buffered bytes; `None` means "read more".
    pub(super) fn step(&mut self) -> Option<Step> {
        step_fragments(
            &mut self.frag,
            &mut self.line_start,
            &mut self.literal_end,
            self.max_literal,
        )
    }

    /// Reads once into the fragmentizer; cancel-safe. `Ok(0)` is end of stream.
    pub(super) async fn fill(&mut self) -> io::Result<usize> {
        let n = self.stream.read(&mut self.buf).await?;
        self.frag.enqueue_bytes(&self.buf[..n]);
        Ok(n)
    }

    pub(super) async fn send(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        if out.is_empty() {
            return Ok(());
        }
        tracing::debug!(peer = %self.peer, ">> {}", wire::trace_server(out));
        let r = crate::server::conn::write_out(&mut self.stream, out, self.drip).await;
        out.clear();
        // Answering at once puts the socket in delayed-ACK ("pingpong") mode; leave it, so a
        // client that sends its next command in pieces with Nagle on is not held back.
        self.stream.ack_quickly();
        r
    }

    /// Waits for the next framing step, answering accepted synchronizing literals with `+`.
    pub(super) async fn next(&mut self, shutdown: &mut watch::Receiver<bool>) -> Event {
        loop {
            match self.step() {
                Some(Step::LiteralOk) => {
                    let mut cont = b"+ Ready for literal data\r\n".to_vec();
                    if self.send(&mut cont).await.is_err() {
                        return Event::Eof;
                    }
                    continue;
                }
                Some(step) => return Event::Step(step),
                None => {}
            }
            tokio::select! {
                _ = until_shutdown(shutdown) => return Event::Shutdown,
                r = tokio::time::timeout(IDLE_TIMEOUT, self.fill()) => match r {
                    Err(_) => return Event::Timeout,
                    Ok(Ok(0)) | Ok(Err(_)) => return Event::Eof,
                    Ok(Ok(_)) => {}
                },
            }
        }
    }

    /// Never answers: drains input until the client gives up or the server shuts down.
    pub(super) async fn hang(&mut self, shutdown: &mut watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = until_shutdown(shutdown) => return,
                r = self.stream.read(&mut self.buf) => {
                    if !matches!(r, Ok(n) if n > 0) {
                        return;
                    }
                }
            }
        }
    }
}

/// The framing step, sans I/O: advances `frag` and reports what it found. Only bytes of the
/// line being received count against [`MAX_LINE`]; a literal still arriving does not (its
/// size was checked against the message limit when it was announced).
fn step_fragments(
    frag: &mut Fragmentizer,
    line_start: &mut usize,
    literal_end: &mut usize,
    max_literal: usize,
) -> Option<Step> {
    loop {
        match frag.progress() {
            None => {
                let from = (*line_start).max(*literal_end);
                let pending = frag.message_bytes().len().saturating_sub(from);
                return (pending > MAX_LINE).then_some(Step::LineTooLong);
            }
            Some(FragmentInfo::Literal { end, .. }) => *line_start = end,
            Some(FragmentInfo::Line {
                end, announcement, ..
            }) => {
                *line_start = end;
                let Some(a) = announcement else {
                    *line_start = 0;
                    *literal_end = 0;
                    return Some(Step::Message);
                };
                *literal_end = end.saturating_add(a.length as usize);
                let sync = a.mode == LiteralMode::Sync;
                if a.length as usize > max_literal {
                    let tag = frag.decode_tag().map(|t| t.as_ref().to_string());
                    if sync {
                        // The client waits for `+`; it never comes, so no literal follows.
                        frag.skip_message();
                        *line_start = 0;
                        *literal_end = 0;
                    }
                    return Some(Step::LiteralTooBig { tag, sync });
                }
                if sync {
                    return Some(Step::LiteralOk);
                }
            }
        }
    }
}

/// The command word of a raw line (`FETCH` for `a UID FETCH ...`), for hang faults and errors.
pub(super) fn verb(bytes: &[u8]) -> (String, String) {
    let line = bytes
        .split(|&b| b == b'\r' || b == b'\n')
        .next()
        .unwrap_or_default();
    let mut words = line.split(|&b| b == b' ').skip(1);
    let first = String::from_utf8_lossy(words.next().unwrap_or_default()).to_ascii_uppercase();
    let second = String::from_utf8_lossy(words.next().unwrap_or_default()).to_ascii_uppercase();
    (first, second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_skip_uid() {
        assert_eq!(
            verb(b"a UID fetch 1 FLAGS\r\n"),
            ("UID".into(), "FETCH".into())
        );
        assert_eq!(verb(b"a noop\r\n").0, "NOOP");
    }

    fn conn_steps(input: &[u8], max_literal: usize) -> Vec<&'static str> {
        let mut frag = Conn::fragmentizer(max_literal);
        frag.enqueue_bytes(input);
        let mut line_start = 0;
        let mut literal_end = 0;
        let mut out = Vec::new();
        while let Some(s) =
            step_fragments(&mut frag, &mut line_start, &mut literal_end, max_literal)
        {
            out.push(match s {
                Step::Message => "message",
                Step::LiteralOk => "continue",
                Step::LiteralTooBig { sync: true, .. } => "too big",
                Step::LiteralTooBig { sync: false, .. } => "too big non-sync",
                Step::LineTooLong => "line too long",
            });
            if out.last() == Some(&"line too long") {
                break;
            }
        }
        out
    }

    #[test]
    fn framing_known_answers() {
        assert_eq!(
            conn_steps(b"a NOOP\r\nb NOOP\r\n", 100),
            ["message", "message"]
        );
        assert_eq!(conn_steps(b"a NOOP\r\nb NO", 100), ["message"]);
        assert_eq!(conn_steps(b"a LOGIN {5}\r\n", 100), ["continue"]);
        assert_eq!(
            conn_steps(b"a LOGIN {5}\r\nalice x\r\n", 100),
            ["continue", "message"]
        );
        assert_eq!(conn_steps(b"a LOGIN {5+}\r\nalice x\r\n", 100), ["message"]);
        assert_eq!(
            conn_steps(b"a APPEND x {500}\r\nb NOOP\r\n", 100),
            ["too big", "message"]
        );
        assert_eq!(
            conn_steps(b"a APPEND x {500+}\r\n", 100),
            ["too big non-sync"]
        );
        let long = vec![b'a'; MAX_LINE + 10];
        assert_eq!(conn_steps(&long, 100), ["line too long"]);
    }
}
