//! MAIL FROM: opens a transaction once the client greeted (and, off the relay port,
//! authenticated), checking the SIZE, BODY, SMTPUTF8 and AUTH parameters.

use crate::server::ListenerKind;
use crate::server::smtp::codec::{Param, Reply};
use crate::server::smtp::session::{Session, State};

impl Session {
    pub(in crate::server::smtp) fn mail(&mut self, address: String, params: &[Param]) -> Reply {
        match self.state {
            State::Greeted => return Reply::new(503, "5.5.1", "Send EHLO/HELO first"),
            State::Mail | State::Rcpt => return Reply::new(503, "5.5.1", "Nested MAIL command"),
            State::Ready => {}
        }
        if self.kind != ListenerKind::Smtp && self.authenticated.is_none() {
            return Reply::new(530, "5.7.0", "Authentication required");
        }
        for (key, value) in params {
            let value = value.as_deref();
            match key.to_ascii_uppercase().as_str() {
                "SIZE" => match value.and_then(|v| v.parse::<u64>().ok()) {
                    Some(size) if size > self.shared.config.max_message_size as u64 => {
                        return Reply::new(
                            552,
                            "5.3.4",
                            "Message size exceeds fixed maximum message size",
                        );
                    }
                    Some(_) => {}
                    None => return Reply::new(501, "5.5.4", "Bad SIZE parameter"),
                },
                "BODY" => {
                    if !value.is_some_and(|v| {
                        v.eq_ignore_ascii_case("7BIT") || v.eq_ignore_ascii_case("8BITMIME")
                    }) {
                        return Reply::new(501, "5.5.4", "Bad BODY parameter");
                    }
                }
                "SMTPUTF8" if value.is_none() => {}
                // RFC 4954 5: the AUTH parameter is accepted and ignored.
                "AUTH" => {}
                _ => return Reply::new(555, "5.5.4", format!("Unsupported parameter {key}")),
            }
        }
        self.from = address;
        self.state = State::Mail;
        Reply::new(250, "2.1.0", "Ok")
    }
}
