//! Builds one [`Account`] from its config-file table, the flags that override it (for the
//! sending account) and its provider preset: the SMTP and IMAP endpoints (`-H`/`-p` applied),
//! the address and login, the CA file, the credential, and the refusal of plaintext off loopback.

use super::credential;
use super::file::AccountSpec;
use super::resolve::Overrides;
use super::{Account, ConfigError, Endpoint, Protocol, TlsOptions};
use crate::providers;

/// Builds one account from a file spec, with flag overrides for the sending account.
pub(super) fn build(
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
    let self_named = name.is_some();
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
    // An endpoint's URL comes from its flag, else the file, else the provider, else `-H`.
    let endpoint = |proto| {
        let (flag, file, preset_url, name) = match proto {
            Protocol::Smtp => (
                o.and_then(|o| o.smtp.as_ref()),
                &spec.smtp,
                preset.map(|p| p.smtp),
                "SMTP",
            ),
            Protocol::Imap => (
                o.and_then(|o| o.imap.as_ref()),
                &spec.imap,
                preset.map(|p| p.imap),
                "IMAP",
            ),
        };
        let url = flag
            .or(file.as_ref())
            .cloned()
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
            // A named account may be a receiving one, which no account flag reaches: its
            // table is what to fix.
            None if self_named => Err(ConfigError::Invalid(format!(
                "{label}: no {name} server; set `{}` (or `provider`) in its table of the config \
                 file (see `mailtrip providers`)",
                name.to_lowercase(),
            ))),
            None => Err(ConfigError::Invalid(format!(
                "{label}: no {name} server; give --{} URL or --provider NAME (see `mailtrip providers`)",
                name.to_lowercase(),
            ))),
        }
    };
    let smtp = endpoint(Protocol::Smtp)?;
    let imap = endpoint(Protocol::Imap)?;
    let user = pick(o.map(|o| &o.user), &spec.user);
    let address = spec
        .address
        .clone()
        .or_else(|| user.clone())
        .or_else(|| o.and_then(|o| o.from.clone()));
    let address = address.ok_or_else(|| {
        ConfigError::Invalid(if self_named {
            format!("{label}: no address; set `address` in its table of the config file")
        } else {
            format!("{label}: no address; give --user ADDRESS (or, to send, --from ADDRESS)")
        })
    })?;
    let user = user.unwrap_or_else(|| address.clone());
    credential::one_spec_source(spec, &label)?;
    let mut tls = TlsOptions::default();
    let ca_file = o
        .and_then(|o| o.ca_file.clone())
        .or_else(|| spec.ca_file.clone());
    if let Some(path) = ca_file {
        let pem = std::fs::read_to_string(&path).map_err(|e| {
            ConfigError::Invalid(format!("cannot read CA file {}: {e}", path.display()))
        })?;
        if !pem.contains("-----BEGIN CERTIFICATE-----") {
            return Err(ConfigError::Invalid(format!(
                "CA file {} holds no PEM certificate",
                path.display()
            )));
        }
        tls.extra_roots_pem.push(pem);
    }
    tls.insecure_skip_verify = o.is_some_and(|o| o.insecure_skip_verify);
    let credential = credential::for_account(name, &label, spec, o, preset, &user, &smtp, &tls)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An account table for `a@example.com` (password `pw`) at these SMTP and IMAP URLs.
    fn spec(smtp: &str, imap: &str) -> AccountSpec {
        AccountSpec {
            smtp: Some(smtp.into()),
            imap: Some(imap.into()),
            address: Some("a@example.com".into()),
            password: Some("pw".into()),
            ..Default::default()
        }
    }

    #[test]
    fn plaintext_to_remote_host_is_refused() {
        let spec = spec("smtp://mail.example.com", "imaps://mail.example.com");
        let e = build(None, &spec, None).expect_err("plaintext");
        assert!(e.to_string().contains("--allow-plaintext"), "{e}");
    }

    /// Issue 19: `-H` replaces the host of both endpoints and `-p` the SMTP port, keeping the
    /// schemes; alone, `-H` means STARTTLS submission and implicit-TLS IMAP.
    #[test]
    fn issue_19_hostname_and_port_flags() {
        let spec = spec(
            "smtps://old.example.com:465",
            "imap+starttls://old.example.com:1143",
        );
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

    /// An endpoint given nowhere (flag, file, provider, `-H`) is named with its flag, SMTP
    /// first, in words pinned to the letter.
    #[test]
    fn a_server_given_nowhere_is_named_with_its_flag() {
        let hint = "URL or --provider NAME (see `mailtrip providers`)";
        let cases = [
            ("neither", None, "SMTP", "smtp"),
            ("no IMAP", Some("smtps://mail.example.com"), "IMAP", "imap"),
        ];
        for (case, smtp, name, flag) in cases {
            let spec = AccountSpec {
                smtp: smtp.map(String::from),
                imap: None,
                ..spec("smtps://mail.example.com", "imaps://mail.example.com")
            };
            let e = build(None, &spec, None).expect_err(case);
            assert_eq!(
                e.to_string(),
                format!("the account: no {name} server; give --{flag} {hint}"),
                "{case}"
            );
        }
    }
}
