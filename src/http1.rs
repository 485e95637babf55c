//! hyper's HTTP/1 server as both of mailtrip's HTTP servers run it (the embedded server's API
//! and web view, the monitor's metrics and probes): an accept step that does not spin when
//! accepting fails, and one connection served until a stop, then given a second to finish.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};

/// The next connection on `listener`. When accepting fails (EMFILE and friends) it logs the
/// error under `who` and waits a moment rather than spin; cancel-safe, for a `select!`.
pub(crate) async fn accept(listener: &TcpListener, who: &str) -> TcpStream {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => return stream,
            Err(e) => {
                tracing::warn!(error = %e, "{who}: accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Serves HTTP/1 on `io` with `respond`, dropping a client that has not sent its request
/// headers within `header_timeout`; once `stop` resolves, the connection shuts down
/// gracefully and gets a second to finish.
pub(crate) async fn serve_connection<I, F, R>(
    io: I,
    header_timeout: Duration,
    respond: F,
    stop: impl Future<Output = ()>,
    who: &str,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: Fn(Request<Incoming>) -> R,
    R: Future<Output = Response<Full<Bytes>>>,
{
    let service = service_fn(move |req| {
        let response = respond(req);
        async move { Ok::<_, Infallible>(response.await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "{who}: HTTP connection ended with an error");
            }
        }
        () = stop => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(1), conn).await;
        }
    }
}
