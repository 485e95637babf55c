//! An enum of streams (plain TCP, TLS, …) read and written through whichever variant it holds:
//! the client's socket under async-imap and the embedded server's connection both are one.

use std::io;
use std::pin::Pin;
use std::task::Poll;

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

/// Runs `op` on the stream `v` holds; while closed, fails with `NotConnected`.
pub(crate) fn through<V: Variants, T>(
    v: Pin<&mut V>,
    op: impl FnOnce(Pin<&mut dyn ReadWrite>) -> Poll<io::Result<T>>,
) -> Poll<io::Result<T>> {
    match v.io() {
        Some(s) => op(s),
        None => Poll::Ready(Err(io::Error::new(
            io::ErrorKind::NotConnected,
            "stream closed",
        ))),
    }
}

/// `AsyncRead` and `AsyncWrite` for a [`Variants`] type, through the stream it holds.
macro_rules! read_write_through_variants {
    ($t:ty) => {
        const _: () = {
            use std::io::Result;
            use std::pin::Pin;
            use std::task::{Context, Poll};

            use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

            use $crate::streams::{Variants, through};

            impl AsyncRead for $t {
                fn poll_read(
                    self: Pin<&mut Self>,
                    cx: &mut Context<'_>,
                    buf: &mut ReadBuf<'_>,
                ) -> Poll<Result<()>> {
                    through(self, |s| s.poll_read(cx, buf))
                }
            }

            impl AsyncWrite for $t {
                fn poll_write(
                    self: Pin<&mut Self>,
                    cx: &mut Context<'_>,
                    buf: &[u8],
                ) -> Poll<Result<usize>> {
                    through(self, |s| s.poll_write(cx, buf))
                }
                fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
                    through(self, |s| s.poll_flush(cx))
                }
                // A closed stream is already shut down.
                fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
                    match Variants::io(self) {
                        Some(s) => s.poll_shutdown(cx),
                        None => Poll::Ready(Ok(())),
                    }
                }
            }
        };
    };
}

pub(crate) use read_write_through_variants;
