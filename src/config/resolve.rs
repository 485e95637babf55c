//! Turns flags, environment, the config file and provider presets into accounts, highest
//! first: CLI flags, then `MAILTRIP_*` variables (clap reads both), then the file, then the
//! preset. With nothing configured at all, the target is the embedded server.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::file::{self, AccountSpec};
use super::secret::SecretSource;
use super::validate;
use super::{Account, ConfigError, Credential, Endpoint, Protocol, TlsOptions};
use crate::providers;

/// What the command line and environment said; every field optional.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub account: Option<String>,
    pub to_account: Option<String>,
    pub provider: Option<String>,
    pub smtp: Option<String>,
    pub imap: Option<String>,
    /// `-H HOST`: replaces the host of both endpoints (alone: `smtp+starttls://HOST:587` and
    /// `imaps://HOST:993`).
    pub host: Option<String>,
    /// `-p PORT`: replaces the SMTP endpoint's port (alone with `-H`, 465 means `smtps://`).
    pub smtp_port: Option<u16>,
    pub user: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    /// `MAILTRIP_PASSWORD`, already read.
    pub password: Option<SecretString>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    pub password_command: Option<String>,
    pub oauth2_token_env: Option<String>,
    pub oauth2_token_command: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub allow_plaintext: bool,
    pub insecure_skip_verify: bool,
    /// With no password source given, ask on the terminal (echo off). The CLI sets it only
    /// when stdin and stderr are terminals, so scripts and CI never block on a prompt.
    pub prompt: bool,
    /// `--to` is an alias delivered into the sender's own mailbox (`--alias`): watch that
    /// mailbox for it. Without it, a `--to` that is not the watched mailbox is refused.
    pub alias: bool,
    /// The command sends mail (check, load, sweep's sender): the sender and recipient must be
    /// real email addresses, checked before anything connects.
    pub sends: bool,
    /// Longest a `--password-command` / `--oauth2-token-command` may run (default 60 s).
    pub secret_timeout: Option<Duration>,
}

/// Where to run.
#[derive(Debug, Clone)]
pub enum Target {
    /// Nothing configured: start the embedded server and use its demo users.
    Embedded,
    /// Send from `from`, watch `to`'s mailbox.
    Accounts {
        from: Box<Account>,
        to: Box<Account>,
    },
}

/// The result of resolution, with warnings for the user (world-readable file, ...).
#[derive(Debug, Clone)]
pub struct Resolved {
    pub target: Target,
    pub warnings: Vec<String>,
    /// With `--alias`: the login whose mailbox is watched for the `--to` address.
    pub alias_of: Option<String>,
}

impl Overrides {
    fn names_an_account(&self) -> bool {
        self.account.is_some()
            || self.to_account.is_some()
            || self.provider.is_some()
            || self.smtp.is_some()
            || self.imap.is_some()
            || self.host.is_some()
            || self.user.is_some()
            || self.from.is_some()
    }
}

/// The flags that must make sense on their own, checked before anything is read or run.
fn check_flags(o: &Overrides) -> Result<(), ConfigError> {
    if let Some(u) = &o.user {
        validate::login(u, "--user")?;
    }
    if let Some(f) = &o.from {
        validate::address(f, "--from")?;
    }
    if let Some(t) = &o.to {
        validate::address(t, "--to")?;
    }
    if o.alias && (o.to.is_none() || o.to_account.is_some()) {
        return Err(ConfigError::Invalid(
            "--alias says that --to is an alias delivered into the sender's own mailbox: give \
             it with --to ADDRESS, and without --to-account"
                .into(),
        ));
    }
    let sources: Vec<&str> = [
        (o.password_env.is_some(), "--password-env"),
        (o.password_file.is_some(), "--password-file"),
        (o.password_command.is_some(), "--password-command"),
        (o.oauth2_token_env.is_some(), "--oauth2-token-env"),
        (o.oauth2_token_command.is_some(), "--oauth2-token-command"),
    ]
    .into_iter()
    .filter_map(|(given, flag)| given.then_some(flag))
    .collect();
    if sources.len() > 1 {
        return Err(ConfigError::Invalid(format!(
            "{} each give the secret: give exactly one, so it is clear which is used",
            sources.join(" and ")
        )));
    }
    Ok(())
}

/// Where the sender's address came from, for messages.
fn sender_source(o: &Overrides, spec: &AccountSpec, name: Option<&str>) -> String {
    let key = |k: &str| match name {
        Some(n) => format!("`{k}` of account {n:?}"),
        None => format!("`{k}`"),
    };
    if o.from.is_some() {
        "--from".into()
    } else if spec.address.is_some() {
        key("address")
    } else if o.user.is_some() {
        "--user".into()
    } else if spec.user.is_some() {
        key("user")
    } else {
        "the sender address".into()
    }
}

/// A sending command needs real addresses: the sender's (named by where it came from, with a
/// pointer to --from when the login is not an address) and the recipient's.
fn check_addresses(
    from: &Account,
    from_source: &str,
    to: &Account,
    to_source: &str,
) -> Result<(), ConfigError> {
    validate::address(&from.address, from_source).map_err(|e| {
        if from_source.contains("user") {
            ConfigError::Invalid(format!(
                "{e}; the login need not be the address: give --from ADDRESS (or `address` in \
                 the config file)"
            ))
        } else {
            e
        }
    })?;
    validate::address(&to.address, to_source)?;
    Ok(())
}

/// Resolves the accounts to use.
pub fn resolve(o: &Overrides) -> Result<Resolved, ConfigError> {
    check_flags(o)?;
    let loaded = file::discover(o.config.as_deref())?;
    let mut warnings = Vec::new();
    let (file_cfg, file_path) = match loaded {
        Some(l) => {
            warnings.extend(l.warnings);
            (l.config, Some(l.path))
        }
        None => (Default::default(), None),
    };
    if !o.names_an_account() && file_cfg.accounts.is_empty() {
        return Ok(Resolved {
            target: Target::Embedded,
            warnings,
            alias_of: None,
        });
    }
    let lookup = |name: &str| -> Result<AccountSpec, ConfigError> {
        file_cfg.accounts.get(name).cloned().ok_or_else(|| {
            let known: Vec<&str> = file_cfg.accounts.keys().map(String::as_str).collect();
            ConfigError::Invalid(format!(
                "no account named {name:?} in {}; known: {}",
                file_path
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "any config file (none found)".into()),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ))
        })
    };
    let from_name = o
        .account
        .clone()
        .or(file_cfg.default_account.clone())
        .or_else(|| {
            (file_cfg.accounts.len() == 1)
                .then(|| file_cfg.accounts.keys().next().cloned())
                .flatten()
        });
    let spec = match &from_name {
        Some(name) => lookup(name)?,
        None => AccountSpec::default(),
    };
    let mut from = build(from_name.as_deref(), &spec, Some(o))?;
    let from_source = sender_source(o, &spec, from_name.as_deref());
    let mut alias_of = None;
    let (to, to_source) = match &o.to_account {
        Some(name) => {
            let to_spec = lookup(name)?;
            let mut to = build(Some(name), &to_spec, None)?;
            to.tls.insecure_skip_verify = o.insecure_skip_verify;
            let source = sender_source(&Overrides::default(), &to_spec, Some(name));
            (to, source)
        }
        None => {
            let mut to = from.clone();
            let mut source = from_source.clone();
            if let Some(addr) = &o.to {
                // The watched mailbox is the sender's own: a --to elsewhere never shows up
                // in it, unless it is an alias delivered there.
                let spec_addr = validate::address(addr, "--to")?;
                let own = [
                    Some(from.address.as_str()),
                    o.from.as_deref(),
                    Some(&from.user),
                ];
                let own: Vec<&str> = own.into_iter().flatten().collect();
                if !validate::is_own(&spec_addr, &own) {
                    if !o.alias {
                        return Err(validate::foreign_recipient(&spec_addr, &from.user));
                    }
                    alias_of = Some(from.user.clone());
                }
                to.address = addr.clone();
                source = "--to".into();
            }
            (to, source)
        }
    };
    if let Some(addr) = &o.from {
        from.address = addr.clone();
    }
    if o.sends {
        check_addresses(&from, &from_source, &to, &to_source)?;
    }
    Ok(Resolved {
        target: Target::Accounts {
            from: Box::new(from),
            to: Box::new(to),
        },
        warnings,
        alias_of,
    })
}

/// The account named `name` in a loaded config file, as the receiving side of `--to-account`
/// builds it: only the file and its preset (no account flags), TLS verification as given.
pub fn named_account(
    loaded: &file::Loaded,
    name: &str,
    insecure_skip_verify: bool,
) -> Result<Account, ConfigError> {
    let spec = loaded.config.accounts.get(name).ok_or_else(|| {
        let known: Vec<&str> = loaded.config.accounts.keys().map(String::as_str).collect();
        ConfigError::Invalid(format!(
            "no account named {name:?} in {}; known: {}",
            loaded.path.display(),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ))
    })?;
    let mut account = build(Some(name), spec, None)?;
    account.tls.insecure_skip_verify = insecure_skip_verify;
    Ok(account)
}

/// Builds one account from a file spec, with flag overrides for the sending account.
fn build(
    name: Option<&str>,
    spec: &AccountSpec,
    o: Option<&Overrides>,
) -> Result<Account, ConfigError> {
    let pick = |flag: Option<&Option<String>>, file: &Option<String>| -> Option<String> {
        flag.and_then(|f| f.clone()).or_else(|| file.clone())
    };
    let label = name
        .map(|n| format!("account {n:?}"))
        .unwrap_or_else(|| "the account".into());
    let provider_name = pick(o.map(|o| &o.provider), &spec.provider);
    let preset = match &provider_name {
        Some(p) => Some(providers::find(p).ok_or_else(|| {
            let names: Vec<&str> = providers::PRESETS.iter().map(|p| p.name).collect();
            ConfigError::Invalid(format!(
                "unknown provider {p:?}; known: {}",
                names.join(", ")
            ))
        })?),
        None => None,
    };
    let host = o
        .and_then(|o| o.host.as_deref())
        .map(host_flag)
        .transpose()?;
    let smtp_port = o.and_then(|o| o.smtp_port);
    let endpoint = |flag: Option<String>,
                    file: &Option<String>,
                    preset_url: Option<&str>,
                    proto| {
        let url = flag
            .or_else(|| file.clone())
            .or_else(|| preset_url.filter(|u| !u.is_empty()).map(str::to_string))
            .or_else(|| {
                let scheme = match proto {
                    Protocol::Smtp if smtp_port == Some(465) => "smtps",
                    Protocol::Smtp => "smtp+starttls",
                    Protocol::Imap => "imaps",
                };
                host.as_ref()
                    .map(|h| format!("{scheme}://{}", bracketed(h)))
            });
        match url {
            Some(u) => {
                let mut ep = Endpoint::parse_for(&u, proto).map_err(ConfigError::Endpoint)?;
                if let Some(h) = &host {
                    ep.host = h.clone();
                }
                if let (Protocol::Smtp, Some(p)) = (proto, smtp_port) {
                    ep.port = p;
                }
                Ok(ep)
            }
            None => Err(ConfigError::Invalid(format!(
                "{label}: no {} server; give --{} URL or --provider NAME (see `mailtrip providers`)",
                match proto {
                    Protocol::Smtp => "SMTP",
                    Protocol::Imap => "IMAP",
                },
                match proto {
                    Protocol::Smtp => "smtp",
                    Protocol::Imap => "imap",
                },
            ))),
        }
    };
    let smtp = endpoint(
        o.and_then(|o| o.smtp.clone()),
        &spec.smtp,
        preset.map(|p| p.smtp),
        Protocol::Smtp,
    )?;
    let imap = endpoint(
        o.and_then(|o| o.imap.clone()),
        &spec.imap,
        preset.map(|p| p.imap),
        Protocol::Imap,
    )?;
    let user = pick(o.map(|o| &o.user), &spec.user);
    let address = spec
        .address
        .clone()
        .or_else(|| user.clone())
        .or_else(|| o.and_then(|o| o.from.clone()));
    let address = address.ok_or_else(|| {
        ConfigError::Invalid(format!(
            "{label}: no address; give --user or --from ADDRESS"
        ))
    })?;
    let user = user.unwrap_or_else(|| address.clone());
    spec_sources(spec, &label)?;
    let limit = o
        .and_then(|o| o.secret_timeout)
        .unwrap_or(super::secret::COMMAND_TIMEOUT);
    let mut tls = TlsOptions::default();
    let ca_file = o
        .and_then(|o| o.ca_file.clone())
        .or_else(|| spec.ca_file.clone());
    if let Some(path) = ca_file {
        let pem = std::fs::read_to_string(&path).map_err(|e| {
            ConfigError::Invalid(format!("cannot read --ca-file {}: {e}", path.display()))
        })?;
        if !pem.contains("-----BEGIN CERTIFICATE-----") {
            return Err(ConfigError::Invalid(format!(
                "--ca-file {} holds no PEM certificate",
                path.display()
            )));
        }
        tls.extra_roots_pem.push(pem);
    }
    tls.insecure_skip_verify = o.is_some_and(|o| o.insecure_skip_verify);
    let credential = match credential(spec, o, limit) {
        Some(c) => c?,
        None => match super::oauth2::stored_sign_in(name, spec, o, preset, &user, &tls)? {
            Some(c) => c,
            None if o.is_some_and(|o| o.prompt) => prompt_password(&user, &smtp)?,
            None => {
                return Err(ConfigError::Invalid(format!(
                    "{label}: no password; give --password-env VAR, --password-file F, --password-command CMD, \
                     MAILTRIP_PASSWORD, or --oauth2-token-env VAR, or sign in with `mailtrip login`"
                )));
            }
        },
    };
    let credential = match (credential, preset) {
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
    };
    let allow_plaintext =
        o.is_some_and(|o| o.allow_plaintext) || spec.allow_plaintext.unwrap_or(false);
    for ep in [&smtp, &imap] {
        if ep.security == super::Security::Plain && !ep.is_loopback() && !allow_plaintext {
            return Err(ConfigError::Invalid(format!(
                "{ep} sends the password in the clear to a non-loopback host; use {}s:// or \
                 {}+starttls://, or pass --allow-plaintext if you really mean it",
                ep.scheme(),
                ep.scheme()
            )));
        }
    }
    Ok(Account {
        name: name.map(str::to_string),
        address,
        user,
        credential,
        smtp,
        imap,
        tls,
        allow_plaintext,
        provider: preset.map(|p| p.name.to_string()),
        expunge_archives: preset.is_some_and(|p| p.expunge_archives),
    })
}

/// Checks `-H`'s value is a bare host name or IP address (IPv6 with or without brackets).
fn host_flag(host: &str) -> Result<String, ConfigError> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let name_ok = !bare.is_empty()
        && bare
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    if name_ok || bare.parse::<std::net::IpAddr>().is_ok() {
        return Ok(bare.to_string());
    }
    Err(ConfigError::Invalid(format!(
        "-H/--hostname {host:?} is not a host name or IP address (give the SMTP port with -p \
         and other ports in --smtp/--imap URLs)"
    )))
}

/// A host as a URL holds it: IPv6 addresses in brackets.
fn bracketed(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
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

/// Refuses an account table that names more than one secret source: which one wins would be
/// a guess.
fn spec_sources(spec: &AccountSpec, label: &str) -> Result<(), ConfigError> {
    let keys: Vec<&str> = [
        (spec.password.is_some(), "password"),
        (spec.password_env.is_some(), "password_env"),
        (spec.password_file.is_some(), "password_file"),
        (spec.password_command.is_some(), "password_command"),
        (spec.oauth2_token_env.is_some(), "oauth2_token_env"),
        (spec.oauth2_token_command.is_some(), "oauth2_token_command"),
    ]
    .into_iter()
    .filter_map(|(given, key)| given.then_some(key))
    .collect();
    if keys.len() > 1 {
        return Err(ConfigError::Invalid(format!(
            "{label} in the config file sets {}: keep exactly one secret source",
            keys.join(" and ")
        )));
    }
    Ok(())
}

/// The credential, if any source was given (flags first, then the file); a command may run
/// for at most `limit`.
fn credential(
    spec: &AccountSpec,
    o: Option<&Overrides>,
    limit: Duration,
) -> Option<Result<Credential, ConfigError>> {
    let password = |s: SecretSource| Some(s.read_within(limit).map(Credential::Password));
    let token = |s: SecretSource| Some(s.read_within(limit).map(Credential::OAuth2Token));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn overrides() -> Overrides {
        Overrides {
            config: Some(PathBuf::from("/nonexistent-mailtrip-config.toml")),
            ..Default::default()
        }
    }

    #[test]
    fn nothing_configured_means_embedded() {
        let dir = std::env::temp_dir().join(format!("mt-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("empty.toml");
        std::fs::write(&path, "").expect("write");
        let o = Overrides {
            config: Some(path),
            ..Default::default()
        };
        assert!(matches!(
            resolve(&o).expect("resolves").target,
            Target::Embedded
        ));
    }

    #[test]
    fn missing_explicit_config_is_an_error() {
        let o = Overrides {
            smtp: Some("smtps://h".into()),
            ..overrides()
        };
        let e = resolve(&o).expect_err("missing file");
        assert!(e.to_string().contains("nonexistent-mailtrip-config.toml"));
    }

    #[test]
    fn plaintext_to_remote_host_is_refused() {
        let spec = AccountSpec {
            smtp: Some("smtp://mail.example.com".into()),
            imap: Some("imaps://mail.example.com".into()),
            address: Some("a@example.com".into()),
            password: Some("pw".into()),
            ..Default::default()
        };
        let e = build(None, &spec, None).expect_err("plaintext");
        assert!(e.to_string().contains("--allow-plaintext"), "{e}");
    }

    /// Issue 19: `-H` replaces the host of both endpoints and `-p` the SMTP port, keeping the
    /// schemes; alone, `-H` means STARTTLS submission and implicit-TLS IMAP.
    #[test]
    fn issue_19_hostname_and_port_flags() {
        let spec = AccountSpec {
            smtp: Some("smtps://old.example.com:465".into()),
            imap: Some("imap+starttls://old.example.com:1143".into()),
            address: Some("a@example.com".into()),
            password: Some("pw".into()),
            ..Default::default()
        };
        let o = Overrides {
            host: Some("mail.example.net".into()),
            smtp_port: Some(2465),
            ..Default::default()
        };
        let a = build(None, &spec, Some(&o)).expect("builds");
        assert_eq!(a.smtp.to_string(), "smtps://mail.example.net:2465");
        assert_eq!(a.imap.to_string(), "imap+starttls://mail.example.net:1143");

        let bare = AccountSpec {
            smtp: None,
            imap: None,
            ..spec.clone()
        };
        let a = build(None, &bare, Some(&o)).expect("builds");
        assert_eq!(a.smtp.to_string(), "smtp+starttls://mail.example.net:2465");
        assert_eq!(a.imap.to_string(), "imaps://mail.example.net:993");
        let o465 = Overrides {
            smtp_port: Some(465),
            ..o.clone()
        };
        let a = build(None, &bare, Some(&o465)).expect("builds");
        assert_eq!(a.smtp.to_string(), "smtps://mail.example.net:465");
        let v6 = Overrides {
            host: Some("::1".into()),
            ..Default::default()
        };
        let a = build(None, &bare, Some(&v6)).expect("builds");
        assert_eq!(a.imap.to_string(), "imaps://[::1]:993");

        for bad in [
            "mail.example.net:587",
            "smtps://mail.example.net",
            "",
            "a b",
        ] {
            let o = Overrides {
                host: Some(bad.into()),
                ..Default::default()
            };
            let e = build(None, &spec, Some(&o)).expect_err(bad);
            assert!(e.to_string().contains("-H/--hostname"), "{bad}: {e}");
        }
    }
}
