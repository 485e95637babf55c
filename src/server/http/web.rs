//! The web view: one static page with plain JavaScript (embedded in the binary, no build
//! step) that reads the JSON API — mailboxes, a live message list, a message page with the
//! HTML body in a sandboxed iframe — served under a policy that allows only this origin.

use bytes::Bytes;
use hyper::header::HeaderValue;
use hyper::{Method, StatusCode};

use super::{Handler, Request, Response, error, page};

const INDEX: &str = include_str!("web/index.html");
const APP_JS: &str = include_str!("web/app.js");
const APP_CSS: &str = include_str!("web/app.css");

/// What the page may load: its own script, style and API, message HTML framed from the API.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; frame-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// The handler the router mounts on `/`.
pub fn handler() -> impl Handler {
    |req: Request| async move { respond(&req) }
}

fn respond(req: &Request) -> Response {
    let path = req.uri().path();
    let asset = match path {
        "/" | "/index.html" => Some((INDEX, "text/html; charset=utf-8")),
        "/assets/app.js" => Some((APP_JS, "text/javascript; charset=utf-8")),
        "/assets/app.css" => Some((APP_CSS, "text/css; charset=utf-8")),
        p if p.starts_with("/messages/") && !p[10..].contains('/') => {
            Some((INDEX, "text/html; charset=utf-8"))
        }
        _ => None,
    };
    let Some((body, ctype)) = asset else {
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such page: the web view is at / and the API under /api/v1/",
        );
    };
    if req.method() != Method::GET {
        let mut r = error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "pages take GET",
        );
        r.headers_mut()
            .insert(hyper::header::ALLOW, HeaderValue::from_static("GET"));
        return r;
    }
    page(Bytes::from_static(body.as_bytes()), ctype, PAGE_CSP)
}
