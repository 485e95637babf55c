//! The authorization server over HTTP: the handler the server's HTTP side mounts on `/oauth2/`
//! (beside the API and the web view; HTTPS when that side serves TLS). It takes no part in
//! the side's credentials (the token endpoint authenticates clients itself), except that with
//! credentials configured (`--allow-remote`, `--http-auth`) consent needs them: the
//! `/authorize` and `/device` pages ask for them as a provider's sign-in page would, and
//! polling alone never consents. Request bodies are capped; no token, code or secret is ever
//! logged.
//!
//! | path | method | does |
//! |---|---|---|
//! | `/oauth2/devicecode` | POST | device authorization (RFC 8628 3.1) |
//! | `/oauth2/device` | GET | the verification page; with `?user_code=` it consents at once |
//! | `/oauth2/authorize` | GET | consents automatically and redirects with a code (PKCE required) |
//! | `/oauth2/token` | POST | device-code, authorization-code and refresh-token grants |

use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, HOST, HeaderValue, LOCATION, PRAGMA,
};
use hyper::{Method, StatusCode};

use super::{AuthorizeReply, ErrorReply, Params};
use crate::server::Shared;
use crate::server::http::{Handler, HttpAuth, Request, Response};

/// Largest request body read (form posts are a few hundred bytes).
const MAX_BODY: usize = 64 * 1024;

/// The `/oauth2/` handler of an HTTP side listening on `addr` with credentials `auth`
/// (consent asks for them) over TLS or not (the URLs it hands out say which).
pub fn handler(shared: Arc<Shared>, auth: HttpAuth, tls: bool, addr: SocketAddr) -> impl Handler {
    let side = Arc::new(Side { auth, tls, addr });
    move |req: Request| {
        let shared = shared.clone();
        let side = side.clone();
        async move { handle(&shared, &side, req) }
    }
}

/// How the HTTP side the handler is mounted on is reached.
struct Side {
    auth: HttpAuth,
    tls: bool,
    addr: SocketAddr,
}

impl Side {
    /// `https://HOST/oauth2` as the client named this server (its `Host` header), so the
    /// verification URI works from wherever the client is; the listening address otherwise.
    fn base_url(&self, req: &Request) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        let host = req
            .headers()
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
            .map_or_else(|| self.addr.to_string(), str::to_string);
        format!("{scheme}://{host}/oauth2")
    }
}

/// Answers one request for the `/oauth2/` paths.
fn handle(shared: &Shared, side: &Side, req: Request) -> Response {
    let base_url = side.base_url(&req);
    let base_url = base_url.as_str();
    let path = req.uri().path().to_string();
    let path = path.strip_prefix("/oauth2").unwrap_or(&path).to_string();
    let query: Params = req
        .uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let method = req.method().clone();
    tracing::debug!(%method, path, "oauth2 request");
    let oauth = &shared.oauth;
    // Consent is the user's sign-in: where the side wants credentials, so does consent.
    if method == Method::GET
        && matches!(path.as_str(), "/authorize" | "/device")
        && let Some(refusal) = side.auth.check(req.headers())
    {
        return refusal;
    }
    match (method, path.as_str()) {
        (Method::POST, "/devicecode" | "/device_authorization") => {
            let form = match form(&req) {
                Ok((f, _)) => f,
                Err(e) => return error(&e),
            };
            match oauth.device_authorization(&form, base_url) {
                Ok(reply) => json(StatusCode::OK, &reply),
                Err(e) => error(&e),
            }
        }
        (Method::POST, "/token") => {
            let (form, basic) = match form(&req) {
                Ok(f) => f,
                Err(e) => return error(&e),
            };
            let auto_consent = matches!(side.auth, HttpAuth::None);
            let reply = shared.consume_fault(|f| {
                oauth.token(&shared.store, &mut f.oauth2, &form, basic, auto_consent)
            });
            match reply {
                Ok(reply) => json(StatusCode::OK, &reply),
                Err(e) => error(&e),
            }
        }
        (Method::GET, "/authorize") => {
            match oauth.authorize(&shared.store, &shared.faults().oauth2, &query) {
                AuthorizeReply::Redirect(to) => {
                    let mut r = html(StatusCode::FOUND, "Redirecting", "Back to the application…");
                    if let Ok(v) = HeaderValue::from_str(&to) {
                        r.headers_mut().insert(LOCATION, v);
                    }
                    r
                }
                AuthorizeReply::BadRequest(why) => html(
                    StatusCode::BAD_REQUEST,
                    "Bad authorization request",
                    &escape(&why),
                ),
            }
        }
        (Method::GET, "/device") => match query.get("user_code") {
            None => html(
                StatusCode::OK,
                "Sign in to mailtrip's test server",
                "<form method=\"get\"><label>Code <input name=\"user_code\" autofocus></label> \
                 <button>Continue</button></form>",
            ),
            Some(code) => match oauth.approve_device(&shared.store, code) {
                Some(user) => html(
                    StatusCode::OK,
                    "Signed in",
                    &format!(
                        "Signed in as {}. You can return to the application.",
                        escape(&user)
                    ),
                ),
                None => html(
                    StatusCode::BAD_REQUEST,
                    "Unknown code",
                    "That code is unknown or has expired.",
                ),
            },
        },
        (Method::GET, "" | "/") => json(
            StatusCode::OK,
            &serde_json::json!({
                "device_authorization_endpoint": format!("{base_url}/devicecode"),
                "authorization_endpoint": format!("{base_url}/authorize"),
                "token_endpoint": format!("{base_url}/token"),
            }),
        ),
        (_, "/devicecode" | "/device_authorization" | "/token" | "/authorize" | "/device") => html(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed",
            "Wrong method for this path.",
        ),
        _ => html(
            StatusCode::NOT_FOUND,
            "Not found",
            "No such OAuth2 endpoint.",
        ),
    }
}

/// Reads a form-encoded body and the `Authorization: Basic` client credentials, if any.
fn form(req: &Request) -> Result<(Params, Option<(String, String)>), ErrorReply> {
    let basic = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| BASE64.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            // RFC 6749 2.3.1: both parts are form-urlencoded before joining.
            let (id, secret) = s.split_once(':')?;
            let decode = |p: &str| {
                url::form_urlencoded::parse(format!("x={p}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
            };
            Some((decode(id)?, decode(secret)?))
        });
    let body = req.body();
    if body.len() > MAX_BODY {
        return Err(ErrorReply::new(
            "invalid_request",
            "the request body is too large",
        ));
    }
    let params = url::form_urlencoded::parse(body).into_owned().collect();
    Ok((params, basic))
}

/// A JSON reply that no cache may keep (RFC 6749 5.1).
fn json<T: serde::Serialize>(status: StatusCode, body: &T) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut r = Response::new(Full::new(Bytes::from(bytes)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

fn error(e: &ErrorReply) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut r = json(
        status,
        &serde_json::json!({"error": e.error, "error_description": e.description}),
    );
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut()
            .insert("WWW-Authenticate", HeaderValue::from_static("Basic"));
    }
    r
}

fn html(status: StatusCode, title: &str, body: &str) -> Response {
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><h1>{title}</h1><p>{body}</p></body></html>\n"
    );
    let mut r = Response::new(Full::new(Bytes::from(page)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
