//! Diagnoses for failures that never got a reply to classify: DNS, a refused or silent port,
//! a TLS handshake or certificate that failed, a TLS mode that does not match the port, a port
//! that speaks HTTP. Each names the endpoint, the protocol's right ports and what to do.

use serde::{Deserialize, Serialize};
use strum::{Display, IntoStaticStr, VariantArray};

use super::{Code, Diagnosis, Protocol, contains_ci};

/// Diagnosis for a transport-level failure with no server reply (DNS, refused, timeout, TLS),
/// built from the `code`, the `endpoint` ("host:port") and a `detail` such as the io error.
pub fn transport(code: Code, protocol: Protocol, endpoint: &str, detail: &str) -> Diagnosis {
    let p = protocol.label();
    let tls_forms = protocol.tls_forms();
    let ports = match protocol {
        Protocol::Smtp => {
            "SMTP submission uses 587 (STARTTLS) or 465 (implicit TLS); port 25 is for server-to-server mail"
        }
        Protocol::Imap => "IMAP uses 993 (implicit TLS) or 143 (STARTTLS)",
    };
    let (summary, hint) = match code {
        Code::DnsFailed => (
            format!("Could not resolve the {p} server's host name in {endpoint}"),
            "Check the host name in the endpoint URL for typos and that this machine's DNS works (try `dig` or `nslookup` on the name).".to_owned(),
        ),
        Code::ConnectRefused => (
            format!("Nothing accepts {p} connections at {endpoint} (connection refused)"),
            format!("Check the port ({ports}), that the server is running, and that no firewall rejects the connection."),
        ),
        Code::ConnectTimeout => (
            format!("Timed out connecting to the {p} server at {endpoint}"),
            format!("A firewall is probably dropping the traffic (many networks and clouds block outbound port 25) or the host or port is wrong; {ports}."),
        ),
        Code::TlsHandshakeFailed => (
            format!("The TLS handshake with the {p} server at {endpoint} failed"),
            format!("Check that the URL's TLS mode matches the port ({tls_forms}) and that the server supports a current TLS version."),
        ),
        Code::TlsCertificateInvalid => (
            format!("The {p} server at {endpoint} presented a certificate that could not be verified"),
            "Connect using the host name the certificate was issued for, or fix the server's certificate chain; trust a self-signed certificate only deliberately, for test servers.".to_owned(),
        ),
        Code::TlsModeMismatch => (
            format!("The {p} server at {endpoint} does not speak the TLS mode the URL asked for"),
            format!("Match the URL to the port: {tls_forms}."),
        ),
        Code::StarttlsUnavailable => (
            format!("The {p} server at {endpoint} does not offer STARTTLS"),
            format!("Use implicit TLS if the server offers it ({tls_forms}); credentials are never sent over plaintext."),
        ),
        Code::Timeout => (
            format!("The {p} server at {endpoint} stopped responding"),
            "Retry; if it recurs, the network path or the server is slow, and a longer timeout may help.".to_owned(),
        ),
        Code::ConnectionClosed => (
            format!("The {p} server at {endpoint} closed the connection unexpectedly"),
            format!("Retry; if it happens right after connecting, the port probably expects a different TLS mode ({tls_forms}) or the server refuses your IP."),
        ),
        other => (
            format!("The {p} connection to {endpoint} failed ({other})"),
            "Retry; if it persists, run with -vv to see the whole exchange with the server.".to_owned(),
        ),
    };
    let detail = detail.trim();
    let summary = if detail.is_empty() {
        format!("{summary}.")
    } else {
        format!("{summary}: {}.", detail.trim_end_matches('.'))
    };
    Diagnosis::new(code, summary, hint)
}

/// A TLS mode mismatch (e.g. STARTTLS used against an implicit-TLS port) with the endpoint URL
/// the user should use instead, e.g. `suggested_scheme = "smtps://host:465"`.
pub fn tls_mode_mismatch(
    protocol: Protocol,
    endpoint: &str,
    detected: &str,
    suggested_scheme: &str,
) -> Diagnosis {
    let detected = detected.trim().trim_end_matches('.');
    Diagnosis::new(
        Code::TlsModeMismatch,
        format!(
            "Wrong TLS mode for the {} server at {endpoint}: {detected}.",
            protocol.label()
        ),
        format!(
            "Use {suggested_scheme} instead; implicit TLS and STARTTLS are different modes and each port expects one ({}).",
            protocol.tls_forms()
        ),
    )
}

/// A port that answered with an HTTP status line (`status_line`) where a mail server was
/// expected: a web server on that port, or the wrong port number.
pub fn speaks_http(protocol: Protocol, endpoint: &str, status_line: &str) -> Diagnosis {
    let p = protocol.label();
    Diagnosis::new(
        Code::NotAMailServer,
        format!(
            "The server at {endpoint} speaks HTTP, not {p}: it answered {:?}.",
            status_line.trim()
        ),
        format!(
            "This port belongs to a web server or proxy, not a mail server: check the host and \
             the port number of the {p} URL ({}).",
            match protocol {
                Protocol::Smtp => "SMTP submission listens on 587 or 465",
                Protocol::Imap => "IMAP listens on 993 or 143",
            }
        ),
    )
}

/// Why a TLS certificate failed verification, read from the TLS library's error text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(IntoStaticStr, Display, VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum CertProblem {
    /// The certificate's validity period has ended.
    Expired,
    /// The certificate's validity period has not started.
    NotYetValid,
    /// The certificate does not name the host that was connected to.
    WrongName,
    /// The certificate does not chain to a trusted root (self-signed, private CA, missing
    /// intermediate).
    UnknownIssuer,
    /// Another verification failure (revoked, wrong key usage, ...).
    Other,
}

/// OpenSSL's verify-result texts (as native-tls appends them in parentheses), first match wins.
const CERT_TEXTS: &[(&str, CertProblem)] = &[
    ("certificate has expired", CertProblem::Expired),
    ("certificate is not yet valid", CertProblem::NotYetValid),
    ("hostname mismatch", CertProblem::WrongName),
    ("ip address mismatch", CertProblem::WrongName),
    ("email address mismatch", CertProblem::WrongName),
    (
        "unable to get local issuer certificate",
        CertProblem::UnknownIssuer,
    ),
    (
        "unable to get issuer certificate",
        CertProblem::UnknownIssuer,
    ),
    (
        "unable to verify the first certificate",
        CertProblem::UnknownIssuer,
    ),
    ("self-signed certificate", CertProblem::UnknownIssuer),
    ("self signed certificate", CertProblem::UnknownIssuer),
    ("certificate verify failed", CertProblem::Other),
    ("certificate", CertProblem::Other),
];

impl CertProblem {
    /// The snake_case name, identical to the serde form.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The certificate problem a TLS error text describes, if it describes one.
    pub fn from_tls_error(text: &str) -> Option<CertProblem> {
        CERT_TEXTS
            .iter()
            .find(|(needle, _)| contains_ci(text, needle))
            .map(|(_, problem)| *problem)
    }
}

/// `tls_certificate_invalid` with the reason: what is wrong with the certificate the server at
/// `endpoint` presented and what to do, plus the TLS library's `detail`.
pub fn tls_certificate(
    protocol: Protocol,
    endpoint: &str,
    problem: CertProblem,
    detail: &str,
) -> Diagnosis {
    let p = protocol.label();
    let (what, hint) = match problem {
        CertProblem::Expired => (
            "an expired certificate",
            "The server's administrator must renew the certificate (an ACME client such as certbot renews automatically); until then every client refuses it. Check this machine's clock too.",
        ),
        CertProblem::NotYetValid => (
            "a certificate that is not valid yet",
            "Check this machine's clock and time zone; if the clock is right, the server's certificate was issued with a future start date.",
        ),
        CertProblem::WrongName => (
            "a certificate issued for a different host name",
            "Connect using a host name the certificate names (see its names below; providers publish the exact host to use), or have the server's administrator add this name to the certificate.",
        ),
        CertProblem::UnknownIssuer => (
            "a certificate that does not chain to a trusted root (self-signed, a private CA, or a missing intermediate)",
            "If the server uses a private CA, trust it with --ca-file; otherwise the server's administrator must send the full chain (leaf plus intermediates).",
        ),
        CertProblem::Other => (
            "a certificate that could not be verified",
            "Connect using the host name the certificate was issued for, or fix the server's certificate chain; trust a self-signed certificate only deliberately, for test servers.",
        ),
    };
    let detail = detail.trim().trim_end_matches('.');
    let summary = if detail.is_empty() {
        format!("The {p} server at {endpoint} presented {what}.")
    } else {
        format!("The {p} server at {endpoint} presented {what}: {detail}.")
    };
    Diagnosis::new(Code::TlsCertificateInvalid, summary, hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_diagnoses_name_endpoint_and_detail() {
        for &code in Code::ALL {
            for protocol in [Protocol::Smtp, Protocol::Imap] {
                let d = transport(
                    code,
                    protocol,
                    "127.0.0.1:25",
                    "Connection refused (os error 111)",
                );
                assert_eq!(d.code, code);
                assert!(d.summary.contains("127.0.0.1:25"), "{}", d.summary);
                assert!(d.summary.contains("os error 111"), "{}", d.summary);
                assert!(!d.hint.is_empty());
                assert_eq!(d.server_text, None);
            }
        }
        let d = transport(Code::ConnectRefused, Protocol::Smtp, "127.0.0.1:25", "");
        assert!(
            d.summary.ends_with("(connection refused)."),
            "{}",
            d.summary
        );
    }

    #[test]
    fn tls_mode_mismatch_suggests_the_url() {
        let d = tls_mode_mismatch(
            Protocol::Smtp,
            "smtp.gmail.com:465",
            "the server began a TLS handshake instead of a plaintext greeting",
            "smtps://smtp.gmail.com:465",
        );
        assert_eq!(d.code, Code::TlsModeMismatch);
        assert!(d.summary.contains("TLS handshake"), "{}", d.summary);
        assert!(d.hint.contains("smtps://smtp.gmail.com:465"), "{}", d.hint);
    }

    #[test]
    fn diagnosis_serializes_without_empty_options() {
        let d = transport(
            Code::DnsFailed,
            Protocol::Imap,
            "imap.invalid:993",
            "no such host",
        );
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["code"], "dns_failed");
        assert!(json.get("link").is_none());
        assert!(json.get("server_text").is_none());
    }

    /// The texts native-tls (OpenSSL) gives for the embedded server's broken certificates and
    /// for common real-world failures.
    #[test]
    fn certificate_problems_from_openssl_texts() {
        // The whole text as a real client gets it, OpenSSL's function, file and line included.
        let expired = "error:0A000086:SSL routines:tls_post_process_server_certificate:certificate verify failed:../ssl/statem/statem_clnt.c:2091: (certificate has expired)";
        let cases = [
            (expired.to_string(), Some(CertProblem::Expired)),
            (
                "error:0A00010B:SSL routines::wrong version number".into(),
                None,
            ),
        ];
        // OpenSSL's words for a failed verification, the reason in parentheses.
        let verify_failed = [
            ("hostname mismatch", Some(CertProblem::WrongName)),
            ("IP address mismatch", Some(CertProblem::WrongName)),
            (
                "unable to get local issuer certificate",
                Some(CertProblem::UnknownIssuer),
            ),
            ("self-signed certificate", Some(CertProblem::UnknownIssuer)),
            (
                "certificate is not yet valid",
                Some(CertProblem::NotYetValid),
            ),
            ("certificate revoked", Some(CertProblem::Other)),
        ]
        .map(|(reason, want)| {
            let text = format!("error:0A000086:SSL routines::certificate verify failed ({reason})");
            (text, want)
        });
        for (text, want) in cases.into_iter().chain(verify_failed) {
            assert_eq!(CertProblem::from_tls_error(&text), want, "{text}");
        }
        let d = tls_certificate(
            Protocol::Imap,
            "h:993",
            CertProblem::Expired,
            "x (certificate has expired)",
        );
        assert_eq!(d.code, Code::TlsCertificateInvalid);
        assert!(
            d.summary.contains("expired certificate") && d.summary.contains("h:993"),
            "{}",
            d.summary
        );
        assert!(d.hint.contains("renew"), "{}", d.hint);
        let json = serde_json::to_string(&CertProblem::WrongName).unwrap();
        assert_eq!(json, format!("\"{}\"", CertProblem::WrongName.as_str()));
    }
}
