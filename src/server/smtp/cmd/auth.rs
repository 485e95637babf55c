//! AUTH PLAIN, LOGIN and XOAUTH2 (RFC 4954, 4616; Google's XOAUTH2 with its error
//! challenge): when AUTH is allowed, the SASL exchange with `*` to cancel, the
//! `smtp_auth_reject` fault, and the close after too many failures.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use secrecy::{ExposeSecret, SecretString};

use crate::server::smtp::codec::{Reply, encode_verbatim};
use crate::server::smtp::conn::{Conn, End};
use crate::server::smtp::session::{Flow, Session, State};

/// Failed AUTH attempts before the connection is closed.
const MAX_AUTH_FAILURES: u32 = 3;

/// The outcome of collecting and checking AUTH credentials.
enum AuthOutcome {
    Success(String),
    Failure,
    /// The client answered a challenge with `*`.
    Cancelled,
    /// A reply that ends the exchange without counting as a failed attempt (bad base64).
    Reply(Reply),
}

/// The SASL mechanisms the server speaks.
#[derive(Clone, Copy)]
enum Mechanism {
    Plain,
    Login,
    XOAuth2,
}

impl Mechanism {
    fn parse(name: &str) -> Option<Mechanism> {
        match name {
            "PLAIN" => Some(Mechanism::Plain),
            "LOGIN" => Some(Mechanism::Login),
            "XOAUTH2" => Some(Mechanism::XOAuth2),
            _ => None,
        }
    }

    /// The challenge that asks for the first response when the client sent no initial one.
    fn first_challenge(self) -> &'static str {
        match self {
            // Base64 of "Username:" (the password prompt follows), as every LOGIN server sends.
            Mechanism::Login => "VXNlcm5hbWU6",
            Mechanism::Plain | Mechanism::XOAuth2 => "",
        }
    }
}

/// Why a SASL exchange stopped before the credentials could be checked.
enum Stop {
    /// The exchange itself settled it (cancelled, undecodable, too long).
    Outcome(AuthOutcome),
    /// The connection ended.
    End(End),
}

impl From<AuthOutcome> for Stop {
    fn from(outcome: AuthOutcome) -> Stop {
        Stop::Outcome(outcome)
    }
}

impl From<End> for Stop {
    fn from(end: End) -> Stop {
        Stop::End(end)
    }
}

impl Session {
    pub(in crate::server::smtp) async fn auth(
        &mut self,
        conn: &mut Conn,
        mechanism: &str,
        initial: Option<String>,
    ) -> Result<Flow, End> {
        self.shared.count_auth_attempt(false);
        let refuse = match self.state {
            State::Greeted => Some(Reply::new(503, "5.5.1", "Send EHLO first")),
            State::Mail | State::Rcpt => Some(Reply::new(
                503,
                "5.5.1",
                "AUTH not allowed during a mail transaction",
            )),
            State::Ready if self.authenticated.is_some() => {
                Some(Reply::new(503, "5.5.1", "Already authenticated"))
            }
            State::Ready if !self.auth_offered(conn.stream.is_tls()) => Some(Reply::new(
                530,
                "5.7.0",
                "Must issue a STARTTLS command first",
            )),
            State::Ready => None,
        };
        if let Some(reply) = refuse {
            return Ok(self.error(conn, reply));
        }
        let initial = initial.map(SecretString::from);
        let Some(sasl) = Mechanism::parse(mechanism) else {
            let reply = Reply::new(504, "5.5.4", "Unrecognized authentication type");
            return Ok(self.error(conn, reply));
        };
        let exchange = self.exchange(conn, sasl, initial).await;
        let outcome = match exchange {
            Ok(outcome) | Err(Stop::Outcome(outcome)) => outcome,
            Err(Stop::End(end)) => return Err(end),
        };
        let reject = self.shared.faults().smtp_auth_reject;
        match (outcome, reject) {
            (AuthOutcome::Cancelled, _) => {
                Ok(self.error(conn, Reply::new(501, "5.7.0", "Authentication aborted")))
            }
            (AuthOutcome::Reply(reply), _) => Ok(self.error(conn, reply)),
            (AuthOutcome::Success(user), None) => {
                tracing::debug!(peer = %self.peer, %user, %mechanism, "authenticated");
                self.authenticated = Some(user);
                conn.send(&Reply::new(235, "2.7.0", "Authentication successful"));
                Ok(Flow::Continue)
            }
            (AuthOutcome::Success(_) | AuthOutcome::Failure, reject) => {
                match reject {
                    Some(text) => conn.send_bytes(&encode_verbatim(&text)),
                    None => conn.send(&Reply::new(
                        535,
                        "5.7.8",
                        "Authentication credentials invalid",
                    )),
                }
                self.auth_failures += 1;
                if self.auth_failures >= MAX_AUTH_FAILURES {
                    conn.send(&Reply::new(
                        421,
                        "4.7.0",
                        "Too many authentication failures",
                    ));
                    return Ok(Flow::Close);
                }
                Ok(Flow::Continue)
            }
        }
    }

    /// Sends a `334` challenge and reads the (secret) response; `*` cancels the exchange.
    async fn challenge(&mut self, conn: &mut Conn, challenge: &str) -> Result<SecretString, Stop> {
        conn.send(&Reply::plain(334, vec![challenge.to_string()]));
        match conn.read_line().await? {
            Err(_) => {
                conn.trace_in("[line too long]");
                Err(AuthOutcome::Reply(Reply::new(500, "5.5.6", "Line too long")).into())
            }
            Ok(line) => {
                conn.trace_in("****");
                let text = SecretString::from(line.text().into_owned());
                if text.expose_secret().trim() == "*" {
                    Err(AuthOutcome::Cancelled.into())
                } else {
                    Ok(text)
                }
            }
        }
    }

    /// The initial response if there was one, else the answer to `challenge`.
    async fn response(
        &mut self,
        conn: &mut Conn,
        initial: Option<SecretString>,
        challenge: &str,
    ) -> Result<SecretString, Stop> {
        match initial {
            // RFC 4954 4: "=" is an empty initial response.
            Some(i) if i.expose_secret() == "=" => Ok(SecretString::from(String::new())),
            Some(i) => Ok(i),
            None => self.challenge(conn, challenge).await,
        }
    }

    /// Reads the first response (the initial one, or the answer to the mechanism's first
    /// challenge) and runs the rest of the exchange.
    async fn exchange(
        &mut self,
        conn: &mut Conn,
        mechanism: Mechanism,
        initial: Option<SecretString>,
    ) -> Result<AuthOutcome, Stop> {
        let first = mechanism.first_challenge();
        let decoded = decode(&self.response(conn, initial, first).await?)?;
        match mechanism {
            Mechanism::Plain => Ok(self.auth_plain(decoded.expose_secret())),
            Mechanism::Login => {
                // Base64 of "Password:".
                let password = decode(&self.challenge(conn, "UGFzc3dvcmQ6").await?)?;
                Ok(self.check_password(decoded.expose_secret(), password.expose_secret()))
            }
            Mechanism::XOAuth2 => self.auth_xoauth2(conn, decoded.expose_secret()).await,
        }
    }

    fn auth_plain(&self, decoded: &str) -> AuthOutcome {
        // authzid NUL authcid NUL passwd (RFC 4616).
        let mut parts = decoded.split('\0');
        let (Some(authzid), Some(authcid), Some(password), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return malformed("PLAIN");
        };
        if !authzid.is_empty() && !authzid.eq_ignore_ascii_case(authcid) {
            return AuthOutcome::Failure;
        }
        self.check_password(authcid, password)
    }

    async fn auth_xoauth2(&mut self, conn: &mut Conn, decoded: &str) -> Result<AuthOutcome, Stop> {
        // user={user}\x01auth=Bearer {token}\x01\x01
        let parsed = decoded
            .strip_suffix("\x01\x01")
            .and_then(|s| s.split_once('\x01'))
            .and_then(|(user, auth)| {
                let user = user.strip_prefix("user=")?;
                let token = auth.strip_prefix("auth=")?;
                let token = token
                    .strip_prefix("Bearer ")
                    .or_else(|| token.strip_prefix("bearer "))?;
                Some((user, token))
            });
        let Some((user, token)) = parsed else {
            return Ok(malformed("XOAUTH2"));
        };
        if let Some(address) = self.shared.store.check_token(user, token) {
            return Ok(AuthOutcome::Success(address));
        }
        // Gmail's dance: an error challenge, an empty line from the client, then 535.
        let error = r#"{"status":"401","schemes":"Bearer","scope":"https://mail.google.com/"}"#;
        conn.send(&Reply::plain(334, vec![BASE64.encode(error)]));
        match conn.read_line().await? {
            Ok(_) => conn.trace_in("****"),
            Err(_) => conn.trace_in("[line too long]"),
        }
        Ok(AuthOutcome::Failure)
    }

    fn check_password(&self, login: &str, password: &str) -> AuthOutcome {
        match self.shared.store.check_password(login, password) {
            Some(address) => AuthOutcome::Success(address),
            None => AuthOutcome::Failure,
        }
    }
}

/// The 501 for a response that decoded but is not what `mechanism` sends.
fn malformed(mechanism: &str) -> AuthOutcome {
    AuthOutcome::Reply(Reply::new(
        501,
        "5.5.2",
        format!("Malformed {mechanism} response"),
    ))
}

/// Decodes a base64 SASL response into a secret string; bad input is a 501 5.5.2.
fn decode(encoded: &SecretString) -> Result<SecretString, AuthOutcome> {
    let bad = || AuthOutcome::Reply(Reply::new(501, "5.5.2", "Cannot decode response"));
    let bytes = BASE64
        .decode(encoded.expose_secret().trim())
        .map_err(|_| bad())?;
    String::from_utf8(bytes)
        .map(SecretString::from)
        .map_err(|_| bad())
}
