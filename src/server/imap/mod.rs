//! The embedded server's IMAP side (RFC 3501 + IDLE, UIDPLUS, MOVE, SPECIAL-USE), parsing with
//! imap-codec. Layers: `session` (I/O loop, framing, state machine) → `command` (handlers)
//! → `fetch` / `search` / `sequence` / `message` (sans-I/O helpers) → the shared store.

mod command;
mod fetch;
mod message;
mod search;
mod sequence;
pub mod session;
mod wire;
