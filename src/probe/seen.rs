//! What a connection has received so far, kept whatever the log level: the first bytes, and
//! the first bytes after a mark. Diagnoses read it after a timeout to say what really happened
//! (a greeting that came before EHLO went unanswered, a `220` to STARTTLS before a stalled
//! handshake, an HTTP reply where a mail server was expected).

use std::sync::{Arc, Mutex};

/// How many bytes are kept from the start, and from the mark.
const KEEP: usize = 256;

/// The received-bytes record of one connection, shared with the stream that fills it.
#[derive(Debug, Default)]
pub struct Seen {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    total: usize,
    head: Vec<u8>,
    /// Bytes received since the mark, and the first of them.
    since_mark: usize,
    after_mark: Vec<u8>,
}

impl Seen {
    pub fn new() -> Arc<Seen> {
        Arc::new(Seen::default())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Called by the stream with every chunk read.
    pub fn record(&self, bytes: &[u8]) {
        let mut guard = self.lock();
        let s = &mut *guard;
        s.total += bytes.len();
        s.since_mark += bytes.len();
        for keep in [&mut s.head, &mut s.after_mark] {
            let take = bytes.len().min(KEEP.saturating_sub(keep.len()));
            keep.extend_from_slice(&bytes[..take]);
        }
    }

    /// Bytes received in all.
    pub fn total(&self) -> usize {
        self.lock().total
    }

    /// The first bytes received.
    pub fn head(&self) -> Vec<u8> {
        self.lock().head.clone()
    }

    /// Starts counting afresh (before a command whose answer matters).
    pub fn mark(&self) {
        let mut s = self.lock();
        s.since_mark = 0;
        s.after_mark.clear();
    }

    /// The first bytes since the mark, and how many arrived since.
    pub fn after_mark(&self) -> (Vec<u8>, usize) {
        let s = self.lock();
        (s.after_mark.clone(), s.since_mark)
    }
}

/// The first complete line of `bytes` (without CRLF), if there is one, shown safely.
pub fn first_line(bytes: &[u8]) -> Option<String> {
    let end = bytes.iter().position(|&b| b == b'\n')?;
    let line = String::from_utf8_lossy(&bytes[..end]);
    Some(line.trim_end_matches('\r').to_string())
}

/// Whether the bytes are an HTTP response (a web server, not a mail server).
pub fn is_http(bytes: &[u8]) -> bool {
    bytes.starts_with(b"HTTP/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_start_and_the_start_after_a_mark() {
        let s = Seen::new();
        s.record(b"220 hi\r\n");
        s.mark();
        s.record(b"220 go ahead\r\n\x16\x03");
        assert_eq!(s.total(), 24);
        assert_eq!(first_line(&s.head()).as_deref(), Some("220 hi"));
        let (after, n) = s.after_mark();
        assert_eq!(n, 16);
        assert_eq!(first_line(&after).as_deref(), Some("220 go ahead"));
        assert!(is_http(b"HTTP/1.1 400 Bad Request\r\n"));
        s.record(&[b'x'; 1000]);
        assert_eq!(s.head().len(), KEEP);
    }
}
