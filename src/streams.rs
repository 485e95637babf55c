//! An enum of streams (plain TCP, TLS, …) read and written through whichever variant it holds:
//! the client's socket under async-imap and the embedded server's connection both are one.

use std::io;
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncWrite};

/// A stream read and written alike, whichever variant it is.
pub(crate) trait ReadWrite: AsyncRead + AsyncWrite + Unpin {}

impl<T: AsyncRead + AsyncWrite + Unpin> ReadWrite for T {}

/// An enum of streams: reads and writes go to the one it holds. `None` is a transient closed
/// state: reads, writes and flushes then fail with `NotConnected`, a shutdown succeeds.
pub(crate) trait Variants {
    /// The stream under the variant it holds.
    fn io(self: Pin<&mut Self>) -> Option<Pin<&mut dyn ReadWrite>>;
}

/// The error of an I/O call on a closed [`Variants`] stream.
pub(crate) fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "stream closed")
}

/// `AsyncRead` and `AsyncWrite` for a [`Variants`] type, through the stream it holds.
macro_rules! read_write_through_variants {
    ($t:ty) => {
        impl tokio::io::AsyncRead for $t {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                match $crate::streams::Variants::io(self) {
                    Some(s) => s.poll_read(cx, buf),
                    None => std::task::Poll::Ready(Err($crate::streams::closed())),
                }
            }
        }

        impl tokio::io::AsyncWrite for $t {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                match $crate::streams::Variants::io(self) {
                    Some(s) => s.poll_write(cx, buf),
                    None => std::task::Poll::Ready(Err($crate::streams::closed())),
                }
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                match $crate::streams::Variants::io(self) {
                    Some(s) => s.poll_flush(cx),
                    None => std::task::Poll::Ready(Err($crate::streams::closed())),
                }
            }

            fn poll_shutdown(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                match $crate::streams::Variants::io(self) {
                    Some(s) => s.poll_shutdown(cx),
                    None => std::task::Poll::Ready(Ok(())),
                }
            }
        }
    };
}

pub(crate) use read_write_through_variants;
