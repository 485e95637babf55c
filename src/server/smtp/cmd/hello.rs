//! EHLO and HELO: the greeting that moves a session to Ready (an implicit RSET mid-session)
//! and the EHLO keyword list, which offers STARTTLS and AUTH only where policy allows.

use crate::server::ListenerKind;
use crate::server::smtp::codec::Reply;
use crate::server::smtp::session::Session;

impl Session {
    pub(in crate::server::smtp) fn greeted(&mut self, name: String) {
        self.helo = name;
        // RFC 5321 4.1.4: EHLO/HELO mid-session is an implicit RSET.
        self.reset_transaction();
    }

    /// AUTH is offered once TLS protects it, and in the clear only on the relay port
    /// (whose clients are loopback tests); never on submission before STARTTLS.
    pub(in crate::server::smtp) fn auth_offered(&self, tls: bool) -> bool {
        (tls || self.kind == ListenerKind::Smtp) && !self.shared.faults().smtp_no_auth
    }

    pub(in crate::server::smtp) fn ehlo_reply(&self, tls: bool) -> Reply {
        let mut lines = vec![
            format!("{} Hello {}", self.hostname(), self.helo),
            format!("SIZE {}", self.shared.config.max_message_size),
            "PIPELINING".into(),
            "8BITMIME".into(),
            "ENHANCEDSTATUSCODES".into(),
            "SMTPUTF8".into(),
        ];
        if !tls && matches!(self.kind, ListenerKind::Smtp | ListenerKind::Submission) {
            lines.push("STARTTLS".into());
        }
        if self.auth_offered(tls) {
            lines.push("AUTH PLAIN LOGIN XOAUTH2".into());
        }
        Reply::plain(250, lines)
    }
}
