//! mailtrip proves email really works: it sends a uniquely tagged probe over SMTP, watches the
//! receiving mailbox over IMAP, and reports with timings and evidence where the mail landed
//! and, if it did not arrive, in which phase it failed and why.
//!
//! # Layout
//!
//! | module | owns |
//! |---|---|
//! | [`config`] | accounts, endpoint URLs (TLS mode in the scheme), secret sources, the TOML file, precedence (`resolve`; `account` builds one, `credential` picks its one secret); `validate`: addresses, logins and which mailbox a `--to` reaches, before anything connects |
//! | [`providers`] | provider presets (hosts, ports, TLS modes, app-password pages, quirks); `providers::oauth2`: each provider's OAuth2 grant, endpoints and scopes |
//! | [`oauth`] | `mailtrip login`: the device and PKCE grants (the `oauth2` crate over a small HTTPS client), the 0600 token file, [`oauth::TokenSource`] that refreshes before expiry |
//! | [`probe`] | the round trip: [`Check`] and its builder in `mod.rs`, the run's orchestration in `round_trip`, post-verdict cleanup in `tidy`, phase timing and report assembly in `recorder`; message (tagging) → smtp (send: `smtp/connect` connects, upgrades and authenticates; `smtp/mod` submits, retries and reads the outcome) → watch (the one mailbox watcher `check`, `wait`, `load` and `monitor` share: early-poll schedule after a send, IDLE or polling, reconnects; `watch/open`: a mailbox's folders and watermarks, the spare folders opened on demand; `watch/schedule`: the early looks; `watch/tags`: one probe or a table of many) → verify (parse) → cleanup (delete exactly the probe's UIDs; `Ours` says which messages are this run's, `Bin` how the mailbox deletes); `imap`: folders, fetch, liveness (`imap/handshake`: connect, login, CAPABILITY; `imap_words`: the server's words out of async-imap's errors); `watches`: a check's folders, opened alongside the SMTP side and raced; `backoff`: every reconnect and retry pause (doubling, jitter, deadline); `login`: [`Verify`], connect + TLS + auth only (`login/smtp_steps`, `login/imap_steps`, `login/certificate`); [`Wait`] for mail something else sends (criteria and builder in `wait/mod`, arming and the run in `wait/armed`); `Sweep` of leftover probes; `sent`: the copies a server files in the sender's `\Sent` (check's and load's), noted before sending and deleted after; `net`: connections and what a failed handshake means; `tls`: the streams lettre runs over for our own STARTTLS; `seen` / `sniff`: what a connection received and what a strange port is, for diagnoses; `leftovers`: earlier runs' probes, found and judged; `analysis`: hop timeline and authentication results of a fetched copy; `sign_in`: the secret or OAuth2 token a login sends; `hook`: a caller's callback kept by a builder (`Debug` shows `<callback>`); `trace`: redacted wire traces |
//! | [`load`] | many probes at once: a pool of SMTP connections (pipelined where offered), one `probe::watch` watcher per folder matching every tag (kicked by each accepted probe), HDR latency percentiles, bulk cleanup |
//! | [`monitor`] | the long-running exporter: routes probed on an interval (or per scrape of `/probe?route=NAME`, blackbox-style) over kept SMTP and IMAP connections (`probe::watch` in settle mode), OpenMetrics on `/metrics`, each route's last outcome on `/readyz`, certificate expiry |
//! | [`analyze`] | pure reading of a delivered message: Authentication-Results, Received hop timeline, the parsed [`Message`](analyze::Message) a wait returns, `Extract`, the criteria a wait matches by |
//! | `http1` | hyper's HTTP/1 server as the embedded server's HTTP API and the monitor both run it: accepting without spinning on EMFILE, a connection served until stop, then a second to finish |
//! | `streams` | an enum of streams (plain, TLS, in-memory) read and written through the variant it holds: the client's socket under async-imap and the server's connection |
//! | `tls` | client TLS over OpenSSL for every client connection (SMTP, IMAP, the OAuth2 token endpoints): trust roots found once per process and read lazily, one context per set of options, the handshake |
//! | [`diagnose`] | replies and transport failures → stable codes with hints; `rules`: the table as data (a provider's own words, then causes, then codes), `transport`: failures with no reply (DNS, TCP, TLS, a port speaking HTTP) |
//! | [`report`] | plain data: Report, phase timings, Verdict; `report::verify`: VerifyReport (Serialize, no I/O) |
//! | `render` (hidden; the binary's) | output formats over a Report (human, json, junit, nagios, prometheus; docs/formats.md), the Monitoring Plugins threshold ranges (`nagios_range`), `text`: escaping what servers sent before it reaches a terminal, and atomic `--output` writes; `println!` lives only here and in `main` |
//! | `cli` (hidden; the binary's) | clap definitions and one function per subcommand |
//! | [`server`] | the embedded loopback SMTP + IMAP server on its own runtime (`test_server`, `config`, `faults`, `listeners`): codec → session (the state machine and dispatch; one handler file per command group in `smtp/cmd`, `imap/cmd`) → shared store (`store/`: `users`, `mailboxes`, `messages`); `wait_for` reads what it caught, parsed; `recipients` (catch-all), `fault_spec` (faults as data), `http` (one port, HTTPS as an option: JSON API under `/api/v1/`, one file per resource in `http/api`, web view, auth, and `/oauth2/`); `oauth`: its OAuth2 authorization server for offline sign-in tests |
//!
//! # Features
//!
//! Everything is on by default (`cli`). Off that, `server` gives [`server`] (and
//! [`analyze`]); `client` gives [`probe`], [`config`], [`report`], [`diagnose`], [`oauth`],
//! [`providers`] and [`analyze`]; `load` adds [`load`], `monitor` adds [`monitor`]; `cli` adds
//! the binary's `cli` and `render`. A server-only dev-dependency:
//! `mailtrip = { version = "0.1", default-features = false, features = ["server"] }`.
//!
//! # Example
//!
//! ```no_run
//! use mailtrip::{Account, Check, server::{ServerConfig, TestServer}};
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! let server = TestServer::start(
//!     ServerConfig::default().with_user("a@test.local", "pw").with_user("b@test.local", "pw"),
//! ).await?;
//! let report = Check::new(
//!     Account::embedded(&server, "a@test.local", "pw"),
//!     Account::embedded(&server, "b@test.local", "pw"),
//! ).run().await;
//! assert!(report.verdict.is_delivered());
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

/// Builder setters that only store their argument in the field of the same name:
/// `setters! { Load; /// doc \n timeout(t: Duration); }` is
/// `/// doc \n pub fn timeout(mut self, t: Duration) -> Load { self.timeout = t; self }`.
/// Each keeps its own attributes (rustdoc, `#[doc(hidden)]`). A setter that does anything
/// more (wraps in `Some`, converts, clamps, keeps a callback) is written out, so the ones
/// that are written out are the ones to read. Defined here, at the root, so every floor
/// (`server` up to `monitor`) may use it.
#[cfg(any(feature = "server", feature = "client"))]
macro_rules! setters {
    ($ty:ty; $($(#[$m:meta])* $name:ident($arg:ident: $t:ty);)*) => {
        $($(#[$m])* pub fn $name(mut self, $arg: $t) -> $ty { self.$name = $arg; self })*
    };
}

#[cfg(any(feature = "server", feature = "client"))]
pub mod analyze;
// The binary's own code; public only so src/main.rs and the integration tests reach it.
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod cli;
#[cfg(feature = "client")]
pub mod config;
#[cfg(feature = "client")]
pub mod diagnose;
#[cfg(all(feature = "server", feature = "client"))]
#[doc(hidden)]
pub mod fuzz;
// hyper's HTTP/1 server as the embedded server's API and the monitor both run it.
#[cfg(any(feature = "server", feature = "monitor"))]
pub(crate) mod http1;
#[cfg(feature = "load")]
pub mod load;
#[cfg(feature = "monitor")]
pub mod monitor;
#[cfg(feature = "client")]
pub mod oauth;
#[cfg(feature = "client")]
pub mod probe;
#[cfg(feature = "client")]
pub mod providers;
// The binary's output formats; public only for src/main.rs (through cli) and the tests.
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod render;
#[cfg(feature = "client")]
pub mod report;
#[cfg(feature = "server")]
pub mod server;
// An enum of streams read and written through the variant it holds (client and server).
#[cfg(any(feature = "server", feature = "client"))]
pub(crate) mod streams;
#[cfg(feature = "client")]
pub(crate) mod tls;

#[cfg(feature = "client")]
pub use config::{Account, Endpoint};
#[cfg(feature = "load")]
pub use load::Load;
#[cfg(feature = "monitor")]
pub use monitor::Monitor;
#[cfg(feature = "client")]
pub use probe::{Check, Verify, Wait};
#[cfg(feature = "client")]
pub use report::Report;

/// The `chrono` mailtrip's API speaks (`StoredMessage::internal_date`, `Leftover::age`,
/// `Wait::since` also takes a `SystemTime`), so a caller need not match its version.
#[cfg(any(feature = "server", feature = "client"))]
pub use chrono;
/// The `regex` whose compiled patterns `Wait::subject` and `Wait::header` also take (a `&str`
/// is compiled for you).
#[cfg(any(feature = "server", feature = "client"))]
pub use regex;
