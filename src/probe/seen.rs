//! What a connection has received so far, kept whatever the log level: the first bytes.
//! Diagnoses read it after a timeout to say what really happened (a greeting that came before
//! EHLO went unanswered, an HTTP reply where a mail server was expected).

use std::sync::{Arc, Mutex};

/// How many bytes are kept from the start.
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
        let mut s = self.lock();
        s.total += bytes.len();
        let take = bytes.len().min(KEEP.saturating_sub(s.head.len()));
        s.head.extend_from_slice(&bytes[..take]);
    }

    /// Bytes received in all.
    pub fn total(&self) -> usize {
        self.lock().total
    }

    /// The first bytes received.
    pub fn head(&self) -> Vec<u8> {
        self.lock().head.clone()
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
    fn keeps_the_start() {
        let s = Seen::new();
        s.record(b"220 hi\r\n");
        s.record(b"250 ok\r\n");
        assert_eq!(s.total(), 16);
        assert_eq!(first_line(&s.head()).as_deref(), Some("220 hi"));
        assert!(is_http(b"HTTP/1.1 400 Bad Request\r\n"));
        s.record(&[b'x'; 1000]);
        assert_eq!(s.head().len(), KEEP);
    }
}
