//! What a load run found, as plain data (Serialize, no I/O): counts that add up, the delivery
//! latency distribution, send failures by diagnosis, cleanup, and the harness's own cost.

use serde::Serialize;

use crate::diagnose::Code;
use crate::report::SeenBy;

/// JSON schema tag of [`LoadReport`].
pub const LOAD_SCHEMA: &str = "mailtrip.load/1";

/// The result of [`super::Load::run`].
///
/// Counts add up: `attempted = sent + send_failed` and `sent = delivered + lost`. A probe seen
/// after its deadline stays `lost` and is counted in `late` too (and still cleaned up).
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// Version of this JSON layout (docs/json.md).
    pub schema: &'static str,
    /// This run's id, in every probe's `X-Mailtrip-Run`.
    pub run_id: String,
    /// RFC 3339 start time.
    pub started_at: String,
    /// Sender address.
    pub from: String,
    /// Recipient addresses.
    pub to: Vec<String>,
    /// SMTP endpoint URL.
    pub smtp: String,
    /// IMAP endpoint URLs watched.
    pub imap: Vec<String>,
    /// Ran against the embedded server started for this run.
    pub embedded: bool,
    /// What the run was asked to do.
    pub settings: Settings,
    /// Every watcher used IDLE (false: at least one polled).
    pub idle: bool,
    /// Probes handed to SMTP.
    pub attempted: u64,
    /// Probes the SMTP server accepted (250 after DATA).
    pub sent: u64,
    /// Accepted probes seen in a watched folder before their deadline.
    pub delivered: u64,
    /// Accepted probes not seen before their deadline.
    pub lost: u64,
    /// Lost probes that turned up after their deadline (before the run ended).
    pub late: u64,
    /// Extra copies: a probe seen N times counts N - 1.
    pub duplicated: u64,
    /// Delivered probes found in the spam folder instead of INBOX (included in `delivered`).
    pub misplaced: u64,
    /// Probes the SMTP server refused or that failed in transit.
    pub send_failed: u64,
    /// `send_failed` by diagnosis code, most frequent first, with one example each.
    pub send_failures: Vec<FailureCount>,
    /// From the first send to the last probe's verdict (setup and cleanup excluded).
    pub elapsed_ms: f64,
    /// Delivered round trips per second over `elapsed_ms`.
    pub throughput_per_sec: f64,
    /// Delivery latency: DATA body handed to the server → the watcher matched the tag.
    pub latency_ms: Latency,
    /// Delivered probes by what made the watcher look when it first saw them.
    pub seen_by: SeenByCounts,
    /// What cleanup removed.
    pub cleanup: Cleanup,
    /// Tags of lost probes (at most 100), to look for in logs.
    pub lost_probes: Vec<String>,
    /// CPU and memory of this process (Linux; includes the embedded server when `embedded`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub harness: Option<Harness>,
    /// Things worth knowing that did not stop the run.
    pub warnings: Vec<String>,
    /// Sends, arrivals and losses over time, when [`super::Load::timeline`] asked for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline: Option<super::Timeline>,
}

/// Delivered probes by what made the watcher look: the early-poll schedule after the send,
/// the server's notice (IDLE), the steady poll without IDLE, or the first look on a fresh
/// connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SeenByCounts {
    /// Found by a poll of the early schedule.
    pub early_poll: u64,
    /// Found on the server's own notice (IDLE or an unasked EXISTS).
    pub idle: u64,
    /// Found by the steady poll.
    pub poll: u64,
    /// Already there on a fresh connection's first look.
    pub first_look: u64,
}

impl SeenByCounts {
    pub(crate) fn count(&mut self, by: SeenBy) {
        let n = match by {
            SeenBy::EarlyPoll => &mut self.early_poll,
            SeenBy::Idle => &mut self.idle,
            SeenBy::Poll => &mut self.poll,
            SeenBy::FirstLook => &mut self.first_look,
        };
        *n += 1;
    }
}

/// What the run was asked to do.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Probe limit (`None`: until `duration_s`).
    pub probes: Option<u64>,
    /// Probes in flight at once.
    pub concurrency: usize,
    /// SMTP connections in the pool.
    pub smtp_connections: usize,
    /// Sending rate limit in probes per second (`None`: as fast as the window allows).
    pub rate_per_sec: Option<f64>,
    /// Time limit in seconds (`None`: until `probes`).
    pub duration_s: Option<f64>,
    /// Per-probe delivery deadline.
    pub timeout_s: f64,
}

/// Percentiles from an HDR histogram (microsecond resolution, 3 significant digits).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Latency {
    /// How many round trips were measured.
    pub count: u64,
    /// Fastest, milliseconds.
    pub min: f64,
    /// Mean, milliseconds.
    pub mean: f64,
    /// Median, milliseconds.
    pub p50: f64,
    /// 90th percentile, milliseconds.
    pub p90: f64,
    /// 99th percentile, milliseconds.
    pub p99: f64,
    /// Slowest, milliseconds.
    pub max: f64,
}

/// Send failures with one diagnosis code.
#[derive(Debug, Clone, Serialize)]
pub struct FailureCount {
    /// The diagnosis code.
    pub code: Code,
    /// How many failed with it.
    pub count: u64,
    /// The first failure's summary (and the server's words when it answered).
    pub example: String,
}

/// What cleanup removed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Cleanup {
    /// Whether cleanup ran (`false` with `keep`).
    pub ran: bool,
    /// Messages deleted (every copy of every probe seen, plus Sent copies).
    pub deleted: u64,
    /// Problems; each means probes may be left behind.
    pub problems: Vec<String>,
}

/// The harness's own cost, read from `/proc/self` at the end of the run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Harness {
    /// User CPU time, seconds.
    pub cpu_user_s: f64,
    /// System CPU time, seconds.
    pub cpu_sys_s: f64,
    /// (user + sys) / attempted, in milliseconds.
    pub cpu_ms_per_probe: f64,
    /// VmHWM: the most resident memory the process ever had.
    pub peak_rss_mib: f64,
    /// VmRSS after this many probes were attempted: (probes, MiB).
    pub rss_samples: Vec<(u64, f64)>,
}

/// A snapshot for live progress.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct LoadProgress {
    /// Seconds since the first send.
    pub elapsed_s: f64,
    /// Probes accepted by SMTP so far.
    pub sent: u64,
    /// Probes seen so far.
    pub delivered: u64,
    /// Probes past their deadline unseen.
    pub lost: u64,
    /// Probes SMTP refused or that failed in transit.
    pub send_failed: u64,
    /// Probes sent and still awaited.
    pub in_flight: u64,
    /// Median latency so far, milliseconds.
    pub p50_ms: f64,
}
