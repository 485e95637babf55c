//! [`ServerConfig`]: everything the embedded server starts from (bind address and ports,
//! profile, users, certificate, faults, catch-all, the HTTP side's credentials and TLS).

use std::net::{IpAddr, Ipv4Addr};

use secrecy::SecretString;

use super::{CertKind, Faults, Profile, Recipients, http};

/// Ports to bind; `None` means an ephemeral port (0). `mailtrip server` takes them as flags.
#[derive(Debug, Clone, Copy, Default)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct Ports {
    /// Inbound SMTP port: STARTTLS offered, login optional (default: an ephemeral one; every
    /// port is printed).
    #[cfg_attr(feature = "cli", arg(long = "smtp-port", value_name = "N"))]
    pub smtp: Option<u16>,
    /// Submission port: STARTTLS, then login (default: an ephemeral one).
    #[cfg_attr(feature = "cli", arg(long = "submission-port", value_name = "N"))]
    pub submission: Option<u16>,
    /// Implicit-TLS submission port (default: an ephemeral one).
    #[cfg_attr(feature = "cli", arg(long = "smtps-port", value_name = "N"))]
    pub smtps: Option<u16>,
    /// IMAP port: STARTTLS before login (default: an ephemeral one).
    #[cfg_attr(feature = "cli", arg(long = "imap-port", value_name = "N"))]
    pub imap: Option<u16>,
    /// Implicit-TLS IMAP port (default: an ephemeral one).
    #[cfg_attr(feature = "cli", arg(long = "imaps-port", value_name = "N"))]
    pub imaps: Option<u16>,
    /// Port of the HTTP API, web view and OAuth2 endpoints (default: an ephemeral one,
    /// printed).
    #[cfg_attr(feature = "cli", arg(long = "http-port", value_name = "N"))]
    pub http: Option<u16>,
}

/// Everything `TestServer::start` needs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to bind; loopback unless `allow_remote` (checked by the CLI).
    pub bind: IpAddr,
    /// Which ports to bind (ephemeral by default).
    pub ports: Ports,
    /// How the server behaves beyond the RFCs (Gmail's folders and replies).
    pub profile: Profile,
    /// Users to create at start: (address, password).
    pub users: Vec<(String, SecretString)>,
    /// Host name used in greetings and `Received:` headers.
    pub hostname: String,
    /// Largest message accepted (SIZE, APPEND literals); 25 MiB by default.
    pub max_message_size: usize,
    /// Which certificate to serve.
    pub cert: CertKind,
    /// Faults in force from the start.
    pub faults: Faults,
    /// Catch-all (the default: any address gets a mailbox) or strict (550 for unknown users).
    pub recipients: Recipients,
    /// Credentials the HTTP side wants ([`HttpAuth::None`](http::HttpAuth::None) on
    /// loopback); OAuth2 consent wants them too.
    pub http_auth: http::HttpAuth,
    /// Serve the HTTP side (and so the OAuth2 endpoints) over TLS with the server's
    /// certificate, as a real provider's token endpoint is.
    pub http_tls: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ports: Ports::default(),
            profile: Profile::Standard,
            users: Vec::new(),
            hostname: "localhost".to_string(),
            max_message_size: 25 * 1024 * 1024,
            cert: CertKind::Valid,
            faults: Faults::default(),
            recipients: Recipients::default(),
            http_auth: http::HttpAuth::None,
            http_tls: false,
        }
    }
}

impl ServerConfig {
    /// A config with one user.
    pub fn with_user(mut self, address: &str, password: &str) -> Self {
        self.users.push((
            address.to_string(),
            SecretString::from(password.to_string()),
        ));
        self
    }

    setters! { Self;
        /// Sets the behaviour profile.
        profile(profile: Profile);

        /// Sets the faults in force from the start.
        faults(faults: Faults);
    }

    /// Only declared users receive mail; others get `550 5.1.1 User unknown`.
    pub fn strict_recipients(mut self) -> Self {
        self.recipients = Recipients::Strict;
        self
    }

    /// Serves the HTTP side, and so the OAuth2 endpoints, over HTTPS.
    pub fn http_tls(mut self) -> Self {
        self.http_tls = true;
        self
    }
}
