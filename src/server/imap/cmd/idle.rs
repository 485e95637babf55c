//! IDLE (RFC 2177): `+ idling`, then untagged updates as the shared store changes, until the
//! client sends DONE (or the server shuts down, the idle timeout passes, or a fault cuts it).

use std::io;

use imap_codec::IdleDoneCodec;
use tokio::sync::watch;

use crate::server::imap::framing::{Conn, IDLE_TIMEOUT, Step};
use crate::server::imap::session::{Flow, Session};
use crate::server::imap::wire;
use crate::server::until_shutdown;

impl Session {
    /// IDLE (RFC 2177): `+ idling`, then untagged updates as the store changes, until DONE.
    pub(in crate::server::imap) async fn idle(
        &mut self,
        conn: &mut Conn,
        shutdown: &mut watch::Receiver<bool>,
        tag: &str,
    ) -> io::Result<Flow> {
        let mut changes = self.shared.store.subscribe();
        self.out.extend_from_slice(b"+ idling\r\n");
        let mut store_alive = true;
        let shared = self.shared.clone();
        let _idling = shared.idle_guard();
        let mut started = false;
        // The `imap_idle_delay` fault: changes are told only this long after the first one.
        let delay = shared.faults().imap_idle_delay;
        let mut due: Option<tokio::time::Instant> = None;
        loop {
            if !started || delay.is_none() || due.is_some_and(|d| tokio::time::Instant::now() >= d)
            {
                self.refresh(true);
                due = None;
            }
            if started
                && !self.out.is_empty()
                && shared.consume_fault(|f| crate::server::take_count(&mut f.imap_drop_on_news))
            {
                shared.fault_fired("imap_drop_on_news");
                self.out.clear();
                return Ok(Flow::Close);
            }
            started = true;
            conn.send(&mut self.out).await?;
            if self.closing {
                // The selected mailbox went away; BYE is on its way.
                return Ok(Flow::Close);
            }
            match conn.step() {
                Some(Step::Message) => {
                    tracing::debug!(peer = %conn.peer, "<< {}", wire::trace_client(conn.frag.message_bytes()));
                    match conn.frag.decode_message(&IdleDoneCodec::default()) {
                        Ok(_) => self.tagged(tag, "OK IDLE terminated"),
                        Err(_) => self.tagged(tag, "BAD Expected DONE"),
                    }
                    return Ok(Flow::Continue);
                }
                Some(Step::LiteralOk) | Some(Step::LiteralTooBig { .. }) => {
                    self.tagged(tag, "BAD Expected DONE");
                    return Ok(Flow::Close);
                }
                Some(Step::LineTooLong) => {
                    self.untagged("BAD Line too long");
                    return Ok(Flow::Close);
                }
                None => {}
            }
            tokio::select! {
                r = changes.changed(), if store_alive => {
                    store_alive = r.is_ok();
                    if let Some(d) = delay {
                        due.get_or_insert(tokio::time::Instant::now() + d);
                    }
                }
                _ = tokio::time::sleep_until(due.unwrap_or_else(tokio::time::Instant::now)), if due.is_some() => {}
                _ = until_shutdown(shutdown) => {
                    self.untagged("BYE Server shutting down");
                    return Ok(Flow::Close);
                }
                r = tokio::time::timeout(IDLE_TIMEOUT, conn.fill()) => match r {
                    Err(_) => {
                        self.untagged("BYE Autologout; idle for too long");
                        return Ok(Flow::Close);
                    }
                    Ok(Ok(0)) | Ok(Err(_)) => return Ok(Flow::Close),
                    Ok(Ok(_)) => {}
                },
            }
        }
    }
}
