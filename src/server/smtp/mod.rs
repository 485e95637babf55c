//! The embedded server's SMTP side (RFC 5321): a sans-I/O codec and the session state machine.

pub mod codec;
pub mod session;
