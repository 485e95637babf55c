//! The secret a login sends, taken when it logs in: for an account signed in with
//! `mailtrip login`, a live access token (refreshed first when near its expiry). A sign-in
//! that no longer works becomes a `sign_in_required` diagnosis naming the command that fixes it.

use crate::config::{Account, Secret};
use crate::diagnose::{Code, Diagnosis, Protocol};

/// The password or access token to log in with, or why there is none.
pub(crate) async fn secret(account: &Account, protocol: Protocol) -> Result<Secret, Diagnosis> {
    let e = match account.credential.secret().await {
        Ok(s) => return Ok(s),
        Err(e) => e,
    };
    let label = match protocol {
        Protocol::Smtp => "SMTP",
        Protocol::Imap => "IMAP",
    };
    let relogin = account
        .credential
        .token_source()
        .map(|s| s.relogin().to_string())
        .unwrap_or_else(|| "mailtrip login".into());
    let (code, hint) = if e.is_sign_in_required() {
        (
            Code::SignInRequired,
            format!("Sign in again: `{relogin}`, then run this command again."),
        )
    } else if e.is_timeout() {
        (
            Code::Timeout,
            "Retry; check that this machine reaches the provider's token endpoint. The stored \
             sign-in is kept."
                .to_string(),
        )
    } else {
        (
            Code::ServerError,
            format!(
                "Retry; check that this machine reaches the provider's token endpoint. If it \
                 persists, sign in again: `{relogin}`."
            ),
        )
    };
    Err(Diagnosis::new(
        code,
        format!(
            "No OAuth2 access token for the {label} login: {}.",
            format!("{e:#}").trim_end_matches('.')
        ),
        hint,
    ))
}
