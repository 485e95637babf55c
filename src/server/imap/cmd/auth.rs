//! LOGIN and AUTHENTICATE (PLAIN, XOAUTH2 with SASL-IR or one `+` round, and Google's failure
//! dance): the checks before credentials (TLS, faults, connection limit), then the move from
//! Not Authenticated to Authenticated.

use std::io;

use base64::Engine;
use imap_codec::AuthenticateDataCodec;
use imap_codec::imap_types::auth::{AuthMechanism, AuthenticateData};
use tokio::sync::watch;

use crate::server::imap::framing::{Conn, Event, Step};
use crate::server::imap::session::{Flow, Session};
use crate::server::{Profile, gmail};

impl Session {
    fn auth_failed(&self) -> &'static str {
        match self.shared.config.profile {
            Profile::Gmail => gmail::IMAP_BAD_CREDENTIALS,
            Profile::Standard => "NO [AUTHENTICATIONFAILED] Authentication failed.",
        }
    }

    /// Checks shared by LOGIN and AUTHENTICATE; `Some(reply)` refuses before credentials.
    fn auth_precheck(&self) -> Option<String> {
        if self.user.is_some() {
            return Some("BAD Already authenticated".into());
        }
        if self.plaintext() {
            return Some("NO [PRIVACYREQUIRED] Use STARTTLS before logging in.".into());
        }
        let faults = self.shared.faults();
        if let Some(text) = faults.imap_auth_reject {
            return Some(text);
        }
        if faults
            .max_imap_connections
            .is_some_and(|max| self.open > max)
        {
            return Some(gmail::IMAP_TOO_MANY_CONNECTIONS.into());
        }
        None
    }

    /// LOGIN: plaintext credentials, refused before TLS on the plain port.
    pub(in crate::server::imap) fn login(&mut self, tag: &str, username: &[u8], password: &[u8]) {
        self.shared.count_auth_attempt(true);
        if let Some(reply) = self.auth_precheck() {
            self.tagged(tag, &reply);
            return;
        }
        let user = String::from_utf8_lossy(username).into_owned();
        let pass = String::from_utf8_lossy(password).into_owned();
        match self.shared.store.check_password(&user, &pass) {
            Some(user) => self.logged_in(tag, user),
            None => self.tagged(tag, self.auth_failed()),
        }
    }

    fn logged_in(&mut self, tag: &str, user: String) {
        self.user = Some(user);
        let caps = self.capabilities();
        self.tagged(tag, &format!("OK [CAPABILITY {caps}] Logged in"));
    }

    /// AUTHENTICATE PLAIN / XOAUTH2, with SASL-IR or one `+` round.
    pub(in crate::server::imap) async fn authenticate(
        &mut self,
        conn: &mut Conn,
        shutdown: &mut watch::Receiver<bool>,
        tag: &str,
        mechanism: AuthMechanism<'static>,
        initial: Option<Vec<u8>>,
    ) -> io::Result<Flow> {
        self.shared.count_auth_attempt(true);
        if let Some(reply) = self.auth_precheck() {
            self.tagged(tag, &reply);
            return Ok(Flow::Continue);
        }
        if !matches!(mechanism, AuthMechanism::Plain | AuthMechanism::XOAuth2) {
            self.tagged(tag, "NO Unsupported authentication mechanism");
            return Ok(Flow::Continue);
        }
        let data = match initial {
            Some(d) => d,
            None => {
                self.out.extend_from_slice(b"+ \r\n");
                conn.send(&mut self.out).await?;
                match self.read_auth_line(conn, shutdown).await {
                    Some(Ok(d)) => d,
                    Some(Err(reply)) => {
                        self.tagged(tag, reply);
                        return Ok(Flow::Continue);
                    }
                    None => return Ok(Flow::Close),
                }
            }
        };
        let user = match mechanism {
            AuthMechanism::Plain => {
                let parts: Vec<&[u8]> = data.split(|&b| b == 0).collect();
                match parts.as_slice() {
                    [authz, authc, pass] if authz.is_empty() || authz == authc => {
                        let authc = String::from_utf8_lossy(authc);
                        let pass = String::from_utf8_lossy(pass);
                        self.shared.store.check_password(&authc, &pass)
                    }
                    _ => None,
                }
            }
            _ => {
                let (user, token) = parse_xoauth2(&data).unwrap_or_default();
                let ok = self.shared.store.check_token(&user, &token);
                if ok.is_none() {
                    // Google's failure dance: a JSON challenge, the client's empty reply, then NO.
                    let json =
                        r#"{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}"#;
                    let b64 = base64::engine::general_purpose::STANDARD.encode(json);
                    self.out
                        .extend_from_slice(format!("+ {b64}\r\n").as_bytes());
                    conn.send(&mut self.out).await?;
                    if self.read_auth_line(conn, shutdown).await.is_none() {
                        return Ok(Flow::Close);
                    }
                }
                ok
            }
        };
        match user {
            Some(user) => self.logged_in(tag, user),
            None => self.tagged(tag, self.auth_failed()),
        }
        Ok(Flow::Continue)
    }

    /// Reads one SASL response line. `None`: the connection ended.
    async fn read_auth_line(
        &mut self,
        conn: &mut Conn,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<Result<Vec<u8>, &'static str>> {
        match conn.next(shutdown).await {
            Event::Step(Step::Message) => {
                tracing::debug!(peer = %conn.peer, "<< ****");
                Some(
                    match conn.frag.decode_message(&AuthenticateDataCodec::default()) {
                        Ok(AuthenticateData::Continue(d)) => Ok(d.declassify().to_vec()),
                        Ok(AuthenticateData::Cancel) => Err("BAD Authentication cancelled"),
                        Err(_) => Err("BAD Invalid SASL response"),
                    },
                )
            }
            Event::Step(_) => Some(Err("BAD Invalid SASL response")),
            _ => None,
        }
    }
}

/// `user=<u>\x01auth=Bearer <token>\x01\x01` → (user, token).
fn parse_xoauth2(data: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(data).ok()?;
    let mut user = None;
    let mut token = None;
    for part in text.split('\x01') {
        if let Some(u) = part.strip_prefix("user=") {
            user = Some(u.to_string());
        } else if let Some(a) = part.strip_prefix("auth=") {
            let t = a
                .strip_prefix("Bearer ")
                .or_else(|| a.strip_prefix("bearer "))?;
            token = Some(t.to_string());
        }
    }
    Some((user?, token?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xoauth2_payload() {
        assert_eq!(
            parse_xoauth2(b"user=a@x.test\x01auth=Bearer tok\x01\x01"),
            Some(("a@x.test".into(), "tok".into()))
        );
        assert_eq!(parse_xoauth2(b"user=a\x01\x01"), None);
    }
}
