//! The HTTPS client the OAuth2 grants talk through: one request per connection over hyper's
//! HTTP/1 client and the same OpenSSL client TLS as the mail connections (`crate::tls`:
//! system roots plus `--ca-file`, verified unless `--insecure-skip-verify`), no redirects
//! followed, every step bounded. Plain `http://` is allowed to loopback hosts only.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use oauth2::http::{self, HeaderValue, Uri, header};
use oauth2::{HttpRequest, HttpResponse};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::tls::TlsOptions;

/// Largest response body read (token responses are a few kilobytes).
const MAX_BODY: usize = 1024 * 1024;

/// A failed request. The message names the host and what failed, never the request.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct HttpError {
    message: String,
    timed_out: bool,
}

impl HttpError {
    fn new(message: impl Into<String>) -> HttpError {
        HttpError {
            message: message.into(),
            timed_out: false,
        }
    }

    fn timeout(what: &str, limit: Duration) -> HttpError {
        HttpError {
            message: format!("{what} took longer than {limit:?}"),
            timed_out: true,
        }
    }

    /// Whether the request ran out of time.
    pub fn is_timeout(&self) -> bool {
        self.timed_out
    }
}

/// Who to trust and how long to wait.
#[derive(Debug, Clone)]
pub struct HttpClient {
    /// The account's TLS options: extra roots (`--ca-file`, the embedded server's CA) and
    /// `--insecure-skip-verify`, exactly as its SMTP and IMAP connections use them.
    pub tls: TlsOptions,
    /// Limit for connecting, the TLS handshake, and the whole exchange, each.
    pub timeout: Duration,
}

impl Default for HttpClient {
    fn default() -> Self {
        HttpClient {
            tls: TlsOptions::default(),
            timeout: Duration::from_secs(30),
        }
    }
}

/// The `oauth2` crate's async client interface, with a `Send` future so sign-ins run on any
/// tokio worker.
impl<'c> oauth2::AsyncHttpClient<'c> for HttpClient {
    type Error = HttpError;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>,
    >;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

impl HttpClient {
    /// Sends one request and reads the whole response (for the `oauth2` crate's async client).
    pub async fn send(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let uri = req.uri().clone();
        let host = uri
            .host()
            .ok_or_else(|| HttpError::new(format!("{uri} has no host")))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") if is_loopback(&host) => false,
            _ => {
                return Err(HttpError::new(format!(
                    "{} is not an https:// URL (plain http:// is allowed to loopback only)",
                    redact(&uri)
                )));
            }
        };
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let limit = self.timeout;
        let tcp = tokio::time::timeout(limit, TcpStream::connect((host.as_str(), port)))
            .await
            .map_err(|_| HttpError::timeout(&format!("connecting to {host}:{port}"), limit))?
            .map_err(|e| HttpError::new(format!("cannot connect to {host}:{port}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let stream: Box<dyn Io> = if tls {
            let ctx = crate::tls::context(&self.tls).map_err(HttpError::new)?;
            let insecure = self.tls.insecure_skip_verify;
            let handshake = crate::tls::connect(&ctx, &host, insecure, tcp);
            let s = tokio::time::timeout(limit, handshake)
                .await
                .map_err(|_| HttpError::timeout(&format!("the TLS handshake with {host}"), limit))?
                .map_err(|e| HttpError::new(format!("TLS with {host}:{port} failed: {e}")))?;
            Box::new(s)
        } else {
            Box::new(tcp)
        };
        let exchange = exchange(stream, req, &uri, &host, port, tls);
        tokio::time::timeout(limit, exchange)
            .await
            .map_err(|_| HttpError::timeout(&format!("the request to {host}"), limit))?
    }
}

async fn exchange(
    stream: Box<dyn Io>,
    req: HttpRequest,
    uri: &Uri,
    host: &str,
    port: u16,
    tls: bool,
) -> Result<HttpResponse, HttpError> {
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| HttpError::new(format!("HTTP with {host} failed: {e}")))?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let (mut parts, body) = req.into_parts();
    // Origin-form on the wire, and a Host header (the connection API adds none).
    parts.uri = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .parse()
        .unwrap_or_else(|_| Uri::from_static("/"));
    let default_port = if tls { 443 } else { 80 };
    let authority = match (host.contains(':'), port == default_port) {
        (true, true) => format!("[{host}]"),
        (true, false) => format!("[{host}]:{port}"),
        (false, true) => host.to_string(),
        (false, false) => format!("{host}:{port}"),
    };
    if let Ok(v) = HeaderValue::from_str(&authority) {
        parts.headers.insert(header::HOST, v);
    }
    parts
        .headers
        .entry(header::USER_AGENT)
        .or_insert(HeaderValue::from_static(concat!(
            "mailtrip/",
            env!("CARGO_PKG_VERSION")
        )));
    let request = http::Request::from_parts(parts, Full::new(Bytes::from(body)));
    let result = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| HttpError::new(format!("HTTP with {host} failed: {e}")))?;
        let (parts, body) = response.into_parts();
        let bytes = Limited::new(body, MAX_BODY)
            .collect()
            .await
            .map_err(|e| HttpError::new(format!("reading the answer from {host} failed: {e}")))?
            .to_bytes();
        Ok(http::Response::from_parts(parts, bytes.to_vec()))
    }
    .await;
    driver.abort();
    result
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The URL without its query (which may carry codes) for messages.
pub fn redact(uri: &Uri) -> String {
    format!(
        "{}://{}{}",
        uri.scheme_str().unwrap_or(""),
        uri.authority().map(|a| a.as_str()).unwrap_or(""),
        uri.path()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn plain_http_is_refused_to_remote_hosts() {
        let req = http::Request::builder()
            .uri("http://login.example.com/token")
            .body(Vec::new())
            .expect("request");
        let e = HttpClient::default()
            .send(req)
            .await
            .expect_err("plain http");
        assert!(e.to_string().contains("https://"), "{e}");
    }
}
