//! The authorization server on its own loopback HTTPS port (the server's generated CA signs
//! its certificate, so clients take their real TLS path), until the handler is mounted on the
//! server's HTTP API port.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::server::conn::ServerStream;
use crate::server::{Shared, until_shutdown};

/// A client that has not finished the TLS handshake or sent its headers by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `/oauth2/...` over HTTPS on `listener` until the server shuts down.
pub async fn serve(shared: Arc<Shared>, listener: TcpListener, base_url: String) {
    let mut shutdown = shared.shutdown();
    let mut conns = JoinSet::new();
    let base_url: Arc<str> = base_url.into();
    loop {
        tokio::select! {
            _ = until_shutdown(&mut shutdown) => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let shared = shared.clone();
                    let base_url = base_url.clone();
                    conns.spawn(async move {
                        let mut stream = ServerStream::Plain(tcp);
                        let handshake = stream.upgrade(shared.tls.acceptor());
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
                            Ok(Ok(())) => {}
                            Ok(Err(e)) => {
                                tracing::debug!(%peer, error = %e, "oauth2: TLS handshake failed");
                                return;
                            }
                            Err(_) => return,
                        }
                        let service = service_fn(move |req| {
                            let shared = shared.clone();
                            let base_url = base_url.clone();
                            async move {
                                Ok::<_, Infallible>(super::http::handle(&shared, &base_url, req).await)
                            }
                        });
                        let conn = http1::Builder::new()
                            .timer(TokioTimer::new())
                            .header_read_timeout(HANDSHAKE_TIMEOUT)
                            .serve_connection(TokioIo::new(stream), service);
                        if let Err(e) = conn.await {
                            tracing::debug!(%peer, error = %e, "oauth2: HTTP connection ended with an error");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "oauth2: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.shutdown().await;
}
