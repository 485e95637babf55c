//! Which secret an account logs in with: exactly one source (flags first, then the file, then a
//! stored `mailtrip login` sign-in, then a prompt at a terminal), read within its time limit,
//! and a Gmail app password pasted in Google's four groups made whole again.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::file::AccountSpec;
use super::resolve::Overrides;
use super::secret::SecretSource;
use super::{ConfigError, Credential, Endpoint, TlsOptions};
use crate::providers::{self, Preset};

/// The names of the sources that were given, for "give exactly one" messages.
fn given<'a>(sources: &[(bool, &'a str)]) -> Vec<&'a str> {
    sources
        .iter()
        .filter_map(|(given, name)| given.then_some(*name))
        .collect()
}

/// Refuses two secret flags at once: which one wins would be a guess.
pub(super) fn one_flag_source(o: &Overrides) -> Result<(), ConfigError> {
    let sources = given(&[
        (o.password_env.is_some(), "--password-env"),
        (o.password_file.is_some(), "--password-file"),
        (o.password_command.is_some(), "--password-command"),
        (o.oauth2_token_env.is_some(), "--oauth2-token-env"),
        (o.oauth2_token_command.is_some(), "--oauth2-token-command"),
    ]);
    if sources.len() > 1 {
        return Err(ConfigError::Invalid(format!(
            "{} each give the secret: give exactly one, so it is clear which is used",
            sources.join(" and ")
        )));
    }
    Ok(())
}

/// Refuses an account table that names more than one secret source: which one wins would be
/// a guess.
pub(super) fn one_spec_source(spec: &AccountSpec, label: &str) -> Result<(), ConfigError> {
    let keys = given(&[
        (spec.password.is_some(), "password"),
        (spec.password_env.is_some(), "password_env"),
        (spec.password_file.is_some(), "password_file"),
        (spec.password_command.is_some(), "password_command"),
        (spec.oauth2_token_env.is_some(), "oauth2_token_env"),
        (spec.oauth2_token_command.is_some(), "oauth2_token_command"),
    ]);
    if keys.len() > 1 {
        return Err(ConfigError::Invalid(format!(
            "{label} in the config file sets {}: keep exactly one secret source",
            keys.join(" and ")
        )));
    }
    Ok(())
}

/// The credential account `name` (`label` in messages) logs in with as `user`: a given source,
/// else a stored sign-in, else (when allowed) a prompt naming the `smtp` host.
#[allow(clippy::too_many_arguments)]
pub(super) fn for_account(
    name: Option<&str>,
    label: &str,
    spec: &AccountSpec,
    o: Option<&Overrides>,
    preset: Option<&Preset>,
    user: &str,
    smtp: &Endpoint,
    tls: &TlsOptions,
) -> Result<Credential, ConfigError> {
    let limit = o
        .and_then(|o| o.secret_timeout)
        .unwrap_or(super::secret::COMMAND_TIMEOUT);
    let credential = match credential(spec, o, limit) {
        Some(c) => c?,
        None => match super::oauth2::stored_sign_in(name, spec, o, preset, user, tls)? {
            Some(c) => c,
            None if o.is_some_and(|o| o.prompt) => prompt_password(user, smtp)?,
            None => {
                return Err(ConfigError::Invalid(format!(
                    "{label}: no password; give --password-env VAR, --password-file F, --password-command CMD, \
                     MAILTRIP_PASSWORD, or --oauth2-token-env VAR, or sign in with `mailtrip login`"
                )));
            }
        },
    };
    Ok(match (credential, preset) {
        (Credential::Password(p), Some(preset)) if providers::groups_app_passwords(preset) => {
            match providers::ungroup_app_password(p.expose_secret()) {
                Some(plain) => {
                    tracing::info!(
                        "{label}: removed the spaces from the {} app password (shown as four \
                         groups of four letters; the servers accept only the 16 letters)",
                        preset.display
                    );
                    Credential::Password(SecretString::from(plain))
                }
                None => Credential::Password(p),
            }
        }
        (c, _) => c,
    })
}

/// Asks for the password on the terminal without echoing it.
fn prompt_password(user: &str, smtp: &Endpoint) -> Result<Credential, ConfigError> {
    let question = format!("Password for {user} at {}: ", smtp.host);
    match rpassword::prompt_password(question) {
        Ok(p) if !p.is_empty() => Ok(Credential::Password(SecretString::from(p))),
        Ok(_) => Err(ConfigError::Secret("no password entered".into())),
        Err(e) => Err(ConfigError::Secret(format!(
            "cannot read the password from the terminal: {e}"
        ))),
    }
}

/// The credential, if any source was given (flags first, then the file); a command may run
/// for at most `limit`.
fn credential(
    spec: &AccountSpec,
    o: Option<&Overrides>,
    limit: Duration,
) -> Option<Result<Credential, ConfigError>> {
    let password = |s: SecretSource| Some(s.read_within(limit).map(Credential::Password));
    let token = |s: SecretSource| Some(s.read_token_within(limit).map(Credential::OAuth2Token));
    if let Some(o) = o {
        if let Some(v) = &o.password_env {
            return password(SecretSource::Env(v.clone()));
        }
        if let Some(p) = &o.password_file {
            return password(SecretSource::File(p.clone()));
        }
        if let Some(c) = &o.password_command {
            return password(SecretSource::Command(c.clone()));
        }
        if let Some(v) = &o.oauth2_token_env {
            return token(SecretSource::Env(v.clone()));
        }
        if let Some(c) = &o.oauth2_token_command {
            return token(SecretSource::Command(c.clone()));
        }
        if let Some(p) = &o.password {
            return password(SecretSource::Value(p.clone()));
        }
    }
    if super::oauth2::wants_oauth2(spec) {
        // `auth = "oauth2"`: the stored sign-in, not the file's password sources.
        return None;
    }
    if let Some(v) = &spec.password_env {
        return password(SecretSource::Env(v.clone()));
    }
    if let Some(p) = &spec.password_file {
        return password(SecretSource::File(p.clone()));
    }
    if let Some(c) = &spec.password_command {
        return password(SecretSource::Command(c.clone()));
    }
    if let Some(v) = &spec.oauth2_token_env {
        return token(SecretSource::Env(v.clone()));
    }
    if let Some(c) = &spec.oauth2_token_command {
        return token(SecretSource::Command(c.clone()));
    }
    spec.password
        .as_ref()
        .map(|p| Ok(Credential::Password(p.0.clone())))
}
