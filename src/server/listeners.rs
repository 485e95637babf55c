//! The listeners: one accept loop per port, each connection's implicit-TLS handshake (or
//! the `tls_stall` fault), then the SMTP or IMAP session; on shutdown, a grace period for the
//! sessions still running.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::conn::ServerStream;
use super::{CountGuard, ListenerKind, Shared, imap, smtp, until_shutdown};

/// How long sessions get to finish after shutdown is signalled before they are aborted.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

pub(super) async fn serve(shared: Arc<Shared>, kind: ListenerKind, listener: TcpListener) {
    let mut shutdown = shared.shutdown();
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            _ = until_shutdown(&mut shutdown) => break,
            accepted = listener.accept() => {
                match accepted {
                    Ok((tcp, peer)) => {
                        sessions.spawn(session(shared.clone(), kind, tcp, peer));
                    }
                    Err(e) => {
                        // Too many open files and the like: back off instead of spinning.
                        tracing::warn!(?kind, error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
    drop(listener);
    let drain = async { while sessions.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
        sessions.shutdown().await;
    }
}

async fn session(shared: Arc<Shared>, kind: ListenerKind, tcp: TcpStream, peer: SocketAddr) {
    let _ = tcp.set_nodelay(true);
    let mut stream = ServerStream::Plain(tcp);
    if kind.implicit_tls() && shared.faults().tls_stall {
        shared.fault_fired("tls_stall");
        stall(&shared, &mut stream).await;
        return;
    }
    if kind.implicit_tls() {
        let handshake = stream.upgrade(shared.tls.acceptor());
        match tokio::time::timeout(Duration::from_secs(30), handshake).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::debug!(%peer, ?kind, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, ?kind, "TLS handshake timed out");
                return;
            }
        }
    }
    run_session(shared, stream, kind, peer).await;
}

/// The SMTP or IMAP session for a connection `kind` accepted (an IMAP one counted as open
/// while it runs, for the connection-limit fault).
pub(super) async fn run_session(
    shared: Arc<Shared>,
    stream: ServerStream,
    kind: ListenerKind,
    peer: SocketAddr,
) {
    if kind.is_imap() {
        let open = shared.imap_connections.fetch_add(1, Ordering::SeqCst) + 1;
        let _guard = CountGuard(&shared.imap_connections);
        imap::session::run(shared.clone(), stream, kind, peer, open).await;
    } else {
        smtp::session::run(shared.clone(), stream, kind, peer).await;
    }
}

/// The `tls_stall` fault: read and discard (the ClientHello) until the peer closes or the
/// server shuts down, never answering.
async fn stall(shared: &Shared, stream: &mut ServerStream) {
    use tokio::io::AsyncReadExt;
    let mut shutdown = shared.shutdown();
    let mut buf = [0u8; 4096];
    loop {
        tokio::select! {
            _ = until_shutdown(&mut shutdown) => return,
            r = stream.read(&mut buf) => if !matches!(r, Ok(n) if n > 0) { return },
        }
    }
}
