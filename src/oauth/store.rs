//! The token file: one per signed-in account, JSON with mode 0600 in a 0700 directory under
//! the config directory (`~/.config/mailtrip/tokens/`), written atomically (temp file +
//! rename) so a refresh racing another command never leaves half a file.
//!
//! A file rather than the OS keyring: monitors and CI run headless, where the Secret Service
//! (D-Bus) is usually absent; it needs no extra crates; and it is what mutt_oauth2.py, gcloud
//! and `gh` (without a keyring) do. The refresh token is as strong as the password it replaces,
//! so the file gets a password file's protection, and a warning if others can read it.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::{ErrorKind, OAuthError};

/// One account's sign-in. `Debug` shows no token or secret.
#[derive(Clone)]
pub struct TokenFile {
    /// The account's login (mail address).
    pub user: String,
    /// Provider preset signed in with, if any.
    pub provider: Option<String>,
    /// Token endpoint to refresh at.
    pub token_url: String,
    /// The client id signed in with.
    pub client_id: String,
    /// Saved only when given at sign-in (Google desktop clients), to refresh without flags.
    pub client_secret: Option<SecretString>,
    /// Scopes granted (as the token endpoint reported them).
    pub scopes: Vec<String>,
    /// The refresh token.
    pub refresh_token: SecretString,
    /// The last access token, if still kept.
    pub access_token: Option<SecretString>,
    /// When that access token expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// The access token's lifetime when issued (`expires_in`), seconds.
    pub lifetime_secs: u64,
    /// When `mailtrip login` signed in.
    pub signed_in_at: DateTime<Utc>,
    /// When the access token was last refreshed.
    pub refreshed_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for TokenFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenFile")
            .field("user", &self.user)
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The on-disk form; only ever built right before writing or right after reading.
#[derive(Serialize, Deserialize)]
struct Wire {
    version: u32,
    user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    provider: Option<String>,
    token_url: String,
    client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
    refresh_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    access_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
    #[serde(default)]
    lifetime_secs: u64,
    signed_in_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refreshed_at: Option<String>,
}

fn time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn store_err(message: String) -> OAuthError {
    OAuthError::new(ErrorKind::Store, message)
}

/// `$XDG_CONFIG_HOME/mailtrip/tokens`, else `~/.config/mailtrip/tokens`.
pub fn token_dir() -> Result<PathBuf, OAuthError> {
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("mailtrip/tokens"));
    }
    if let Some(home) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(home).join(".config/mailtrip/tokens"));
    }
    Err(OAuthError::new(
        ErrorKind::Config,
        "neither XDG_CONFIG_HOME nor HOME is set: nowhere to keep the sign-in",
    ))
}

/// The file for `user` at the token endpoint `token_url`: `USER--HOST[_PORT].json`.
pub fn path_for(dir: &Path, user: &str, token_url: &str) -> PathBuf {
    let host = url::Url::parse(token_url)
        .ok()
        .map(|u| {
            let h = u.host_str().unwrap_or("").to_string();
            match u.port() {
                Some(p) => format!("{h}_{p}"),
                None => h,
            }
        })
        .unwrap_or_default();
    let clean = |s: &str| -> String {
        s.trim()
            .to_ascii_lowercase()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "@._+-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    dir.join(format!("{}--{}.json", clean(user), clean(&host)))
}

/// Reads a token file; `Ok(None)` when there is none. Warns when others can read it.
pub fn load(path: &Path) -> Result<Option<TokenFile>, OAuthError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(store_err(format!(
                "cannot read the token file {}: {e}",
                path.display()
            )));
        }
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                "{} holds a refresh token and is readable by others: run chmod 600 {}",
                path.display(),
                path.display()
            );
        }
    }
    let w: Wire = serde_json::from_str(&text).map_err(|e| {
        // serde_json's message names a line and column, never the values.
        store_err(format!(
            "the token file {} is damaged ({e}); sign in again with `mailtrip login`",
            path.display()
        ))
    })?;
    Ok(Some(TokenFile {
        user: w.user,
        provider: w.provider,
        token_url: w.token_url,
        client_id: w.client_id,
        client_secret: w.client_secret.map(SecretString::from),
        scopes: w.scopes,
        refresh_token: SecretString::from(w.refresh_token),
        access_token: w.access_token.map(SecretString::from),
        expires_at: w.expires_at.as_deref().and_then(time),
        lifetime_secs: w.lifetime_secs,
        signed_in_at: time(&w.signed_in_at).unwrap_or_else(Utc::now),
        refreshed_at: w.refreshed_at.as_deref().and_then(time),
    }))
}

/// Writes a token file atomically with mode 0600, creating its directory (0700).
pub fn save(path: &Path, t: &TokenFile) -> Result<(), OAuthError> {
    let dir = path
        .parent()
        .ok_or_else(|| store_err(format!("{} has no directory", path.display())))?;
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| store_err(format!("cannot create {}: {e}", dir.display())))?;
    let wire = Wire {
        version: 1,
        user: t.user.clone(),
        provider: t.provider.clone(),
        token_url: t.token_url.clone(),
        client_id: t.client_id.clone(),
        client_secret: t
            .client_secret
            .as_ref()
            .map(|s| s.expose_secret().to_string()),
        scopes: t.scopes.clone(),
        refresh_token: t.refresh_token.expose_secret().to_string(),
        access_token: t
            .access_token
            .as_ref()
            .map(|s| s.expose_secret().to_string()),
        expires_at: t.expires_at.as_ref().map(rfc3339),
        lifetime_secs: t.lifetime_secs,
        signed_in_at: rfc3339(&t.signed_in_at),
        refreshed_at: t.refreshed_at.as_ref().map(rfc3339),
    };
    let mut bytes = serde_json::to_vec_pretty(&wire)
        .map_err(|e| store_err(format!("cannot encode the sign-in: {e}")))?;
    bytes.push(b'\n');
    drop(wire);
    let tmp = dir.join(format!(
        ".{}.{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("token"),
        std::process::id(),
        rand::random::<u32>()
    ));
    let write = || -> std::io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    let r = write();
    bytes.iter_mut().for_each(|b| *b = 0);
    r.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        store_err(format!(
            "cannot write the token file {}: {e}",
            path.display()
        ))
    })
}

/// How long [`lock`] waits for another process's refresh before going ahead anyway.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Holds `FILE.lock` (an OS file lock, released on drop and when the process dies) so one
/// process at a time refreshes a sign-in. `None` when locking is impossible or took longer
/// than 30 s: the refresh then goes ahead unlocked rather than failing the login.
pub async fn lock(path: &Path) -> Option<std::fs::File> {
    let lock_path = path.with_extension("lock");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(&lock_path).ok()?;
    let deadline = tokio::time::Instant::now() + LOCK_WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => return Some(file),
            Err(std::fs::TryLockError::WouldBlock) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
            Err(_) => {
                tracing::warn!(
                    "could not lock {}; refreshing without it",
                    lock_path.display()
                );
                return None;
            }
        }
    }
}

/// Removes a token file (and its lock file); `Ok(false)` when there was none.
pub fn remove(path: &Path) -> Result<bool, OAuthError> {
    let _ = std::fs::remove_file(path.with_extension("lock"));
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(store_err(format!("cannot remove {}: {e}", path.display()))),
    }
}

/// Every token file in `dir` (for `mailtrip logout --all`).
pub fn list(dir: &Path) -> Result<Vec<PathBuf>, OAuthError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(store_err(format!("cannot list {}: {e}", dir.display()))),
    };
    let mut v: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    v.sort();
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TokenFile {
        TokenFile {
            user: "me@example.com".into(),
            provider: Some("outlook".into()),
            token_url: "https://login.example.com/t/token".into(),
            client_id: "cid".into(),
            client_secret: Some(SecretString::from("client-secret-x".to_string())),
            scopes: vec!["a".into(), "offline_access".into()],
            refresh_token: SecretString::from("refresh-secret-y".to_string()),
            access_token: Some(SecretString::from("access-secret-z".to_string())),
            expires_at: Some(Utc::now()),
            lifetime_secs: 3600,
            signed_in_at: Utc::now(),
            refreshed_at: None,
        }
    }

    #[cfg(unix)]
    #[test]
    fn saved_private_read_back_whole_and_debug_shows_no_secret() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("mailtrip-tokens-{}", std::process::id()));
        let path = path_for(
            &dir,
            "Me@Example.com",
            "https://login.example.com:8443/t/token",
        );
        assert_eq!(
            path.file_name().and_then(|n| n.to_str()),
            Some("me@example.com--login.example.com_8443.json")
        );
        save(&path, &sample()).expect("save");
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!((mode(&path), mode(&dir)), (0o600, 0o700));
        let back = load(&path).expect("load").expect("present");
        assert_eq!(back.refresh_token.expose_secret(), "refresh-secret-y");
        assert_eq!(back.scopes, sample().scopes);
        let shown = format!("{back:?}");
        assert!(!shown.contains("secret-"), "{shown}");
        assert_eq!(list(&dir).expect("list"), vec![path.clone()]);
        assert!(remove(&path).expect("remove"));
        assert!(!remove(&path).expect("gone"));
        assert!(load(&path).expect("load").is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
