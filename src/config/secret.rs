//! Where a password or token comes from: an environment variable, a file, a command's
//! output, or the config file itself. The value goes straight into a `SecretString`.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use secrecy::SecretString;

use super::ConfigError;

/// Longest a password or token command may run when the command line sets no `--timeout`.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// A place to read a secret from. Debug never shows a literal value.
#[derive(Clone)]
pub enum SecretSource {
    /// `--password-env VAR`.
    Env(String),
    /// `--password-file F`: the first line of the file.
    File(PathBuf),
    /// `--password-command CMD`: run with `sh -c`; its stdout, trailing newline removed.
    Command(String),
    /// Already read (e.g. `MAILTRIP_PASSWORD`, or `password =` in the config file).
    Value(SecretString),
}

impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::Env(v) => write!(f, "Env({v:?})"),
            SecretSource::File(p) => write!(f, "File({p:?})"),
            SecretSource::Command(c) => write!(f, "Command({c:?})"),
            SecretSource::Value(_) => f.write_str("Value([REDACTED])"),
        }
    }
}

impl SecretSource {
    /// Reads the secret, a command running for at most [`COMMAND_TIMEOUT`]. Errors name the
    /// variable, file or command, never the value.
    pub fn read(&self) -> Result<SecretString, ConfigError> {
        self.read_within(COMMAND_TIMEOUT)
    }

    /// Reads the secret; a command still running after `limit` is killed (with everything it
    /// started) and named in the error.
    pub fn read_within(&self, limit: Duration) -> Result<SecretString, ConfigError> {
        self.read_as("password command", limit)
    }

    /// Reads an OAuth2 access token like [`SecretSource::read_within`]; errors about a command
    /// call it the "OAuth2 token command".
    pub fn read_token_within(&self, limit: Duration) -> Result<SecretString, ConfigError> {
        self.read_as("OAuth2 token command", limit)
    }

    /// Reads the secret; `what` names a command in errors ("password command", …).
    fn read_as(&self, what: &str, limit: Duration) -> Result<SecretString, ConfigError> {
        match self {
            SecretSource::Value(v) => Ok(v.clone()),
            SecretSource::Env(var) => match std::env::var(var) {
                Ok(v) if !v.is_empty() => Ok(SecretString::from(v)),
                Ok(_) => Err(ConfigError::Secret(format!(
                    "environment variable {var} is empty"
                ))),
                Err(_) => Err(ConfigError::Secret(format!(
                    "environment variable {var} is not set"
                ))),
            },
            SecretSource::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError::Secret(format!(
                        "cannot read password file {}: {e}",
                        path.display()
                    ))
                })?;
                let line = text.lines().next().unwrap_or("").to_string();
                if line.is_empty() {
                    return Err(ConfigError::Secret(format!(
                        "password file {} is empty",
                        path.display()
                    )));
                }
                Ok(SecretString::from(line))
            }
            SecretSource::Command(cmd) => {
                let (status, stdout) = run_bounded(what, cmd, limit)?;
                if !status.success() {
                    return Err(ConfigError::Secret(format!(
                        "{what} {cmd:?} failed ({status})"
                    )));
                }
                let text = String::from_utf8(stdout).map_err(|_| {
                    ConfigError::Secret(format!("{what} {cmd:?} printed non-UTF-8"))
                })?;
                let value = text.trim_end_matches(['\r', '\n']).to_string();
                if value.is_empty() {
                    return Err(ConfigError::Secret(format!(
                        "{what} {cmd:?} printed nothing"
                    )));
                }
                Ok(SecretString::from(value))
            }
        }
    }
}

/// Runs `sh -c cmd` in a process group of its own with stdout captured, for at most `limit`;
/// past it, kills the whole group (a `sleep` the shell started included) and says so, naming
/// it as `what`.
fn run_bounded(
    what: &str,
    cmd: &str,
    limit: Duration,
) -> Result<(std::process::ExitStatus, Vec<u8>), ConfigError> {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command
        .spawn()
        .map_err(|e| ConfigError::Secret(format!("cannot run {cmd:?}: {e}")))?;
    // Read stdout on the side so a chatty command cannot block on a full pipe.
    let mut stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.read_to_end(&mut out);
        }
        out
    });
    let end = Instant::now() + limit;
    off_the_runtime(|| {
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() >= end => {
                    kill_group(&mut child);
                    return Err(ConfigError::Secret(format!(
                        "{what} {cmd:?} did not finish within {:.1} s and was stopped; \
                         make it print the secret without waiting, or raise --timeout",
                        limit.as_secs_f64()
                    )));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => {
                    kill_group(&mut child);
                    return Err(ConfigError::Secret(format!(
                        "waiting for {cmd:?} failed: {e}"
                    )));
                }
            }
        };
        let out = reader.join().unwrap_or_default();
        Ok((status, out))
    })
}

/// Runs `f`, which blocks its thread (waiting for a secret command), without stalling the
/// tokio runtime it may be called on: on a multi-threaded runtime the worker hands its other
/// tasks over first (`block_in_place`); elsewhere `f` just runs.
fn off_the_runtime<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// SIGKILL to the child's process group (it leads its own), then reaps the child.
fn kill_group(child: &mut Child) {
    #[cfg(unix)]
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: killpg only sends a signal; the group is the child's own (process_group(0)).
        unsafe {
            libc::killpg(pid, libc::SIGKILL);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_secret_command_does_not_stall_the_runtime_it_is_read_on() {
        // A library caller reads the secret in a task of its runtime (one worker here). Once
        // the command has started, it waits for a file that another task of that runtime
        // writes: with the only worker blocked on the command, that task would never run and
        // the command would be stopped at its limit.
        let dir = std::env::temp_dir().join(format!("mailtrip-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let (started, flag) = (dir.join("started"), dir.join("flag"));
        let cmd = format!(
            "touch '{}'; while [ ! -e '{}' ]; do sleep 0.01; done; printf pw",
            started.display(),
            flag.display()
        );
        let reader =
            tokio::spawn(
                async move { SecretSource::Command(cmd).read_within(Duration::from_secs(5)) },
            );
        let writer = tokio::spawn(async move {
            while !started.exists() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            std::fs::write(&flag, b"")
        });
        let read = reader.await.expect("reader task");
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            read.expect("the command saw the file").expose_secret(),
            "pw"
        );
        writer.await.expect("writer task").expect("flag written");
    }

    #[test]
    fn command_output_without_newline() {
        let s = SecretSource::Command("printf 'pw-from-cmd\\n'".into())
            .read()
            .expect("command");
        assert_eq!(s.expose_secret(), "pw-from-cmd");
    }

    #[test]
    fn a_command_past_its_limit_is_stopped_and_named() {
        let e = SecretSource::Command("sleep 30; echo pw".into())
            .read_within(Duration::from_millis(200))
            .expect_err("times out");
        let e = e.to_string();
        assert!(
            e.contains("sleep 30; echo pw") && e.contains("did not finish"),
            "{e}"
        );
    }

    #[test]
    fn errors_name_the_source_not_the_value() {
        let e = SecretSource::Env("MAILTRIP_TEST_SURELY_UNSET_VAR".into())
            .read()
            .expect_err("unset");
        assert!(e.to_string().contains("MAILTRIP_TEST_SURELY_UNSET_VAR"));
        let e = SecretSource::Command("exit 3".into())
            .read()
            .expect_err("fails");
        assert!(e.to_string().contains("exit 3"));
        assert_eq!(
            format!("{:?}", SecretSource::Value(SecretString::from("hunter2"))),
            "Value([REDACTED])"
        );
    }
}
