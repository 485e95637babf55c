//! `/api/v1/mailboxes`: every mailbox (user) with its folders, their roles and counts.

use hyper::StatusCode;
use serde::Serialize;

use super::super::Response;
use super::super::json;
use super::Api;

#[derive(Debug, Serialize)]
struct Folder {
    name: String,
    role: Option<crate::server::SpecialUse>,
    messages: u32,
    unseen: u32,
}

#[derive(Debug, Serialize)]
struct MailboxOut {
    address: String,
    auto_created: bool,
    messages: u32,
    unseen: u32,
    folders: Vec<Folder>,
}

impl Api {
    pub(super) fn mailboxes(&self) -> Response {
        let store = &self.shared.store;
        let mut out = Vec::new();
        for user in store.user_infos() {
            let Ok(infos) = store.list(&user.address) else {
                continue;
            };
            let folders: Vec<Folder> = infos
                .into_iter()
                .filter(|f| f.selectable)
                .map(|f| Folder {
                    name: f.name,
                    role: f.special_use,
                    messages: f.exists,
                    unseen: f.unseen,
                })
                .collect();
            out.push(MailboxOut {
                messages: folders.iter().map(|f| f.messages).sum(),
                unseen: folders.iter().map(|f| f.unseen).sum(),
                address: user.address,
                auto_created: user.auto_created,
                folders,
            });
        }
        json(StatusCode::OK, &serde_json::json!({ "mailboxes": out }))
    }
}
