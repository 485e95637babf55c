//! mailtrip proves email really works: it sends a uniquely tagged probe over SMTP, watches the
//! receiving mailbox over IMAP, and reports with timings and evidence where the mail landed.

pub mod diagnose;
pub mod providers;
