//! The certificate-expiry gauge: at start and every hour, the certificate each route's SMTP
//! and IMAP servers present is read the way `verify` reads one (a handshake that sends no
//! credentials), and the route's gauge is set to the earlier of the two expiry times.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::Ctx;
use super::metrics::Metrics;
use crate::config::Account;
use crate::probe::endpoint_certificate;

/// How often the certificates are read again after the first time.
const CERT_EVERY: Duration = Duration::from_secs(3600);
/// Limit of each connect and command while reading one.
const CERT_STEP: Duration = Duration::from_secs(10);

/// Reads every route's certificates until `stop`; `mailboxes` are the watched accounts by
/// index (`ctx.route_mailbox`).
pub(super) async fn refresh(
    ctx: Arc<Ctx>,
    mailboxes: Vec<Account>,
    mut stop: watch::Receiver<bool>,
) {
    // Expiry (Unix seconds) by endpoint URL; kept when a later read fails, since a server
    // that cannot be reached for a moment still has the same certificate.
    let mut known: HashMap<String, f64> = HashMap::new();
    loop {
        // Each endpoint is read once a round, however many routes use it.
        let mut read_this_round = HashSet::new();
        for (r, route) in ctx.routes.iter().enumerate() {
            let smtp = &ctx.senders[ctx.route_sender[r]].account;
            let imap = &mailboxes[ctx.route_mailbox[r]];
            let mut earliest: Option<f64> = None;
            for (account, is_smtp) in [(smtp, true), (imap, false)] {
                let key = if is_smtp {
                    account.smtp.to_string()
                } else {
                    account.imap.to_string()
                };
                if read_this_round.insert(key.clone()) {
                    let read = tokio::select! {
                        c = endpoint_certificate(account, is_smtp, CERT_STEP) => c,
                        _ = stop.changed() => return,
                    };
                    match read.and_then(|c| expiry(&c.not_after)) {
                        Some(at) => {
                            known.insert(key.clone(), at);
                        }
                        None => tracing::debug!(
                            endpoint = key,
                            "monitor: no certificate read (plaintext or unreachable)"
                        ),
                    }
                }
                if let Some(at) = known.get(&key) {
                    earliest = Some(earliest.map_or(*at, |e: f64| e.min(*at)));
                }
            }
            if let Some(at) = earliest {
                ctx.metrics
                    .cert_expiry
                    .get_or_create(&Metrics::route(&route.name))
                    .set(at);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(CERT_EVERY) => {}
            _ = stop.changed() => return,
        }
    }
}

/// An RFC 3339 time as Unix seconds.
fn expiry(rfc3339: &str) -> Option<f64> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .map(|t| t.timestamp() as f64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn expiry_is_unix_seconds() {
        assert_eq!(super::expiry("2030-01-01T00:00:00Z"), Some(1_893_456_000.0));
        assert_eq!(super::expiry("soon"), None);
    }
}
