//! STARTTLS (RFC 3207): the 220, the handshake, and forgetting everything learned before TLS,
//! pipelined bytes included (CVE-2011-0411).

use std::time::Duration;

use crate::server::ListenerKind;
use crate::server::smtp::codec::Reply;
use crate::server::smtp::conn::{Conn, End};
use crate::server::smtp::session::{Flow, Session, State};

const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

impl Session {
    pub(in crate::server::smtp) async fn starttls(&mut self, conn: &mut Conn) -> Result<Flow, End> {
        if conn.stream.is_tls() {
            return Ok(self.error(conn, Reply::new(503, "5.5.1", "TLS already active")));
        }
        if !matches!(self.kind, ListenerKind::Smtp | ListenerKind::Submission) {
            return Ok(self.error(conn, Reply::new(502, "5.5.1", "STARTTLS not offered")));
        }
        conn.send(&Reply::new(220, "2.0.0", "Ready to start TLS"));
        conn.flush().await?;
        if self.shared.faults().starttls_stall {
            tracing::debug!(peer = %self.peer, "fault: stalling the STARTTLS handshake");
            self.shared.fault_fired("starttls_stall");
            return Err(conn.hang().await);
        }
        // RFC 3207 5 / CVE-2011-0411: anything pipelined after STARTTLS was sent in the
        // clear and must not be executed inside the TLS session.
        if !conn.rbuf.is_empty() {
            tracing::debug!(
                peer = %self.peer,
                bytes = conn.rbuf.len(),
                "discarding input pipelined after STARTTLS"
            );
            conn.rbuf.clear();
        }
        conn.skipping = false;
        let handshake = conn.stream.upgrade(self.shared.tls.acceptor());
        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, handshake).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::debug!(peer = %self.peer, error = %e, "STARTTLS handshake failed");
                return Err(End::Closed);
            }
            Err(_) => {
                tracing::debug!(peer = %self.peer, "STARTTLS handshake timed out");
                return Err(End::Closed);
            }
        }
        // RFC 3207 4.2: forget everything learned before TLS.
        self.state = State::Greeted;
        self.helo.clear();
        self.authenticated = None;
        self.from.clear();
        self.rcpts.clear();
        Ok(Flow::Continue)
    }
}
