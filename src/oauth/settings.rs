//! Everything one sign-in needs, resolved: the grant, the endpoints, the scopes, the client
//! (the user's own registration: mailtrip never borrows another application's identity), and
//! how to reach the endpoints.

use secrecy::SecretString;

use super::http::HttpClient;
use crate::providers::oauth2::{Flow, OAuth2Preset};

/// A resolved OAuth2 configuration for one account.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Device code or browser (PKCE) grant.
    pub flow: Flow,
    /// Device authorization endpoint (RFC 8628), for the device grant.
    pub device_authorization_url: Option<String>,
    /// Authorization endpoint, for the browser grant.
    pub authorization_url: Option<String>,
    /// Token endpoint.
    pub token_url: String,
    /// Scopes asked for.
    pub scopes: Vec<String>,
    /// The OAuth2 client id.
    pub client_id: String,
    /// Google's desktop clients have one; Microsoft's public clients do not.
    pub client_secret: Option<SecretString>,
    /// Extra authorization request parameters (Google: `access_type=offline`).
    pub authorize_params: Vec<(String, String)>,
    /// Suggests the account to sign in with (`login_hint`), the mailbox's own address.
    pub login_hint: Option<String>,
    /// The HTTPS client that talks to the endpoints.
    pub http: HttpClient,
}

impl Settings {
    /// The preset's endpoints (with `tenant`, or the preset's default) and scopes.
    pub fn from_preset(p: &OAuth2Preset, tenant: Option<&str>, client_id: &str) -> Settings {
        let tenant = tenant.unwrap_or(p.default_tenant);
        let url = |u: &str| (!u.is_empty()).then(|| u.replace("{tenant}", tenant));
        Settings {
            flow: p.flow,
            device_authorization_url: url(p.device_authorization_url),
            authorization_url: url(p.authorization_url),
            token_url: p.token_url.replace("{tenant}", tenant),
            scopes: p.scopes.iter().map(|s| s.to_string()).collect(),
            client_id: client_id.to_string(),
            client_secret: None,
            authorize_params: p
                .authorize_params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            login_hint: None,
            http: HttpClient::default(),
        }
    }

    /// The endpoint the chosen flow starts at, for messages.
    pub fn start_url(&self) -> Option<&str> {
        match self.flow {
            Flow::Device => self.device_authorization_url.as_deref(),
            Flow::Pkce => self.authorization_url.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::oauth2::{GOOGLE, MICROSOFT};

    #[test]
    fn microsoft_urls_take_the_tenant() {
        let s = Settings::from_preset(&MICROSOFT, Some("contoso.onmicrosoft.com"), "id");
        assert_eq!(
            s.token_url,
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        let s = Settings::from_preset(&MICROSOFT, None, "id");
        assert!(
            s.device_authorization_url
                .expect("device")
                .contains("/common/")
        );
        let g = Settings::from_preset(&GOOGLE, None, "id");
        assert_eq!((g.flow, g.device_authorization_url), (Flow::Pkce, None));
    }
}
