//! The grants, on the `oauth2` crate: the device flow (RFC 8628: polls at the server's
//! interval, `authorization_pending` and `slow_down` handled there, `access_denied` and
//! `expired_token` reported), the authorization code flow with PKCE (RFC 7636) and a
//! one-shot loopback redirect listener on `127.0.0.1:<ephemeral>` (RFC 8252), and refresh.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use oauth2::basic::{BasicClient, BasicErrorResponse, BasicErrorResponseType, BasicTokenResponse};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    DeviceAuthorizationUrl, DeviceCodeErrorResponse, DeviceCodeErrorResponseType,
    PkceCodeChallenge, RedirectUrl, RefreshToken, RequestTokenError, Scope,
    StandardDeviceAuthorizationResponse, TokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::http::{HttpClient, HttpError};
use super::{ErrorKind, OAuthError, Settings};
use crate::providers::oauth2::Flow;

/// Tokens from a token endpoint. `Debug` shows no token.
#[derive(Clone)]
pub struct Tokens {
    /// The access token for XOAUTH2.
    pub access_token: SecretString,
    /// Absent when the server keeps the old one (Google does not rotate).
    pub refresh_token: Option<SecretString>,
    /// When the access token expires.
    pub expires_at: DateTime<Utc>,
    /// The access token's lifetime when issued (`expires_in`), seconds.
    pub lifetime_secs: u64,
    /// Scopes granted, as the token endpoint reported them.
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// What the user is asked to do in the device flow.
#[derive(Debug, Clone)]
pub struct DevicePrompt {
    /// The page the user opens to approve.
    pub verification_uri: String,
    /// The code the user types on that page.
    pub user_code: String,
    /// The URI with the code filled in, when the server gives one.
    pub verification_uri_complete: Option<String>,
    /// How long the code stays valid.
    pub expires_in: Duration,
}

fn config_err(message: String) -> OAuthError {
    OAuthError::new(ErrorKind::Config, message)
}

fn url_of<T>(
    what: &str,
    url: &str,
    make: impl FnOnce(String) -> Result<T, url::ParseError>,
) -> Result<T, OAuthError> {
    make(url.to_string()).map_err(|e| config_err(format!("the {what} URL {url:?} is invalid: {e}")))
}

fn client_id(s: &Settings) -> Result<ClientId, OAuthError> {
    if s.client_id.trim().is_empty() {
        return Err(config_err(
            "no OAuth2 client id: register one (see the README) and give oauth2_client_id in \
             the config or --client-id"
                .into(),
        ));
    }
    Ok(ClientId::new(s.client_id.clone()))
}

/// The client every grant starts from: `id`, its credentials in the request body, and
/// `secret` when there is one (Google desktop clients); each grant adds its endpoints.
fn base_client(id: ClientId, secret: Option<&SecretString>) -> BasicClient {
    let client = BasicClient::new(id).set_auth_type(AuthType::RequestBody);
    match secret {
        Some(c) => client.set_client_secret(ClientSecret::new(c.expose_secret().to_string())),
        None => client,
    }
}

/// Turns a token response into [`Tokens`]; scopes default to the ones requested (also when
/// the response's `scope` is empty: `""` would otherwise read as one empty scope).
fn tokens(r: &BasicTokenResponse, requested: &[String]) -> Tokens {
    let lifetime = r.expires_in().unwrap_or(Duration::from_secs(3600));
    Tokens {
        access_token: SecretString::from(r.access_token().secret().to_string()),
        refresh_token: r
            .refresh_token()
            .map(|t| SecretString::from(t.secret().to_string())),
        expires_at: Utc::now()
            + chrono::Duration::from_std(lifetime).unwrap_or(chrono::Duration::hours(1)),
        lifetime_secs: lifetime.as_secs(),
        scopes: r
            .scopes()
            .map(|v| {
                v.iter()
                    .map(|s| s.to_string())
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
            })
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| requested.to_vec()),
    }
}

/// A failed token request, in words that name the endpoint and the server's own error.
fn request_err<T: oauth2::ErrorResponse>(
    url: &str,
    e: RequestTokenError<HttpError, T>,
    server_kind: impl FnOnce(&T) -> ErrorKind,
) -> OAuthError {
    match e {
        RequestTokenError::ServerResponse(r) => {
            let kind = server_kind(&r);
            OAuthError::new(kind, format!("{url} answered {r}"))
        }
        RequestTokenError::Request(h) => {
            let kind = if h.is_timeout() {
                ErrorKind::Timeout
            } else {
                ErrorKind::Transport
            };
            OAuthError::new(kind, format!("cannot reach {url}")).with_source(h)
        }
        // The body may hold tokens: say only that it was unreadable, and where.
        RequestTokenError::Parse(e, _) => OAuthError::new(
            ErrorKind::Server,
            format!(
                "{url} sent an answer that is not an OAuth2 token response (at {})",
                e.path()
            ),
        ),
        RequestTokenError::Other(m) => OAuthError::new(ErrorKind::Server, format!("{url}: {m}")),
    }
}

/// Signs in with the flow the settings name. `prompt` shows the device code or the URL to
/// open; `timeout` bounds the wait for the user (default: the device code's own lifetime).
pub async fn sign_in(
    s: &Settings,
    prompt: &mut dyn FnMut(Prompt<'_>),
    timeout: Duration,
) -> Result<Tokens, OAuthError> {
    match s.flow {
        Flow::Device => device(s, prompt, timeout).await,
        Flow::Pkce => pkce(s, prompt, timeout).await,
    }
}

/// What [`sign_in`] asks the caller to show.
#[derive(Debug)]
pub enum Prompt<'a> {
    /// Device flow: open this URL and enter this code.
    Device(&'a DevicePrompt),
    /// Authorization code flow: open this URL in a browser on this machine.
    Browser(&'a str),
}

async fn device(
    s: &Settings,
    prompt: &mut dyn FnMut(Prompt<'_>),
    timeout: Duration,
) -> Result<Tokens, OAuthError> {
    let device_url = s.device_authorization_url.as_deref().ok_or_else(|| {
        config_err(
            "this provider has no device authorization endpoint for mail: use the browser flow \
             (oauth2_flow = \"pkce\")"
                .into(),
        )
    })?;
    let client = base_client(client_id(s)?, s.client_secret.as_ref())
        .set_device_authorization_url(url_of(
            "device authorization",
            device_url,
            DeviceAuthorizationUrl::new,
        )?)
        .set_token_uri(url_of("token", &s.token_url, TokenUrl::new)?);
    let details: StandardDeviceAuthorizationResponse = client
        .exchange_device_code()
        .add_scopes(s.scopes.iter().cloned().map(Scope::new))
        .request_async(&s.http)
        .await
        .map_err(|e| request_err(device_url, e, |_: &BasicErrorResponse| ErrorKind::Server))?;
    let shown = DevicePrompt {
        verification_uri: details.verification_uri().to_string(),
        user_code: details.user_code().secret().to_string(),
        verification_uri_complete: details
            .verification_uri_complete()
            .map(|u| u.secret().to_string()),
        expires_in: details.expires_in(),
    };
    prompt(Prompt::Device(&shown));
    let wait = timeout.min(details.expires_in());
    let r = client
        .exchange_device_access_token(&details)
        .request_async(&s.http, tokio::time::sleep, Some(wait))
        .await
        .map_err(|e| {
            request_err(&s.token_url, e, |r: &DeviceCodeErrorResponse| {
                match r.error() {
                    DeviceCodeErrorResponseType::AccessDenied => ErrorKind::Denied,
                    DeviceCodeErrorResponseType::ExpiredToken => ErrorKind::Expired,
                    _ => ErrorKind::Server,
                }
            })
        })?;
    Ok(tokens(&r, &s.scopes))
}

/// What the loopback redirect brought: `code` and `state`, or `error`.
type Callback = Result<(String, String), String>;

async fn pkce(
    s: &Settings,
    prompt: &mut dyn FnMut(Prompt<'_>),
    timeout: Duration,
) -> Result<Tokens, OAuthError> {
    let auth_url = s.authorization_url.as_deref().ok_or_else(|| {
        config_err("no authorization endpoint configured (oauth2_auth_url)".into())
    })?;
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.map_err(|e| {
        OAuthError::new(
            ErrorKind::Transport,
            "cannot listen on 127.0.0.1 for the redirect",
        )
        .with_source(e)
    })?;
    let port = listener
        .local_addr()
        .map_err(|e| OAuthError::new(ErrorKind::Transport, "no local address").with_source(e))?
        .port();
    let redirect = format!("http://127.0.0.1:{port}/");
    let client = base_client(client_id(s)?, s.client_secret.as_ref())
        .set_auth_uri(url_of("authorization", auth_url, AuthUrl::new)?)
        .set_token_uri(url_of("token", &s.token_url, TokenUrl::new)?)
        .set_redirect_uri(url_of("redirect", &redirect, RedirectUrl::new)?);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(CsrfToken::new_random)
        .add_scopes(s.scopes.iter().cloned().map(Scope::new))
        .set_pkce_challenge(challenge);
    for (k, v) in &s.authorize_params {
        request = request.add_extra_param(k.clone(), v.clone());
    }
    if let Some(hint) = &s.login_hint {
        request = request.add_extra_param("login_hint", hint.clone());
    }
    let (url, state) = request.url();
    prompt(Prompt::Browser(url.as_str()));
    let (code, got_state) = match tokio::time::timeout(timeout, redirect_once(listener)).await {
        Err(_) => {
            return Err(OAuthError::new(
                ErrorKind::Expired,
                format!("nobody finished signing in within {timeout:?}"),
            ));
        }
        Ok(Err(e)) => return Err(e),
        Ok(Ok(Err(error))) => {
            let kind = if error.starts_with("access_denied") {
                ErrorKind::Denied
            } else {
                ErrorKind::Server
            };
            return Err(OAuthError::new(
                kind,
                format!("{auth_url} answered {error}"),
            ));
        }
        Ok(Ok(Ok(pair))) => pair,
    };
    if got_state != *state.secret() {
        return Err(OAuthError::new(
            ErrorKind::Server,
            "the redirect carried a different state than the request (a stale or forged \
             redirect); sign in again",
        ));
    }
    let r = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&s.http)
        .await
        .map_err(|e| request_err(&s.token_url, e, |_: &BasicErrorResponse| ErrorKind::Server))?;
    Ok(tokens(&r, &s.scopes))
}

/// Serves the loopback redirect until one request carries `code` or `error`; answers the
/// browser with a page saying what happened.
async fn redirect_once(listener: TcpListener) -> Result<Callback, OAuthError> {
    let (tx, mut rx) = mpsc::channel::<Callback>(1);
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            got = rx.recv() => {
                // Let the browser receive its page before the connections go.
                let drain = async { while conns.join_next().await.is_some() {} };
                let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
                return got.ok_or_else(|| OAuthError::new(ErrorKind::Transport, "redirect listener stopped"));
            }
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else { continue };
                let tx = tx.clone();
                conns.spawn(async move {
                    let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                        let tx = tx.clone();
                        async move {
                            let q: std::collections::HashMap<String, String> = req
                                .uri()
                                .query()
                                .map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect())
                                .unwrap_or_default();
                            let (status, text, got) = match (q.get("code"), q.get("error")) {
                                (_, Some(error)) => {
                                    let why = q.get("error_description").map(|d| format!(" ({d})")).unwrap_or_default();
                                    (StatusCode::OK, format!("mailtrip: sign-in failed: {error}{why}. You can close this tab."), Some(Err(format!("{error}{why}"))))
                                }
                                (Some(code), None) => (
                                    StatusCode::OK,
                                    "mailtrip: signed in. You can close this tab and return to the terminal.".to_string(),
                                    Some(Ok((code.clone(), q.get("state").cloned().unwrap_or_default()))),
                                ),
                                (None, None) => (StatusCode::NOT_FOUND, "mailtrip is waiting for the sign-in redirect.".to_string(), None),
                            };
                            if let Some(got) = got {
                                let _ = tx.try_send(got);
                            }
                            let mut r = Response::new(Full::new(Bytes::from(text)));
                            *r.status_mut() = status;
                            r.headers_mut().insert(
                                hyper::header::CONTENT_TYPE,
                                hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
                            );
                            Ok::<_, Infallible>(r)
                        }
                    });
                    let _ = http1::Builder::new()
                        .keep_alive(false)
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        }
    }
}

/// Exchanges a refresh token for a new access token (and maybe a new refresh token).
/// `invalid_grant` and client errors mean the sign-in is gone: [`ErrorKind::SignInRequired`].
pub async fn refresh(
    token_url: &str,
    client_id: &str,
    client_secret: Option<&SecretString>,
    refresh_token: &SecretString,
    scopes: &[String],
    http: &HttpClient,
) -> Result<Tokens, OAuthError> {
    let client = base_client(ClientId::new(client_id.to_string()), client_secret)
        .set_token_uri(url_of("token", token_url, TokenUrl::new)?);
    let rt = RefreshToken::new(refresh_token.expose_secret().to_string());
    let r = client
        .exchange_refresh_token(&rt)
        .request_async(http)
        .await
        .map_err(|e| {
            request_err(token_url, e, |r: &BasicErrorResponse| match r.error() {
                BasicErrorResponseType::InvalidGrant
                | BasicErrorResponseType::InvalidClient
                | BasicErrorResponseType::UnauthorizedClient => ErrorKind::SignInRequired,
                _ => ErrorKind::Server,
            })
        })?;
    Ok(tokens(&r, scopes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 18 (docs/json.md's login example run for real): a token response with
    /// `"scope": ""` (the embedded server's, when no scope was asked for) is no scopes, not
    /// one empty scope (`"scopes":[""]`).
    #[test]
    fn issue18_an_empty_scope_is_no_scope() {
        let r: BasicTokenResponse = serde_json::from_str(
            r#"{"access_token":"a","token_type":"bearer","expires_in":60,"scope":""}"#,
        )
        .unwrap();
        assert_eq!(tokens(&r, &[]).scopes, Vec::<String>::new());
        let asked = ["mail".to_string()];
        assert_eq!(tokens(&r, &asked).scopes, asked);
        let r: BasicTokenResponse =
            serde_json::from_str(r#"{"access_token":"a","token_type":"bearer","scope":"a b"}"#)
                .unwrap();
        assert_eq!(tokens(&r, &asked).scopes, ["a", "b"]);
    }
}
