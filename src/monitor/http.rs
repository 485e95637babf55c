//! The monitor's HTTP side on hyper's HTTP/1 server: `GET /metrics` (OpenMetrics text),
//! `GET /probe?route=NAME` (one probe during the scrape), `GET /readyz` (200 only while every
//! route's last probe reached the inbox) and `GET /healthz` (200 while the process runs);
//! anything else is 404 or 405.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::{Ctx, blackbox};
use crate::http1;

/// The content type of OpenMetrics text exposition.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A client that has not sent its request headers by then is dropped.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves until `stop` turns true; open connections get a second to finish.
pub async fn serve(listener: TcpListener, ctx: Arc<Ctx>, mut stop: watch::Receiver<bool>) {
    loop {
        let stream = tokio::select! {
            s = http1::accept(&listener, "monitor") => s,
            _ = stop.changed() => return,
        };
        let ctx = ctx.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let respond = move |req| {
                let ctx = ctx.clone();
                async move { respond(&ctx, &req).await }
            };
            let stop = async {
                let _ = stop.changed().await;
            };
            http1::serve_connection(stream, HEADER_TIMEOUT, respond, stop, "monitor").await;
        });
    }
}

async fn respond(ctx: &Arc<Ctx>, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    // A HEAD must not send a probe: /probe is GET only.
    let allowed = match path {
        "/metrics" | "/healthz" | "/readyz" | "/" => "GET, HEAD",
        "/probe" => "GET",
        _ => "",
    };
    let method_ok =
        req.method() == Method::GET || (req.method() == Method::HEAD && allowed.contains("HEAD"));
    if !allowed.is_empty() && !method_ok {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, format!("only {allowed}\n"));
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static(allowed));
        return r;
    }
    match path {
        "/metrics" => openmetrics(ctx.metrics.encode()),
        "/probe" => {
            let header = req
                .headers()
                .get(blackbox::SCRAPE_TIMEOUT_HEADER)
                .map(|v| v.as_bytes());
            let answer = blackbox::probe(ctx, req.uri().query(), header).await;
            if answer.status == StatusCode::OK {
                openmetrics(answer.body)
            } else {
                text(answer.status, answer.body)
            }
        }
        "/healthz" => text(StatusCode::OK, "ok\n".into()),
        "/readyz" => {
            let (ready, body) = ctx.last.readiness(&ctx.routes);
            let status = if ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            text(status, body)
        }
        "/" => text(
            StatusCode::OK,
            "mailtrip monitor: /metrics (OpenMetrics), /probe?route=NAME (one probe, \
             blackbox-style), /readyz (each route's last probe), /healthz (process alive)\n"
                .into(),
        ),
        _ => text(StatusCode::NOT_FOUND, "not found: try /metrics\n".into()),
    }
}

fn openmetrics(body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(OPENMETRICS));
    r
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}
