//! What a load run did over time, for pictures (`mailtrip load --html`): sends, arrivals,
//! losses and failures in time buckets (10 ms wide at first, doubled whenever there are too
//! many), each delivered probe's latency by its send time (thinned evenly past a bound), and
//! the latency distribution: memory stays flat however long the run.
//! Recorded only when asked ([`Load::timeline`](super::Load::timeline)).

use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::time::Instant;

/// Most latency points and loss marks kept; past it every other one is dropped and only
/// every second, fourth, ... new one is kept.
const MAX_POINTS: usize = 20_000;
/// Most buckets; past it neighbours merge and the width doubles.
const MAX_BUCKETS: usize = 1_000;
/// The first bucket width.
const FIRST_BUCKET_S: f64 = 0.01;

/// Counts in one time bucket of the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Bucket {
    /// Probes the SMTP server accepted in this bucket.
    pub sent: u64,
    /// Probes first seen in a watched folder in this bucket.
    pub delivered: u64,
    /// Probes sent in this bucket that were never seen before their deadline.
    pub lost: u64,
    /// Sends refused or failed in this bucket.
    pub failed: u64,
}

impl Bucket {
    fn add(&mut self, o: &Bucket) {
        self.sent += o.sent;
        self.delivered += o.delivered;
        self.lost += o.lost;
        self.failed += o.failed;
    }
}

/// The run over time (part of [`LoadReport`](super::LoadReport) when recorded).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Timeline {
    /// Width of each bucket in seconds.
    pub bucket_s: f64,
    /// Bucket `i` covers `[i, i+1) × bucket_s` seconds after the run started.
    pub buckets: Vec<Bucket>,
    /// `[send time s, latency ms]` of delivered probes (every `stride`-th when thinned).
    pub latencies: Vec<[f64; 2]>,
    /// Send times (s) of lost probes (thinned like `latencies`).
    pub losses: Vec<f64>,
    /// 1 when every probe is in `latencies` and `losses`; N when one in N is.
    pub stride: u64,
    /// `[latency ms, count]` for each distinct latency recorded (3 significant digits).
    pub histogram: Vec<[f64; 2]>,
}

/// Collects the timeline while the run goes.
#[derive(Debug)]
pub(crate) struct Recorder {
    start: Instant,
    bucket_s: f64,
    buckets: Vec<Bucket>,
    points: Thinned<[f64; 2]>,
    losses: Thinned<f64>,
}

impl Recorder {
    pub(crate) fn new(start: Instant) -> Recorder {
        Recorder {
            start,
            bucket_s: FIRST_BUCKET_S,
            buckets: Vec::new(),
            points: Thinned::default(),
            losses: Thinned::default(),
        }
    }

    fn offset(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.start).as_secs_f64()
    }

    fn second(&mut self, at: Instant) -> &mut Bucket {
        let t = self.offset(at);
        while (t / self.bucket_s) as usize >= MAX_BUCKETS {
            self.buckets = self
                .buckets
                .chunks(2)
                .map(|pair| {
                    let mut b = pair[0];
                    if let Some(o) = pair.get(1) {
                        b.add(o);
                    }
                    b
                })
                .collect();
            self.bucket_s *= 2.0;
        }
        let i = (t / self.bucket_s) as usize;
        if self.buckets.len() <= i {
            self.buckets.resize(i + 1, Bucket::default());
        }
        &mut self.buckets[i]
    }

    pub(crate) fn sent(&mut self, at: Instant) {
        self.second(at).sent += 1;
    }

    pub(crate) fn delivered(&mut self, sent_at: Instant, at: Instant) {
        self.second(at).delivered += 1;
        let latency = at.saturating_duration_since(sent_at).as_secs_f64() * 1000.0;
        let point = [self.offset(sent_at), latency];
        self.points.push(point);
    }

    pub(crate) fn lost(&mut self, sent_at: Instant) {
        self.second(sent_at).lost += 1;
        let t = self.offset(sent_at);
        self.losses.push(t);
    }

    /// A lost probe whose send then failed counts as failed instead.
    pub(crate) fn unlost(&mut self, sent_at: Instant) {
        let s = self.second(sent_at);
        s.lost = s.lost.saturating_sub(1);
    }

    pub(crate) fn failed(&mut self, at: Instant) {
        self.second(at).failed += 1;
    }

    /// The timeline, with the latency distribution from `histogram` (microseconds).
    pub(crate) fn finish(&self, histogram: &Histogram<u64>) -> Timeline {
        let histogram = histogram
            .iter_recorded()
            .map(|v| {
                [
                    histogram.highest_equivalent(v.value_iterated_to()) as f64 / 1000.0,
                    v.count_at_value() as f64,
                ]
            })
            .collect();
        Timeline {
            bucket_s: self.bucket_s,
            buckets: self.buckets.clone(),
            latencies: self.points.items.clone(),
            losses: self.losses.items.clone(),
            stride: self.points.stride.max(self.losses.stride),
            histogram,
        }
    }
}

/// Keeps every `stride`-th item pushed, halving what it holds whenever it fills up.
#[derive(Debug)]
struct Thinned<T> {
    items: Vec<T>,
    stride: u64,
    pushed: u64,
}

impl<T> Default for Thinned<T> {
    fn default() -> Self {
        Thinned {
            items: Vec::new(),
            stride: 1,
            pushed: 0,
        }
    }
}

impl<T> Thinned<T> {
    fn push(&mut self, item: T) {
        self.pushed += 1;
        if !(self.pushed - 1).is_multiple_of(self.stride) {
            return;
        }
        self.items.push(item);
        if self.items.len() >= MAX_POINTS {
            let mut i = 0;
            self.items.retain(|_| {
                i += 1;
                i % 2 == 1
            });
            self.stride *= 2;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn counts_land_in_their_second_and_points_stay_bounded() {
        let start = Instant::now();
        let mut r = Recorder::new(start);
        let at = |ms: u64| start + Duration::from_millis(ms);
        r.sent(at(1));
        r.sent(at(15));
        r.delivered(at(1), at(25));
        r.lost(at(15));
        r.failed(at(21));
        let mut h = Histogram::<u64>::new(3).expect("histogram");
        h.record(250_000).expect("record");
        let t = r.finish(&h);
        assert_eq!(t.bucket_s, 0.01);
        let b = |sent, delivered, lost, failed| Bucket {
            sent,
            delivered,
            lost,
            failed,
        };
        assert_eq!(t.buckets, [b(1, 0, 0, 0), b(1, 0, 1, 0), b(0, 1, 0, 1)]);
        // Past the bucket limit, neighbours merge: 10 ms → 20 ms, and nothing is lost.
        r.sent(at(10_005));
        let t = r.finish(&h);
        assert_eq!(t.bucket_s, 0.02);
        assert_eq!(t.buckets[0], b(2, 0, 1, 0));
        assert_eq!(t.buckets.iter().map(|b| b.sent).sum::<u64>(), 3);
        assert_eq!(t.latencies, [[0.001, 24.0]]);
        assert_eq!(t.losses, [0.015]);
        assert_eq!(t.histogram.len(), 1);
        assert!((t.histogram[0][0] - 250.0).abs() < 0.5, "{:?}", t.histogram);

        let mut many = Recorder::new(start);
        for i in 0..(MAX_POINTS as u64 * 5) {
            many.delivered(at(i), at(i + 5));
        }
        let t = many.finish(&h);
        assert!(t.latencies.len() < MAX_POINTS, "{}", t.latencies.len());
        assert!(t.latencies.len() > MAX_POINTS / 4, "{}", t.latencies.len());
        assert_eq!(t.stride, 8);
        // Evenly spread: the first and a late point are both there.
        assert_eq!(t.latencies[0][0], 0.0);
        assert!(t.latencies.last().expect("points")[0] > 90.0);
    }
}
