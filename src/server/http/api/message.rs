//! `/api/v1/messages/{id}`: one message in full (headers, text, HTML, links, attachments),
//! its raw source, its HTML body under a strict CSP, one attachment, or its deletion.

use bytes::Bytes;
use http_body_util::Full;
use hyper::StatusCode;
use hyper::header::{CONTENT_DISPOSITION, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HeaderValue};
use serde::Serialize;

use super::super::view::{Addr, Attachment, Header};
use super::super::{Response, error, json, no_store, page};
use super::messages::{Summary, summary};
use super::{Api, unknown};

/// The policy the HTML body is served under: no scripts, no remote anything (images,
/// styles, fonts, frames, forms), shown only inside this server's own pages.
pub const HTML_CSP: &str = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; \
     font-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'; sandbox";

/// One message in full.
#[derive(Debug, Serialize)]
struct Detail<'a> {
    #[serde(flatten)]
    summary: Summary<'a>,
    bcc: &'a [Addr],
    reply_to: &'a [Addr],
    headers: &'a [Header],
    text: &'a str,
    html: Option<&'a str>,
    links: Vec<String>,
    attachments: Vec<AttachmentOut<'a>>,
    raw_url: String,
    html_url: Option<String>,
}

#[derive(Debug, Serialize)]
struct AttachmentOut<'a> {
    #[serde(flatten)]
    attachment: &'a Attachment,
    url: String,
}

impl Api {
    pub(super) fn detail(&self, id: &str) -> Response {
        let Some(f) = self.find(id) else {
            return unknown(id);
        };
        let p = self.parsed(&f);
        let base = format!("/api/v1/messages/{}", f.id());
        let attachments = p
            .attachments
            .iter()
            .map(|a| AttachmentOut {
                attachment: a,
                url: format!("{base}/attachments/{}", a.index),
            })
            .collect();
        let detail = Detail {
            summary: summary(&f, &p),
            bcc: &p.bcc,
            reply_to: &p.reply_to,
            headers: &p.headers,
            text: &p.text,
            html: p.html.as_deref(),
            links: p.links(),
            attachments,
            raw_url: format!("{base}/raw"),
            html_url: p.html.as_ref().map(|_| format!("{base}/html")),
        };
        json(StatusCode::OK, &detail)
    }

    pub(super) fn raw(&self, id: &str) -> Response {
        let Some(f) = self.find(id) else {
            return unknown(id);
        };
        let mut r = hyper::Response::new(Full::new(f.msg.raw.clone()));
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        sandboxed(r)
    }

    pub(super) fn html(&self, id: &str) -> Response {
        let Some(f) = self.find(id) else {
            return unknown(id);
        };
        let Some(html) = self.parsed(&f).html.clone() else {
            return error(
                StatusCode::NOT_FOUND,
                "no_html",
                &format!("message {id} has no HTML body"),
            );
        };
        page(Bytes::from(html), "text/html; charset=utf-8", HTML_CSP)
    }

    pub(super) fn attachment(&self, id: &str, n: &str) -> Response {
        let Some(f) = self.find(id) else {
            return unknown(id);
        };
        let got = n
            .parse::<usize>()
            .ok()
            .and_then(|i| super::super::view::attachment(&f.msg.raw, i));
        let Some((a, bytes)) = got else {
            return error(
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("message {id} has no attachment {n}"),
            );
        };
        let mut r = hyper::Response::new(Full::new(Bytes::from(bytes)));
        let ctype = HeaderValue::from_str(&a.content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream"));
        r.headers_mut().insert(CONTENT_TYPE, ctype);
        let name: String = a
            .filename
            .as_deref()
            .unwrap_or("attachment")
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() && !"\"\\;/".contains(c) || c == ' ' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
            r.headers_mut().insert(CONTENT_DISPOSITION, v);
        }
        sandboxed(r)
    }

    pub(super) fn delete_one(&self, id: &str) -> Response {
        let Some(f) = self.find(id) else {
            return unknown(id);
        };
        let removed = self
            .shared
            .store
            .remove(&f.owner, &f.folder, &[f.msg.uid])
            .map(|r| r.len())
            .unwrap_or(0);
        json(StatusCode::OK, &serde_json::json!({ "deleted": removed }))
    }
}

/// Content from a message, served so a browser never runs it on this origin.
fn sandboxed(mut r: Response) -> Response {
    r.headers_mut().insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    no_store(r)
}
