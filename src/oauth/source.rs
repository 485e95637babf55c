//! [`TokenSource`]: where a login signed in with `mailtrip login` gets its access token. It
//! keeps the token file's access token while it has life left, and otherwise refreshes it
//! (re-reading the file first, in case another mailtrip refreshed it) and saves the result.
//! One source is shared by every connection of an account, so a burst of logins refreshes once.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::http::HttpClient;
use super::store::{self, TokenFile};
use super::{ErrorKind, OAuthError, flows};

/// What the last login used, for `verify` to report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenInfo {
    /// When the access token expires.
    pub expires_at: DateTime<Utc>,
    /// Scopes granted.
    pub scopes: Vec<String>,
    /// Whether this run refreshed the access token.
    pub refreshed: bool,
}

/// How to refresh: from the account's current config, over the stored sign-in.
#[derive(Debug, Clone)]
pub struct Refresh {
    /// The token endpoint (from the preset or `oauth2_token_url`).
    pub token_url: String,
    /// The configured client id, if any; it must match the one signed in with.
    pub client_id: Option<String>,
    /// The client secret, when the client has one.
    pub client_secret: Option<SecretString>,
    /// The HTTPS client that talks to the token endpoint.
    pub http: HttpClient,
}

struct Inner {
    path: PathBuf,
    user: String,
    refresh: Refresh,
    /// The command that signs this account in again, for error messages.
    relogin: String,
    state: tokio::sync::Mutex<State>,
    last: Mutex<Option<TokenInfo>>,
}

#[derive(Default)]
struct State {
    /// The sign-in as last read or refreshed.
    current: Option<TokenFile>,
    /// A refresh token the server refused, and its words: not sent again (the other
    /// protocol's login, the next monitor round) until `mailtrip login` replaces it.
    refused: Option<(SecretString, String)>,
}

/// A stored sign-in that hands out access tokens. Cheap to clone; `Debug` shows no token.
#[derive(Clone)]
pub struct TokenSource {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("path", &self.inner.path)
            .field("user", &self.inner.user)
            .finish_non_exhaustive()
    }
}

/// Refresh when less than this share of the token's life is left (at most 5 minutes), so a
/// token is never used in its last moments and a short-lived one is not refreshed on every use.
fn margin(lifetime_secs: u64) -> chrono::Duration {
    let quarter = Duration::from_secs(lifetime_secs) / 4;
    chrono::Duration::from_std(quarter.min(Duration::from_secs(300)))
        .unwrap_or(chrono::Duration::zero())
}

fn fresh(t: &TokenFile, now: DateTime<Utc>) -> bool {
    t.access_token.is_some()
        && t.expires_at
            .is_some_and(|e| e - margin(t.lifetime_secs) > now)
}

impl TokenSource {
    /// The sign-in stored at `path` for `user`; `relogin` is the command that renews it.
    pub fn new(path: PathBuf, user: &str, refresh: Refresh, relogin: String) -> TokenSource {
        TokenSource {
            inner: Arc::new(Inner {
                path,
                user: user.to_string(),
                refresh,
                relogin,
                state: tokio::sync::Mutex::new(State::default()),
                last: Mutex::new(None),
            }),
        }
    }

    /// The token file this source reads and updates.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The command that signs the account in again.
    pub fn relogin(&self) -> &str {
        &self.inner.relogin
    }

    /// What the last handed-out token was (expiry, scopes, whether it was refreshed).
    pub fn info(&self) -> Option<TokenInfo> {
        self.inner
            .last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn sign_in_again(&self, why: String) -> OAuthError {
        OAuthError::new(ErrorKind::SignInRequired, why)
    }

    fn load(&self) -> Result<TokenFile, OAuthError> {
        match store::load(&self.inner.path)? {
            Some(t) => Ok(t),
            None => Err(OAuthError::new(
                ErrorKind::NotSignedIn,
                format!(
                    "{} has not signed in (there is no {})",
                    self.inner.user,
                    self.inner.path.display(),
                ),
            )),
        }
    }

    fn record(&self, t: &TokenFile, refreshed: bool) -> SecretString {
        let info = TokenInfo {
            expires_at: t.expires_at.unwrap_or_else(Utc::now),
            scopes: t.scopes.clone(),
            refreshed,
        };
        let mut last = self.inner.last.lock().unwrap_or_else(|p| p.into_inner());
        // A refresh earlier in the run stays reported.
        let refreshed = refreshed || last.as_ref().is_some_and(|l| l.refreshed);
        *last = Some(TokenInfo { refreshed, ..info });
        t.access_token
            .clone()
            .unwrap_or_else(|| SecretString::from(String::new()))
    }

    /// An access token with life left, refreshed (and saved) first if needed.
    pub async fn access_token(&self) -> Result<SecretString, OAuthError> {
        let mut state = self.inner.state.lock().await;
        let now = Utc::now();
        if let Some(t) = state.current.as_ref()
            && fresh(t, now)
        {
            return Ok(self.record(t, false));
        }
        // One refresh at a time across processes: whoever waited re-reads the file below and
        // finds the token the other one saved (providers may rotate refresh tokens).
        let _lock = store::lock(&self.inner.path).await;
        let current = self.load()?;
        if let Some(id) = &self.inner.refresh.client_id
            && *id != current.client_id
        {
            return Err(self.sign_in_again(format!(
                "{} was signed in with client id {} but the config now names {id}",
                self.inner.user, current.client_id
            )));
        }
        if fresh(&current, now) {
            let token = self.record(&current, false);
            state.current = Some(current);
            return Ok(token);
        }
        if let Some((token, why)) = &state.refused
            && token.expose_secret() == current.refresh_token.expose_secret()
        {
            return Err(self.sign_in_again(why.clone()));
        }
        let r = &self.inner.refresh;
        let secret = r.client_secret.as_ref().or(current.client_secret.as_ref());
        tracing::info!(user = %self.inner.user, "refreshing the OAuth2 access token");
        let new = flows::refresh(
            &r.token_url,
            &current.client_id,
            secret,
            &current.refresh_token,
            &current.scopes,
            &r.http,
        )
        .await
        .map_err(|e| {
            if e.kind() == ErrorKind::SignInRequired {
                let why = format!(
                    "the stored sign-in of {} no longer works: {e}",
                    self.inner.user
                );
                state.refused = Some((current.refresh_token.clone(), why.clone()));
                self.sign_in_again(why)
            } else {
                OAuthError::new(
                    e.kind(),
                    format!(
                        "refreshing the OAuth2 access token of {} failed",
                        self.inner.user
                    ),
                )
                .with_source(e)
            }
        })?;
        let updated = TokenFile {
            refresh_token: new
                .refresh_token
                .clone()
                .unwrap_or(current.refresh_token.clone()),
            access_token: Some(new.access_token.clone()),
            expires_at: Some(new.expires_at),
            lifetime_secs: new.lifetime_secs,
            scopes: new.scopes.clone(),
            refreshed_at: Some(Utc::now()),
            ..current
        };
        store::save(&self.inner.path, &updated)?;
        let token = self.record(&updated, true);
        state.current = Some(updated);
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_margin_is_a_quarter_of_the_life_up_to_five_minutes() {
        assert_eq!(margin(3600), chrono::Duration::seconds(300));
        assert_eq!(margin(8), chrono::Duration::seconds(2));
        assert_eq!(margin(0), chrono::Duration::zero());
    }
}
