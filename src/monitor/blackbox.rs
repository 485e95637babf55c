//! `GET /probe?route=NAME`: one probe of a configured route during the scrape, answered as
//! blackbox_exporter answers a probe (`probe_success`, `probe_duration_seconds`, phase times),
//! within Prometheus' `X-Prometheus-Scrape-Timeout-Seconds` less a small offset. The query
//! names a route and nothing else: servers and credentials come only from the config file.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use hyper::StatusCode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::metrics::Metrics;
use super::{Budget, Ctx, Outcome};

/// Taken off Prometheus' scrape timeout so that the answer is sent before it gives up
/// (blackbox_exporter's `--timeout-offset` default).
pub const TIMEOUT_OFFSET: Duration = Duration::from_millis(500);

/// The header Prometheus sends with every scrape.
pub const SCRAPE_TIMEOUT_HEADER: &str = "x-prometheus-scrape-timeout-seconds";

/// An answer to `/probe`: the status, and OpenMetrics text (200) or a plain-text reason.
pub struct Answer {
    pub status: StatusCode,
    pub body: String,
}

impl Answer {
    fn refuse(status: StatusCode, body: String) -> Answer {
        Answer { status, body }
    }
}

/// Runs one probe for `/probe?{query}` with the scrape timeout header's value, if any.
pub async fn probe(ctx: &Arc<Ctx>, query: Option<&str>, scrape_timeout: Option<&[u8]>) -> Answer {
    let names: Vec<&str> = ctx.routes.iter().map(|r| r.name.as_str()).collect();
    let r = match route_from_query(query, &names) {
        Ok(r) => r,
        Err(why) => return Answer::refuse(StatusCode::BAD_REQUEST, why + "\n"),
    };
    let route = &ctx.routes[r];
    let limit = match time_limit(scrape_timeout) {
        Ok(limit) => limit,
        Err(why) => return Answer::refuse(StatusCode::BAD_REQUEST, why + "\n"),
    };
    let Ok(_slot) = ctx.probe_slots[r].clone().try_acquire_owned() else {
        return Answer::refuse(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "route {:?} already has {} /probe probe(s) running (--probe-concurrency {}); \
                 scrape each route from one job, or raise the limit\n",
                route.name, ctx.probe_concurrency, ctx.probe_concurrency
            ),
        );
    };
    let budget = match limit {
        Some(limit) => Budget::within(route, limit),
        None => Budget::within(route, route.timeout),
    };
    let outcome = super::schedule::probe(ctx.clone(), r, budget).await;
    let expiry = ctx
        .metrics
        .cert_expiry
        .get(&Metrics::route(&route.name))
        .map(|g| g.get());
    Answer {
        status: StatusCode::OK,
        body: encode(&outcome, budget.timeout, expiry),
    }
}

/// The route the query names: exactly one `route=NAME` of this monitor, and no other
/// parameter (blackbox's `target=`, `module=`, or anything naming a server or credentials).
fn route_from_query(query: Option<&str>, names: &[&str]) -> Result<usize, String> {
    let known = || {
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    };
    let mut route = None;
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if key != "route" {
            return Err(format!(
                "unknown query parameter {key:?}: /probe takes only route=NAME; a route's servers \
                 and credentials come from the config file (routes: {})",
                known()
            ));
        }
        if route.replace(value).is_some() {
            return Err("route= is given twice: /probe runs one route at a time".into());
        }
    }
    let Some(name) = route else {
        return Err(format!(
            "missing route: use /probe?route=NAME (routes: {})",
            known()
        ));
    };
    names
        .iter()
        .position(|n| *n == name)
        .ok_or_else(|| format!("unknown route {name:?}; this monitor's routes: {}", known()))
}

/// The time the probe may take: the scrape timeout less [`TIMEOUT_OFFSET`] (at least half of
/// it), or `None` without the header (then the route's timeout).
fn time_limit(header: Option<&[u8]>) -> Result<Option<Duration>, String> {
    let Some(raw) = header else { return Ok(None) };
    let text = std::str::from_utf8(raw).unwrap_or("").trim();
    let secs: f64 = text
        .parse()
        .ok()
        .filter(|s: &f64| s.is_finite() && *s > 0.0 && *s < 86400.0)
        .ok_or_else(|| {
            format!(
                "bad X-Prometheus-Scrape-Timeout-Seconds header {:?}: expected seconds, e.g. 10",
                String::from_utf8_lossy(raw)
            )
        })?;
    let offset = TIMEOUT_OFFSET.as_secs_f64();
    Ok(Some(Duration::from_secs_f64(
        (secs - offset).max(secs / 2.0),
    )))
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabel {
    phase: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerdictLabel {
    verdict: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    phase: String,
    code: String,
}

type Seconds = Gauge<f64, AtomicU64>;

/// The probe's metrics as OpenMetrics text, as blackbox_exporter names them where it has a
/// name (`probe_success`, `probe_duration_seconds`, `probe_ssl_earliest_cert_expiry`).
fn encode(o: &Outcome, limit: Duration, cert_expiry: Option<f64>) -> String {
    let mut reg = Registry::default();
    let success = Gauge::<i64>::default();
    success.set(i64::from(o.verdict == crate::report::Verdict::Delivered));
    reg.register(
        "probe_success",
        "Whether the probe reached the inbox (1) or not (0)",
        success,
    );
    let took = Seconds::default();
    took.set(o.took.as_secs_f64());
    reg.register(
        "probe_duration_seconds",
        "How long the probe took, from the request to the verdict",
        took,
    );
    let phases = Family::<PhaseLabel, Seconds>::default();
    for (phase, secs) in &o.phases {
        phases
            .get_or_create(&PhaseLabel {
                phase: phase.as_str().into(),
            })
            .set(*secs);
    }
    reg.register(
        "probe_mailtrip_phase_duration_seconds",
        "Duration of each phase this probe ran (smtp_connect/tls/auth only when a connection \
         was opened; cleanup follows the answer)",
        phases,
    );
    let verdict = Family::<VerdictLabel, Gauge>::default();
    verdict
        .get_or_create(&VerdictLabel {
            verdict: o.verdict.as_str().into(),
        })
        .set(1);
    reg.register(
        "probe_mailtrip_verdict",
        "The probe's verdict (always 1): delivered, delivered_to_spam, not_delivered, \
         auth_failed, send_failed, error and others as in check's JSON",
        verdict,
    );
    if let Some(f) = &o.failure {
        let failure = Family::<FailureLabels, Gauge>::default();
        failure
            .get_or_create(&FailureLabels {
                phase: f.phase.as_str().into(),
                code: f.diagnosis.code.as_str().into(),
            })
            .set(1);
        reg.register(
            "probe_mailtrip_failure",
            "The phase that failed and the diagnosis code (always 1; absent on success)",
            failure,
        );
    }
    let budget = Seconds::default();
    budget.set(limit.as_secs_f64());
    reg.register(
        "probe_mailtrip_timeout_seconds",
        "The time this probe was given: the scrape timeout less 0.5 s, at most the route's timeout",
        budget,
    );
    if let Some(at) = cert_expiry {
        let expiry = Seconds::default();
        expiry.set(at);
        reg.register(
            "probe_ssl_earliest_cert_expiry",
            "Unix time when the first of the route's SMTP and IMAP server certificates expires",
            expiry,
        );
    }
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, &reg).is_err() {
        out = "# EOF\n".into();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTES: &[&str] = &["a2b", "gmail work"];

    #[test]
    fn issue_19_only_a_route_name_can_be_given() {
        assert_eq!(route_from_query(Some("route=a2b"), ROUTES), Ok(0));
        assert_eq!(route_from_query(Some("route=gmail%20work"), ROUTES), Ok(1));
        assert_eq!(route_from_query(Some("route=gmail+work"), ROUTES), Ok(1));
        let e = route_from_query(Some("route=nope"), ROUTES).unwrap_err();
        assert_eq!(
            e,
            "unknown route \"nope\"; this monitor's routes: a2b, gmail work"
        );
        for q in [None, Some(""), Some("module=mail")] {
            let e = route_from_query(q, ROUTES).unwrap_err();
            assert!(
                e.contains("route=NAME") && e.contains("a2b, gmail work"),
                "{q:?}: {e}"
            );
        }
        for q in [
            "route=a2b&target=evil.example:25",
            "target=evil.example&route=a2b",
            "route=a2b&smtp=smtps%3A%2F%2Fevil.example",
            "route=a2b&imap=imaps://evil.example",
            "route=a2b&user=x&password=y",
            "route=a2b&Route=b",
        ] {
            let e = route_from_query(Some(q), ROUTES).unwrap_err();
            assert!(e.starts_with("unknown query parameter"), "{q}: {e}");
        }
        assert!(
            route_from_query(Some("route=a2b&route=a2b"), ROUTES)
                .unwrap_err()
                .contains("twice")
        );
    }

    #[test]
    fn issue_19_scrape_timeout_less_the_offset() {
        assert_eq!(time_limit(None), Ok(None));
        assert_eq!(
            time_limit(Some(b"10")),
            Ok(Some(Duration::from_millis(9500)))
        );
        assert_eq!(time_limit(Some(b" 2.5 ")), Ok(Some(Duration::from_secs(2))));
        // A tiny timeout still leaves the probe half of it.
        assert_eq!(
            time_limit(Some(b"0.6")),
            Ok(Some(Duration::from_millis(300)))
        );
        for bad in [&b"ten"[..], b"", b"-1", b"0", b"NaN", b"inf", b"\xff"] {
            let e = time_limit(Some(bad)).unwrap_err();
            assert!(
                e.starts_with("bad X-Prometheus-Scrape-Timeout-Seconds"),
                "{e}"
            );
        }
    }
}
