//! The TOML config file: named accounts, and `[[routes]]` + `[monitor]` for `mailtrip monitor`. Unknown keys are errors
//! with a suggestion, and parse errors name the file, line and column.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ConfigError;

/// The whole file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Account used when `--account` is not given.
    pub default_account: Option<String>,
    /// `[accounts.NAME]` tables, by name.
    #[serde(default)]
    pub accounts: BTreeMap<String, AccountSpec>,
    /// `[[routes]]` for `mailtrip monitor`: sender → mailbox pairs, by account name.
    #[serde(default)]
    pub routes: Vec<RouteSpec>,
    /// `[monitor]`: the exporter's listen address and route defaults.
    #[serde(default)]
    pub monitor: MonitorSpec,
}

/// One `[[routes]]` entry: probe from account `from` to account `to` (default: `from`).
/// Durations are strings like `60s`, `2m`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// The `route` label (default `FROM` or `FROM-TO`).
    pub name: Option<String>,
    /// The sending account's name.
    pub from: String,
    /// The receiving account's name (default: `from`).
    pub to: Option<String>,
    /// Time between probes (default from `[monitor]`).
    pub interval: Option<String>,
    /// Delivery timeout (default from `[monitor]`).
    pub timeout: Option<String>,
}

/// The `[monitor]` table.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorSpec {
    /// `HOST:PORT` to serve `/metrics` on (default 127.0.0.1:9599).
    pub listen: Option<String>,
    /// Default probe interval of routes that don't set one (default 60s).
    pub interval: Option<String>,
    /// Default delivery timeout of routes that don't set one (default 120s).
    pub timeout: Option<String>,
}

/// One `[accounts.NAME]` table. Every field is optional; presets and flags fill the rest.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSpec {
    /// Provider preset (`gmail`, `outlook`, ...).
    pub provider: Option<String>,
    /// The mail address.
    pub address: Option<String>,
    /// Login name (default: the address).
    pub user: Option<String>,
    /// A literal password; the file is then warned about if others can read it.
    pub password: Option<FileSecret>,
    /// Environment variable holding the password.
    pub password_env: Option<String>,
    /// File holding the password.
    pub password_file: Option<PathBuf>,
    /// Command that prints the password.
    pub password_command: Option<String>,
    /// Environment variable holding an OAuth2 access token.
    pub oauth2_token_env: Option<String>,
    /// Command that prints an OAuth2 access token.
    pub oauth2_token_command: Option<String>,
    /// SMTP endpoint URL.
    pub smtp: Option<String>,
    /// IMAP endpoint URL.
    pub imap: Option<String>,
    /// Extra trusted root certificates (PEM).
    pub ca_file: Option<PathBuf>,
    /// Allow no TLS to a non-loopback host.
    pub allow_plaintext: Option<bool>,
    /// `password` (the default) or `oauth2`: log in with the tokens `mailtrip login` stored.
    pub auth: Option<String>,
    /// The OAuth2 client (application) id the user registered; see the README.
    pub oauth2_client_id: Option<String>,
    /// The client secret, for providers whose desktop clients have one (Google).
    pub oauth2_client_secret: Option<FileSecret>,
    /// Environment variable holding the client secret.
    pub oauth2_client_secret_env: Option<String>,
    /// Microsoft tenant (`common`, `organizations`, `consumers`, a domain or a tenant id).
    pub oauth2_tenant: Option<String>,
    /// `device` (RFC 8628) or `pkce` (browser with a loopback redirect).
    pub oauth2_flow: Option<String>,
    /// Scopes to ask for instead of the preset's.
    pub oauth2_scopes: Option<Vec<String>>,
    /// Endpoint overrides (a provider without a preset, or a test server).
    pub oauth2_device_url: Option<String>,
    /// Authorization endpoint (PKCE grant).
    pub oauth2_auth_url: Option<String>,
    /// Token endpoint.
    pub oauth2_token_url: Option<String>,
}

/// A secret read from the file: a `SecretString` from the moment it is parsed, so `Debug` of
/// the config (or of an error holding it) shows `[REDACTED]`.
#[derive(Clone, Deserialize)]
#[serde(from = "String")]
pub struct FileSecret(pub secrecy::SecretString);

impl From<String> for FileSecret {
    fn from(s: String) -> Self {
        FileSecret(secrecy::SecretString::from(s))
    }
}

impl From<&str> for FileSecret {
    fn from(s: &str) -> Self {
        FileSecret(secrecy::SecretString::from(s.to_string()))
    }
}

impl std::fmt::Debug for FileSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl std::fmt::Display for AccountSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.address)
    }
}

/// A loaded file with where it came from and any warnings about it.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The file read.
    pub path: PathBuf,
    /// What it says.
    pub config: FileConfig,
    /// Things to tell the user (a password in a file others can read, ...).
    pub warnings: Vec<String>,
}

/// Parses config text; `path` is only used in messages.
pub fn parse(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
    toml::from_str::<FileConfig>(text).map_err(|e| {
        let mut message = describe(&e, text);
        if let Some(hint) = suggest_for_unknown_field(&message) {
            message = format!("{}\n{hint}", message.trim_end());
        }
        ConfigError::File {
            path: path.to_path_buf(),
            message: message.trim_end().to_string(),
        }
    })
}

/// Loads a file, warning when it holds a password and others can read it.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
        path: path.to_path_buf(),
        message: format!("cannot read: {e}"),
    })?;
    let config = parse(&text, path)?;
    let mut warnings = Vec::new();
    let has_password = config
        .accounts
        .values()
        .any(|a| a.password.is_some() || a.oauth2_client_secret.is_some());
    #[cfg(unix)]
    if has_password {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o044 != 0
        {
            warnings.push(format!(
                "{} holds a password and is readable by others: run chmod 600 {}",
                path.display(),
                path.display()
            ));
        }
    }
    Ok(Loaded {
        path: path.to_path_buf(),
        config,
        warnings,
    })
}

/// `--config FILE`, else `./mailtrip.toml`, else `$XDG_CONFIG_HOME/mailtrip/config.toml`
/// (or `~/.config/mailtrip/config.toml`). Only an explicit path that is missing is an error.
pub fn discover(explicit: Option<&Path>) -> Result<Option<Loaded>, ConfigError> {
    if let Some(p) = explicit {
        return load(p).map(Some);
    }
    let mut candidates = vec![PathBuf::from("mailtrip.toml")];
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        candidates.push(PathBuf::from(dir).join("mailtrip/config.toml"));
    } else if let Some(home) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        candidates.push(PathBuf::from(home).join(".config/mailtrip/config.toml"));
    }
    for c in candidates {
        if c.is_file() {
            return load(&c).map(Some);
        }
    }
    Ok(None)
}

/// A parse error as it may be shown: where (line and column) and what, but never the source
/// line (toml's own message quotes it, and it may be `password = hunter2`) nor a value serde
/// quotes in "invalid type: string \"...\"".
fn describe(e: &toml::de::Error, text: &str) -> String {
    static VALUE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let value = VALUE.get_or_init(|| {
        regex::Regex::new(
            r#"(invalid (?:type|value|length): [a-z ]*?) ?(?:"(?:[^"\\]|\\.)*"|`[^`]*`|'[^']*')"#,
        )
        .unwrap_or_else(|_| unreachable!())
    });
    let what: Vec<&str> = e
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let what = value.replace_all(&what.join("; "), "$1").into_owned();
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
            format!("TOML parse error at line {line}, column {column}: {what}")
        }
        None => format!("TOML parse error: {what}"),
    }
}

/// For serde's "unknown field `x`, expected one of `a`, `b`" adds "did you mean `a`?".
fn suggest_for_unknown_field(message: &str) -> Option<String> {
    let start = message.find("unknown field `")? + "unknown field `".len();
    let end = start + message[start..].find('`')?;
    let unknown = &message[start..end];
    let expected = &message[end + 1..];
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    let best = candidates
        .iter()
        .map(|c| (edit_distance(unknown, c), *c))
        .min()?;
    (best.0 <= 3).then(|| format!("did you mean `{}`?", best.1))
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_named_accounts() {
        let cfg = parse(
            "default_account = \"work\"\n[accounts.work]\nprovider = \"gmail\"\naddress = \"me@example.com\"\npassword_env = \"APP_PW\"\n",
            Path::new("t.toml"),
        )
        .expect("parses");
        assert_eq!(cfg.default_account.as_deref(), Some("work"));
        assert_eq!(cfg.accounts["work"].password_env.as_deref(), Some("APP_PW"));
    }

    #[test]
    fn parses_routes_and_monitor() {
        let cfg = parse(
            "[monitor]\nlisten = \"0.0.0.0:9599\"\ninterval = \"30s\"\n\n[[routes]]\nfrom = \"gmail\"\nto = \"work\"\ntimeout = \"2m\"\n\n[[routes]]\nfrom = \"work\"\n",
            Path::new("t.toml"),
        )
        .expect("parses");
        assert_eq!(cfg.monitor.listen.as_deref(), Some("0.0.0.0:9599"));
        assert_eq!(cfg.routes.len(), 2);
        assert_eq!(cfg.routes[0].to.as_deref(), Some("work"));
        assert_eq!(cfg.routes[1].to, None);
        let e = parse(
            "[[routes]]\nfrom = \"a\"\nintervall = \"1s\"\n",
            Path::new("r.toml"),
        )
        .expect_err("typo");
        assert!(e.to_string().contains("did you mean `interval`?"), "{e}");
    }

    #[test]
    fn unknown_key_names_file_line_and_suggests() {
        let e = parse(
            "[accounts.work]\naddress = \"me@example.com\"\npasword_env = \"X\"\n",
            Path::new("my.toml"),
        )
        .expect_err("unknown key");
        let s = e.to_string();
        assert!(s.contains("my.toml"), "{s}");
        assert!(s.contains("line 3"), "{s}");
        assert!(s.contains("did you mean `password_env`?"), "{s}");
    }

    #[test]
    fn a_literal_password_never_shows_in_debug() {
        let cfg = parse(
            "[accounts.work]\naddress = \"me@example.com\"\npassword = \"hunter2-file\"\n",
            Path::new("t.toml"),
        )
        .expect("parses");
        let shown = format!("{cfg:?}");
        assert!(
            !shown.contains("hunter2-file") && shown.contains("REDACTED"),
            "{shown}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_world_readable_file_with_a_password_is_warned_about_and_a_private_one_is_not() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("mailtrip-perm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("config.toml");
        let body = "[accounts.work]\naddress = \"me@example.com\"\npassword = \"pw\"\n";
        std::fs::write(&path, body).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let loaded = load(&path).expect("loads");
        assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
        assert!(
            loaded.warnings[0].contains("chmod 600"),
            "{:?}",
            loaded.warnings
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert!(load(&path).expect("loads").warnings.is_empty());
        // Without a literal password, permissions don't matter.
        std::fs::write(&path, "[accounts.work]\npassword_env = \"PW\"\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(load(&path).expect("loads").warnings.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn errors_on_a_password_line_never_show_the_password() {
        for text in [
            "[accounts.work]\npassword = hunter2-unquoted\n",
            "[accounts.work]\npasword = \"hunter2-typo\"\n",
            "[accounts.work]\npassword = 4242424242\n",
            "[accounts.work]\npassword = \"hunter2-open\n",
            "[accounts.work]\nallow_plaintext = \"hunter2-bool\"\n",
        ] {
            let e = parse(text, Path::new("s.toml"))
                .expect_err(text)
                .to_string();
            assert!(
                !e.contains("hunter2") && !e.contains("4242424242"),
                "{text:?}: {e}"
            );
            assert!(e.contains("s.toml") && e.contains("line 2"), "{e}");
        }
    }

    #[test]
    fn syntax_error_names_line_and_column() {
        let e = parse("[accounts.work\n", Path::new("bad.toml")).expect_err("syntax");
        let s = e.to_string();
        assert!(s.contains("bad.toml") && s.contains("line 1"), "{s}");
    }
}
