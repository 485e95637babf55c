//! The embedded server's SMTP side (RFC 5321): a sans-I/O codec, the connection's I/O half,
//! the session state machine, and one handler file per command group.

mod cmd;
pub mod codec;
mod conn;
pub mod session;
