//! The embedded server's SMTP side over real sockets, one file per topic: independent
//! clients (lettre, curl, Python's smtplib), raw conversations that pin exact replies,
//! listener policy (STARTTLS, AUTH) and injected faults.

mod clients;
mod conversation;
mod faults;
mod policy;
