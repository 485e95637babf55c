//! Where a password or token comes from: an environment variable, a file, a command's
//! output, or the config file itself. The value goes straight into a `SecretString`.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use secrecy::SecretString;

use super::ConfigError;

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
    /// Reads the secret. Errors name the variable, file or command, never the value.
    pub fn read(&self) -> Result<SecretString, ConfigError> {
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
                let out = Command::new("sh")
                    .arg("-c")
                    .arg(cmd)
                    .stdin(Stdio::inherit())
                    .stderr(Stdio::inherit())
                    .output()
                    .map_err(|e| ConfigError::Secret(format!("cannot run {cmd:?}: {e}")))?;
                if !out.status.success() {
                    return Err(ConfigError::Secret(format!(
                        "password command {cmd:?} failed ({})",
                        out.status
                    )));
                }
                let text = String::from_utf8(out.stdout).map_err(|_| {
                    ConfigError::Secret(format!("password command {cmd:?} printed non-UTF-8"))
                })?;
                let value = text.trim_end_matches(['\r', '\n']).to_string();
                if value.is_empty() {
                    return Err(ConfigError::Secret(format!(
                        "password command {cmd:?} printed nothing"
                    )));
                }
                Ok(SecretString::from(value))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn command_output_without_newline() {
        let s = SecretSource::Command("printf 'pw-from-cmd\\n'".into())
            .read()
            .expect("command");
        assert_eq!(s.expose_secret(), "pw-from-cmd");
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
