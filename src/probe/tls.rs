//! lettre's side of our own TLS: the plaintext stream handed to lettre and taken back for
//! STARTTLS ([`Handoff`]), and the stream type lettre runs over ([`Transport`]). The TLS
//! itself is [`crate::tls`], shared with every other client connection.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A stream shared with its owner, who can take it back: lettre owns the plaintext SMTP
/// transport, and STARTTLS takes the TCP stream out of it to run the handshake here (lettre's
/// own STARTTLS would build a TLS context of its own, loading the trust store again).
#[derive(Debug)]
pub struct Handoff<S>(Arc<Mutex<Option<S>>>);

impl<S> Handoff<S> {
    /// The stream for lettre, and the handle that takes it back.
    pub fn new(inner: S) -> (Handoff<S>, Handoff<S>) {
        let slot = Arc::new(Mutex::new(Some(inner)));
        (Handoff(slot.clone()), Handoff(slot))
    }

    /// Takes the stream out; the other half reads EOF and fails writes from now on.
    pub fn reclaim(&self) -> Option<S> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    fn with<T>(
        &self,
        f: impl FnOnce(Pin<&mut S>) -> Poll<io::Result<T>>,
        gone: impl FnOnce() -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>>
    where
        S: Unpin,
    {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match slot.as_mut() {
            Some(s) => f(Pin::new(s)),
            None => gone(),
        }
    }

    /// Applies `f` to the stream while it is here.
    pub fn peek<T>(&self, f: impl FnOnce(&S) -> T) -> Option<T> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(f)
    }
}

fn taken() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "stream handed over to TLS")
}

impl<S: AsyncRead + Unpin> AsyncRead for Handoff<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.with(|s| s.poll_read(cx, buf), || Poll::Ready(Ok(())))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Handoff<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.with(|s| s.poll_write(cx, buf), || Poll::Ready(Err(taken())))
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.with(|s| s.poll_flush(cx), || Poll::Ready(Ok(())))
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.with(|s| s.poll_shutdown(cx), || Poll::Ready(Ok(())))
    }
}

/// A stream handed to lettre as its transport (lettre's `AsyncTokioStream` needs a local
/// type). After our own STARTTLS handshake, lettre opens a fresh connection over the TLS
/// stream, and `prefix` stands in for the greeting it expects before its EHLO (the server
/// sends none after STARTTLS); it is never on the wire, so it sits above the trace.
#[derive(Debug)]
pub struct Transport<S> {
    prefix: &'static [u8],
    inner: S,
}

impl<S> Transport<S> {
    pub fn new(inner: S) -> Transport<S> {
        Transport { prefix: b"", inner }
    }

    /// A transport whose first read returns `prefix`.
    pub fn resumed(prefix: &'static [u8], inner: S) -> Transport<S> {
        Transport { prefix, inner }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Transport<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix = &self.prefix[n..];
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Transport<S> {
    write_through_inner!(all);
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn a_resumed_transport_reads_the_stand_in_greeting_then_the_stream() {
        let (mut a, b) = tokio::io::duplex(64);
        tokio::io::AsyncWriteExt::write_all(&mut a, b"250 ok\r\n")
            .await
            .unwrap();
        drop(a);
        let mut r = Transport::resumed(b"220 TLS\r\n", b);
        let mut all = Vec::new();
        r.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, b"220 TLS\r\n250 ok\r\n");
    }

    #[tokio::test]
    async fn a_handoff_gives_the_stream_back_and_the_other_half_sees_eof() {
        let (a, mut b) = tokio::io::duplex(64);
        let (mut lettre_side, handle) = Handoff::new(a);
        tokio::io::AsyncWriteExt::write_all(&mut lettre_side, b"STARTTLS\r\n")
            .await
            .unwrap();
        let mut got = [0u8; 10];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"STARTTLS\r\n");
        assert!(handle.reclaim().is_some());
        assert!(handle.reclaim().is_none());
        let mut rest = Vec::new();
        lettre_side.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
        assert!(
            tokio::io::AsyncWriteExt::write_all(&mut lettre_side, b"x")
                .await
                .is_err()
        );
    }
}
