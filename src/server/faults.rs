//! [`Faults`]: what the embedded server can be told to do wrong (delays, drops, hangs,
//! rejections, mangled mail, Gmail's refusals), as plain Rust values a test sets at run
//! time; `fault_spec` is the same as text for files, flags and the HTTP API.

use std::time::Duration;

use super::oauth;

/// Faults to inject; change them at run time with [`TestServer::set_faults`](super::TestServer::set_faults).
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Delay between SMTP acceptance and the message appearing in the mailbox: (min, max).
    pub delivery_delay: Option<(Duration, Duration)>,
    /// Messages whose header section contains this text (case-insensitive) go to \Junk.
    pub junk_rule: Option<String>,
    /// Answer `451 4.7.1` to the first RCPT of each new (sender, recipient) pair.
    pub greylist: bool,
    /// Close the SMTP connection after this many commands.
    pub smtp_drop_after: Option<usize>,
    /// Close the IMAP connection after this many commands.
    pub imap_drop_after: Option<usize>,
    /// Never answer this SMTP verb (e.g. `DATA`, `EHLO`, or `GREETING` for the banner).
    pub smtp_hang_on: Option<String>,
    /// Never answer this IMAP command (e.g. `IDLE`, `FETCH`, `LOGIN`, or `GREETING`).
    pub imap_hang_on: Option<String>,
    /// Store every delivered message twice.
    pub deliver_twice: bool,
    /// Append this text to the end of every delivered body (content mangling).
    pub append_footer: Option<String>,
    /// Reject SMTP AUTH with this reply (lines separated by `\n`, each with its code).
    pub smtp_auth_reject: Option<String>,
    /// Reject IMAP LOGIN / AUTHENTICATE with this tagged reply (e.g. `NO [ALERT] ...`).
    pub imap_auth_reject: Option<String>,
    /// Refuse IMAP connections beyond this many at once.
    pub max_imap_connections: Option<usize>,
    /// Silently drop this percentage (0-100) of deliveries after accepting them.
    pub drop_percent: u8,
    /// Messages whose header section contains this text (case-insensitive) are filed in the
    /// `\Archive` (or `\All`) folder instead of INBOX, as a user's filter would.
    pub archive_rule: Option<String>,
    /// Instead of delivering, send the sender an RFC 3464 bounce (a `multipart/report` DSN in
    /// the sender's INBOX) quoting this SMTP reply, e.g. `550 5.1.1 <bob@x>: User unknown`.
    pub bounce: Option<String>,
    /// Remove every MIME part with `Content-Disposition: attachment` (a stripping gateway).
    pub strip_attachments: bool,
    /// Hard-wrap body lines longer than this many bytes (a rewrapping gateway or client).
    pub rewrap_lines: Option<usize>,
    /// Prepend `Authentication-Results: <this>` on delivery, as the receiving MTA would.
    pub authentication_results: Option<String>,
    /// Leave IDLE out of CAPABILITY, so clients fall back to polling (benchmarks compare both).
    pub imap_no_idle: bool,
    /// Answer COPY and MOVE without the COPYUID response code, as a server may that offers
    /// UIDPLUS but only for APPEND: a client then has to find the moved messages itself.
    pub imap_no_copyuid: bool,
    /// Tell IDLE clients about a change only this long after it, as Dovecot does
    /// (`NOTIFY_DELAY_MSECS`, 500 ms) and Gmail and Exchange do in their own ways; any other
    /// command still sees the change at once.
    pub imap_idle_delay: Option<Duration>,
    /// A selected mailbox learns of newly delivered messages only at NOOP, CHECK, IDLE and
    /// SELECT (a full sync), as Dovecot does with maildir: FETCH, SEARCH and every other
    /// command answer from the session's last view and say no `EXISTS` (legal: RFC 3501
    /// §5.2 lets a server observe changes when it likes). Expunges and flags still show.
    pub imap_sync_on_noop: bool,
    /// Answer the IMAP command after this many with `* BYE` and close (a server restart).
    pub imap_bye_after: Option<usize>,
    /// Like `imap_hang_on`, but only for the first such command server-wide; the fault then
    /// clears itself, so a client that times out and reconnects gets answers.
    pub imap_hang_once_on: Option<String>,
    /// While a client IDLEs, close its connection instead of reporting new mail, this many
    /// times server-wide: the message lands in the gap the client's reconnect must cover.
    pub imap_drop_on_news: Option<usize>,
    /// Answer SMTP `verb` with `reply` (lines separated by `\n`, each with its code) the next
    /// `times` times server-wide, e.g. `("RCPT", "452 4.2.2 Mailbox full", 1)`. A `421`
    /// reply also closes the connection, as RFC 5321 asks.
    pub smtp_transient: Option<(String, String, usize)>,
    /// Write every reply one byte at a time with this pause between bytes (SMTP and IMAP).
    pub slow_drip: Option<Duration>,
    /// Implicit-TLS listeners (SMTPS, IMAPS) accept TCP and never answer the ClientHello.
    pub tls_stall: bool,
    /// Before delivering a message, file one in the recipient's INBOX that quotes it in this
    /// style; the original follows as usual (add `drop_percent: 100` to deliver only the quote).
    pub quote: Option<Quote>,
    /// Remove every top-level header with this name (case-insensitive) on delivery, as a
    /// gateway that strips `X-Mailtrip-Probe` would.
    pub strip_header: Option<String>,
    /// After the end of DATA: deliver the message, then cut the connection or fall silent
    /// instead of sending the `250` (the reply is lost; the mail is not).
    pub smtp_data_reply: Option<DataReply>,
    /// Answer `STARTTLS` with `220`, then never take part in the TLS handshake.
    pub starttls_stall: bool,
    /// Advertise no AUTH at all, before or after STARTTLS (an MX or relay-only port).
    pub smtp_no_auth: bool,
    /// Before carrying out a `UID EXPUNGE`, expunge this many other messages of the mailbox
    /// (lowest UIDs first), as concurrent sessions would: their `EXPUNGE` responses arrive in
    /// the same reply as the client's own (consumed once).
    pub imap_foreign_expunge: Option<usize>,
    /// The OAuth2 authorization server's faults and overridden settings (`oauth2_*` keys).
    pub oauth2: oauth::OAuthFaults,
}

/// What the `smtp_data_reply` fault does instead of answering the end of DATA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataReply {
    /// Close the connection without a word.
    Cut,
    /// Keep the connection open and say nothing more.
    Stall,
}

/// How the `quote` fault quotes a delivered message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quote {
    /// A vacation auto-reply with the original quoted line by line (`> X-Mailtrip-Probe: ...`).
    AutoReply,
    /// A forward with the original attached verbatim as `message/rfc822`.
    ForwardAttached,
    /// An inline forward: the original's headers and body pasted into the text.
    ForwardInline,
}
