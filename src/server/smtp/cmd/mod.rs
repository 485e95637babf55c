//! The SMTP command handlers, one file per verb or verb group as mini-redis keeps `cmd/`:
//! each adds methods to [`Session`](super::session::Session), which keeps the state machine
//! and dispatches to them.

mod auth;
mod data;
mod hello;
mod mail;
mod rcpt;
mod starttls;
