//! Pure, I/O-free analysis of a delivered message: how it was authenticated
//! (`Authentication-Results`), the path and timing it took (`Received`), the parsed
//! [`Message`] a wait returns, and the criteria a wait matches by.

pub mod auth_results;
pub mod extract;
pub mod filter;
pub mod hops;
pub mod mail;

pub use extract::{Extract, ExtractError};
pub use filter::{Pattern, PatternError, Seen};
pub use mail::{Anchor, Attachment, Header, Message};
