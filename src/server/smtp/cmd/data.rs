//! DATA: the 354, the message through its terminator, delivery to the store, and the
//! `smtp_data_reply` fault that cuts or stalls instead of the final 250.

use crate::server::DataReply;
use crate::server::deliver::{self, Envelope};
use crate::server::smtp::codec::{DataReader, Reply};
use crate::server::smtp::conn::{Conn, End};
use crate::server::smtp::session::{Flow, Session, State};

impl Session {
    pub(in crate::server::smtp) async fn data(&mut self, conn: &mut Conn) -> Result<Flow, End> {
        let refuse = match self.state {
            State::Greeted | State::Ready => Some(Reply::new(503, "5.5.1", "Need MAIL command")),
            State::Mail => Some(Reply::new(503, "5.5.1", "No valid recipients")),
            State::Rcpt => None,
        };
        if let Some(reply) = refuse {
            return Ok(self.error(conn, reply));
        }
        conn.send(&Reply::plain(
            354,
            vec!["End data with <CR><LF>.<CR><LF>".into()],
        ));
        let mut reader = DataReader::new(self.shared.config.max_message_size);
        let reply = match conn.read_data(&mut reader).await? {
            Some(data) => {
                conn.trace_in(&format!("[message, {} bytes]", data.len()));
                let id = deliver::queue_id();
                let envelope = Envelope {
                    from: std::mem::take(&mut self.from),
                    rcpts: std::mem::take(&mut self.rcpts),
                    data,
                    authenticated: self.authenticated.clone(),
                    peer: self.peer,
                    helo: self.helo.clone(),
                    tls: conn.stream.is_tls(),
                    id: id.clone(),
                };
                deliver::deliver(&self.shared, envelope);
                if let Some(fault) = self.shared.faults().smtp_data_reply {
                    tracing::debug!(peer = %self.peer, ?fault, "fault: no reply to DATA");
                    self.shared.fault_fired("smtp_data_reply");
                    return Err(match fault {
                        DataReply::Cut => End::Closed,
                        DataReply::Stall => conn.hang().await,
                    });
                }
                Reply::new(250, "2.0.0", format!("Ok: queued as {id}"))
            }
            None => {
                conn.trace_in("[message over the size limit]");
                Reply::new(
                    552,
                    "5.3.4",
                    "Message size exceeds fixed maximum message size",
                )
            }
        };
        self.reset_transaction();
        conn.send(&reply);
        Ok(Flow::Continue)
    }
}
