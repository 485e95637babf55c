//! The embedded server's HTTP side on hyper's HTTP/1 server: the JSON API under `/api/v1/`
//! (`api`), the web view (`/`, `web`), the OAuth2 authorization server on `/oauth2/`
//! ([`crate::server::oauth`]), and room for other handlers mounted on a path prefix. One
//! port, plain HTTP or (with [`HttpConfig::tls`]) HTTPS with the server's certificate,
//! loopback by default; credentials (`auth`) when it listens beyond.
//!
//! Routing is a list of `(prefix, handler)` tried in order, longest first; a handler gets the
//! request with its body already read (at most [`MAX_BODY`]) and returns a whole response.
//! A handler mounted with [`Router::mount_public`] authenticates its clients itself, so the
//! side's credentials are not asked for there (OAuth2's token endpoint has its own).

pub(crate) mod api;
pub(crate) mod auth;
pub(crate) mod query;
pub(crate) mod view;
pub(crate) mod web;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{StatusCode, body::Incoming};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::conn::ServerStream;
use super::{Addrs, Shared, TestServer, oauth, until_shutdown};
use crate::http1;
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
    /// Answers one request.
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
    routes: Vec<Route>,
}

#[derive(Clone)]
struct Route {
    prefix: String,
    handler: Arc<dyn Handler>,
    /// The handler authenticates its clients itself: the side's credentials are not checked.
    public: bool,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let prefixes: Vec<&str> = self.routes.iter().map(|r| r.prefix.as_str()).collect();
        f.debug_struct("Router")
            .field("prefixes", &prefixes)
            .finish()
    }
}

impl Router {
    /// Sends requests whose path starts with `prefix` (e.g. `/oauth2/`) to `handler`; the
    /// longest matching prefix wins, so a mount can sit under another.
    pub fn mount(self, prefix: impl Into<String>, handler: impl Handler) -> Router {
        self.add(prefix.into(), Arc::new(handler), false)
    }

    /// Like [`mount`](Router::mount), for a handler that authenticates its clients itself:
    /// requests under `prefix` skip the side's credentials ([`HttpAuth`]), though not the
    /// loopback host check. The OAuth2 token endpoint is one: its clients send their own
    /// `Authorization: Basic` (client id and secret).
    pub fn mount_public(self, prefix: impl Into<String>, handler: impl Handler) -> Router {
        self.add(prefix.into(), Arc::new(handler), true)
    }

    fn add(mut self, prefix: String, handler: Arc<dyn Handler>, public: bool) -> Router {
        self.routes.push(Route {
            prefix,
            handler,
            public,
        });
        self.routes
            .sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        self
    }

    /// The handler for `path`, if any prefix matches.
    pub fn route(&self, path: &str) -> Option<&Arc<dyn Handler>> {
        self.find(path).map(|r| &r.handler)
    }

    fn find(&self, path: &str) -> Option<&Route> {
        self.routes
            .iter()
            .find(|r| path.starts_with(r.prefix.as_str()))
    }
}

/// How the HTTP side listens.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Where to listen; port 0 for an ephemeral one. Loopback unless the caller allowed more.
    pub addr: SocketAddr,
    /// Credentials every request must carry ([`HttpAuth::None`] on loopback).
    pub auth: HttpAuth,
    /// Handlers mounted beside the API, the web view and `/oauth2/` (on the same prefix as
    /// one of those, the extra handler wins).
    pub extra: Router,
    /// Serve HTTPS with the server's certificate (signed by its CA, naming `localhost`,
    /// `127.0.0.1` and `::1`) instead of plain HTTP.
    pub tls: bool,
}

/// A running HTTP side; dropping it stops the listener.
#[derive(Debug)]
pub struct HttpServer {
    addr: SocketAddr,
    tls: bool,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// Binds and serves another HTTP side of `server` (the API, the web view, `/oauth2/`,
    /// plus `config.extra`) beside the one it starts itself ([`TestServer::http_url`]), e.g.
    /// with other credentials. Stops on [`HttpServer::shutdown`], on drop, or when the mail
    /// server shuts down.
    pub async fn start(server: &TestServer, config: HttpConfig) -> std::io::Result<HttpServer> {
        let listener = TcpListener::bind(config.addr).await?;
        Ok(Self::serve_on(
            listener,
            server.shared.clone(),
            server.addrs(),
            config,
        ))
    }

    /// Serves a bound listener (spawned on the current runtime).
    pub(crate) fn serve_on(
        listener: TcpListener,
        shared: Arc<Shared>,
        addrs: Addrs,
        config: HttpConfig,
    ) -> HttpServer {
        let addr = listener.local_addr().unwrap_or(config.addr);
        let api = Arc::new(api::Api::new(shared.clone(), addrs));
        let oauth = oauth::http::handler(shared.clone(), config.auth.clone(), config.tls, addr);
        let router = config
            .extra
            .mount_public("/oauth2/", oauth)
            .mount("/api/", api::handler(api.clone()))
            .mount("/", web::handler());
        let (stop, stop_rx) = watch::channel(false);
        let front = Arc::new(Front {
            router,
            auth: config.auth,
            tls: config.tls,
            shared,
        });
        let task = tokio::spawn(serve(listener, front, stop_rx));
        HttpServer {
            addr,
            tls: config.tls,
            stop,
            task: Some(task),
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether it serves HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// `http://127.0.0.1:PORT`, or `https://…` with TLS (the base of every path in
    /// `docs/api.md`).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Base URL of the OAuth2 authorization server on this side: `{url}/oauth2`.
    pub fn oauth2_url(&self) -> String {
        format!("{}/oauth2", self.url())
    }

    /// Stops accepting; open requests get a moment to finish.
    pub async fn shutdown(mut self) {
        self.stop().await;
    }

    /// [`shutdown`](HttpServer::shutdown) for an owner that keeps the value.
    pub(crate) async fn stop(&mut self) {
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

/// What every connection shares: routes, credentials, TLS, and the server (for its shutdown
/// and its certificate).
struct Front {
    router: Router,
    auth: HttpAuth,
    tls: bool,
    shared: Arc<Shared>,
}

async fn serve(listener: TcpListener, front: Arc<Front>, mut stop: watch::Receiver<bool>) {
    let mut down = front.shared.shutdown();
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let stream = tokio::select! {
            s = http1::accept(&listener, "http") => s,
            _ = until_shutdown(&mut stop) => break,
            _ = until_shutdown(&mut down) => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        let _ = stream.set_nodelay(true);
        let front = front.clone();
        let mut stop = stop.clone();
        let mut down = front.shared.shutdown();
        conns.spawn(async move {
            let mut stream = ServerStream::Plain(stream);
            if front.tls {
                let handshake = stream.upgrade(front.shared.tls.acceptor());
                match tokio::time::timeout(HEADER_TIMEOUT, handshake).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "http: TLS handshake failed");
                        return;
                    }
                    Err(_) => return,
                }
            }
            let stop = async {
                tokio::select! {
                    _ = until_shutdown(&mut stop) => {},
                    _ = until_shutdown(&mut down) => {},
                }
            };
            let respond = move |req| {
                let front = front.clone();
                async move { front.respond(req).await }
            };
            http1::serve_connection(stream, HEADER_TIMEOUT, respond, stop, "http").await;
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
        let public = self.router.find(req.uri().path()).is_some_and(|r| r.public);
        if !public && let Some(refusal) = self.auth.check(req.headers()) {
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

/// A page the browser renders (the web view, or a message's HTML body): its type, the
/// policy it runs under, no referrer, and not stored.
pub(crate) fn page(body: Bytes, content_type: &'static str, csp: &'static str) -> Response {
    let mut r = hyper::Response::new(Full::new(body));
    let headers = r.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        hyper::header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    headers.insert(
        hyper::header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
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
