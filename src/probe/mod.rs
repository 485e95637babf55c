//! The round trip as a library: [`Check`] sends a tagged probe over SMTP, watches the receiving
//! mailbox over IMAP, verifies what arrived, cleans up, and returns a [`Report`] (never an error).

/// The `AsyncWrite` methods a wrapper stream hands to its `inner` field unchanged: `flush` and
/// `shutdown`, or with `all` `poll_write` too. The wrappers (`net::Sniff`, `tls::Transport`,
/// `trace::Traced`) differ only in what they do on the way through.
macro_rules! write_through_inner {
    (all) => {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            Pin::new(&mut self.inner).poll_write(cx, buf)
        }
        write_through_inner!();
    };
    () => {
        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_flush(cx)
        }
        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_shutdown(cx)
        }
    };
}

mod analysis;
pub(crate) mod backoff;
pub(crate) mod cleanup;
pub(crate) mod hook;
pub(crate) mod imap;
mod imap_words;
mod leftovers;
mod login;
pub(crate) mod message;
mod net;
mod recorder;
mod round_trip;
mod seen;
pub(crate) mod sent;
mod sign_in;
pub(crate) mod smtp;
mod sniff;
mod sweep;
mod tidy;
pub(crate) mod tls;
mod trace;
pub(crate) mod verify;
mod wait;
// The long-lived multi-tag side of the watcher serves load and monitor; without them
// (feature `client` alone) only the part `Wait` uses is live.
#[cfg_attr(not(feature = "load"), allow(dead_code))]
pub(crate) mod watch;
mod watches;

pub use message::HeaderError;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use hook::Hook;
pub use leftovers::Leftover;
pub use login::Verify;
#[cfg(feature = "monitor")]
pub(crate) use login::endpoint_certificate;
pub use message::Payload;
#[cfg(feature = "monitor")]
pub(crate) use recorder::login_refused;
pub(crate) use recorder::{Failure, Recorder};
use recorder::{auth_or, phase_rank};
pub use sweep::{Sweep, SweepReport};
pub use wait::{Armed, Wait, WaitError};

pub use crate::analyze::{
    Anchor, Attachment, Extract, ExtractError, Header, Message, Pattern, PatternError, Seen,
};

use crate::config::Account;
use watch::{Watcher, tags::One};

/// A check's watch of one folder.
type CheckWatch = Watcher<One>;
use crate::report::{ErrorReport, Evidence, Phase, Report, SCHEMA, Verdict};

/// A progress callback, called when a phase starts.
type Progress = Hook<dyn Fn(Phase) + Send + Sync>;

/// How long cleanup may take after the verdict, whatever the delivery timeout.
const CLEANUP_BUDGET: Duration = Duration::from_secs(30);

/// One end-to-end check: send a probe from one account to another (or itself) and report.
///
/// ```no_run
/// use std::time::Duration;
/// use mailtrip::server::{ServerConfig, TestServer};
/// use mailtrip::report::Verdict;
/// use mailtrip::{Account, Check};
///
/// #[tokio::test]
/// async fn mail_makes_the_round_trip() {
///     let server = TestServer::start(
///         ServerConfig::default()
///             .with_user("alice@mailtrip.test", "pw-a")
///             .with_user("bob@mailtrip.test", "pw-b"),
///     )
///     .await
///     .expect("server starts");
///     let alice = Account::embedded(&server, "alice@mailtrip.test", "pw-a");
///     let bob = Account::embedded(&server, "bob@mailtrip.test", "pw-b");
///
///     let report = Check::new(alice, bob)
///         .timeout(Duration::from_secs(10))
///         .run()
///         .await;
///     assert_eq!(report.verdict, Verdict::Delivered, "{report:#?}");
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Check {
    from: Account,
    to: Account,
    timeout: Duration,
    keep: bool,
    run_id: Option<String>,
    progress: Option<Progress>,
    headers: Vec<(String, String)>,
    payload: Payload,
    alias_of: Option<String>,
}

impl Check {
    /// A check sending from `from` to `to` (which may be the same account).
    pub fn new(from: Account, to: Account) -> Check {
        Check {
            from,
            to,
            timeout: Duration::from_secs(60),
            keep: false,
            run_id: None,
            progress: None,
            headers: Vec::new(),
            payload: Payload::Plain,
            alias_of: None,
        }
    }

    /// Says that `to`'s address is an alias delivered into the mailbox of `mailbox` (the
    /// watched account's login): reports name both, and a timeout says that the probe may sit
    /// in a separate mailbox of that address instead of claiming it was not delivered.
    pub fn alias_of(mut self, mailbox: impl Into<String>) -> Check {
        self.alias_of = Some(mailbox.into());
        self
    }

    setters! { Check;
        /// What the probe carries (default [`Payload::Plain`]); [`Payload::Rich`] also checks
        /// HTML, an RFC 2047 subject, an attachment and long lines.
        payload(payload: Payload);

        /// How long to wait for delivery after the SMTP server accepted the probe (default 60 s).
        /// Also caps every connect and command wait.
        timeout(timeout: Duration);

        /// Leave the probe in the mailbox instead of deleting it.
        keep(keep: bool);
    }

    /// Sets the run id written to `X-Mailtrip-Run` (default: a fresh UUID v7).
    pub fn run_id(mut self, run_id: impl Into<String>) -> Check {
        self.run_id = Some(run_id.into());
        self
    }

    /// Adds a header to the probe, e.g. a marker a test server's spam rule files into Junk.
    /// Refuses names that are not RFC 5322 field names, values with CR, LF or non-ASCII
    /// characters, and the headers the probe sets itself.
    pub fn header(mut self, name: &str, value: &str) -> Result<Check, HeaderError> {
        message::check_header(name, value)?;
        self.headers.push((name.to_string(), value.to_string()));
        Ok(self)
    }

    /// Called with each phase as it starts (for a spinner).
    pub fn on_progress(mut self, f: impl Fn(Phase) + Send + Sync + 'static) -> Check {
        self.progress = Some(Hook(Arc::new(f)));
        self
    }

    /// Runs the check. Never panics on server input and never fails: failures are in the
    /// report's verdict and `error`.
    pub async fn run(self) -> Report {
        let started = Instant::now();
        let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let tag = uuid::Uuid::now_v7().to_string();
        let run_id = self
            .run_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        let mut report = Report {
            schema: SCHEMA,
            verdict: Verdict::Error,
            placement: None,
            probe_id: tag.clone(),
            run_id: run_id.clone(),
            from: self.from.address.clone(),
            to: self.to.address.clone(),
            alias_of: self.alias_of.clone(),
            smtp: self.from.smtp.to_string(),
            imap: self.to.imap.to_string(),
            embedded: false,
            started_at,
            total_ms: 0.0,
            phases: Vec::new(),
            error: None,
            evidence: Evidence::default(),
            timeline: None,
            auth: None,
            warnings: Vec::new(),
            tls_verified: !(self.from.tls.insecure_skip_verify || self.to.tls.insecure_skip_verify),
        };
        if !report.tls_verified {
            report.warnings.push(crate::report::INSECURE_WARNING.into());
        }
        let mut rec = Recorder::new(self.progress.clone());
        let outcome = self.round_trip(&mut rec, &mut report, &tag, &run_id).await;
        match outcome {
            Ok(verdict) => report.verdict = verdict,
            Err((verdict, failure)) => {
                report.verdict = verdict;
                report.error = Some(ErrorReport {
                    phase: failure.phase,
                    diagnosis: failure.diagnosis,
                });
            }
        }
        let mut phases = rec.phases;
        phases.sort_by_key(|p| phase_rank(p.name));
        report.phases = phases;
        report.total_ms = started.elapsed().as_secs_f64() * 1000.0;
        report
    }
}

/// Verifies arbitrary bytes against a fixed probe (for `crate::fuzz`); true when it matches.
#[doc(hidden)]
pub fn fuzz_verify(raw: &[u8]) -> bool {
    static PROBE: std::sync::OnceLock<Option<message::Probe>> = std::sync::OnceLock::new();
    let probe = PROBE.get_or_init(|| {
        message::build_with(
            "a@mailtrip.test",
            "b@mailtrip.test",
            "01900000-0000-7000-8000-000000000000",
            "run",
            message::Payload::Plain,
            None,
            &[],
        )
        .ok()
    });
    match probe {
        Some(p) => verify::verify(raw, p).problem.is_none(),
        None => false,
    }
}
