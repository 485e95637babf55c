//! The integration tests, one binary: each module talks to a real embedded server over
//! real sockets (and, for `interop`, to Postfix + Dovecot when `.ci/run` started them).

mod check;
mod cli;
mod deep;
mod hostile;
mod imap_server;
mod interop;
mod load;
mod monitor;
mod smtp_server;
mod util;
mod verify;
