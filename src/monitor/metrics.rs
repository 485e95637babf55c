//! The monitor's metrics, registered once in a `prometheus-client` registry and encoded as
//! OpenMetrics text for `/metrics`. Every series carries the route's name; `route_info` maps
//! a name to its sender, mailbox, interval and timeout.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::Route;
use crate::diagnose::Code;
use crate::report::{Phase, Verdict};

/// Histogram buckets in seconds: 10 ms to 10 min, roughly 1-2.5-5 per decade.
pub const BUCKETS: [f64; 16] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 60.0, 120.0, 180.0, 300.0, 600.0,
];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    pub route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InfoLabels {
    pub route: String,
    pub from: String,
    pub to: String,
    pub interval_seconds: String,
    pub timeout_seconds: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    pub route: String,
    pub phase: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    pub route: String,
    pub phase: String,
    pub code: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerdictLabels {
    pub route: String,
    pub verdict: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FolderLabels {
    pub mailbox: String,
    pub folder: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MailboxLabel {
    pub mailbox: String,
}

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Every metric the monitor exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub info: Family<InfoLabels, Gauge>,
    pub success: Family<RouteLabel, Gauge>,
    pub round_trips: Family<VerdictLabels, Counter>,
    pub round_trip: Histograms<RouteLabel>,
    pub phase: Histograms<PhaseLabels>,
    pub failures: Family<FailureLabels, Counter>,
    pub last_success: Family<RouteLabel, Gauge<f64, AtomicU64>>,
    pub in_flight: Family<RouteLabel, Gauge>,
    pub late: Family<RouteLabel, Counter>,
    pub cleanup_failures: Family<RouteLabel, Counter>,
    pub watch_up: Family<FolderLabels, Gauge>,
    pub watch_reconnects: Family<FolderLabels, Counter>,
    pub swept: Family<MailboxLabel, Counter>,
    pub cert_expiry: Family<RouteLabel, Gauge<f64, AtomicU64>>,
}

impl Metrics {
    pub fn new(routes: &[Route]) -> Metrics {
        let mut registry = Registry::default();
        let m = Metrics {
            info: Family::default(),
            success: Family::default(),
            round_trips: Family::default(),
            round_trip: Family::new_with_constructor(histogram as fn() -> Histogram),
            phase: Family::new_with_constructor(histogram as fn() -> Histogram),
            failures: Family::default(),
            last_success: Family::default(),
            in_flight: Family::default(),
            late: Family::default(),
            cleanup_failures: Family::default(),
            watch_up: Family::default(),
            watch_reconnects: Family::default(),
            swept: Family::default(),
            cert_expiry: Family::default(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "mailtrip_monitor_route_info",
            "A monitored route: sender, watched mailbox, probe interval and timeout (always 1)",
            m.info.clone(),
        );
        r.register(
            "mailtrip_monitor_success",
            "Whether the route's last finished probe reached the inbox (1) or not (0)",
            m.success.clone(),
        );
        r.register(
            "mailtrip_monitor_round_trips",
            "Finished probes by verdict (delivered, delivered_to_spam, not_delivered, send_failed, ...)",
            m.round_trips.clone(),
        );
        r.register(
            "mailtrip_monitor_round_trip_seconds",
            "From the start of the SMTP submission until the probe was seen over IMAP",
            m.round_trip.clone(),
        );
        r.register(
            "mailtrip_monitor_phase_duration_seconds",
            "Duration of each phase (smtp_connect/tls/auth only when a connection was opened)",
            m.phase.clone(),
        );
        r.register(
            "mailtrip_monitor_failures",
            "Failed probes by the phase that failed and the diagnosis code",
            m.failures.clone(),
        );
        r.register(
            "mailtrip_monitor_last_success_timestamp_seconds",
            "Unix time of the route's last probe that reached the inbox",
            m.last_success.clone(),
        );
        r.register(
            "mailtrip_monitor_probes_in_flight",
            "Probes sent (or being sent) and not yet seen, failed or timed out",
            m.in_flight.clone(),
        );
        r.register(
            "mailtrip_monitor_late_arrivals",
            "Probes that arrived after their timeout (counted as failed then; deleted when seen)",
            m.late.clone(),
        );
        r.register(
            "mailtrip_monitor_cleanup_failures",
            "Probes that could not be deleted after they arrived",
            m.cleanup_failures.clone(),
        );
        r.register(
            "mailtrip_monitor_watch_up",
            "Whether the IMAP watch connection on this folder is up (1) or reconnecting (0)",
            m.watch_up.clone(),
        );
        r.register(
            "mailtrip_monitor_watch_reconnects",
            "Times the IMAP watch connection on this folder was lost or failed to reconnect",
            m.watch_reconnects.clone(),
        );
        r.register(
            "mailtrip_monitor_swept",
            "Stale probes of earlier runs deleted by the start-up and hourly sweeps",
            m.swept.clone(),
        );
        r.register(
            "mailtrip_monitor_earliest_cert_expiry_timestamp_seconds",
            "Unix time when the first of the route's SMTP and IMAP server certificates expires \
             (leaf certificates, read at start and hourly; absent without TLS or until read)",
            m.cert_expiry.clone(),
        );
        for route in routes {
            let l = RouteLabel {
                route: route.name.clone(),
            };
            m.info
                .get_or_create(&InfoLabels {
                    route: route.name.clone(),
                    from: route.from.address.clone(),
                    to: route.to.address.clone(),
                    interval_seconds: format!("{}", route.interval.as_secs_f64()),
                    timeout_seconds: format!("{}", route.timeout.as_secs_f64()),
                })
                .set(1);
            // Series that rate() and increase() need from the start.
            m.in_flight.get_or_create(&l).set(0);
            m.late.get_or_create(&l).get();
            m.cleanup_failures.get_or_create(&l).get();
            m.round_trips
                .get_or_create(&VerdictLabels {
                    route: route.name.clone(),
                    verdict: Verdict::Delivered.as_str().into(),
                })
                .get();
        }
        Metrics { registry, ..m }
    }

    /// The OpenMetrics text (ends with `# EOF`).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out = "# EOF\n".into();
        }
        out
    }

    pub fn route(name: &str) -> RouteLabel {
        RouteLabel {
            route: name.to_string(),
        }
    }

    pub fn observe_phase(&self, route: &str, phase: Phase, secs: f64) {
        self.phase
            .get_or_create(&PhaseLabels {
                route: route.to_string(),
                phase: phase.as_str().into(),
            })
            .observe(secs);
    }

    pub fn failure(&self, route: &str, phase: Phase, code: Code) {
        self.failures
            .get_or_create(&FailureLabels {
                route: route.to_string(),
                phase: phase.as_str().into(),
                code: code.as_str().into(),
            })
            .inc();
    }

    pub fn verdict(&self, route: &str, verdict: Verdict) {
        self.round_trips
            .get_or_create(&VerdictLabels {
                route: route.to_string(),
                verdict: verdict.as_str().into(),
            })
            .inc();
        let l = Metrics::route(route);
        if verdict == Verdict::Delivered {
            self.success.get_or_create(&l).set(1);
            let now = chrono::Utc::now();
            let ts = now.timestamp() as f64 + f64::from(now.timestamp_subsec_millis()) / 1000.0;
            self.last_success.get_or_create(&l).set(ts);
        } else {
            self.success.get_or_create(&l).set(0);
        }
    }
}
