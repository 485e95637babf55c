//! A server-side connection that starts plain or TLS and can be upgraded by STARTTLS; both
//! protocol sessions read and write through it, so TLS handling lives in one place.

use std::io;
use std::pin::Pin;

use openssl::ssl::{Ssl, SslAcceptor};
use tokio::net::TcpStream;
use tokio_openssl::SslStream;

use crate::streams::{ReadWrite, Variants, read_write_through_variants};

/// A TCP stream, wrapped in TLS once negotiated.
pub enum ServerStream {
    Plain(TcpStream),
    Tls(Box<SslStream<TcpStream>>),
    /// An in-memory pipe, for replaying bytes into a session (fuzzing, codec tests).
    Memory(tokio::io::DuplexStream),
    /// Transient state during an upgrade; never read or written.
    Closed,
}

impl ServerStream {
    /// Whether the stream is protected by TLS. An in-memory pipe counts as protected: nobody
    /// can observe it, and replayed sessions should reach every state, as with implicit TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self, ServerStream::Tls(_) | ServerStream::Memory(_))
    }

    /// Upgrades a plain stream with the given acceptor (STARTTLS, or implicit TLS at accept).
    pub async fn upgrade(&mut self, acceptor: &SslAcceptor) -> io::Result<()> {
        match std::mem::replace(self, ServerStream::Closed) {
            ServerStream::Plain(tcp) => {
                let aborted = |e: &dyn std::fmt::Display| {
                    io::Error::new(io::ErrorKind::ConnectionAborted, e.to_string())
                };
                let ssl = Ssl::new(acceptor.context()).map_err(|e| aborted(&e))?;
                let mut tls = SslStream::new(ssl, tcp).map_err(|e| aborted(&e))?;
                Pin::new(&mut tls).accept().await.map_err(|e| aborted(&e))?;
                *self = ServerStream::Tls(Box::new(tls));
                Ok(())
            }
            other => {
                *self = other;
                Err(io::Error::other("stream is already TLS"))
            }
        }
    }
}

impl ServerStream {
    /// Asks the kernel to ACK what the client sends next at once instead of delaying the ACK
    /// (TCP_QUICKACK). A client with Nagle on that writes a command in pieces (async-imap
    /// writes tag, command and CRLF separately; imaplib a literal and its CRLF) holds each
    /// piece until the previous one is ACKed, so delayed ACKs made every APPEND wait ~40 ms
    /// where Dovecot took ~20 ms. Best effort; a no-op off Linux.
    pub fn ack_quickly(&self) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let tcp = match self {
                ServerStream::Plain(s) => s,
                ServerStream::Tls(s) => s.get_ref(),
                ServerStream::Closed | ServerStream::Memory(_) => return,
            };
            let _ = tcp.set_quickack(true);
        }
    }
}

/// Writes `bytes` and flushes; with `drip` (the `slow_drip` fault), one byte at a time with
/// that pause between bytes.
pub async fn write_out(
    stream: &mut ServerStream,
    bytes: &[u8],
    drip: Option<std::time::Duration>,
) -> io::Result<()> {
    use tokio::io::AsyncWriteExt;
    match drip {
        None => stream.write_all(bytes).await?,
        Some(pause) => {
            for b in bytes {
                stream.write_all(std::slice::from_ref(b)).await?;
                stream.flush().await?;
                tokio::time::sleep(pause).await;
            }
        }
    }
    stream.flush().await
}

impl Variants for ServerStream {
    /// The open stream under the variant; `None` in the transient `Closed` state.
    fn io(self: Pin<&mut Self>) -> Option<Pin<&mut dyn ReadWrite>> {
        match self.get_mut() {
            ServerStream::Plain(s) => Some(Pin::new(s)),
            ServerStream::Tls(s) => Some(Pin::new(s.as_mut())),
            ServerStream::Memory(s) => Some(Pin::new(s)),
            ServerStream::Closed => None,
        }
    }
}

read_write_through_variants!(ServerStream);
