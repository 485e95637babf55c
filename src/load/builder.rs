//! The [`Load`] builder: what a run sends, how fast and for how long, and its defaults.

use std::sync::Arc;
use std::time::Duration;

use super::{Delivered, Load, LoadProgress};
use crate::config::Account;
use crate::probe::hook::Hook;

/// Default per-probe delivery deadline.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

impl Load {
    /// 100 probes from `from`, spread round-robin over `targets`, 8 in flight.
    pub fn new(from: Account, targets: Vec<Account>) -> Load {
        Load {
            from,
            targets,
            probes: Some(100),
            concurrency: 8,
            smtp_connections: None,
            rate: None,
            duration: None,
            timeout: DEFAULT_TIMEOUT,
            keep: false,
            i_own_this_account: false,
            force_poll: false,
            timeline: false,
            run_id: None,
            progress: None,
            delivered: None,
        }
    }

    /// How many probes to send (`None`: until [`Load::duration`] ends).
    pub fn probes(mut self, n: impl Into<Option<u64>>) -> Load {
        self.probes = n.into();
        self
    }

    setters! { Load;
        /// Most probes in flight (sent, not yet seen or timed out) at once.
        concurrency(c: usize);
    }

    /// SMTP connections to send over (default: `min(concurrency, 4)`).
    pub fn smtp_connections(mut self, n: usize) -> Load {
        self.smtp_connections = Some(n);
        self
    }

    /// Send at most this many probes per second. Defaults to the provider preset's pace when
    /// an account uses one, else unlimited.
    pub fn rate(mut self, per_sec: f64) -> Load {
        self.rate = Some(per_sec);
        self
    }

    /// Stop sending new probes after this long.
    pub fn duration(mut self, d: Duration) -> Load {
        self.duration = Some(d);
        self
    }

    setters! { Load;
        /// Per-probe delivery deadline, counted from its send (default 30 s); also caps each
        /// connect and command wait.
        timeout(t: Duration);

        /// Leave the probes in the mailboxes.
        keep(keep: bool);

        /// Allow servers that are not on loopback.
        i_own_this_account(yes: bool);

        /// Poll with UID FETCH instead of IDLE even when the server offers IDLE (benchmarks).
        #[doc(hidden)]
        force_poll(yes: bool);

        /// Records what happened over time (sends, arrivals, losses per second; each probe's
        /// latency) into [`LoadReport::timeline`](super::LoadReport::timeline), for `--html`.
        timeline(yes: bool);
    }

    /// Sets the run id written to `X-Mailtrip-Run` (default: a fresh UUID v7).
    pub fn run_id(mut self, run_id: impl Into<String>) -> Load {
        self.run_id = Some(run_id.into());
        self
    }

    /// Called about five times a second with counts so far (for a progress line).
    pub fn on_progress(mut self, f: impl Fn(&LoadProgress) + Send + Sync + 'static) -> Load {
        self.progress = Some(Hook(Arc::new(f)));
        self
    }

    /// Called on the watcher's task each time a probe copy is matched (keep it cheap).
    pub fn on_delivered(mut self, f: impl Fn(&Delivered) + Send + Sync + 'static) -> Load {
        self.delivered = Some(Hook(Arc::new(f)));
        self
    }
}
