//! Which secret an account logs in with: exactly one source (flags first, then the file, then a
//! stored `mailtrip login` sign-in, then a prompt at a terminal), read within its time limit,
//! and a Gmail app password pasted in Google's four groups made whole again.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::file::AccountSpec;
use super::resolve::Overrides;
use super::secret::SecretSource;
use super::{ConfigError, Credential, Endpoint, TlsOptions};
use crate::providers::{self, Preset};

/// Refuses two secret flags at once: which one wins would be a guess. `MAILTRIP_PASSWORD` is
/// not one of them: any flag overrides it.
pub(super) fn one_flag_source(o: &Overrides) -> Result<(), ConfigError> {
    let flags = Sources {
        value: None,
        ..Sources::of_flags(o)
    };
    flags.at_most_one(
        [
            // Never named: `value` (the variable's password) was cleared above.
            "MAILTRIP_PASSWORD",
            "--password-env",
            "--password-file",
            "--password-command",
            "--oauth2-token-env",
            "--oauth2-token-command",
        ],
        |given| {
            format!("{given} each give the secret: give exactly one, so it is clear which is used")
        },
    )
}

/// Refuses an account table that names more than one secret source: which one wins would be
/// a guess.
pub(super) fn one_spec_source(spec: &AccountSpec, label: &str) -> Result<(), ConfigError> {
    Sources::of_spec(spec).at_most_one(
        [
            "password",
            "password_env",
            "password_file",
            "password_command",
            "oauth2_token_env",
            "oauth2_token_command",
        ],
        |given| format!("{label} in the config file sets {given}: keep exactly one secret source"),
    )
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
        // A named account's source failing says which account it is (a --to-account's, say).
        Some(Err(ConfigError::Secret(why))) if name.is_some() => {
            return Err(ConfigError::Secret(format!("{label}: {why}")));
        }
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
    if let Some(c) = o.and_then(|o| Sources::of_flags(o).read(limit)) {
        return Some(c);
    }
    if super::oauth2::wants_oauth2(spec) {
        // `auth = "oauth2"`: the stored sign-in, not the file's password sources.
        return None;
    }
    Sources::of_spec(spec).read(limit)
}

/// One place's secret sources (the flags, or an account table), read by the same rules.
struct Sources<'a> {
    env: Option<&'a String>,
    file: Option<&'a PathBuf>,
    command: Option<&'a String>,
    token_env: Option<&'a String>,
    token_command: Option<&'a String>,
    /// A password already in hand (`MAILTRIP_PASSWORD`, or `password =` in the file).
    value: Option<&'a SecretString>,
}

impl<'a> Sources<'a> {
    /// The secret flags, with `MAILTRIP_PASSWORD` as the password in hand.
    fn of_flags(o: &'a Overrides) -> Sources<'a> {
        Sources {
            env: o.password_env.as_ref(),
            file: o.password_file.as_ref(),
            command: o.password_command.as_ref(),
            token_env: o.oauth2_token_env.as_ref(),
            token_command: o.oauth2_token_command.as_ref(),
            value: o.password.as_ref(),
        }
    }

    /// An account table's secret keys, with `password =` as the password in hand.
    fn of_spec(spec: &'a AccountSpec) -> Sources<'a> {
        Sources {
            env: spec.password_env.as_ref(),
            file: spec.password_file.as_ref(),
            command: spec.password_command.as_ref(),
            token_env: spec.oauth2_token_env.as_ref(),
            token_command: spec.oauth2_token_command.as_ref(),
            value: spec.password.as_ref().map(|p| &p.0),
        }
    }

    /// Refuses more than one source given, which one wins would be a guess: `names` name the
    /// sources (the password in hand first, then the others in the fields' order) and
    /// `refusal` words the error from the given ones, joined by " and ".
    fn at_most_one(
        &self,
        names: [&str; 6],
        refusal: impl FnOnce(String) -> String,
    ) -> Result<(), ConfigError> {
        let given = [
            self.value.is_some(),
            self.env.is_some(),
            self.file.is_some(),
            self.command.is_some(),
            self.token_env.is_some(),
            self.token_command.is_some(),
        ];
        let given: Vec<&str> = names
            .into_iter()
            .zip(given)
            .filter_map(|(name, given)| given.then_some(name))
            .collect();
        if given.len() > 1 {
            return Err(ConfigError::Invalid(refusal(given.join(" and "))));
        }
        Ok(())
    }

    /// The first source given, read (a command for at most `limit`): the password's variable,
    /// file and command, then the OAuth2 token's variable and command, then a password in hand.
    fn read(&self, limit: Duration) -> Option<Result<Credential, ConfigError>> {
        let password = |s: SecretSource| Some(s.read_within(limit).map(Credential::Password));
        let token = |s: SecretSource| Some(s.read_token_within(limit).map(Credential::OAuth2Token));
        if let Some(v) = self.env {
            return password(SecretSource::Env(v.clone()));
        }
        if let Some(p) = self.file {
            return password(SecretSource::File(p.clone()));
        }
        if let Some(c) = self.command {
            return password(SecretSource::Command(c.clone()));
        }
        if let Some(v) = self.token_env {
            return token(SecretSource::Env(v.clone()));
        }
        if let Some(c) = self.token_command {
            return token(SecretSource::Command(c.clone()));
        }
        self.value
            .and_then(|p| password(SecretSource::Value(p.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two secret sources are refused in words pinned to the letter, naming the sources in a
    /// fixed order; `MAILTRIP_PASSWORD` alongside a flag is not a second source.
    #[test]
    fn two_secret_sources_are_refused_in_fixed_words() {
        let flags = |f: fn(&mut Overrides)| {
            let mut o = Overrides::default();
            f(&mut o);
            one_flag_source(&o).map_err(|e| e.to_string())
        };
        let spec = |f: fn(&mut AccountSpec)| {
            let mut s = AccountSpec::default();
            f(&mut s);
            one_spec_source(&s, "account \"work\"").map_err(|e| e.to_string())
        };
        let cases = [
            (
                "MAILTRIP_PASSWORD and --password-env",
                flags(|o| {
                    o.password = Some("pw".into());
                    o.password_env = Some("PW".into());
                }),
                None,
            ),
            (
                "--password-file and --oauth2-token-command",
                flags(|o| {
                    o.oauth2_token_command = Some("tok".into());
                    o.password_file = Some("pw.txt".into());
                }),
                Some(
                    "--password-file and --oauth2-token-command each give the secret: give \
                     exactly one, so it is clear which is used",
                ),
            ),
            (
                "three flags",
                flags(|o| {
                    o.password_command = Some("pw".into());
                    o.password_env = Some("PW".into());
                    o.oauth2_token_env = Some("TOK".into());
                }),
                Some(
                    "--password-env and --password-command and --oauth2-token-env each give \
                     the secret: give exactly one, so it is clear which is used",
                ),
            ),
            (
                "one key",
                spec(|s| s.oauth2_token_env = Some("TOK".into())),
                None,
            ),
            (
                "password and oauth2_token_env",
                spec(|s| {
                    s.oauth2_token_env = Some("TOK".into());
                    s.password = Some(file_pw());
                }),
                Some(
                    "account \"work\" in the config file sets password and oauth2_token_env: \
                     keep exactly one secret source",
                ),
            ),
            (
                "password_file and password_command",
                spec(|s| {
                    s.password_command = Some("pw".into());
                    s.password_file = Some("pw.txt".into());
                }),
                Some(
                    "account \"work\" in the config file sets password_file and \
                     password_command: keep exactly one secret source",
                ),
            ),
        ];
        for (case, got, want) in cases {
            assert_eq!(got.err().as_deref(), want, "{case}");
        }
    }

    /// The first source given is the one read: a flag before `MAILTRIP_PASSWORD`, the flags
    /// before the file, and the file's variable before its literal password.
    #[test]
    fn the_first_source_given_is_read() {
        let unset = "MAILTRIP_TEST_UNSET_SECRET_VARIABLE";
        let read = |o: Option<&Overrides>, s: &AccountSpec| match credential(s, o, COMMAND_LIMIT) {
            None => "none".to_string(),
            Some(Ok(Credential::Password(p))) => format!("password {}", p.expose_secret()),
            Some(Ok(Credential::OAuth2Token(t))) => format!("token {}", t.expose_secret()),
            Some(Ok(_)) => "other".to_string(),
            Some(Err(e)) => e.to_string(),
        };
        let file = AccountSpec {
            password: Some(file_pw()),
            ..Default::default()
        };
        let in_hand = Overrides {
            password: Some("flag".into()),
            ..Default::default()
        };
        let env = Overrides {
            password: Some("flag".into()),
            oauth2_token_env: Some(unset.into()),
            ..Default::default()
        };
        let file_env = AccountSpec {
            password: Some(file_pw()),
            password_env: Some(unset.into()),
            ..Default::default()
        };
        let unset_msg = format!("environment variable {unset} is not set");
        let cases = [
            ("nothing given", read(None, &AccountSpec::default()), "none"),
            ("the file's password", read(None, &file), "password pw"),
            (
                "MAILTRIP_PASSWORD over the file",
                read(Some(&in_hand), &file),
                "password flag",
            ),
            (
                "a flag over MAILTRIP_PASSWORD",
                read(Some(&env), &file),
                &unset_msg,
            ),
            (
                "the file's variable over its password",
                read(None, &file_env),
                &unset_msg,
            ),
        ];
        for (case, got, want) in cases {
            assert_eq!(got, want, "{case}");
        }
    }

    const COMMAND_LIMIT: Duration = Duration::from_secs(5);

    /// `password = "pw"` as the file holds it.
    fn file_pw() -> super::super::file::FileSecret {
        super::super::file::FileSecret(SecretString::from("pw"))
    }
}
