//! The early-poll schedule: after a probe is sent (a "kick"), when a watcher looks without
//! waiting for the server to say something arrived. Servers batch their IDLE notifications
//! (Dovecot tells IDLE clients 500 ms after a change; Gmail and Exchange batch too), while a
//! look sees a message within milliseconds of its delivery. The looks are dense for the first
//! 50 ms, thin out, and stop 2 s after the kick: from then on IDLE (or, without IDLE, a look
//! every second) covers the long wait, so a provider sees 21 extra looks per probe
//! (one NOOP each on a quiet mailbox).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch as signal;
use tokio::time::Instant;

/// When to look after a kick, in ms: every 5 ms up to 50 ms (most messages show up 7–53 ms
/// after the SMTP 250 on Postfix + Dovecot), then gaps growing about 1.5× up to 500 ms, the
/// last look at 2 s. README's "How mailtrip watches a mailbox" repeats this table.
pub(crate) const LOOKS_MS: [u64; 21] = [
    5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 60, 75, 100, 140, 200, 300, 450, 700, 1000, 1500, 2000,
];

/// How long a kick shapes the schedule.
const SPAN: Duration = Duration::from_millis(LOOKS_MS[LOOKS_MS.len() - 1]);

/// Kicks closer together than this share one schedule (the later one is dropped): at
/// hundreds of probes a second the union of their schedules is the same look every 5 ms.
const MERGE: Duration = Duration::from_millis(1);

/// The looks due from every recent kick.
#[derive(Debug, Default, Clone)]
pub(crate) struct Schedule {
    /// Kicks whose schedule is not over, oldest first.
    kicks: VecDeque<Instant>,
    /// When the last look started: the next one is the first point after it.
    last_look: Option<Instant>,
}

impl Schedule {
    /// A probe was sent (accepted) at `at`: look at `at` + each of [`LOOKS_MS`].
    pub(crate) fn kick(&mut self, at: Instant) {
        if self
            .kicks
            .back()
            .is_some_and(|&last| at <= last + MERGE && at + MERGE >= last)
        {
            return;
        }
        // Kicks arrive in order, but one noted late by a busy task may not: keep them sorted.
        let i = self.kicks.partition_point(|&k| k <= at);
        self.kicks.insert(i, at);
    }

    /// A look started at `at`.
    pub(crate) fn looked(&mut self, at: Instant) {
        self.last_look = Some(self.last_look.map_or(at, |l| l.max(at)));
        while self.kicks.front().is_some_and(|&k| k + SPAN <= at) {
            self.kicks.pop_front();
        }
    }

    /// The next look due: the earliest point of any kick's schedule after the last look
    /// (in the past when a look is overdue). `None` once every schedule is over.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.kicks
            .iter()
            .filter_map(|&k| {
                let after = self
                    .last_look
                    .map_or(Duration::ZERO, |l| l.saturating_duration_since(k));
                // The first offset strictly after the last look.
                let i = LOOKS_MS.partition_point(|&ms| Duration::from_millis(ms) <= after);
                LOOKS_MS.get(i).map(|&ms| k + Duration::from_millis(ms))
            })
            .min()
    }

    /// Whether any kick's schedule is still running.
    #[cfg(test)]
    fn active(&self) -> bool {
        self.next().is_some()
    }
}

/// Tells long-running watchers (load, monitor) that a probe was just accepted: each then
/// looks on the schedule from that moment. Cheap to clone and to call.
#[derive(Debug, Clone)]
pub(crate) struct Kicker(Arc<signal::Sender<Option<Instant>>>);

impl Default for Kicker {
    fn default() -> Kicker {
        Kicker(Arc::new(signal::Sender::new(None)))
    }
}

impl Kicker {
    /// A probe was accepted now.
    pub(crate) fn kick(&self) {
        self.0.send_replace(Some(Instant::now()));
    }

    pub(super) fn subscribe(&self) -> signal::Receiver<Option<Instant>> {
        self.0.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A schedule with one kick, now.
    fn kicked() -> (Instant, Schedule) {
        let t0 = Instant::now();
        let mut s = Schedule::default();
        s.kick(t0);
        (t0, s)
    }

    /// Follows the schedule from a kick at `t0`, looking exactly when told.
    fn looks(s: &mut Schedule, t0: Instant) -> Vec<u64> {
        let mut out = Vec::new();
        while let Some(at) = s.next() {
            s.looked(at);
            out.push(at.duration_since(t0).as_millis() as u64);
        }
        out
    }

    #[test]
    fn one_kick_looks_at_every_point_then_stops() {
        let t0 = Instant::now();
        let mut s = Schedule::default();
        assert_eq!(s.next(), None);
        s.kick(t0);
        assert_eq!(looks(&mut s, t0), LOOKS_MS.to_vec());
        assert!(!s.active());
    }

    #[test]
    fn schedule_is_dense_first_and_polite_later() {
        // Issue 14: 5 ms steps early, gaps growing to at most 500 ms, nothing after 2 s.
        assert!(LOOKS_MS[..10].windows(2).all(|w| w[1] - w[0] == 5));
        let gaps: Vec<u64> = LOOKS_MS.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.windows(2).all(|g| g[1] >= g[0]), "{gaps:?}");
        assert!(gaps.iter().all(|&g| g <= 500), "{gaps:?}");
        assert_eq!(SPAN, Duration::from_secs(2));
    }

    #[test]
    fn an_overdue_look_is_due_at_once_and_points_already_passed_are_skipped() {
        let (t0, mut s) = kicked();
        // The look due at 5 ms only started at 23 ms (a slow scan, a busy machine).
        s.looked(t0 + ms(23));
        assert_eq!(s.next(), Some(t0 + ms(25)));
        s.looked(t0 + ms(90));
        assert_eq!(s.next(), Some(t0 + ms(100)));
    }

    #[test]
    fn several_kicks_give_the_union_of_their_schedules() {
        let (t0, mut s) = kicked();
        s.looked(t0 + ms(300));
        // A second probe at 302 ms restarts the dense looks, the first one's continue.
        s.kick(t0 + ms(302));
        let got = looks(&mut s, t0);
        assert_eq!(&got[..3], &[307, 312, 317]);
        assert!(got.contains(&450) && got.contains(&700), "{got:?}");
        assert_eq!(got.last(), Some(&2302));
    }

    #[test]
    fn kicks_a_moment_apart_share_a_schedule_and_old_ones_are_dropped() {
        let (t0, mut s) = kicked();
        s.kick(t0 + Duration::from_micros(400));
        assert_eq!(s.kicks.len(), 1);
        s.kick(t0 + ms(3));
        assert_eq!(s.kicks.len(), 2);
        s.looked(t0 + ms(2500));
        assert!(s.kicks.is_empty());
        assert_eq!(s.next(), None);
    }

    #[test]
    fn a_kick_noted_late_keeps_the_order() {
        let t0 = Instant::now();
        let mut s = Schedule::default();
        s.kick(t0 + ms(10));
        s.kick(t0);
        assert_eq!(s.next(), Some(t0 + ms(5)));
    }
}
