//! The embedded server's HTTP side on hyper's HTTP/1 server: the JSON API under `/api/v1/`
//! ([`api`]), the web view (`/`, [`web`]), and room for other handlers mounted on a path
//! prefix (e.g. an OAuth2 authorization server on `/oauth2/`). One port, loopback by default;
//! credentials ([`auth`]) when it listens beyond.
//!
//! Routing is a list of `(prefix, handler)` tried in order, longest first; a handler gets the
//! request with its body already read (at most [`MAX_BODY`]) and returns a whole response.

pub mod api;
pub mod auth;
pub mod query;
pub mod view;
pub mod web;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{StatusCode, body::Incoming};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{Shared, TestServer, until_shutdown};
pub use auth::HttpAuth;

/// A request as handlers see it: the body already read.
pub type Request = hyper::Request<Bytes>;
/// A whole response.
pub type Response = hyper::Response<Full<Bytes>>;

/// Largest request body read (fault settings are a few hundred bytes).
pub const MAX_BODY: usize = 1024 * 1024;
/// A client that has not sent its request headers by then is dropped.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Something that answers requests under a path prefix.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, req: Request) -> BoxFuture<'static, Response>;
}

impl<F, Fut> Handler for F
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    fn handle(&self, req: Request) -> BoxFuture<'static, Response> {
        Box::pin(self(req))
    }
}

/// Path prefixes and their handlers.
#[derive(Clone, Default)]
pub struct Router {
    routes: Vec<(String, Arc<dyn Handler>)>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let prefixes: Vec<&str> = self.routes.iter().map(|(p, _)| p.as_str()).collect();
        f.debug_struct("Router")
            .field("prefixes", &prefixes)
            .finish()
    }
}

impl Router {
    /// Sends requests whose path starts with `prefix` (e.g. `/oauth2/`) to `handler`; the
    /// longest matching prefix wins, so a mount can sit under another.
    pub fn mount(mut self, prefix: impl Into<String>, handler: impl Handler) -> Router {
        self.routes.push((prefix.into(), Arc::new(handler)));
        self.routes.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        self
    }

    /// The handler for `path`, if any prefix matches.
    pub fn route(&self, path: &str) -> Option<&Arc<dyn Handler>> {
        self.routes
            .iter()
            .find(|(p, _)| path.starts_with(p.as_str()))
            .map(|(_, h)| h)
    }
}

/// How the HTTP side listens.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Where to listen; port 0 for an ephemeral one. Loopback unless the caller allowed more.
    pub addr: SocketAddr,
    /// Credentials every request must carry ([`HttpAuth::None`] on loopback).
    pub auth: HttpAuth,
    /// Handlers mounted beside the API and the web view.
    pub extra: Router,
}

/// A running HTTP side; dropping it stops the listener.
#[derive(Debug)]
pub struct HttpServer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// Binds and serves the API and web view of `server` (plus `config.extra`). Stops on
    /// [`HttpServer::shutdown`], on drop, or when the mail server shuts down.
    pub async fn start(server: &TestServer, config: HttpConfig) -> std::io::Result<HttpServer> {
        let listener = TcpListener::bind(config.addr).await?;
        let addr = listener.local_addr()?;
        let shared = server.shared.clone();
        let api = Arc::new(api::Api::new(shared.clone(), server.addrs()));
        let router = config
            .extra
            .mount("/api/", api::handler(api.clone()))
            .mount("/", web::handler());
        let (stop, stop_rx) = watch::channel(false);
        let front = Arc::new(Front {
            router,
            auth: config.auth,
            shared,
        });
        let task = tokio::spawn(serve(listener, front, stop_rx));
        Ok(HttpServer {
            addr,
            stop,
            task: Some(task),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (the base of every path in `docs/api.md`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting; open requests get a moment to finish.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// What every connection shares: routes, credentials, and the server (for its shutdown).
struct Front {
    router: Router,
    auth: HttpAuth,
    shared: Arc<Shared>,
}

async fn serve(listener: TcpListener, front: Arc<Front>, mut stop: watch::Receiver<bool>) {
    let mut down = front.shared.shutdown();
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "http: accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = until_shutdown(&mut stop) => break,
            _ = until_shutdown(&mut down) => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        let _ = stream.set_nodelay(true);
        let front = front.clone();
        let mut stop = stop.clone();
        let mut down = front.shared.shutdown();
        conns.spawn(async move {
            let service = service_fn(move |req| {
                let front = front.clone();
                async move { Ok::<_, Infallible>(front.respond(req).await) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "http: connection ended with an error");
                    }
                }
                _ = async { tokio::select! {
                    _ = until_shutdown(&mut stop) => {},
                    _ = until_shutdown(&mut down) => {},
                } } => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(1), conn).await;
                }
            }
        });
    }
    drop(listener);
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(2), drain)
        .await
        .is_err()
    {
        conns.shutdown().await;
    }
}

impl Front {
    async fn respond(&self, req: hyper::Request<Incoming>) -> Response {
        if let Some(refusal) = self.auth.check(req.headers()) {
            return refusal;
        }
        if let Some(refusal) = auth::check_host(&self.auth, req.headers()) {
            return refusal;
        }
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                return error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    &format!("request bodies are limited to {MAX_BODY} bytes"),
                );
            }
        };
        let req = hyper::Request::from_parts(parts, body);
        let path = req.uri().path().to_string();
        match self.router.route(&path) {
            Some(handler) => handler.handle(req).await,
            None => error(StatusCode::NOT_FOUND, "not_found", "no such path"),
        }
    }
}

/// A JSON error: `{"status": 404, "error": "not_found", "message": "..."}`.
pub fn error(status: StatusCode, code: &str, message: &str) -> Response {
    json(
        status,
        &serde_json::json!({"status": status.as_u16(), "error": code, "message": message}),
    )
}

/// A JSON body with the given status.
pub fn json(status: StatusCode, value: &impl serde::Serialize) -> Response {
    let mut body = serde_json::to_vec_pretty(value).unwrap_or_else(|_| b"{}".to_vec());
    body.push(b'\n');
    let mut r = hyper::Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    no_store(r)
}

/// Marks a response as not to be cached (mail changes under the same URL).
pub fn no_store(mut r: Response) -> Response {
    r.headers_mut().insert(
        hyper::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    r.headers_mut().insert(
        hyper::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}
