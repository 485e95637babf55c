//! [`Backoff`]: the one pause-before-trying-again of every reconnect and retry loop (IMAP
//! watches, SMTP greylisting, the monitor's mailbox and login holds): doubling from a first
//! pause up to a cap, with up to 25 % random jitter on top, and never past a deadline.

use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

/// The most jitter added to a pause, as a fraction of it. Jitter only lengthens a pause, so
/// a hold ("not before five minutes") is never cut short.
const JITTER: f64 = 0.25;

/// Pauses that double from `first` up to `max`, each lengthened by up to 25 % at random so
/// that clients dropped together do not come back together.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    first: Duration,
    max: Duration,
    /// The pause before jitter that [`next`](Backoff::next) hands out next.
    step: Duration,
}

impl Backoff {
    pub(crate) const fn new(first: Duration, max: Duration) -> Backoff {
        Backoff {
            first,
            max,
            step: first,
        }
    }

    /// The pause to take now (the current step plus jitter); the step then doubles, up to
    /// the cap.
    pub(crate) fn next(&mut self) -> Duration {
        let step = self.step;
        self.step = step.saturating_mul(2).min(self.max);
        let extra = rand::rng().random_range(0.0..=JITTER);
        step.saturating_add(step.mul_f64(extra))
    }

    /// Back to the first pause (after a success, or a connection that lived long enough).
    pub(crate) fn reset(&mut self) {
        self.step = self.first;
    }

    /// The step the next pause starts from (before jitter).
    pub(crate) fn step(&self) -> Duration {
        self.step
    }

    /// Raises the next pause to at least `floor` and the cap to at least `cap`: a server that
    /// refused the credentials is not asked again for a while (providers lock accounts that
    /// keep trying).
    pub(crate) fn hold(&mut self, floor: Duration, cap: Duration) {
        self.max = self.max.max(cap);
        self.step = self.step.max(floor);
    }

    /// The next pause if it ends before `deadline` (then the step advances), else `None`:
    /// for a retry that is only worth making when it can still finish in time.
    pub(crate) fn next_before(&mut self, deadline: Instant) -> Option<Duration> {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut probe = self.clone();
        let pause = probe.next();
        (pause < left).then(|| {
            *self = probe;
            pause
        })
    }

    /// Sleeps the next pause, but not past `deadline`, and ends early when `stop` resolves.
    /// Returns `false` at once, without advancing, when the deadline has already passed.
    pub(crate) async fn wait(
        &mut self,
        deadline: Option<Instant>,
        stop: impl Future<Output = ()>,
    ) -> bool {
        let Some(p) = self.next_pause(deadline) else {
            return false;
        };
        tracing::debug!(?p, "backing off");
        tokio::select! {
            _ = tokio::time::sleep(p) => {}
            _ = stop => {}
        }
        true
    }

    /// The next pause cut at `deadline`; `None` when it has passed.
    fn next_pause(&mut self, deadline: Option<Instant>) -> Option<Duration> {
        match deadline {
            None => Some(self.next()),
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                (!left.is_zero()).then(|| self.next().min(left))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn within(pause: Duration, step: Duration) -> bool {
        pause >= step && pause <= step.mul_f64(1.0 + JITTER)
    }

    #[test]
    fn doubles_up_to_the_cap_with_jitter_on_top() {
        let mut b = Backoff::new(250 * MS, 4000 * MS);
        for step in [250, 500, 1000, 2000, 4000, 4000, 4000] {
            let p = b.next();
            assert!(within(p, step * MS), "{p:?} for a {step} ms step");
        }
        b.reset();
        assert!(within(b.next(), 250 * MS));
    }

    #[test]
    fn jitter_differs_between_clients() {
        // 20 clients dropped together must not all come back at the same instant.
        let pauses: std::collections::HashSet<Duration> = (0..20)
            .map(|_| Backoff::new(Duration::from_secs(1), Duration::from_secs(8)).next())
            .collect();
        assert!(pauses.len() > 1, "{pauses:?}");
    }

    #[test]
    fn a_hold_raises_the_floor_and_the_cap() {
        let mut b = Backoff::new(100 * MS, 4000 * MS);
        b.next();
        b.hold(Duration::from_secs(300), Duration::from_secs(3600));
        let p = b.next();
        assert!(within(p, Duration::from_secs(300)), "{p:?}");
        assert_eq!(b.step(), Duration::from_secs(600));
        for _ in 0..10 {
            b.next();
        }
        assert_eq!(b.step(), Duration::from_secs(3600));
    }

    #[test]
    fn a_first_pause_above_the_cap_stays_at_the_cap() {
        let mut b = Backoff::new(Duration::from_secs(10), Duration::from_secs(4));
        b.next();
        assert_eq!(b.step(), Duration::from_secs(4));
    }

    #[tokio::test(start_paused = true)]
    async fn wait_sleeps_the_pause_but_never_past_the_deadline() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(8));
        let t = Instant::now();
        assert!(b.wait(None, std::future::pending()).await);
        assert!(
            within(t.elapsed(), Duration::from_secs(1)),
            "{:?}",
            t.elapsed()
        );

        // A 2 s pause, 300 ms left: it ends at the deadline.
        let t = Instant::now();
        assert!(b.wait(Some(t + 300 * MS), std::future::pending()).await);
        assert_eq!(t.elapsed(), 300 * MS);

        // The deadline has passed: no sleep, no step.
        let step = b.step();
        let t = Instant::now();
        assert!(!b.wait(Some(t), std::future::pending()).await);
        assert_eq!(t.elapsed(), Duration::ZERO);
        assert_eq!(b.step(), step);
    }

    #[tokio::test(start_paused = true)]
    async fn wait_ends_when_stopped() {
        let mut b = Backoff::new(Duration::from_secs(60), Duration::from_secs(60));
        let t = Instant::now();
        let stop = tokio::time::sleep(Duration::from_secs(2));
        assert!(b.wait(None, stop).await);
        assert_eq!(t.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn next_before_retries_only_when_the_pause_ends_in_time() {
        // SMTP greylisting: 1 s, 2 s, 4 s... while the retry can still happen in time.
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(64));
        let deadline = Instant::now() + Duration::from_secs(5);
        let first = b.next_before(deadline).expect("1 s fits in 5 s");
        assert!(within(first, Duration::from_secs(1)));
        tokio::time::sleep(first).await;
        let second = b.next_before(deadline).expect("2 s fits in the ~4 s left");
        tokio::time::sleep(second).await;
        // ~1.5 s left, the next pause is 4 s: no retry, and the step stays.
        assert_eq!(b.next_before(deadline), None);
        assert_eq!(b.step(), Duration::from_secs(4));
    }
}
