//! A small OAuth 2.0 authorization server so `mailtrip login` is tested offline, end to end:
//! the device authorization grant (RFC 8628), the authorization code grant with PKCE (RFC 7636)
//! and automatic consent, refresh, and injectable faults. The access tokens it issues are
//! registered with the store, which accepts them over XOAUTH2 only until they expire.
//!
//! Layering as elsewhere in the server: [`http::handle`] parses an HTTP request into form
//! fields, [`AuthServer`] decides (no I/O), and the handler writes the JSON, HTML or redirect.
//! [`listener`] serves it on its own HTTPS loopback port until it is mounted on another one.

pub mod http;
pub mod listener;

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;
use rand::distr::Alphanumeric;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

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
    /// automatically (as the consenting user). Visiting the verification page consents at once.
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

/// Errors to inject; set them with [`AuthServer::set_faults`].
#[derive(Debug, Clone, Default)]
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
    pub status: u16,
    pub error: &'static str,
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
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub refresh_token: String,
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
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: u64,
    pub interval: u64,
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
    faults: OAuthFaults,
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

/// The authorization server's state: grants in flight, refresh tokens, settings and faults.
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
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
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

    /// Replaces the faults in force.
    pub fn set_faults(&self, faults: OAuthFaults) {
        self.lock().faults = faults;
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
    pub fn authorize(&self, store: &Store, p: &Params) -> AuthorizeReply {
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
        let mut inner = self.lock();
        if inner.faults.deny {
            return error("access_denied", "the user refused consent");
        }
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

    /// `POST /token`: the device-code, authorization-code and refresh-token grants.
    /// `basic` is the client id and secret from an `Authorization: Basic` header, if any.
    pub fn token(
        &self,
        store: &Store,
        p: &Params,
        basic: Option<(String, String)>,
    ) -> Result<TokenReply, ErrorReply> {
        let mut inner = self.lock();
        let r = self.token_locked(&mut inner, store, p, basic);
        if r.is_err() {
            inner.stats.token_errors += 1;
        }
        r
    }

    fn token_locked(
        &self,
        inner: &mut Inner,
        store: &Store,
        p: &Params,
        basic: Option<(String, String)>,
    ) -> Result<TokenReply, ErrorReply> {
        let (client_id, secret) = match basic {
            Some((id, secret)) => (id, Some(secret)),
            None => (
                p.get("client_id").cloned().unwrap_or_default(),
                p.get("client_secret").cloned(),
            ),
        };
        if client_id.is_empty() {
            return Err(ErrorReply::new("invalid_client", "client_id is missing"));
        }
        if let Some(required) = &inner.settings.client_secret
            && !secret.is_some_and(|s| same(&s, required.expose_secret()))
        {
            return Err(ErrorReply::new(
                "invalid_client",
                "client authentication failed: wrong or missing client_secret",
            ));
        }
        let get = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
        match get("grant_type") {
            "urn:ietf:params:oauth:grant-type:device_code" => {
                self.device_token(inner, store, &client_id, get("device_code"))
            }
            "authorization_code" => self.code_token(inner, store, &client_id, p),
            "refresh_token" => self.refresh_token(inner, store, &client_id, get("refresh_token")),
            "" => Err(ErrorReply::new("invalid_request", "grant_type is missing")),
            other => Err(ErrorReply::new(
                "unsupported_grant_type",
                format!("grant_type {other:?} is not supported"),
            )),
        }
    }

    fn device_token(
        &self,
        inner: &mut Inner,
        store: &Store,
        client_id: &str,
        device_code: &str,
    ) -> Result<TokenReply, ErrorReply> {
        inner.stats.device_polls += 1;
        let now = Instant::now();
        let Some(i) = inner
            .devices
            .iter()
            .position(|d| same(&d.device_code, device_code))
        else {
            return Err(ErrorReply::new("invalid_grant", "unknown device_code"));
        };
        if inner.devices[i].client_id != client_id {
            return Err(ErrorReply::new(
                "invalid_grant",
                "the device_code was issued to another client",
            ));
        }
        if inner.faults.expire_device_codes || inner.devices[i].expires <= now {
            inner.devices.remove(i);
            return Err(ErrorReply::new(
                "expired_token",
                "the device_code has expired; start again",
            ));
        }
        if inner.faults.deny {
            inner.devices.remove(i);
            return Err(ErrorReply::new("access_denied", "the user refused consent"));
        }
        let pending_polls = inner.settings.pending_polls;
        let consent = self.consent_user(inner, store, None);
        let slow_fault = inner.faults.slow_down > 0;
        let grant = &mut inner.devices[i];
        let too_fast = grant
            .last_poll
            .is_some_and(|last| now.duration_since(last) < grant.interval);
        grant.last_poll = Some(now);
        if too_fast || slow_fault {
            grant.interval += Duration::from_secs(5);
            inner.stats.slow_downs += 1;
            if too_fast {
                inner.stats.too_fast_polls += 1;
            } else {
                inner.faults.slow_down -= 1;
            }
            return Err(ErrorReply::new(
                "slow_down",
                "polling too often: add 5 seconds to the interval",
            ));
        }
        grant.polls += 1;
        if grant.approved_as.is_none() && grant.polls > pending_polls {
            grant.approved_as = consent;
        }
        let Some(user) = grant.approved_as.clone() else {
            return Err(ErrorReply::new(
                "authorization_pending",
                "the user has not yet entered the code",
            ));
        };
        let grant = inner.devices.remove(i);
        Ok(issue(inner, store, &user, client_id, &grant.scope, None))
    }

    fn code_token(
        &self,
        inner: &mut Inner,
        store: &Store,
        client_id: &str,
        p: &Params,
    ) -> Result<TokenReply, ErrorReply> {
        let get = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
        let now = Instant::now();
        // A code is good for one attempt, whatever its outcome (RFC 6749 4.1.2).
        let Some(i) = inner.codes.iter().position(|c| same(&c.code, get("code"))) else {
            return Err(ErrorReply::new(
                "invalid_grant",
                "unknown or already used authorization code",
            ));
        };
        let grant = inner.codes.remove(i);
        if grant.expires <= now {
            return Err(ErrorReply::new(
                "invalid_grant",
                "the authorization code has expired",
            ));
        }
        if grant.client_id != client_id {
            return Err(ErrorReply::new(
                "invalid_grant",
                "the code was issued to another client",
            ));
        }
        if grant.redirect_uri != get("redirect_uri") {
            return Err(ErrorReply::new(
                "invalid_grant",
                "redirect_uri does not match the authorization request",
            ));
        }
        let verifier = get("code_verifier");
        let well_formed = (43..=128).contains(&verifier.len())
            && verifier
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
        if !well_formed {
            return Err(ErrorReply::new(
                "invalid_grant",
                "code_verifier is missing or malformed (RFC 7636 4.1)",
            ));
        }
        let computed = match grant.method.as_str() {
            "S256" => URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
            _ => verifier.to_string(),
        };
        if !same(&computed, &grant.challenge) {
            return Err(ErrorReply::new(
                "invalid_grant",
                "PKCE verification failed: code_verifier does not match code_challenge",
            ));
        }
        Ok(issue(
            inner,
            store,
            &grant.user,
            client_id,
            &grant.scope,
            None,
        ))
    }

    fn refresh_token(
        &self,
        inner: &mut Inner,
        store: &Store,
        client_id: &str,
        token: &str,
    ) -> Result<TokenReply, ErrorReply> {
        if inner.faults.invalid_grant {
            return Err(ErrorReply::new(
                "invalid_grant",
                "the refresh token has expired or been revoked",
            ));
        }
        let Some(i) = inner.refresh.iter().position(|r| same(&r.token, token)) else {
            return Err(ErrorReply::new(
                "invalid_grant",
                "the refresh token has expired or been revoked",
            ));
        };
        if inner.refresh[i].client_id != client_id {
            return Err(ErrorReply::new(
                "invalid_grant",
                "the refresh token was issued to another client",
            ));
        }
        let (user, scope) = (
            inner.refresh[i].user.clone(),
            inner.refresh[i].scope.clone(),
        );
        let keep = if inner.settings.rotate_refresh_tokens {
            inner.refresh.remove(i);
            None
        } else {
            Some(token.to_string())
        };
        inner.stats.refreshes += 1;
        Ok(issue(inner, store, &user, client_id, &scope, keep))
    }
}

/// Issues an access token (registered with the store until it expires) and a refresh token
/// (`keep`: the one presented, when refresh tokens are not rotated).
fn issue(
    inner: &mut Inner,
    store: &Store,
    user: &str,
    client_id: &str,
    scope: &str,
    keep: Option<String>,
) -> TokenReply {
    let lifetime = inner.settings.access_token_lifetime;
    let access_token = format!("mt-at-{}", random(40));
    let _ = store.add_token_until(
        user,
        SecretString::from(access_token.clone()),
        Some(Instant::now() + lifetime),
    );
    inner.access.push((user.to_string(), access_token.clone()));
    let refresh_token = match keep {
        Some(t) => t,
        None => {
            let t = format!("mt-rt-{}", random(40));
            inner.refresh.push(RefreshGrant {
                token: t.clone(),
                client_id: client_id.to_string(),
                user: user.to_string(),
                scope: scope.to_string(),
            });
            t
        }
    };
    inner.stats.tokens_issued += 1;
    inner.history.push(access_token.clone());
    if !inner.history.contains(&refresh_token) {
        inner.history.push(refresh_token.clone());
    }
    TokenReply {
        access_token,
        token_type: "Bearer",
        expires_in: lifetime.as_secs().max(1),
        refresh_token,
        scope: scope.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::FolderLayout;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn setup() -> (AuthServer, Store) {
        let store = Store::new();
        store.add_user(
            "alice@x.test",
            SecretString::from("pw".to_string()),
            &FolderLayout::standard(),
        );
        (AuthServer::new(Some("alice@x.test".into())), store)
    }

    #[test]
    fn device_flow_pends_then_issues_a_token_the_store_accepts() {
        let (s, store) = setup();
        s.set_settings(OAuthSettings {
            interval: 0,
            ..OAuthSettings::default()
        });
        let d = s
            .device_authorization(
                &params(&[("client_id", "c1"), ("scope", "mail")]),
                "https://h/oauth2",
            )
            .expect("device");
        assert!(d.verification_uri_complete.contains("user_code="));
        let poll = params(&[
            ("client_id", "c1"),
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", &d.device_code),
        ]);
        let e = s.token(&store, &poll, None).expect_err("pending");
        assert_eq!(e.error, "authorization_pending");
        let t = s.token(&store, &poll, None).expect("approved");
        assert_eq!(t.scope, "mail");
        assert!(store.check_token("alice@x.test", &t.access_token).is_some());
        // A device code is redeemed once.
        assert_eq!(
            s.token(&store, &poll, None).expect_err("used").error,
            "invalid_grant"
        );
    }

    #[test]
    fn pkce_s256_verifier_is_checked() {
        let (s, store) = setup();
        let verifier = "a".repeat(43);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let authorize = |_: ()| {
            let AuthorizeReply::Redirect(to) = s.authorize(
                &store,
                &params(&[
                    ("response_type", "code"),
                    ("client_id", "c1"),
                    ("redirect_uri", "http://127.0.0.1:5555/cb"),
                    ("state", "st"),
                    ("code_challenge", &challenge),
                    ("code_challenge_method", "S256"),
                ]),
            ) else {
                panic!("redirect expected")
            };
            let url = url::Url::parse(&to).expect("url");
            let q: Params = url.query_pairs().into_owned().collect();
            assert_eq!(q["state"], "st");
            q["code"].clone()
        };
        let exchange = |code: &str, v: &str| {
            s.token(
                &store,
                &params(&[
                    ("grant_type", "authorization_code"),
                    ("client_id", "c1"),
                    ("code", code),
                    ("redirect_uri", "http://127.0.0.1:5555/cb"),
                    ("code_verifier", v),
                ]),
                None,
            )
        };
        let e = exchange(&authorize(()), &"b".repeat(43)).expect_err("wrong verifier");
        assert!(e.description.contains("PKCE"), "{e:?}");
        assert!(exchange(&authorize(()), &verifier).is_ok());
    }

    #[test]
    fn authorize_refuses_non_loopback_redirects() {
        let (s, store) = setup();
        let r = s.authorize(
            &store,
            &params(&[
                ("response_type", "code"),
                ("client_id", "c1"),
                ("redirect_uri", "https://evil.example/cb"),
                ("code_challenge", "x"),
            ]),
        );
        assert!(matches!(r, AuthorizeReply::BadRequest(_)), "{r:?}");
    }
}
