//! mailtrip proves email really works: it sends a uniquely tagged probe over SMTP, watches the
//! receiving mailbox over IMAP, and reports with timings and evidence where the mail landed.
//!
//! # Layout
//! - [`probe`]: the round trip ([`Check`]): build, send, watch, verify, clean up.
//! - [`config`]: accounts and endpoint URLs.
//! - [`report`]: the result as plain data.
//! - [`diagnose`]: server replies and transport failures → stable codes and hints.
//! - [`providers`]: provider presets (Gmail, ...).
//! - [`server`]: the embedded SMTP + IMAP test server.

pub mod config;
pub mod diagnose;
pub mod probe;
pub mod providers;
pub mod report;
pub mod server;

pub use config::{Account, Endpoint};
pub use probe::Check;
pub use report::Report;
