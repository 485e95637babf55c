//! Connections shared by the SMTP and IMAP sides: DNS + TCP with timeouts, the handshake over
//! [`crate::tls`] (one context per set of TLS options), and the sniffing that tells a
//! TLS-mode mismatch (implicit TLS vs STARTTLS/plain) from other handshake failures.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_openssl::SslStream;

use super::seen::Seen;
use crate::config::{Account, Endpoint, Security};
use crate::diagnose::{self, Code, Diagnosis, Protocol};
use crate::streams::{ReadWrite, Variants, read_write_through_variants};
use crate::tls::{self, TlsOptions, context};

/// Longest wait for one connect, handshake or command, whatever the deadline.
pub const STEP_MAX: Duration = Duration::from_secs(15);

/// The per-command limit while watching a mailbox: at most a third of the whole wait, so a
/// command that never gets an answer is given up and the watch reconnects (resuming from its
/// watermark) with time left to find the message.
pub fn watch_step(step: Duration, timeout: Duration) -> Duration {
    step.min(timeout / 3).max(Duration::from_millis(500))
}

/// The diagnose protocol for an endpoint.
pub fn protocol(ep: &Endpoint) -> Protocol {
    ep.protocol.into()
}

/// Refuses plaintext to a non-loopback host unless the account allows it.
pub fn check_plaintext(account: &Account, ep: &Endpoint) -> Result<(), Diagnosis> {
    if ep.security == Security::Plain && !ep.is_loopback() && !account.allow_plaintext {
        let (tls, starttls) = match ep.protocol {
            crate::config::Protocol::Smtp => ("smtps", "smtp+starttls"),
            crate::config::Protocol::Imap => ("imaps", "imap+starttls"),
        };
        return Err(Diagnosis::new(
            Code::ServerError,
            format!("refusing to send credentials in plaintext to {ep}"),
            format!(
                "use {tls}://{host} or {starttls}://{host}, or allow plaintext explicitly \
                 (allow_plaintext) if this network is trusted",
                host = ep.host
            ),
        ));
    }
    Ok(())
}

/// For an OAuth2 login that was refused, says what usually is wrong with a token instead of
/// the password advice.
pub fn oauth2_hint(account: &Account, mut d: Diagnosis) -> Diagnosis {
    if account.credential.is_oauth2() && d.code == Code::AuthRejected {
        d.hint = "The OAuth2 access token was refused: it may have expired (they usually last \
                  an hour; fetch a fresh one with --oauth2-token-command), lack the mail scope \
                  (Google: https://mail.google.com/; Microsoft: SMTP.Send and \
                  IMAP.AccessAsUser.All), or belong to a different user than the login."
            .into();
        if let Some(s) = account.credential.token_source() {
            d.hint = format!(
                "The OAuth2 access token from `mailtrip login` was refused: the sign-in may lack \
                 the mail scope, belong to a different user than {}, or have been revoked; \
                 sign in again: `{}`.",
                account.user,
                s.relogin()
            );
        }
    }
    d
}

/// The connect every session starts with: the plaintext policy, then TCP within `limit`.
/// Returns the stream and the peer's address (the endpoint's authority if the socket cannot
/// say).
pub async fn connect(
    account: &Account,
    ep: &Endpoint,
    limit: Duration,
) -> Result<(TcpStream, String), Diagnosis> {
    check_plaintext(account, ep)?;
    let tcp = tcp_connect(ep, limit).await?;
    let peer = tcp
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| ep.authority());
    Ok((tcp, peer))
}

/// Resolves and connects, trying every address, within `limit`.
pub async fn tcp_connect(ep: &Endpoint, limit: Duration) -> Result<TcpStream, Diagnosis> {
    let proto = protocol(ep);
    let authority = ep.authority();
    let lookup = tokio::net::lookup_host((ep.host.as_str(), ep.port));
    let addrs: Vec<SocketAddr> = match tokio::time::timeout(limit, lookup).await {
        Ok(Ok(addrs)) => addrs.collect(),
        Ok(Err(e)) => {
            return Err(diagnose::transport(
                Code::DnsFailed,
                proto,
                &authority,
                &format!("cannot resolve {}: {e}", ep.host),
            ));
        }
        Err(_) => {
            return Err(diagnose::transport(
                Code::DnsFailed,
                proto,
                &authority,
                &format!("resolving {} took longer than {limit:?}", ep.host),
            ));
        }
    };
    if addrs.is_empty() {
        return Err(diagnose::transport(
            Code::DnsFailed,
            proto,
            &authority,
            &format!("{} has no addresses", ep.host),
        ));
    }
    let mut last = None;
    for addr in &addrs {
        tracing::debug!(%addr, "connecting");
        match tokio::time::timeout(limit, TcpStream::connect(addr)).await {
            Ok(Ok(tcp)) => {
                let _ = tcp.set_nodelay(true);
                return Ok(tcp);
            }
            Ok(Err(e)) => {
                let code = if e.kind() == io::ErrorKind::ConnectionRefused {
                    Code::ConnectRefused
                } else {
                    Code::ConnectTimeout
                };
                last = Some((code, format!("{addr}: {e}")));
            }
            Err(_) => {
                last = Some((
                    Code::ConnectTimeout,
                    format!("{addr}: no answer within {:.1} s", limit.as_secs_f64()),
                ));
            }
        }
    }
    let (code, detail) = last.unwrap_or((Code::ConnectTimeout, "no address".into()));
    Err(diagnose::transport(code, proto, &authority, &detail))
}

/// A stream that remembers the first bytes the peer sent, to recognise a plaintext banner
/// (`220 ...`, `* OK ...`) arriving where a TLS handshake was expected.
#[derive(Debug)]
pub struct Sniff<S> {
    inner: S,
    seen: Arc<Seen>,
}

impl<S> Sniff<S> {
    pub fn new(inner: S) -> (Sniff<S>, Arc<Seen>) {
        let seen = Seen::new();
        (
            Sniff {
                inner,
                seen: seen.clone(),
            },
            seen,
        )
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

/// A socket that can be asked to acknowledge the next segments at once.
pub trait QuickAck {
    /// TCP_QUICKACK, best effort (a no-op off Linux).
    fn ack_quickly(&self);
}

impl QuickAck for TcpStream {
    fn ack_quickly(&self) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let _ = self.set_quickack(true);
    }
}

/// Before each read the socket is put in quick-ACK mode: a server with Nagle on (Postfix's
/// smtpd) that sends TLS 1.3 session tickets and then its greeting or EHLO reply holds the
/// second write until the first is ACKed, and a delayed ACK made that ~40 ms per handshake.
impl<S: AsyncRead + Unpin + QuickAck> AsyncRead for Sniff<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.inner.ack_quickly();
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = res {
            self.seen.record(&buf.filled()[before..]);
        }
        res
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Sniff<S> {
    write_through_inner!(all);
}

/// A TLS stream over a sniffed TCP connection.
pub type TlsTcp = SslStream<Sniff<TcpStream>>;

/// Whether bytes from the server look like a plaintext banner of `protocol`.
fn looks_like_banner(seen: &[u8]) -> bool {
    seen.starts_with(b"220") || seen.starts_with(b"* OK") || seen.starts_with(b"* PREAUTH")
}

/// Implicit-TLS handshake over `tcp` within `limit`, mapping failures to a diagnosis.
/// `starttls_scheme` is what to suggest when the server turns out to speak plaintext first.
pub async fn implicit_tls(
    tls: &TlsOptions,
    ep: &Endpoint,
    tcp: TcpStream,
    limit: Duration,
    starttls_scheme: &str,
) -> Result<TlsTcp, Diagnosis> {
    let proto = protocol(ep);
    let authority = ep.authority();
    let ctx = context(tls)
        .map_err(|e| diagnose::transport(Code::TlsHandshakeFailed, proto, &authority, &e))?;
    let (sniff, seen) = Sniff::new(tcp);
    let handshake = tls::connect(&ctx, &ep.host, tls.insecure_skip_verify, sniff);
    let result = tokio::time::timeout(limit, handshake).await;
    let seen = seen.head();
    match result {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(tls_error(ep, &e, &seen, starttls_scheme)),
        Err(_) if looks_like_banner(&seen) => Err(mismatch_plain(ep, &seen, starttls_scheme)),
        Err(_) => {
            let mut d = diagnose::transport(
                Code::Timeout,
                proto,
                &authority,
                &format!(
                    "TLS handshake got no answer within {:.1} s",
                    limit.as_secs_f64()
                ),
            );
            d.hint = format!(
                "The server accepted the connection but never answered the TLS handshake: check \
                 that this port speaks implicit TLS (else use {starttls_scheme}://{authority}) \
                 and that no firewall or proxy holds TLS traffic; retry if the server is overloaded."
            );
            Err(d)
        }
    }
}

fn mismatch_plain(ep: &Endpoint, seen: &[u8], starttls_scheme: &str) -> Diagnosis {
    let banner = String::from_utf8_lossy(seen);
    let banner = banner.lines().next().unwrap_or("").trim();
    diagnose::tls_mode_mismatch(
        protocol(ep),
        &ep.authority(),
        &format!("answered in plaintext ({banner:?}) instead of a TLS handshake"),
        &format!("{starttls_scheme}://{}", ep.authority()),
    )
}

/// Maps a TLS error text (OpenSSL's, with the verification result) to a diagnosis.
pub fn tls_error(ep: &Endpoint, text: &str, seen: &[u8], starttls_scheme: &str) -> Diagnosis {
    if super::seen::is_http(seen) {
        // A web server answering our ClientHello: no TLS mode will help.
        // A TLS library reads the 5-byte record header first: often all there is of the line.
        let line = super::seen::first_line(seen).unwrap_or_else(|| {
            format!("{}…", String::from_utf8_lossy(&seen[..seen.len().min(64)]))
        });
        return diagnose::speaks_http(protocol(ep), &ep.authority(), &line);
    }
    let lower = text.to_ascii_lowercase();
    if looks_like_banner(seen)
        || lower.contains("wrong version number")
        || lower.contains("packet length too long")
        || lower.contains("http request")
    {
        return mismatch_plain(ep, seen, starttls_scheme);
    }
    match diagnose::CertProblem::from_tls_error(text) {
        Some(problem) => diagnose::tls_certificate(protocol(ep), &ep.authority(), problem, text),
        None => diagnose::transport(
            Code::TlsHandshakeFailed,
            protocol(ep),
            &ep.authority(),
            text,
        ),
    }
}

/// Whether the port speaks implicit TLS: a handshake that skips verification succeeds.
/// Used to explain a missing plaintext greeting.
pub async fn speaks_tls(ep: &Endpoint, limit: Duration) -> bool {
    let Ok(Ok(tcp)) = tokio::time::timeout(limit, TcpStream::connect(ep.authority())).await else {
        return false;
    };
    let insecure = TlsOptions {
        extra_roots_pem: Vec::new(),
        insecure_skip_verify: true,
    };
    let Ok(ctx) = context(&insecure) else {
        return false;
    };
    matches!(
        tokio::time::timeout(limit, tls::connect(&ctx, &ep.host, true, tcp)).await,
        Ok(Ok(_))
    )
}

/// The socket under async-imap: plaintext (before STARTTLS, or loopback) or TLS.
#[derive(Debug)]
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsTcp>),
}

impl Variants for Stream {
    fn io(self: Pin<&mut Self>) -> Option<Pin<&mut dyn ReadWrite>> {
        match self.get_mut() {
            Stream::Plain(s) => Some(Pin::new(s)),
            Stream::Tls(s) => Some(Pin::new(s.as_mut())),
        }
    }
}

read_write_through_variants!(Stream);
