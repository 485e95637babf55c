//! Turns flags, environment, the config file and provider presets into accounts, highest
//! first: CLI flags, then `MAILTRIP_*` variables (clap reads both), then the file, then the
//! preset. With nothing configured at all, the target is the embedded server; `account` builds
//! each account and `credential` picks its one secret.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

use super::account::build;
use super::file::{self, AccountSpec};
use super::{Account, ConfigError, credential, validate};

/// What the command line and environment said; every field optional.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--config`: the TOML file.
    pub config: Option<PathBuf>,
    /// `--account`: the sending (and, alone, receiving) account.
    pub account: Option<String>,
    /// `--to-account`: the receiving account.
    pub to_account: Option<String>,
    /// `--provider`: a preset.
    pub provider: Option<String>,
    /// `--smtp`: SMTP endpoint URL.
    pub smtp: Option<String>,
    /// `--imap`: IMAP endpoint URL.
    pub imap: Option<String>,
    /// `-H HOST`: replaces the host of both endpoints (alone: `smtp+starttls://HOST:587` and
    /// `imaps://HOST:993`).
    pub host: Option<String>,
    /// `-p PORT`: replaces the SMTP endpoint's port (alone with `-H`, 465 means `smtps://`).
    pub smtp_port: Option<u16>,
    /// `--user`: login name.
    pub user: Option<String>,
    /// `--from`: sender address.
    pub from: Option<String>,
    /// `--to`: recipient address.
    pub to: Option<String>,
    /// `MAILTRIP_PASSWORD`, already read.
    pub password: Option<SecretString>,
    /// `--password-env`: variable holding the password.
    pub password_env: Option<String>,
    /// `--password-file`: file holding the password.
    pub password_file: Option<PathBuf>,
    /// `--password-command`: command that prints the password.
    pub password_command: Option<String>,
    /// `--oauth2-token-env`: variable holding an access token.
    pub oauth2_token_env: Option<String>,
    /// `--oauth2-token-command`: command that prints an access token.
    pub oauth2_token_command: Option<String>,
    /// `--ca-file`: extra trusted roots (PEM).
    pub ca_file: Option<PathBuf>,
    /// `--allow-plaintext`: no TLS to a non-loopback host is allowed.
    pub allow_plaintext: bool,
    /// `--insecure-skip-verify`: certificates are not verified.
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
        /// The sender.
        from: Box<Account>,
        /// The mailbox watched.
        to: Box<Account>,
    },
}

/// The result of resolution, with warnings for the user (world-readable file, ...).
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Where to run.
    pub target: Target,
    /// Things to tell the user.
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
    credential::one_flag_source(o)
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
            let place = file_path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "any config file (none found)".into());
            no_such_account(name, &place, &file_cfg.accounts)
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
            let to = receiving(name, &to_spec, &trust(o))?;
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
/// builds it: only the file and its preset (no account flags), with the run's [`trust`].
pub fn named_account(
    loaded: &file::Loaded,
    name: &str,
    trust: &Overrides,
) -> Result<Account, ConfigError> {
    let accounts = &loaded.config.accounts;
    let spec = accounts
        .get(name)
        .ok_or_else(|| no_such_account(name, &loaded.path.display().to_string(), accounts))?;
    receiving(name, spec, trust)
}

/// What every account a run connects with takes from its flags, whichever account names
/// it: `--ca-file` (in place of the account's own `ca_file`), `--insecure-skip-verify`,
/// `--allow-plaintext`, and how long a password command may run. Not who logs in, where, or
/// with which secret: those stay the named account's own.
pub fn trust(o: &Overrides) -> Overrides {
    Overrides {
        ca_file: o.ca_file.clone(),
        insecure_skip_verify: o.insecure_skip_verify,
        allow_plaintext: o.allow_plaintext,
        secret_timeout: o.secret_timeout,
        ..Overrides::default()
    }
}

/// The receiving account `name` from its file table alone (no account flags), with the
/// run's [`trust`].
fn receiving(name: &str, spec: &AccountSpec, trust: &Overrides) -> Result<Account, ConfigError> {
    build(Some(name), spec, Some(trust))
}

/// The error for an account `name` that `place` (a config file) does not define, listing the
/// names it does.
fn no_such_account(
    name: &str,
    place: &str,
    accounts: &BTreeMap<String, AccountSpec>,
) -> ConfigError {
    let known: Vec<&str> = accounts.keys().map(String::as_str).collect();
    ConfigError::Invalid(format!(
        "no account named {name:?} in {place}; known: {}",
        if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        }
    ))
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

    /// A config file with accounts `a` and `b` (neither names a CA) and a PEM file, in a
    /// directory of their own.
    fn two_accounts_and_a_ca(test: &str) -> (PathBuf, PathBuf) {
        let dir = std::env::temp_dir().join(format!("mt-trust-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let config = dir.join("mailtrip.toml");
        let account = |name: &str| {
            format!(
                "[accounts.{name}]\naddress = \"{name}@example.com\"\npassword = \"pw\"\n\
                 smtp = \"smtps://mail.example.com\"\nimap = \"imaps://mail.example.com\"\n"
            )
        };
        std::fs::write(&config, account("a") + &account("b")).expect("config");
        let ca = dir.join("ca.pem");
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        std::fs::write(&ca, pem).expect("ca");
        (config, ca)
    }

    /// Issue 21 (found measuring the cleanup change): `--ca-file`, `--insecure-skip-verify`
    /// and `--allow-plaintext` are the run's, not the sending account's: the `--to-account`
    /// mailbox was read without the private CA, and a round trip through it failed at
    /// imap_connect with tls_certificate_invalid.
    #[test]
    fn issue21_the_to_account_trusts_the_ca_file_given_on_the_command_line() {
        let (config, ca) = two_accounts_and_a_ca("to");
        let dir = ca.parent().expect("dir").to_path_buf();
        let o = Overrides {
            config: Some(config),
            account: Some("a".into()),
            to_account: Some("b".into()),
            ca_file: Some(ca),
            ..Default::default()
        };
        let Target::Accounts { from, to } = resolve(&o).expect("resolves").target else {
            panic!("accounts expected");
        };
        assert_eq!(from.tls.extra_roots_pem.len(), 1);
        assert_eq!(to.tls.extra_roots_pem.len(), 1, "the --to-account mailbox");
        assert_eq!(to.address, "b@example.com", "still b's own account");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A receiving account that lacks a server or an address is fixed in its table: no account
    /// flag reaches it, so the error must not suggest one.
    #[test]
    fn issue21_a_named_account_missing_a_setting_names_its_table_key() {
        let dir = std::env::temp_dir().join(format!("mt-named-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let config = dir.join("mailtrip.toml");
        std::fs::write(
            &config,
            "[accounts.a]\naddress = \"a@example.com\"\npassword = \"pw\"\n\
             smtp = \"smtps://mail.example.com\"\nimap = \"imaps://mail.example.com\"\n\
             [accounts.b]\naddress = \"b@example.com\"\npassword = \"pw\"\n\
             smtp = \"smtps://mail.example.com\"\n\
             [accounts.c]\npassword = \"pw\"\nprovider = \"gmail\"\n\
             [accounts.d]\naddress = \"d@example.com\"\nprovider = \"gmail\"\n\
             password_env = \"MAILTRIP_TEST_SURELY_UNSET_ENV\"\n",
        )
        .expect("config");
        let to = |name: &str| Overrides {
            config: Some(config.clone()),
            account: Some("a".into()),
            to_account: Some(name.into()),
            ..Default::default()
        };
        let e = resolve(&to("b"))
            .expect_err("b has no IMAP server")
            .to_string();
        assert!(
            e.contains("account \"b\": no IMAP server; set `imap` (or `provider`) in its table"),
            "{e}"
        );
        let e = resolve(&to("c")).expect_err("c has no address").to_string();
        assert!(
            e.contains("account \"c\": no address; set `address` in its table"),
            "{e}"
        );
        // Its secret source failing names the account too, and never a value.
        let e = resolve(&to("d"))
            .expect_err("d's variable is unset")
            .to_string();
        assert_eq!(
            e,
            "account \"d\": environment variable MAILTRIP_TEST_SURELY_UNSET_ENV is not set"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The monitor's routes name both of their accounts: both take the run's trust flags.
    #[test]
    fn issue21_named_accounts_take_the_runs_trust_flags() {
        let (config, ca) = two_accounts_and_a_ca("named");
        let loaded = file::discover(Some(&config))
            .expect("reads")
            .expect("found");
        let flags = Overrides {
            ca_file: Some(ca),
            insecure_skip_verify: true,
            password_env: Some("NOT_FOR_THE_NAMED_ACCOUNT".into()),
            ..Default::default()
        };
        let a = named_account(&loaded, "a", &trust(&flags)).expect("a");
        assert_eq!(a.tls.extra_roots_pem.len(), 1);
        assert!(a.tls.insecure_skip_verify);
        assert_eq!(a.address, "a@example.com");
        let _ = std::fs::remove_dir_all(config.parent().expect("dir"));
    }
}
