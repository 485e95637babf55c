//! `/api/v1/changes`: the store's change counter, long-polled by the web view (`after`, `wait`)
//! so a page refreshes only when something arrived or went.

use std::time::Duration;

use hyper::StatusCode;

use super::super::query::MAX_WAIT;
use super::super::{Response, json};
use super::{Api, bad};
use crate::server::fault_spec::parse_span;
use crate::server::until_shutdown;

impl Api {
    /// `{"generation": N}` once the store changed past `after` (or at once without it), or
    /// after `wait` with the generation unchanged.
    pub(super) async fn changes(&self, query: Option<&str>) -> Response {
        let mut after = None;
        let mut wait = Duration::from_secs(25);
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match k.as_ref() {
                "after" => match v.parse::<u64>() {
                    Ok(n) => after = Some(n),
                    Err(_) => return bad(&format!("after={v:?}: expected a generation number")),
                },
                "wait" => match parse_span(&v) {
                    Ok(d) if !d.is_zero() && d <= MAX_WAIT => wait = d,
                    _ => return bad(&format!("wait={v:?}: expected e.g. 25s, at most 300s")),
                },
                other => return bad(&format!("unknown parameter {other:?}; use after, wait")),
            }
        }
        let mut changes = self.shared.store.subscribe();
        let mut shutdown = self.shared.shutdown();
        if let Some(after) = after {
            let deadline = tokio::time::Instant::now() + wait;
            while *changes.borrow_and_update() <= after {
                tokio::select! {
                    r = changes.changed() => if r.is_err() { break },
                    _ = tokio::time::sleep_until(deadline) => break,
                    _ = until_shutdown(&mut shutdown) => break,
                }
            }
        }
        let generation = *changes.borrow();
        json(
            StatusCode::OK,
            &serde_json::json!({ "generation": generation }),
        )
    }
}
