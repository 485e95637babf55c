//! Issue #20, offline and end to end: `mailtrip login` against the embedded server's OAuth2
//! authorization server over real HTTPS, then `check` / `verify` over XOAUTH2 with the stored
//! tokens, silent refresh after expiry, a revoked sign-in, the device flow's slow_down /
//! denied / expired answers, the browser flow with PKCE through headless Chromium, and curl
//! as an independent client of the authorization server and of XOAUTH2. One file per topic.

mod browser;
mod curl;
mod device;
mod sign_in;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use mailtrip::server::oauth::OAuthSettings;
use mailtrip::server::{ServerConfig, TestServer};

use crate::util;
pub use crate::util::ALICE;

pub const CLIENT_ID: &str = "mailtrip-test-client";

/// A config file, a CA file and a private config directory (where tokens go) for one test.
pub struct Env {
    pub dir: PathBuf,
    pub config: PathBuf,
}

impl Env {
    /// Account `work`: `provider` with the embedded server's OAuth2 endpoints and mail ports.
    pub fn new(server: &TestServer, name: &str, provider: &str, extra: &str) -> Env {
        let dir = util::scratch_dir(&format!("oauth-{name}"));
        let ca = util::write_ca(server, &dir);
        let o = server.oauth2_url();
        let config = dir.join("mailtrip.toml");
        let text = format!(
            "[accounts.work]\nprovider = \"{provider}\"\naddress = \"{ALICE}\"\nauth = \"oauth2\"\n\
             oauth2_client_id = \"{CLIENT_ID}\"\noauth2_device_url = \"{o}/devicecode\"\n\
             oauth2_auth_url = \"{o}/authorize\"\noauth2_token_url = \"{o}/token\"\n\
             smtp = \"smtp+starttls://localhost:{}\"\nimap = \"imaps://localhost:{}\"\n\
             ca_file = \"{}\"\n{extra}",
            server.submission_addr().port(),
            server.imaps_addr().port(),
            ca.display()
        );
        std::fs::write(&config, text).expect("config");
        Env { dir, config }
    }

    fn tokens_dir(&self) -> PathBuf {
        self.dir.join("xdg/mailtrip/tokens")
    }

    fn token_file(&self) -> PathBuf {
        let files: Vec<PathBuf> = std::fs::read_dir(self.tokens_dir())
            .expect("tokens dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        files[0].clone()
    }

    pub fn stored(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.token_file()).expect("token file");
        serde_json::from_str(&text).expect("json")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = util::mailtrip_command();
        c.args(args)
            .arg("--config")
            .arg(&self.config)
            .env("XDG_CONFIG_HOME", self.dir.join("xdg"))
            .env_remove("BROWSER")
            .stdin(Stdio::null());
        c
    }

    /// Runs the binary off the runtime's threads (the server runs on them).
    pub async fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[]).await
    }

    /// Runs `mailtrip ARGS` with `env` and asserts it exited with `code`.
    pub async fn exits(&self, code: i32, args: &[&str], env: &[(&str, &str)]) -> Run {
        let r = self.run_with(args, env).await;
        assert_eq!(r.code, code, "{args:?}: {r:?}");
        r
    }

    pub async fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut c = self.command(args);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = tokio::task::spawn_blocking(move || c.output().expect("run mailtrip"))
            .await
            .expect("join");
        Run::from(out)
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// A server whose HTTP side (and so `/oauth2/`) speaks HTTPS, as a real provider's token
/// endpoint does: mailtrip's OAuth2 client takes its real TLS path, verified with the CA file.
pub async fn server_with(settings: OAuthSettings) -> TestServer {
    let server = util::server_with(ServerConfig::default().http_tls()).await;
    assert!(server.oauth2_url().starts_with("https://"));
    server.oauth().set_settings(settings);
    server
}

/// [`server_with`] the default settings but access tokens that expire after `lifetime`.
pub async fn server_with_token_lifetime(lifetime: Duration) -> TestServer {
    server_with(OAuthSettings {
        access_token_lifetime: lifetime,
        ..OAuthSettings::default()
    })
    .await
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

pub fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .output()
        .expect("curl")
}
