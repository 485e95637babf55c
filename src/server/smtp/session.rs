//! SMTP session state machine (placeholder until the codec and session land).

use std::net::SocketAddr;
use std::sync::Arc;

use crate::server::conn::ServerStream;
use crate::server::{ListenerKind, Shared};

/// Serves one SMTP connection until QUIT, error or shutdown.
pub async fn run(
    _shared: Arc<Shared>,
    _stream: ServerStream,
    _kind: ListenerKind,
    _peer: SocketAddr,
) {
}
