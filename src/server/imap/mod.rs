//! The embedded server's IMAP side (RFC 3501 + IDLE, UIDPLUS, MOVE, SPECIAL-USE), parsing with
//! imap-codec.

pub mod session;
