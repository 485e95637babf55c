//! `auth = "oauth2"` accounts: the OAuth2 settings an account's config, the `mailtrip login`
//! flags and the provider preset add up to, where its sign-in is kept, and the credential
//! that hands each login a live access token.

use std::path::{Path, PathBuf};

use secrecy::SecretString;

use super::file::{self, AccountSpec};
use super::secret::SecretSource;
use super::{ConfigError, Credential, Overrides, TlsOptions};
use crate::oauth::http::HttpClient;
use crate::oauth::source::Refresh;
use crate::oauth::{OAuthError, Settings, TokenSource, store};
use crate::providers::oauth2::Flow;
use crate::providers::{self, Preset};

/// What a login sends, taken from a [`Credential`] at the moment of logging in.
pub enum Secret {
    /// A password, for SMTP AUTH PLAIN / LOGIN and IMAP LOGIN.
    Password(SecretString),
    /// An OAuth2 access token, for XOAUTH2.
    Token(SecretString),
}

impl Credential {
    /// Whether the login uses XOAUTH2.
    pub fn is_oauth2(&self) -> bool {
        !matches!(self, Credential::Password(_))
    }

    /// `password` or `oauth2`, as reports name the method.
    pub fn method(&self) -> &'static str {
        if self.is_oauth2() {
            "oauth2"
        } else {
            "password"
        }
    }

    /// The stored sign-in behind an `OAuth2Login`.
    pub fn token_source(&self) -> Option<&TokenSource> {
        match self {
            Credential::OAuth2Login(s) => Some(s),
            _ => None,
        }
    }

    /// What to send now: the password, or an access token (a stored sign-in's is refreshed
    /// first when it is near its expiry).
    pub async fn secret(&self) -> Result<Secret, OAuthError> {
        match self {
            Credential::Password(p) => Ok(Secret::Password(p.clone())),
            Credential::OAuth2Token(t) => Ok(Secret::Token(t.clone())),
            Credential::OAuth2Login(s) => s.access_token().await.map(Secret::Token),
        }
    }
}

/// What shapes the OAuth2 settings beyond the provider preset: `mailtrip login`'s flags
/// (clap::Args under the cli feature).
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct OAuth2Overrides {
    /// The OAuth2 client (application) id you registered; see the README for how.
    #[cfg_attr(feature = "cli", arg(long, env = "MAILTRIP_OAUTH2_CLIENT_ID"))]
    pub client_id: Option<String>,
    /// Read the client secret (Google desktop clients have one) from this environment variable.
    #[cfg_attr(feature = "cli", arg(long))]
    pub client_secret_env: Option<String>,
    /// Microsoft tenant: common (default), organizations, consumers, a domain or a tenant id.
    #[cfg_attr(feature = "cli", arg(long))]
    pub tenant: Option<String>,
    /// device: a code to enter on any device (Microsoft's default); pkce: a browser on this
    /// machine with a loopback redirect (Google's).
    #[cfg_attr(feature = "cli", arg(long, value_parser = ["device", "pkce"]))]
    pub flow: Option<String>,
}

/// One account to sign in or out.
#[derive(Debug, Clone)]
pub struct LoginTarget {
    /// The config file's account name, if one was used.
    pub name: Option<String>,
    /// The login name the tokens are for.
    pub user: String,
    /// Provider preset, if one filled the account.
    pub provider: Option<String>,
    /// The endpoints, client and scopes to sign in with.
    pub settings: Settings,
    /// Where the token file is kept.
    pub token_path: PathBuf,
    /// The command that signs this account in again.
    pub relogin: String,
    /// Where the user can remove the access later (the provider's page), when known.
    pub manage_url: Option<&'static str>,
    /// Set when the account still names a password source without `auth = "oauth2"`, so
    /// other commands would keep using the password: what to change.
    pub note: Option<String>,
}

fn invalid(message: String) -> ConfigError {
    ConfigError::Invalid(message)
}

/// How an account's `auth` key reads: `Some(true)` oauth2, `Some(false)` password.
fn declared(spec: &AccountSpec, label: &str) -> Result<Option<bool>, ConfigError> {
    match spec.auth.as_deref().map(str::trim) {
        None => Ok(None),
        Some(a) if a.eq_ignore_ascii_case("oauth2") => Ok(Some(true)),
        Some(a) if a.eq_ignore_ascii_case("password") => Ok(Some(false)),
        Some(a) => Err(invalid(format!(
            "{label}: auth = {a:?} is unknown; use \"password\" or \"oauth2\""
        ))),
    }
}

/// Whether the account says `auth = "oauth2"` (its password sources are then ignored).
pub(super) fn wants_oauth2(spec: &AccountSpec) -> bool {
    declared(spec, "").ok().flatten() == Some(true)
}

fn http(tls: &TlsOptions) -> HttpClient {
    HttpClient {
        tls: tls.clone(),
        ..HttpClient::default()
    }
}

/// The OAuth2 settings of an account, or `None` when neither its preset nor its keys have any.
fn settings_for(
    spec: &AccountSpec,
    flags: Option<&OAuth2Overrides>,
    preset: Option<&Preset>,
    user: &str,
    tls: &TlsOptions,
) -> Result<Option<Settings>, ConfigError> {
    let flag = |f: fn(&OAuth2Overrides) -> &Option<String>| flags.and_then(|o| f(o).clone());
    let client_id = flag(|o| &o.client_id)
        .or_else(|| spec.oauth2_client_id.clone())
        .unwrap_or_default();
    let tenant = flag(|o| &o.tenant).or_else(|| spec.oauth2_tenant.clone());
    let mut s = match preset.and_then(Preset::oauth2) {
        Some(p) => Settings::from_preset(p, tenant.as_deref(), &client_id),
        None => {
            let Some(token_url) = &spec.oauth2_token_url else {
                return Ok(None);
            };
            Settings {
                flow: if spec.oauth2_device_url.is_some() {
                    Flow::Device
                } else {
                    Flow::Pkce
                },
                device_authorization_url: None,
                authorization_url: None,
                token_url: token_url.clone(),
                scopes: Vec::new(),
                client_id,
                client_secret: None,
                authorize_params: Vec::new(),
                login_hint: None,
                http: HttpClient::default(),
            }
        }
    };
    if let Some(u) = &spec.oauth2_device_url {
        s.device_authorization_url = Some(u.clone());
    }
    if let Some(u) = &spec.oauth2_auth_url {
        s.authorization_url = Some(u.clone());
    }
    if let Some(u) = &spec.oauth2_token_url {
        s.token_url = u.clone();
    }
    if let Some(scopes) = &spec.oauth2_scopes {
        s.scopes = scopes.clone();
    }
    if let Some(f) = flag(|o| &o.flow).or_else(|| spec.oauth2_flow.clone()) {
        s.flow = Flow::parse(&f)
            .ok_or_else(|| invalid(format!("OAuth2 flow {f:?} is unknown; use device or pkce")))?;
    }
    s.client_secret = if let Some(var) = flag(|o| &o.client_secret_env) {
        Some(SecretSource::Env(var).read()?)
    } else if let Some(var) = &spec.oauth2_client_secret_env {
        // Signing in needs it; later refreshes fall back to the one saved at sign-in.
        match SecretSource::Env(var.clone()).read() {
            Ok(s) => Some(s),
            Err(e) if flags.is_some() => return Err(e),
            Err(_) => None,
        }
    } else {
        spec.oauth2_client_secret.as_ref().map(|s| s.0.clone())
    };
    s.login_hint = Some(user.to_string());
    s.http = http(tls);
    Ok(Some(s))
}

/// `mailtrip login --account work`, or with `--provider`/`--user` when there is no name.
fn relogin(
    name: Option<&str>,
    config: Option<&Path>,
    provider: Option<&str>,
    user: &str,
) -> String {
    let quote = |s: &str| {
        if s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "@._+-/:".contains(c))
        {
            s.to_string()
        } else {
            format!("'{}'", s.replace('\'', r"'\''"))
        }
    };
    let mut cmd = "mailtrip login".to_string();
    if let Some(c) = config {
        cmd.push_str(&format!(" --config {}", quote(&c.display().to_string())));
    }
    match name {
        Some(n) => cmd.push_str(&format!(" --account {}", quote(n))),
        None => {
            if let Some(p) = provider {
                cmd.push_str(&format!(" --provider {}", quote(p)));
            }
            cmd.push_str(&format!(" --user {}", quote(user)));
        }
    }
    cmd
}

fn find_preset(name: Option<&str>) -> Result<Option<&'static Preset>, ConfigError> {
    match name {
        None => Ok(None),
        Some(p) => providers::find(p).map(Some).ok_or_else(|| {
            let names: Vec<&str> = providers::PRESETS.iter().map(|p| p.name).collect();
            invalid(format!(
                "unknown provider {p:?}; known: {}",
                names.join(", ")
            ))
        }),
    }
}

/// The account `mailtrip login` / `logout` works on: the same choice of account as every
/// other command (`--account`, else `default_account`, else the only one), flags first.
pub fn login_target(o: &Overrides, flags: &OAuth2Overrides) -> Result<LoginTarget, ConfigError> {
    let loaded = file::discover(o.config.as_deref())?;
    let (cfg, _path) = match loaded {
        Some(l) => (l.config, Some(l.path)),
        None => (Default::default(), None),
    };
    let cfg: file::FileConfig = cfg;
    let name = o
        .account
        .clone()
        .or(cfg.default_account.clone())
        .or_else(|| {
            (cfg.accounts.len() == 1 && o.provider.is_none() && o.user.is_none())
                .then(|| cfg.accounts.keys().next().cloned())
                .flatten()
        });
    let spec = match &name {
        Some(n) => cfg.accounts.get(n).cloned().ok_or_else(|| {
            let known: Vec<&str> = cfg.accounts.keys().map(String::as_str).collect();
            invalid(format!(
                "no account named {n:?} in the config; known: {}",
                if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                }
            ))
        })?,
        None => AccountSpec::default(),
    };
    let label = name
        .as_ref()
        .map(|n| format!("account {n:?}"))
        .unwrap_or_else(|| "the account".into());
    declared(&spec, &label)?;
    let provider = o.provider.clone().or_else(|| spec.provider.clone());
    let preset = find_preset(provider.as_deref())?;
    let user = o
        .user
        .clone()
        .or_else(|| spec.user.clone())
        .or_else(|| spec.address.clone())
        .or_else(|| o.from.clone())
        .ok_or_else(|| {
            invalid(format!(
                "{label}: no address to sign in as; give --user ADDRESS"
            ))
        })?;
    let mut tls = TlsOptions::default();
    if let Some(path) = o.ca_file.clone().or_else(|| spec.ca_file.clone()) {
        let pem = std::fs::read_to_string(&path)
            .map_err(|e| invalid(format!("cannot read --ca-file {}: {e}", path.display())))?;
        tls.extra_roots_pem.push(pem);
    }
    tls.insecure_skip_verify = o.insecure_skip_verify;
    let settings = settings_for(&spec, Some(flags), preset, &user, &tls)?.ok_or_else(|| {
        invalid(format!(
            "{label}: no OAuth2 settings; use --provider outlook, gmail or google-workspace, or \
             give oauth2_token_url (and oauth2_device_url or oauth2_auth_url) in the config"
        ))
    })?;
    let dir = store::token_dir().map_err(|e| invalid(e.to_string()))?;
    let names_password = spec.password.is_some()
        || spec.password_env.is_some()
        || spec.password_file.is_some()
        || spec.password_command.is_some()
        || spec.oauth2_token_env.is_some()
        || spec.oauth2_token_command.is_some();
    let note = (names_password && !wants_oauth2(&spec)).then(|| {
        format!(
            "{label} still names a password or token source, which other commands use first; \
             add auth = \"oauth2\" to its table to log in with this sign-in"
        )
    });
    Ok(LoginTarget {
        note,
        token_path: store::path_for(&dir, &user, &settings.token_url),
        relogin: relogin(
            name.as_deref(),
            o.config.as_deref(),
            preset.map(|p| p.name),
            &user,
        ),
        manage_url: preset.and_then(Preset::oauth2).map(|p| p.manage_url),
        name,
        user,
        provider: preset.map(|p| p.name.to_string()),
        settings,
    })
}

/// The credential of an account signed in with `mailtrip login`: required with
/// `auth = "oauth2"`, used on its own when no password source is given and a sign-in is stored.
pub(super) fn stored_sign_in(
    name: Option<&str>,
    spec: &AccountSpec,
    o: Option<&Overrides>,
    preset: Option<&Preset>,
    user: &str,
    tls: &TlsOptions,
) -> Result<Option<Credential>, ConfigError> {
    let label = name
        .map(|n| format!("account {n:?}"))
        .unwrap_or_else(|| "the account".into());
    let declared = declared(spec, &label)?;
    if declared == Some(false) {
        return Ok(None);
    }
    let Some(settings) = settings_for(spec, None, preset, user, tls)? else {
        if declared == Some(true) {
            return Err(invalid(format!(
                "{label}: auth = \"oauth2\" needs a provider with OAuth2 (outlook, gmail, \
                 google-workspace) or oauth2_token_url"
            )));
        }
        return Ok(None);
    };
    let dir = match store::token_dir() {
        Ok(d) => d,
        Err(_) if declared.is_none() => return Ok(None),
        Err(e) => return Err(invalid(e.to_string())),
    };
    let path = store::path_for(&dir, user, &settings.token_url);
    let again = relogin(
        name,
        o.and_then(|o| o.config.as_deref()),
        preset.map(|p| p.name),
        user,
    );
    if !path.is_file() {
        if declared == Some(true) {
            return Err(invalid(format!(
                "{label} uses auth = \"oauth2\" but {user} has not signed in; sign in: `{again}`"
            )));
        }
        return Ok(None);
    }
    let refresh = Refresh {
        token_url: settings.token_url.clone(),
        client_id: spec.oauth2_client_id.clone(),
        client_secret: settings.client_secret.clone(),
        http: settings.http.clone(),
    };
    Ok(Some(Credential::OAuth2Login(TokenSource::new(
        path, user, refresh, again,
    ))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relogin_names_the_account_or_the_provider_and_user() {
        assert_eq!(
            relogin(Some("work"), None, Some("outlook"), "me@x.com"),
            "mailtrip login --account work"
        );
        assert_eq!(
            relogin(
                None,
                Some(Path::new("/tmp/my conf.toml")),
                Some("gmail"),
                "me@x.com"
            ),
            "mailtrip login --config '/tmp/my conf.toml' --provider gmail --user me@x.com"
        );
    }

    #[test]
    fn settings_come_from_the_preset_with_file_overrides() {
        let spec = AccountSpec {
            oauth2_client_id: Some("cid".into()),
            oauth2_token_url: Some("https://localhost:1/oauth2/token".into()),
            oauth2_scopes: Some(vec!["mail".into()]),
            ..AccountSpec::default()
        };
        let preset = providers::find("office365");
        let s = settings_for(&spec, None, preset, "me@x.com", &TlsOptions::default())
            .expect("ok")
            .expect("settings");
        assert_eq!(s.flow, Flow::Device);
        assert_eq!(s.token_url, "https://localhost:1/oauth2/token");
        assert!(
            s.device_authorization_url
                .expect("device")
                .contains("/common/")
        );
        assert_eq!(
            (s.client_id.as_str(), s.scopes),
            ("cid", vec!["mail".to_string()])
        );
        let none = settings_for(
            &AccountSpec::default(),
            None,
            providers::find("yahoo"),
            "u",
            &TlsOptions::default(),
        );
        assert!(none.expect("ok").is_none());
    }
}
