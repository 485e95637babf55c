//! Finding out what a silent or strange port really is, for a diagnosis: one that sends no
//! greeting may expect implicit TLS or speak HTTP. Each probe is a fresh connection that
//! sends no credentials.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::net;
use super::seen;
use crate::config::Endpoint;
use crate::diagnose::{self, Diagnosis};

/// Whether the port answers an HTTP request with an HTTP status line; returns that line.
pub async fn speaks_http(ep: &Endpoint, limit: Duration) -> Option<String> {
    let probe = async {
        let mut tcp = TcpStream::connect(ep.authority()).await.ok()?;
        tcp.write_all(b"HEAD / HTTP/1.0\r\n\r\n").await.ok()?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 256];
        while buf.len() < 256 {
            let n = tcp.read(&mut chunk).await.ok()?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.contains(&b'\n') {
                break;
            }
        }
        seen::is_http(&buf).then(|| seen::first_line(&buf).unwrap_or_default())
    };
    tokio::time::timeout(limit, probe).await.ok().flatten()
}

/// A port that sent no greeting: does it wait for a TLS handshake (a TLS-mode mismatch), or
/// speak HTTP? `None` when it is neither (a slow or hung mail server).
pub async fn silent_port(ep: &Endpoint, limit: Duration, tls_scheme: &str) -> Option<Diagnosis> {
    let (tls, http) = tokio::join!(net::speaks_tls(ep, limit), speaks_http(ep, limit));
    if tls {
        return Some(diagnose::tls_mode_mismatch(
            net::protocol(ep),
            &ep.authority(),
            "sent no greeting but answers a TLS handshake (it expects implicit TLS)",
            &format!("{tls_scheme}://{}", ep.authority()),
        ));
    }
    http.map(|line| diagnose::speaks_http(net::protocol(ep), &ep.authority(), &line))
}
