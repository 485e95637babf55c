//! The integration tests, one binary: each module talks to a real embedded server over
//! real sockets (and, for `interop`, to Postfix + Dovecot when `.ci/run` started them).

mod browser;
mod catcher;
mod catcher_cli;
mod check;
mod cleanup;
mod cli;
mod deep;
mod docs;
mod faults;
mod hostile;
mod http_api;
mod imap_conformance;
mod imap_raw;
mod imap_server;
mod interop;
mod issue13;
mod library;
mod load;
mod monitor;
mod monitor_probe;
mod nagios;
mod newcomer;
mod oauth;
mod oauth_server;
mod scenario;
mod secrets;
mod smtp_server;
mod tls13;
mod tls_config;
mod util;
mod verdicts;
mod verify;
mod watch;
