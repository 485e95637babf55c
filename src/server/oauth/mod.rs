//! A small OAuth 2.0 authorization server so `mailtrip login` is tested offline, end to end:
//! the device authorization grant (RFC 8628), the authorization code grant with PKCE (RFC 7636)
//! and automatic consent, refresh, and injectable faults. The access tokens it issues are
//! registered with the store, which accepts them over XOAUTH2 only until they expire.
//!
//! Layering as elsewhere in the server: `http` parses an HTTP request into form fields,
//! [`AuthServer`] decides (no I/O), and the handler writes the JSON, HTML or redirect. The
//! server's HTTP side mounts the handler on `/oauth2/`. Its faults ([`OAuthFaults`]) are part
//! of the server's [`Faults`](crate::server::Faults): the `oauth2_*` keys of `--fault`, the
//! faults TOML and `PUT /api/v1/faults`.

mod grants;
pub(crate) mod http;

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rand::Rng;
use rand::distr::Alphanumeric;
use secrecy::SecretString;

use super::store::Store;

/// How the authorization server behaves; change it with [`AuthServer::set_settings`].
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    /// How long an access token works (`expires_in`); 1 hour, as Google and Microsoft.
    pub access_token_lifetime: Duration,
    /// How long a device code can be redeemed (`expires_in` of the device authorization).
    pub device_code_lifetime: Duration,
    /// The polling interval the device authorization names, in seconds; polls that come
    /// sooner are answered `slow_down` and the interval grows by 5 s, as RFC 8628 says.
    pub interval: u64,
    /// Device-code polls answered `authorization_pending` before consent is given
    /// automatically (as the consenting user); never automatic where the HTTP side wants
    /// credentials. Visiting the verification page consents at once.
    pub pending_polls: u32,
    /// Who consents; default: the `login_hint` when it names a user, else the first user.
    pub consent_as: Option<String>,
    /// When set, every token request must carry this client secret (in the body or with
    /// HTTP Basic), as Google's desktop clients do.
    pub client_secret: Option<SecretString>,
    /// Each refresh returns a new refresh token and revokes the old one (strict rotation),
    /// so a client that does not save the new one is caught at its next refresh.
    pub rotate_refresh_tokens: bool,
}

impl Default for OAuthSettings {
    fn default() -> Self {
        OAuthSettings {
            access_token_lifetime: Duration::from_secs(3600),
            device_code_lifetime: Duration::from_secs(900),
            interval: 1,
            pending_polls: 1,
            consent_as: None,
            client_secret: None,
            rotate_refresh_tokens: true,
        }
    }
}

/// Errors to inject, and settings to override, as the `oauth2` field of the server's
/// [`Faults`](crate::server::Faults) ([`TestServer::set_faults`](crate::server::TestServer::set_faults),
/// or the `oauth2_*` keys from outside Rust).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OAuthFaults {
    /// Answer this many device-code polls `slow_down` (server-wide).
    pub slow_down: usize,
    /// The user refuses consent: device polls answer `access_denied`, and `/authorize`
    /// redirects back with `error=access_denied`.
    pub deny: bool,
    /// Device codes have expired: polls answer `expired_token`.
    pub expire_device_codes: bool,
    /// Refresh requests answer `invalid_grant` (a revoked or expired refresh token).
    pub invalid_grant: bool,
    /// Overrides [`OAuthSettings::pending_polls`] while set.
    pub pending_polls: Option<u32>,
    /// Overrides [`OAuthSettings::access_token_lifetime`] while set (for tokens issued from
    /// then on).
    pub access_token_lifetime: Option<Duration>,
}

/// What the server has seen, for tests to assert on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OAuthStats {
    /// Device authorizations started.
    pub device_authorizations: usize,
    /// Token requests with the device-code grant.
    pub device_polls: usize,
    /// `slow_down` answers sent (injected or for polling too fast).
    pub slow_downs: usize,
    /// Polls that came sooner than the interval in force allowed.
    pub too_fast_polls: usize,
    /// Authorization codes handed out by `/authorize`.
    pub codes_issued: usize,
    /// Token responses with a fresh access token, by any grant.
    pub tokens_issued: usize,
    /// Successful refresh-token grants.
    pub refreshes: usize,
    /// Token requests refused with an error.
    pub token_errors: usize,
}

/// An OAuth error reply (RFC 6749 5.2): the status and the JSON fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReply {
    /// HTTP status.
    pub status: u16,
    /// The `error` code, e.g. `invalid_grant`.
    pub error: &'static str,
    /// The `error_description`.
    pub description: String,
}

impl ErrorReply {
    fn new(error: &'static str, description: impl Into<String>) -> ErrorReply {
        let status = if error == "invalid_client" { 401 } else { 400 };
        ErrorReply {
            status,
            error,
            description: description.into(),
        }
    }
}

/// A successful token response (RFC 6749 5.1); the handler serializes it.
#[derive(Clone, serde::Serialize)]
pub struct TokenReply {
    /// The access token XOAUTH2 accepts.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// The access token's lifetime, seconds.
    pub expires_in: u64,
    /// The refresh token.
    pub refresh_token: String,
    /// The scopes granted, space-separated.
    pub scope: String,
}

impl std::fmt::Debug for TokenReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenReply")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// The device authorization response (RFC 8628 3.2).
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeviceReply {
    /// The code the client polls the token endpoint with.
    pub device_code: String,
    /// The code the user types on the verification page.
    pub user_code: String,
    /// The verification page.
    pub verification_uri: String,
    /// The verification page with the user code filled in.
    pub verification_uri_complete: String,
    /// How long the codes stay valid, seconds.
    pub expires_in: u64,
    /// Seconds to wait between polls.
    pub interval: u64,
    /// What to tell the user.
    pub message: String,
}

/// Where `/authorize` sends the browser: always back to the client's loopback redirect URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeReply {
    /// Redirect to this URL (with `code` or `error`, and `state`).
    Redirect(String),
    /// The request cannot be redirected anywhere safe: show this error page.
    BadRequest(String),
}

struct DeviceGrant {
    device_code: String,
    user_code: String,
    client_id: String,
    scope: String,
    expires: Instant,
    interval: Duration,
    last_poll: Option<Instant>,
    polls: u32,
    approved_as: Option<String>,
}

struct CodeGrant {
    code: String,
    client_id: String,
    redirect_uri: String,
    challenge: String,
    method: String,
    scope: String,
    user: String,
    expires: Instant,
}

struct RefreshGrant {
    token: String,
    client_id: String,
    user: String,
    scope: String,
}

#[derive(Default)]
struct Inner {
    settings: OAuthSettings,
    stats: OAuthStats,
    devices: Vec<DeviceGrant>,
    codes: Vec<CodeGrant>,
    refresh: Vec<RefreshGrant>,
    /// Access tokens issued, by user, so a revoked grant withdraws them from the store.
    access: Vec<(String, String)>,
    /// Every device code, authorization code, access and refresh token ever issued, for
    /// tests that prove none is printed.
    history: Vec<String>,
}

/// The authorization server's state: grants in flight, refresh tokens, settings (the faults
/// in force are the server's, passed in with each request).
#[derive(Default)]
pub struct AuthServer {
    inner: Mutex<Inner>,
    /// The user who consents when nobody else is named (the server's first user).
    first_user: Option<String>,
}

impl std::fmt::Debug for AuthServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthServer").finish_non_exhaustive()
    }
}

/// The form fields (or query parameters) of one request.
pub type Params = HashMap<String, String>;

fn random(n: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

/// RFC 8628 6.1: eight characters without vowels or look-alikes, shown as `XXXX-XXXX`.
fn user_code() -> String {
    const CHARS: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
    let mut rng = rand::rng();
    let c: String = (0..8)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect();
    format!("{}-{}", &c[..4], &c[4..])
}

fn normalize_user_code(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn same(a: &str, b: &str) -> bool {
    super::store::constant_time_eq(a.as_bytes(), b.as_bytes())
}

/// Whether `uri` is a loopback `http://` redirect URI (RFC 8252 7.3), the only kind allowed.
fn loopback_redirect(uri: &str) -> bool {
    let Ok(url) = url::Url::parse(uri) else {
        return false;
    };
    url.scheme() == "http"
        && url.fragment().is_none()
        && match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => false,
        }
}

fn redirect_with(uri: &str, pairs: &[(&str, &str)]) -> String {
    let mut url = match url::Url::parse(uri) {
        Ok(u) => u,
        Err(_) => return uri.to_string(),
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
    }
    url.to_string()
}

impl AuthServer {
    /// A server whose default consenting user is `first_user`.
    pub fn new(first_user: Option<String>) -> AuthServer {
        AuthServer {
            inner: Mutex::default(),
            first_user,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The settings in force.
    pub fn settings(&self) -> OAuthSettings {
        self.lock().settings.clone()
    }

    /// Replaces the settings; grants already issued keep their lifetimes.
    pub fn set_settings(&self, settings: OAuthSettings) {
        self.lock().settings = settings;
    }

    /// What the server has seen so far.
    pub fn stats(&self) -> OAuthStats {
        self.lock().stats
    }

    /// Every device code, authorization code, access and refresh token issued so far
    /// (rotated and revoked ones included), so a test can prove that no output shows one.
    pub fn issued_secrets(&self) -> Vec<String> {
        self.lock().history.clone()
    }

    /// Revokes every grant of `user`: its refresh tokens stop working and its access tokens
    /// are withdrawn from the store, as when a user removes the app's access.
    pub fn revoke(&self, store: &Store, user: &str) {
        let mut inner = self.lock();
        inner.refresh.retain(|r| !r.user.eq_ignore_ascii_case(user));
        let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut inner.access)
            .into_iter()
            .partition(|(u, _)| u.eq_ignore_ascii_case(user));
        inner.access = kept;
        drop(inner);
        for (u, token) in gone {
            store.revoke_token(&u, &token);
        }
    }

    fn consent_user(&self, inner: &Inner, store: &Store, hint: Option<&str>) -> Option<String> {
        inner
            .settings
            .consent_as
            .clone()
            .or_else(|| hint.filter(|h| store.is_user(h)).map(str::to_string))
            .or_else(|| self.first_user.clone())
    }

    /// `POST /device_authorization`: starts a device flow (RFC 8628 3.1).
    pub fn device_authorization(
        &self,
        p: &Params,
        base_url: &str,
    ) -> Result<DeviceReply, ErrorReply> {
        let client_id = p
            .get("client_id")
            .filter(|c| !c.is_empty())
            .ok_or_else(|| ErrorReply::new("invalid_request", "client_id is missing"))?;
        let mut inner = self.lock();
        let now = Instant::now();
        inner.devices.retain(|d| d.expires > now);
        let lifetime = inner.settings.device_code_lifetime;
        let interval = inner.settings.interval;
        let grant = DeviceGrant {
            device_code: random(40),
            user_code: user_code(),
            client_id: client_id.clone(),
            scope: p.get("scope").cloned().unwrap_or_default(),
            expires: now + lifetime,
            interval: Duration::from_secs(interval),
            last_poll: None,
            polls: 0,
            approved_as: None,
        };
        let verification_uri = format!("{base_url}/device");
        let reply = DeviceReply {
            device_code: grant.device_code.clone(),
            verification_uri_complete: redirect_with(
                &verification_uri,
                &[("user_code", &grant.user_code)],
            ),
            message: format!(
                "To sign in, open {verification_uri} and enter the code {}.",
                grant.user_code
            ),
            user_code: grant.user_code.clone(),
            verification_uri,
            expires_in: lifetime.as_secs(),
            interval,
        };
        inner.history.push(grant.device_code.clone());
        inner.devices.push(grant);
        inner.stats.device_authorizations += 1;
        Ok(reply)
    }

    /// The verification page with a user code: consents to that device grant at once.
    /// Returns the user it was approved as.
    pub fn approve_device(&self, store: &Store, code: &str) -> Option<String> {
        let code = normalize_user_code(code);
        let mut inner = self.lock();
        let user = self.consent_user(&inner, store, None)?;
        let now = Instant::now();
        let grant = inner
            .devices
            .iter_mut()
            .find(|d| d.expires > now && normalize_user_code(&d.user_code) == code)?;
        grant.approved_as = Some(user.clone());
        Some(user)
    }

    /// `GET /authorize`: consents automatically and redirects back with a code.
    pub fn authorize(&self, store: &Store, faults: &OAuthFaults, p: &Params) -> AuthorizeReply {
        let get = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
        let redirect_uri = get("redirect_uri");
        if get("client_id").is_empty() {
            return AuthorizeReply::BadRequest("client_id is missing".into());
        }
        if !loopback_redirect(redirect_uri) {
            return AuthorizeReply::BadRequest(format!(
                "redirect_uri {redirect_uri:?} is not a loopback http:// URI (RFC 8252 7.3)"
            ));
        }
        let state = get("state");
        let error = |error: &str, description: &str| {
            AuthorizeReply::Redirect(redirect_with(
                redirect_uri,
                &[
                    ("error", error),
                    ("error_description", description),
                    ("state", state),
                ],
            ))
        };
        if get("response_type") != "code" {
            return error("unsupported_response_type", "response_type must be code");
        }
        let challenge = get("code_challenge");
        let method = match p.get("code_challenge_method").map(String::as_str) {
            None | Some("plain") => "plain",
            Some("S256") => "S256",
            Some(_) => {
                return error(
                    "invalid_request",
                    "code_challenge_method must be S256 or plain",
                );
            }
        };
        if challenge.is_empty() {
            return error(
                "invalid_request",
                "this server requires PKCE: code_challenge is missing",
            );
        }
        if faults.deny {
            return error("access_denied", "the user refused consent");
        }
        let mut inner = self.lock();
        let Some(user) = self.consent_user(&inner, store, p.get("login_hint").map(String::as_str))
        else {
            return error("access_denied", "the server has no user to consent as");
        };
        let now = Instant::now();
        inner.codes.retain(|c| c.expires > now);
        let code = random(32);
        inner.history.push(code.clone());
        inner.codes.push(CodeGrant {
            code: code.clone(),
            client_id: get("client_id").to_string(),
            redirect_uri: redirect_uri.to_string(),
            challenge: challenge.to_string(),
            method: method.to_string(),
            scope: get("scope").to_string(),
            user,
            expires: now + Duration::from_secs(60),
        });
        inner.stats.codes_issued += 1;
        AuthorizeReply::Redirect(redirect_with(
            redirect_uri,
            &[("code", &code), ("state", state)],
        ))
    }
}
