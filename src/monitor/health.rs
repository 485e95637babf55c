//! `/readyz`: each route's last finished probe, kept as it ends. Ready (200) only while every
//! route's last probe reached the inbox; otherwise 503, and the body names each failing
//! route's phase, code and cause. `/healthz` stays "the process is alive".

use std::fmt::Write as _;
use std::sync::Mutex;

use tokio::time::Instant;

use super::Route;
use crate::probe::Failure;
use crate::report::Verdict;

/// A route's last finished probe.
#[derive(Debug, Clone)]
struct Last {
    verdict: Verdict,
    /// `phase code: summary` of the failure, if it failed.
    failure: Option<String>,
    at: Instant,
}

/// The last outcome of every route, by route index.
#[derive(Debug)]
pub(super) struct Outcomes(Vec<Mutex<Option<Last>>>);

impl Outcomes {
    pub fn new(routes: usize) -> Outcomes {
        Outcomes((0..routes).map(|_| Mutex::new(None)).collect())
    }

    /// Remembers how route `r`'s probe ended.
    pub fn record(&self, r: usize, verdict: Verdict, failure: Option<&Failure>) {
        let Some(slot) = self.0.get(r) else { return };
        let failure = failure.map(|f| {
            format!(
                "{} at {} ({}): {}",
                verdict.as_str(),
                f.phase,
                f.diagnosis.code,
                f.diagnosis.summary
            )
        });
        *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(Last {
            verdict,
            failure,
            at: Instant::now(),
        });
    }

    /// Whether every route's last probe reached the inbox, and a body with one line per route:
    /// `route NAME: ok: delivered 3 s ago`, `route NAME: failing: …` or
    /// `route NAME: pending: no probe has finished yet`.
    pub fn readiness(&self, routes: &[Route]) -> (bool, String) {
        let mut lines = String::new();
        let (mut failing, mut pending) = (0, 0);
        for (route, slot) in routes.iter().zip(&self.0) {
            let last = slot.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let _ = match last {
                None => {
                    pending += 1;
                    writeln!(
                        lines,
                        "route {}: pending: no probe has finished yet",
                        route.name
                    )
                }
                Some(l) => {
                    let ago = l.at.elapsed().as_secs();
                    let ok = l.verdict == Verdict::Delivered;
                    if !ok {
                        failing += 1;
                    }
                    let what = l.failure.unwrap_or_else(|| l.verdict.as_str().to_string());
                    let state = if ok { "ok" } else { "failing" };
                    // The cause may quote a server: keep each route on one line.
                    let what = what.replace(['\r', '\n'], " ");
                    writeln!(lines, "route {}: {state}: {what} ({ago} s ago)", route.name)
                }
            };
        }
        let ready = failing == 0 && pending == 0;
        let head = if ready {
            "ready: every route's last probe reached the inbox\n".to_string()
        } else {
            format!(
                "not ready: {failing} of {} routes failing, {pending} not probed yet\n",
                routes.len()
            )
        };
        (ready, head + &lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Account;
    use crate::diagnose::{Code, Protocol, transport};
    use crate::report::Phase;

    fn route(name: &str) -> Route {
        let a = Account::new(
            "a@example.com",
            "pw",
            "smtps://smtp.example.com".parse().unwrap(),
            "imaps://imap.example.com".parse().unwrap(),
        );
        Route::new(name, a.clone(), a)
    }

    #[test]
    fn ready_only_when_every_route_delivered() {
        let routes = [route("a"), route("b")];
        let o = Outcomes::new(2);
        let (ready, body) = o.readiness(&routes);
        assert!(!ready);
        assert!(body.starts_with("not ready: 0 of 2 routes failing, 2 not probed yet\n"));
        assert!(body.contains("route a: pending: no probe has finished yet\n"));

        o.record(0, Verdict::Delivered, None);
        let f = Failure {
            phase: Phase::ImapConnect,
            diagnosis: transport(
                Code::ConnectRefused,
                Protocol::Imap,
                "imap.example.com:993",
                "connection refused\nby peer",
            ),
        };
        o.record(1, Verdict::Error, Some(&f));
        let (ready, body) = o.readiness(&routes);
        assert!(!ready);
        assert!(body.contains("route a: ok: delivered (0 s ago)"), "{body}");
        assert!(
            body.contains("route b: failing: error at imap_connect (connect_refused): "),
            "{body}"
        );
        assert_eq!(body.lines().count(), 3, "one line per route: {body}");

        o.record(1, Verdict::Delivered, None);
        let (ready, body) = o.readiness(&routes);
        assert!(ready, "{body}");
        assert!(body.starts_with("ready: "));
    }
}
