//! The integration tests, one binary: each module talks to a real embedded server over
//! real sockets (and, for `interop`, to Postfix + Dovecot when `.ci/run` started them).

mod check;
mod cleanup;
mod cli;
mod deep;
mod faults;
mod hostile;
mod imap_server;
mod interop;
mod load;
mod monitor;
mod oauth;
mod secrets;
mod smtp_server;
mod tls_config;
mod util;
mod verdicts;
mod verify;
