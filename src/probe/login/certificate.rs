//! Certificates for [`Verify`] and the monitor: the one an endpoint presents, fetched without
//! verifying it or sending credentials, and its subject, issuer, validity and names (OpenSSL).

use std::time::Duration;

use tokio::time::timeout;

use super::peer_der;
use crate::config::{Account, Security};
use crate::diagnose::CertProblem;
use crate::probe::net;
use crate::probe::{imap, smtp};
use crate::report::verify::CertificateInfo;

/// The certificate an account's SMTP (`smtp` true) or IMAP endpoint presents, fetched
/// without verifying it and without AUTH or LOGIN (`insecure` skips verification).
pub(super) async fn presented(insecure: &Account, smtp: bool, step: Duration) -> Option<Vec<u8>> {
    let (ep, starttls_scheme) = if smtp {
        (&insecure.smtp, "smtp+starttls")
    } else {
        (&insecure.imap, "imap+starttls")
    };
    let tcp = net::tcp_connect(ep, step).await.ok()?;
    match ep.security {
        Security::Tls => {
            let tls = net::implicit_tls(&insecure.tls, ep, tcp, step, starttls_scheme)
                .await
                .ok()?;
            peer_der(&tls)
        }
        Security::StartTls if smtp => {
            let (mut conn, plain) = smtp::greet_plain(tcp, insecure, step).await.ok()?;
            let der = smtp::starttls(&mut conn, plain, insecure, step)
                .await
                .ok()?;
            let _ = timeout(Duration::from_secs(2), conn.quit()).await;
            der
        }
        Security::StartTls => {
            let mut client = imap::client(imap::Stream::Plain(tcp));
            imap::greet(&mut client, insecure, step).await.ok()?;
            let tls = imap::starttls(client, insecure, step).await.ok()?;
            peer_der(&tls)
        }
        Security::Plain => None,
    }
}

/// The certificate an account's SMTP (`smtp` true) or IMAP endpoint presents, read as verify
/// reads a rejected one: a handshake that does not verify and sends no credentials, so an
/// expired certificate is read too. `None` for a plaintext endpoint or when it cannot be
/// reached within `step`. The monitor's expiry gauge uses it.
#[cfg(feature = "monitor")]
pub(crate) async fn endpoint_certificate(
    account: &Account,
    smtp: bool,
    step: Duration,
) -> Option<CertificateInfo> {
    let mut insecure = account.clone();
    insecure.tls.insecure_skip_verify = true;
    let der = timeout(step * 2, presented(&insecure, smtp, step)).await;
    certificate_info(&der.ok().flatten()?, false, None)
}

/// Subject, issuer, validity and names of a DER certificate (OpenSSL, mailtrip's TLS library).
pub(crate) fn certificate_info(
    der: &[u8],
    verified: bool,
    problem: Option<CertProblem>,
) -> Option<CertificateInfo> {
    use openssl::asn1::{Asn1Time, Asn1TimeRef};
    use openssl::x509::{X509, X509NameRef};

    let cert = X509::from_der(der).ok()?;
    let name = |n: &X509NameRef| {
        n.entries()
            .map(|e| {
                let key = e.object().nid().short_name().unwrap_or("?");
                let value = e.data().to_string().unwrap_or_default();
                format!("{key}={value}")
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let now = Asn1Time::days_from_now(0).ok()?;
    let wall = chrono::Utc::now();
    // Absolute time of an ASN.1 time, via its distance from now (OpenSSL does the calendar).
    let when = |t: &Asn1TimeRef| -> Option<(chrono::DateTime<chrono::Utc>, i64)> {
        let d = now.diff(t).ok()?;
        let at = wall
            + chrono::Duration::days(i64::from(d.days))
            + chrono::Duration::seconds(i64::from(d.secs));
        Some((at, i64::from(d.days)))
    };
    let (not_before, _) = when(cert.not_before())?;
    let (not_after, days_left) = when(cert.not_after())?;
    let mut names = Vec::new();
    if let Some(sans) = cert.subject_alt_names() {
        for g in sans.iter() {
            if let Some(dns) = g.dnsname() {
                names.push(dns.to_string());
            } else if let Some(ip) = g.ipaddress() {
                let ip = match ip.len() {
                    4 => <[u8; 4]>::try_from(ip).ok().map(std::net::IpAddr::from),
                    16 => <[u8; 16]>::try_from(ip).ok().map(std::net::IpAddr::from),
                    _ => None,
                };
                if let Some(ip) = ip {
                    names.push(ip.to_string());
                }
            }
        }
    }
    let rfc3339 =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Some(CertificateInfo {
        subject: name(cert.subject_name()),
        issuer: name(cert.issuer_name()),
        not_before: rfc3339(not_before),
        not_after: rfc3339(not_after),
        days_left,
        names,
        verified,
        problem,
    })
}
