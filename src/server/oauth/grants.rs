//! The token endpoint's grants (RFC 6749 4.1.3, 6; RFC 8628 3.4, 3.5; RFC 7636 4.6): client
//! authentication, the device code poll (pending, slow_down, denied, expired), the
//! authorization code with its PKCE verifier checked, and refresh with strict rotation. Each
//! success issues an access token that the store accepts over XOAUTH2 until it expires.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::{
    AuthServer, ErrorReply, Inner, OAuthFaults, Params, RefreshGrant, TokenReply, random, same,
};
use crate::server::store::Store;

impl AuthServer {
    /// `POST /token`: the device-code, authorization-code and refresh-token grants.
    /// `basic` is the client id and secret from an `Authorization: Basic` header, if any;
    /// `faults` the faults in force (a `slow_down` fault is used up here); `auto_consent`
    /// whether enough polls consent on the user's behalf (only where consent needs no
    /// credentials).
    pub fn token(
        &self,
        store: &Store,
        faults: &mut OAuthFaults,
        p: &Params,
        basic: Option<(String, String)>,
        auto_consent: bool,
    ) -> Result<TokenReply, ErrorReply> {
        let mut inner = self.lock();
        let grant = Grant {
            store,
            lifetime: faults
                .access_token_lifetime
                .unwrap_or(inner.settings.access_token_lifetime),
            auto_consent,
        };
        let r = self.token_locked(&mut inner, &grant, faults, p, basic);
        if r.is_err() {
            inner.stats.token_errors += 1;
        }
        r
    }

    fn token_locked(
        &self,
        inner: &mut Inner,
        g: &Grant<'_>,
        faults: &mut OAuthFaults,
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
                self.device_token(inner, g, faults, &client_id, get("device_code"))
            }
            "authorization_code" => self.code_token(inner, g, &client_id, p),
            "refresh_token" => {
                self.refresh_token(inner, g, faults, &client_id, get("refresh_token"))
            }
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
        g: &Grant<'_>,
        faults: &mut OAuthFaults,
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
        if faults.expire_device_codes || inner.devices[i].expires <= now {
            inner.devices.remove(i);
            return Err(ErrorReply::new(
                "expired_token",
                "the device_code has expired; start again",
            ));
        }
        if faults.deny {
            inner.devices.remove(i);
            return Err(ErrorReply::new("access_denied", "the user refused consent"));
        }
        let pending_polls = faults.pending_polls.unwrap_or(inner.settings.pending_polls);
        let consent = self.consent_user(inner, g.store, None);
        let slow_fault = faults.slow_down > 0;
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
                faults.slow_down -= 1;
            }
            return Err(ErrorReply::new(
                "slow_down",
                "polling too often: add 5 seconds to the interval",
            ));
        }
        grant.polls += 1;
        if g.auto_consent && grant.approved_as.is_none() && grant.polls > pending_polls {
            grant.approved_as = consent;
        }
        let Some(user) = grant.approved_as.clone() else {
            return Err(ErrorReply::new(
                "authorization_pending",
                "the user has not yet entered the code",
            ));
        };
        let grant = inner.devices.remove(i);
        Ok(issue(inner, g, &user, client_id, &grant.scope, None))
    }

    fn code_token(
        &self,
        inner: &mut Inner,
        g: &Grant<'_>,
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
        Ok(issue(inner, g, &grant.user, client_id, &grant.scope, None))
    }

    fn refresh_token(
        &self,
        inner: &mut Inner,
        g: &Grant<'_>,
        faults: &OAuthFaults,
        client_id: &str,
        token: &str,
    ) -> Result<TokenReply, ErrorReply> {
        if faults.invalid_grant {
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
        Ok(issue(inner, g, &user, client_id, &scope, keep))
    }
}

/// What one token request works with besides the server's state.
struct Grant<'a> {
    store: &'a Store,
    /// The access token lifetime in force (the setting, or the fault that overrides it).
    lifetime: Duration,
    /// Whether device polls may consent on the user's behalf.
    auto_consent: bool,
}

/// Issues an access token (registered with the store until it expires) and a refresh token
/// (`keep`: the one presented, when refresh tokens are not rotated).
fn issue(
    inner: &mut Inner,
    g: &Grant<'_>,
    user: &str,
    client_id: &str,
    scope: &str,
    keep: Option<String>,
) -> TokenReply {
    let lifetime = g.lifetime;
    let access_token = format!("mt-at-{}", random(40));
    let _ = g.store.add_token_until(
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
    use crate::server::oauth::{AuthorizeReply, OAuthSettings};

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
        let e = s
            .token(&store, &mut OAuthFaults::default(), &poll, None, true)
            .expect_err("pending");
        assert_eq!(e.error, "authorization_pending");
        let t = s
            .token(&store, &mut OAuthFaults::default(), &poll, None, true)
            .expect("approved");
        assert_eq!(t.scope, "mail");
        assert!(store.check_token("alice@x.test", &t.access_token).is_some());
        // A device code is redeemed once.
        assert_eq!(
            s.token(&store, &mut OAuthFaults::default(), &poll, None, true)
                .expect_err("used")
                .error,
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
                &OAuthFaults::default(),
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
                &mut OAuthFaults::default(),
                &params(&[
                    ("grant_type", "authorization_code"),
                    ("client_id", "c1"),
                    ("code", code),
                    ("redirect_uri", "http://127.0.0.1:5555/cb"),
                    ("code_verifier", v),
                ]),
                None,
                true,
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
            &OAuthFaults::default(),
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
