//! The embedded server's IMAP side (IMAP4rev1 with the extensions `Session::capabilities`
//! lists), parsing with imap-codec plus `ext` for what it does not read. Layers: `framing`
//! (bytes → messages) → `session` (the state machine and command loop) → `cmd/` (one handler
//! file per command group) and `view` (the selected mailbox as the client knows it) →
//! sans-I/O helpers (`fetch`, `mime`, `bodystructure`, `envelope`, `address`, `binary`,
//! `decode`, `search`, `sort`, `thread`, `gmail`, `sequence`, `message`, `wire`) → the store.

mod address;
mod args;
mod binary;
mod bodystructure;
mod catenate;
mod cmd;
mod decode;
mod envelope;
mod ext;
mod fetch;
mod framing;
mod gmail;
mod message;
mod mime;
mod search;
mod sequence;
pub mod session;
mod sort;
mod thread;
mod view;
mod wire;
