//! APPEND: one message or several (MULTIAPPEND, RFC 3502: all or none are stored), each
//! possibly assembled by CATENATE (RFC 4469) or sent as a literal8 (BINARY, RFC 3516).

use bytes::Bytes;

use super::{refuse_recent, store_error};
use crate::server::imap::ext::AppendMessage;
use crate::server::imap::session::Session;
use crate::server::imap::wire::uid_set;

impl Session {
    /// APPEND, one message or several (MULTIAPPEND, RFC 3502: all or none are stored), each
    /// possibly assembled by CATENATE (RFC 4469).
    pub(super) fn append(&mut self, name: &str, messages: Vec<AppendMessage>) -> String {
        let user = self.user();
        match self.shared.store.status(&user, name) {
            Ok(info) if !info.selectable => {
                return store_error(crate::server::StoreError::NotSelectable);
            }
            Ok(_) => {}
            Err(crate::server::StoreError::NoSuchMailbox) => {
                return "NO [TRYCREATE] Mailbox doesn't exist".into();
            }
            Err(e) => return store_error(e),
        }
        let limit = self.shared.config.max_message_size;
        let mut prepared = Vec::with_capacity(messages.len());
        for mut m in messages {
            if let Some(parts) = m.catenate.take() {
                match self.catenate(&parts) {
                    Ok(data) => m.data = data,
                    Err(no) => return no,
                }
            }
            if m.data.len() > limit {
                return format!("NO [TOOBIG] Message exceeds the {limit}-byte limit");
            }
            if m.flags.iter().any(|f| f.eq_ignore_ascii_case("\\Recent")) {
                return refuse_recent();
            }
            if !m.binary && m.data.contains(&0) {
                return "NO [UNKNOWN-CTE] NUL in a literal; send the message as a literal8 (~{n})"
                    .into();
            }
            let data = if m.binary {
                crate::server::imap::binary::storable(&m.data)
            } else {
                m.data
            };
            prepared.push((data, m.flags, m.date));
        }
        let mut validity = 0;
        let mut uids = Vec::with_capacity(prepared.len());
        for (data, flags, date) in prepared {
            match self
                .shared
                .store
                .append(&user, name, Bytes::from(data), flags, date)
            {
                Ok((v, uid)) => {
                    validity = v;
                    uids.push(uid);
                }
                Err(e) => return store_error(e),
            }
        }
        format!(
            "OK [APPENDUID {validity} {}] APPEND completed",
            uid_set(&uids)
        )
    }
}
