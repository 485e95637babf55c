//! OAuth2 per provider, for `mailtrip login`: which grant to use, the endpoints, the scopes
//! that cover SMTP and IMAP, and where to register a client. Data only, like the presets.

use serde::Serialize;
use strum::{IntoStaticStr, VariantArray};

/// How the user signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[derive(IntoStaticStr, VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum Flow {
    /// The device authorization grant (RFC 8628): a URL and a code to enter on any device.
    Device,
    /// The authorization code grant with PKCE (RFC 7636) and a loopback redirect (RFC 8252).
    Pkce,
}

impl Flow {
    /// `device` or `pkce`, as in the config file.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Parses `device` or `pkce` (ASCII case ignored).
    pub fn parse(s: &str) -> Option<Flow> {
        match s.trim().to_ascii_lowercase().as_str() {
            "device" => Some(Flow::Device),
            "pkce" | "browser" | "authorization_code" => Some(Flow::Pkce),
            _ => None,
        }
    }
}

/// A provider's OAuth2 settings. `{tenant}` in a URL stands for the account's tenant.
#[derive(Debug, Clone, Serialize)]
pub struct OAuth2Preset {
    /// The grant `mailtrip login` uses unless told otherwise.
    pub flow: Flow,
    /// Device authorization endpoint; empty when the provider has none for mail scopes.
    pub device_authorization_url: &'static str,
    /// Authorization endpoint for the browser (PKCE) grant; `{tenant}` is filled in.
    pub authorization_url: &'static str,
    /// Token endpoint; `{tenant}` is filled in.
    pub token_url: &'static str,
    /// Scopes that allow SMTP submission and IMAP with XOAUTH2, plus a refresh token.
    pub scopes: &'static [&'static str],
    /// Tenant used when the account names none; empty when URLs have no `{tenant}`.
    pub default_tenant: &'static str,
    /// Extra parameters for the authorization request (Google: ask for a refresh token).
    pub authorize_params: &'static [(&'static str, &'static str)],
    /// Whether the provider's desktop clients come with a client secret to send.
    pub client_secret: bool,
    /// Where to register the client (the app mailtrip signs in as).
    pub register_url: &'static str,
    /// Where a user reviews and removes the access they granted.
    pub manage_url: &'static str,
}

/// Microsoft identity platform (v2.0): Outlook.com, Microsoft 365 / Exchange Online.
pub static MICROSOFT: OAuth2Preset = OAuth2Preset {
    flow: Flow::Device,
    device_authorization_url: "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/devicecode",
    authorization_url: "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize",
    token_url: "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
    scopes: &[
        "https://outlook.office.com/IMAP.AccessAsUser.All",
        "https://outlook.office.com/SMTP.Send",
        "offline_access",
    ],
    default_tenant: "common",
    authorize_params: &[],
    client_secret: false,
    register_url: "https://entra.microsoft.com/#view/Microsoft_AAD_RegisteredApps/ApplicationsListBlade",
    manage_url: "https://myapps.microsoft.com/ (work accounts) or https://account.live.com/consent/Manage (personal)",
};

/// Google (Gmail, Workspace). Its device flow does not allow the mail scope, so the browser.
pub static GOOGLE: OAuth2Preset = OAuth2Preset {
    flow: Flow::Pkce,
    device_authorization_url: "",
    authorization_url: "https://accounts.google.com/o/oauth2/v2/auth",
    token_url: "https://oauth2.googleapis.com/token",
    scopes: &["https://mail.google.com/"],
    default_tenant: "",
    authorize_params: &[("access_type", "offline"), ("prompt", "consent")],
    client_secret: true,
    register_url: "https://console.cloud.google.com/apis/credentials",
    manage_url: "https://myaccount.google.com/connections",
};

/// The OAuth2 settings of a preset, by its canonical name.
pub fn for_preset(name: &str) -> Option<&'static OAuth2Preset> {
    match name {
        "gmail" | "google-workspace" => Some(&GOOGLE),
        "outlook" => Some(&MICROSOFT),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_oauth2_preset_belongs_to_a_preset_and_asks_for_a_refresh_token() {
        for name in ["gmail", "google-workspace", "outlook"] {
            let p = for_preset(name).expect(name);
            assert!(super::super::find(name).is_some(), "{name}");
            assert!(p.token_url.starts_with("https://"), "{name}");
            let offline = p.scopes.contains(&"offline_access")
                || p.authorize_params.contains(&("access_type", "offline"));
            assert!(offline, "{name} must ask for a refresh token");
        }
        assert!(GOOGLE.device_authorization_url.is_empty());
        assert_eq!(Flow::parse("Device"), Some(Flow::Device));
        assert!(for_preset("yahoo").is_none());
    }
}
