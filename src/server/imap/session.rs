//! IMAP session state machine (placeholder until the session lands).

use std::net::SocketAddr;
use std::sync::Arc;

use crate::server::conn::ServerStream;
use crate::server::{ListenerKind, Shared};

/// Serves one IMAP connection until LOGOUT, error or shutdown. `open` counts connections
/// including this one (for the connection-limit fault).
pub async fn run(
    _shared: Arc<Shared>,
    _stream: ServerStream,
    _kind: ListenerKind,
    _peer: SocketAddr,
    _open: usize,
) {
}
