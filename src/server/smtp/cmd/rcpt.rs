//! RCPT TO: a local user (or, under the catch-all, any address, whose mailbox is made
//! here), the greylisting fault, and the recipient limit.

use crate::server::recipients::is_mailbox_address;
use crate::server::smtp::codec::{Param, Reply};
use crate::server::smtp::session::{Session, State};

const MAX_RECIPIENTS: usize = 100;

impl Session {
    pub(in crate::server::smtp) fn rcpt(&mut self, address: String, params: &[Param]) -> Reply {
        if matches!(self.state, State::Greeted | State::Ready) {
            return Reply::new(503, "5.5.1", "Need MAIL command");
        }
        if self.rcpts.len() >= MAX_RECIPIENTS {
            return Reply::new(452, "4.5.3", "Too many recipients");
        }
        if let Some((key, _)) = params.first() {
            return Reply::new(555, "5.5.4", format!("Unsupported parameter {key}"));
        }
        // The embedded server does not relay: a recipient is a local user (`user+tag@` is
        // `user@`'s), or under the catch-all any address, whose mailbox is made below.
        let store = &self.shared.store;
        let catch_all = store.auto_creates() && is_mailbox_address(&address);
        if !catch_all && store.owner(&address).is_none() {
            return Reply::new(
                550,
                "5.1.1",
                format!("<{address}>: Recipient address rejected: User unknown"),
            );
        }
        if self.shared.faults().greylist {
            let pair = (self.from.to_ascii_lowercase(), address.to_ascii_lowercase());
            let first_time = self
                .shared
                .greylist_seen
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(pair);
            if first_time {
                return Reply::new(451, "4.7.1", "Greylisted, please try again later");
            }
        }
        if self.shared.store.owner_or_create(&address).is_none() {
            // Not an address the catch-all can make a mailbox for.
            return Reply::new(
                550,
                "5.1.1",
                format!("<{address}>: Recipient address rejected: User unknown"),
            );
        }
        if !self.rcpts.iter().any(|r| r.eq_ignore_ascii_case(&address)) {
            self.rcpts.push(address);
        }
        self.state = State::Rcpt;
        Reply::new(250, "2.1.5", "Ok")
    }
}
