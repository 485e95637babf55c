//! Accounts and endpoints: `smtps://` / `smtp+starttls://` / `smtp://` (and the IMAP
//! equivalents) URLs, TLS options, and credentials held as `secrecy` types from the moment
//! they are read.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use secrecy::SecretString;

mod account;
mod credential;
pub mod file;
pub mod oauth2;
pub mod resolve;
pub mod secret;
pub mod validate;

pub use oauth2::Secret;
pub use resolve::{Overrides, Resolved, Target, resolve};

/// A configuration problem: the message names the file, flag, variable or URL involved.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read or parsed.
    #[error("{}: {message}", path.display())]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong, with the line when known.
        message: String,
    },
    /// An SMTP or IMAP URL that does not parse.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// A password or token source failed (variable unset, file unreadable, command failed).
    #[error("{0}")]
    Secret(String),
    /// Settings that do not fit together, or a bad address, account or flag.
    #[error("{0}")]
    Invalid(String),
}

/// Which protocol an endpoint speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// SMTP.
    Smtp,
    /// IMAP.
    Imap,
}

impl From<Protocol> for crate::diagnose::Protocol {
    /// The protocol a diagnosis names for an endpoint speaking `p`.
    fn from(p: Protocol) -> Self {
        match p {
            Protocol::Smtp => crate::diagnose::Protocol::Smtp,
            Protocol::Imap => crate::diagnose::Protocol::Imap,
        }
    }
}

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Security {
    /// TLS from the first byte (`smtps://`, `imaps://`).
    Tls,
    /// Plain connect, then STARTTLS, which is required (`smtp+starttls://`).
    StartTls,
    /// No TLS at all (`smtp://`, `imap://`); refused for non-loopback hosts unless allowed.
    Plain,
}

/// A server to connect to, parsed from a URL such as `smtps://smtp.gmail.com:465`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// SMTP or IMAP.
    pub protocol: Protocol,
    /// Implicit TLS, STARTTLS or plain.
    pub security: Security,
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

/// A URL that is not one of the accepted endpoint forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason} in {url:?}; valid forms: {forms}")]
pub struct EndpointError {
    /// The URL given.
    pub url: String,
    /// What is wrong with it.
    pub reason: String,
    /// The forms that are accepted.
    pub forms: &'static str,
}

const SMTP_FORMS: &str = "smtps://HOST[:465], smtp+starttls://HOST[:587], smtp://HOST[:25]";
const IMAP_FORMS: &str = "imaps://HOST[:993], imap+starttls://HOST[:143], imap://HOST[:143]";

impl Endpoint {
    /// Parses an endpoint URL and checks it speaks `protocol`.
    pub fn parse_for(url: &str, protocol: Protocol) -> Result<Endpoint, EndpointError> {
        let forms = match protocol {
            Protocol::Smtp => SMTP_FORMS,
            Protocol::Imap => IMAP_FORMS,
        };
        let err = |reason: String| EndpointError {
            url: redact_userinfo(url),
            reason,
            forms,
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| err("missing scheme".into()))?;
        let (proto, security, default_port) = match scheme.to_ascii_lowercase().as_str() {
            "smtps" | "submissions" => (Protocol::Smtp, Security::Tls, 465),
            "smtp+starttls" | "submission" => (Protocol::Smtp, Security::StartTls, 587),
            "smtp" => (Protocol::Smtp, Security::Plain, 25),
            "imaps" => (Protocol::Imap, Security::Tls, 993),
            "imap+starttls" => (Protocol::Imap, Security::StartTls, 143),
            "imap" => (Protocol::Imap, Security::Plain, 143),
            other => return Err(err(format!("unknown scheme {other:?}"))),
        };
        if proto != protocol {
            return Err(err(format!("scheme {scheme:?} is not {protocol:?}")));
        }
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') || rest.contains('@') || rest.contains('?') {
            return Err(err("only HOST[:PORT] may follow the scheme".into()));
        }
        let (host, port) = split_host_port(rest).map_err(err)?;
        let port = match port {
            None => default_port,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| err(format!("port {p:?} is not a number from 1 to 65535")))?,
        };
        if host.is_empty() {
            return Err(err("missing host".into()));
        }
        check_host(host, rest.starts_with('[')).map_err(err)?;
        Ok(Endpoint {
            protocol,
            security,
            host: host.to_string(),
            port,
        })
    }

    /// Builds an endpoint from parts.
    pub fn new(protocol: Protocol, security: Security, host: &str, port: u16) -> Endpoint {
        Endpoint {
            protocol,
            security,
            host: host.to_string(),
            port,
        }
    }

    /// `host:port`, with IPv6 literals bracketed.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The URL scheme of this endpoint.
    pub fn scheme(&self) -> &'static str {
        match (self.protocol, self.security) {
            (Protocol::Smtp, Security::Tls) => "smtps",
            (Protocol::Smtp, Security::StartTls) => "smtp+starttls",
            (Protocol::Smtp, Security::Plain) => "smtp",
            (Protocol::Imap, Security::Tls) => "imaps",
            (Protocol::Imap, Security::StartTls) => "imap+starttls",
            (Protocol::Imap, Security::Plain) => "imap",
        }
    }

    /// Whether the host is loopback (`localhost`, 127.0.0.0/8, ::1).
    pub fn is_loopback(&self) -> bool {
        self.host.eq_ignore_ascii_case("localhost")
            || self
                .host
                .parse::<IpAddr>()
                .map(|ip| ip.is_loopback())
                .unwrap_or(false)
    }
}

/// A URL as it may be shown in an error: `user:password@` replaced by `****@`.
fn redact_userinfo(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let shown = match rest[..authority_end].rfind('@') {
        Some(at) => format!("****{}", &rest[at..]),
        None => rest.to_string(),
    };
    match scheme {
        Some(scheme) => format!("{scheme}://{shown}"),
        None => shown,
    }
}

/// A host name or IP literal: letters, digits, `-`, `.` and `_`; an IPv6 address in brackets.
/// A space (`smtps://127.0.0.1 :465`) or another stray character is a typo, not a DNS failure.
fn check_host(host: &str, bracketed: bool) -> Result<(), String> {
    if bracketed {
        return host
            .parse::<std::net::Ipv6Addr>()
            .map(|_| ())
            .map_err(|_| format!("[{host}] is not an IPv6 address"));
    }
    match host
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
    {
        None => Ok(()),
        Some(c) if c.is_whitespace() => Err(format!("the host {host:?} contains a space")),
        Some(c) => Err(format!(
            "the host {host:?} contains {:?}, which no host name has",
            c
        )),
    }
}

fn split_host_port(s: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| "unclosed [ in IPv6 host".to_string())?;
        return match after {
            "" => Ok((host, None)),
            a => a
                .strip_prefix(':')
                .map(|p| (host, Some(p)))
                .ok_or_else(|| "junk after ]".to_string()),
        };
    }
    match s.rsplit_once(':') {
        Some((h, _)) if h.contains(':') => Err("IPv6 hosts must be written [::1]".into()),
        Some((h, p)) => Ok((h, Some(p))),
        None => Ok((s, None)),
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme(), self.authority())
    }
}

impl FromStr for Endpoint {
    type Err = EndpointError;
    /// Parses either protocol, deciding by the scheme.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        let protocol = if lower.starts_with("imap") {
            Protocol::Imap
        } else {
            Protocol::Smtp
        };
        Endpoint::parse_for(s, protocol)
    }
}

/// How to authenticate. No kind shows a secret in Debug.
#[derive(Debug, Clone)]
pub enum Credential {
    /// A password (for Gmail: an app password).
    Password(SecretString),
    /// An OAuth2 access token, sent with XOAUTH2.
    OAuth2Token(SecretString),
    /// Signed in with `mailtrip login`: each login takes an access token from the stored
    /// sign-in, refreshed before it expires.
    OAuth2Login(crate::oauth::TokenSource),
}

/// TLS options shared by both protocols and the OAuth2 token endpoints.
pub use crate::tls::TlsOptions;

/// One mailbox mailtrip can send from and/or watch.
#[derive(Debug, Clone)]
pub struct Account {
    /// Name from the config file, if any.
    pub name: Option<String>,
    /// Address used in From / To.
    pub address: String,
    /// Login name (often the address).
    pub user: String,
    /// How it logs in (password, token, OAuth2 sign-in).
    pub credential: Credential,
    /// Where it sends.
    pub smtp: Endpoint,
    /// Where its mailbox is read.
    pub imap: Endpoint,
    /// Trust roots and verification for both endpoints.
    pub tls: TlsOptions,
    /// Allow plaintext (no TLS) to a non-loopback host.
    pub allow_plaintext: bool,
    /// Provider preset name, if one filled this account.
    pub provider: Option<String>,
    /// The server archives on EXPUNGE in INBOX (Gmail): clean up by moving to \Trash.
    pub expunge_archives: bool,
}

impl Account {
    /// An account with a password; TLS options default to the system roots.
    pub fn new(address: &str, password: &str, smtp: Endpoint, imap: Endpoint) -> Account {
        Account {
            name: None,
            address: address.to_string(),
            user: address.to_string(),
            credential: Credential::Password(SecretString::from(password.to_string())),
            smtp,
            imap,
            tls: TlsOptions::default(),
            allow_plaintext: false,
            provider: None,
            expunge_archives: false,
        }
    }

    /// Whether `other` reads the same mailbox: the same login on the same IMAP server.
    pub fn same_mailbox(&self, other: &Account) -> bool {
        self.user == other.user && self.imap == other.imap
    }

    /// Whether a Gmail or Google Workspace preset filled this account.
    pub fn is_gmail(&self) -> bool {
        matches!(self.provider.as_deref(), Some("gmail" | "google-workspace"))
    }

    /// Trusts an extra root certificate (PEM).
    pub fn trust_pem(mut self, pem: &str) -> Account {
        self.tls.extra_roots_pem.push(pem.to_string());
        self
    }

    /// An account on the embedded server: STARTTLS submission and IMAPS, trusting its CA.
    #[cfg(feature = "server")]
    pub fn embedded(server: &crate::server::TestServer, address: &str, password: &str) -> Account {
        let smtp = Endpoint::new(
            Protocol::Smtp,
            Security::StartTls,
            "localhost",
            server.submission_addr().port(),
        );
        let imap = Endpoint::new(
            Protocol::Imap,
            Security::Tls,
            "localhost",
            server.imaps_addr().port(),
        );
        let mut account = Account::new(address, password, smtp, imap).trust_pem(server.ca_pem());
        account.expunge_archives = server.profile() == crate::server::Profile::Gmail;
        account
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_scheme_with_default_ports() {
        let cases = [
            ("smtps://smtp.gmail.com", Protocol::Smtp, Security::Tls, 465),
            (
                "smtp+starttls://h:2587",
                Protocol::Smtp,
                Security::StartTls,
                2587,
            ),
            ("smtp://127.0.0.1", Protocol::Smtp, Security::Plain, 25),
            (
                "imaps://imap.gmail.com:993",
                Protocol::Imap,
                Security::Tls,
                993,
            ),
            ("imap+starttls://h", Protocol::Imap, Security::StartTls, 143),
            ("IMAP://[::1]:1143", Protocol::Imap, Security::Plain, 1143),
        ];
        for (url, proto, sec, port) in cases {
            let e = Endpoint::parse_for(url, proto).expect(url);
            assert_eq!((e.security, e.port), (sec, port), "{url}");
        }
        let e: Endpoint = "imap://[::1]:1143".parse().expect("ipv6");
        assert_eq!(e.to_string(), "imap://[::1]:1143");
        assert!(e.is_loopback());
    }

    #[test]
    fn rejects_bad_urls_listing_valid_forms() {
        for url in [
            "smtp.gmail.com",
            "http://x",
            "smtps://h:0",
            "smtps://h:99999",
            "smtps://h:abc",
            "smtps://",
            "smtps://u@h",
            "imaps://h",
        ] {
            let e = Endpoint::parse_for(url, Protocol::Smtp).expect_err(url);
            assert!(e.to_string().contains("smtps://HOST"), "{e}");
        }
    }

    #[test]
    fn a_space_in_the_host_and_userinfo_are_usage_errors_that_hide_the_password() {
        let e = Endpoint::parse_for("smtps://127.0.0.1 :2465", Protocol::Smtp).expect_err("space");
        assert!(e.to_string().contains("contains a space"), "{e}");
        let e =
            Endpoint::parse_for("smtps://bob:hunter2@h:465", Protocol::Smtp).expect_err("userinfo");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert!(e.to_string().contains("smtps://****@h:465"), "{e}");
        assert!(Endpoint::parse_for("imaps://[::1]:993", Protocol::Imap).is_ok());
        assert!(Endpoint::parse_for("imaps://[::zz]:993", Protocol::Imap).is_err());
        assert!(Endpoint::parse_for("imaps://mail_1.example-x.test", Protocol::Imap).is_ok());
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let a = Account::new(
            "a@b",
            "hunter2-secret",
            "smtps://h".parse().expect("smtp"),
            "imaps://h".parse().expect("imap"),
        );
        assert!(!format!("{a:?}").contains("hunter2"));
    }
}
