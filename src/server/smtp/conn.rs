//! The I/O half of one SMTP connection: the stream, its read and write buffers, the idle
//! timeout and shutdown signal, feeding the sans-I/O [`codec`](super::codec) and queueing
//! replies so pipelined commands get batched answers.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use super::codec::{
    DataReader, DataStatus, Line, MAX_COMMAND_LINE, Reply, TooLong, parse_line, skip_line,
};
use crate::server::conn::ServerStream;
use crate::server::until_shutdown;

/// A session that sends nothing for this long is closed with 421 4.4.2.
const IDLE_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// How long a closing write may take before the peer is abandoned.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a session stops before QUIT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    /// The peer went away or a read/write failed: nothing more to say.
    Closed,
    /// No input within [`IDLE_TIMEOUT`].
    Idle,
    /// The server is shutting down.
    Shutdown,
    /// A hang fault ran its course (peer closed or shutdown): close without a word.
    Hung,
}

/// The I/O half: the stream, its buffers and the shutdown signal. Replies queue in `wbuf`
/// and go out before the next blocking read, so pipelined commands get batched replies.
pub(super) struct Conn {
    pub(super) stream: ServerStream,
    pub(super) rbuf: BytesMut,
    pub(super) wbuf: Vec<u8>,
    /// The rest of an over-long line is still arriving and must be discarded.
    pub(super) skipping: bool,
    pub(super) shutdown: watch::Receiver<bool>,
    pub(super) peer: SocketAddr,
    /// The `slow_drip` fault in force: pause between reply bytes.
    pub(super) drip: Option<Duration>,
}

impl Conn {
    pub(super) fn new(
        stream: ServerStream,
        shutdown: watch::Receiver<bool>,
        peer: SocketAddr,
    ) -> Conn {
        Conn {
            stream,
            rbuf: BytesMut::with_capacity(4096),
            wbuf: Vec::new(),
            skipping: false,
            shutdown,
            peer,
            drip: None,
        }
    }

    pub(super) fn send(&mut self, reply: &Reply) {
        self.send_bytes(&reply.encode());
    }

    pub(super) fn send_bytes(&mut self, bytes: &[u8]) {
        tracing::debug!(peer = %self.peer, ">> {}", bytes.escape_ascii());
        self.wbuf.extend_from_slice(bytes);
    }

    pub(super) fn trace_in(&self, text: &str) {
        tracing::debug!(peer = %self.peer, "<< {}", text.as_bytes().escape_ascii());
    }

    pub(super) async fn flush(&mut self) -> Result<(), End> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let write = crate::server::conn::write_out(&mut self.stream, &self.wbuf, self.drip);
        match tokio::time::timeout(IDLE_TIMEOUT, write).await {
            Ok(Ok(())) => {
                self.wbuf.clear();
                Ok(())
            }
            Ok(Err(_)) | Err(_) => {
                self.wbuf.clear();
                Err(End::Closed)
            }
        }
    }

    /// Flushes queued replies, then waits for more input.
    pub(super) async fn fill(&mut self) -> Result<(), End> {
        self.flush().await?;
        let read = tokio::time::timeout(IDLE_TIMEOUT, self.stream.read_buf(&mut self.rbuf));
        tokio::select! {
            biased;
            _ = until_shutdown(&mut self.shutdown) => Err(End::Shutdown),
            r = read => match r {
                Err(_) => Err(End::Idle),
                Ok(Ok(0)) | Ok(Err(_)) => Err(End::Closed),
                Ok(Ok(_)) => Ok(()),
            },
        }
    }

    /// The next command line, or `TooLong` (whose remainder is skipped before the next line).
    pub(super) async fn read_line(&mut self) -> Result<Result<Line, TooLong>, End> {
        loop {
            if self.skipping {
                if skip_line(&mut self.rbuf) {
                    self.skipping = false;
                } else {
                    self.fill().await?;
                    continue;
                }
            }
            match parse_line(&mut self.rbuf, MAX_COMMAND_LINE) {
                Ok(Some(line)) => return Ok(Ok(line)),
                Err(too_long) => {
                    self.skipping = !too_long.terminated;
                    return Ok(Err(too_long));
                }
                Ok(None) => self.fill().await?,
            }
        }
    }

    /// The DATA section through its terminator; `None` if it was over the size limit.
    pub(super) async fn read_data(
        &mut self,
        reader: &mut DataReader,
    ) -> Result<Option<Bytes>, End> {
        loop {
            match reader.feed(&mut self.rbuf) {
                DataStatus::NeedMore => self.fill().await?,
                DataStatus::Done(data) => return Ok(Some(data)),
                DataStatus::TooBig => return Ok(None),
            }
        }
    }

    /// The hang fault: say nothing more, but keep draining input (so this is not a busy
    /// loop and the peer's writes do not block) until the peer closes or shutdown.
    pub(super) async fn hang(&mut self) -> End {
        if self.flush().await.is_err() {
            return End::Hung;
        }
        loop {
            self.rbuf.clear();
            tokio::select! {
                biased;
                _ = until_shutdown(&mut self.shutdown) => return End::Hung,
                r = self.stream.read_buf(&mut self.rbuf) => match r {
                    Ok(0) | Err(_) => return End::Hung,
                    Ok(_) => {}
                },
            }
        }
    }

    pub(super) async fn close(&mut self) {
        let close = async {
            let _ = self.flush().await;
            let _ = self.stream.shutdown().await;
        };
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, close).await;
    }
}
