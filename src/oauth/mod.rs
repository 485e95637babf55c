//! Signing in with OAuth2 where passwords no longer work: the device flow (Microsoft) and the
//! authorization code flow with PKCE and a loopback redirect (Google) for `mailtrip login`,
//! the per-account token file, and [`TokenSource`], which hands every login a fresh access
//! token, refreshing it before it expires.
//!
//! The grant logic is the `oauth2` crate's; [`http`] is the small HTTPS client it talks
//! through (hyper over `crate::tls`, the OpenSSL client TLS the probes use). No token, code or client
//! secret ever reaches a log line or an error message.

pub mod flows;
pub mod http;
pub mod settings;
pub mod source;
pub mod store;

pub use settings::Settings;
pub use source::{TokenInfo, TokenSource};
pub use store::TokenFile;

/// What went wrong, for callers that branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// There is no stored sign-in for the account.
    NotSignedIn,
    /// The stored sign-in no longer works (refresh token revoked or expired, other client).
    SignInRequired,
    /// The user refused consent.
    Denied,
    /// The device code (or the wait for the browser) ran out before the user finished.
    Expired,
    /// The authorization server answered with another OAuth error.
    Server,
    /// The token endpoint could not be reached, or its TLS or HTTP failed.
    Transport,
    /// A step took longer than allowed.
    Timeout,
    /// The token file could not be read or written.
    Store,
    /// The settings are incomplete or invalid (no client id, a bad URL).
    Config,
}

/// An OAuth2 failure. The message names the endpoint, file or account involved, never a
/// token, code or secret. `{}` is the message alone (as `source()` chains expect); `{:#}`
/// appends each underlying cause once (`cannot reach URL: TLS with HOST failed: ...`).
#[derive(Debug)]
pub struct OAuthError {
    kind: ErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if f.alternate() {
            let mut cause = std::error::Error::source(self);
            while let Some(e) = cause {
                write!(f, ": {e}")?;
                cause = e.source();
            }
        }
        Ok(())
    }
}

impl std::error::Error for OAuthError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl OAuthError {
    /// An error of `kind` with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> OAuthError {
        OAuthError {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// The same error with an underlying cause.
    pub fn with_source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> OAuthError {
        self.source = Some(Box::new(source));
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Whether only signing in again (`mailtrip login`) can fix it.
    pub fn is_sign_in_required(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::NotSignedIn | ErrorKind::SignInRequired
        )
    }

    /// Whether the provider did not answer in time.
    pub fn is_timeout(&self) -> bool {
        self.kind == ErrorKind::Timeout
    }
}
