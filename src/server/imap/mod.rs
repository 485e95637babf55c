//! The embedded server's IMAP side (IMAP4rev1 with the extensions `Session::capabilities`
//! lists), parsing with imap-codec plus `ext` for what it does not read. Layers: `session`
//! (I/O loop, framing, state machine) → `command` / `mailboxes` / `view` / `query`
//! (handlers) → sans-I/O helpers (`fetch`, `mime`, `bodystructure`, `envelope`, `address`,
//! `binary`, `decode`, `search`, `sort`, `thread`, `gmail`, `sequence`, `message`, `wire`) → the
//! shared store.

mod address;
mod args;
mod binary;
mod bodystructure;
mod catenate;
mod command;
mod decode;
mod envelope;
mod ext;
mod fetch;
mod gmail;
mod mailboxes;
mod message;
mod mime;
mod query;
mod search;
mod sequence;
pub mod session;
mod sort;
mod thread;
mod view;
mod wire;
