//! `/api/v1/faults`: read the faults in force, set them (a JSON object of fault keys, as in
//! `--faults FILE`), or clear them and the greylist's memory.

use bytes::Bytes;
use hyper::StatusCode;

use super::super::{Response, error, json};
use super::Api;
use crate::server::Faults;
use crate::server::fault_spec::FaultSpec;

impl Api {
    pub(super) fn faults(&self) -> Response {
        json(StatusCode::OK, &FaultSpec::from(&self.shared.faults()))
    }

    pub(super) fn set_faults(&self, body: &Bytes) -> Response {
        let spec: FaultSpec = match serde_json::from_slice(body) {
            Ok(s) => s,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "bad_faults",
                    &format!("the body must be a JSON object of fault keys: {e}"),
                );
            }
        };
        let faults = match spec.to_faults() {
            Ok(f) => f,
            Err(e) => return error(StatusCode::BAD_REQUEST, "bad_faults", &e.to_string()),
        };
        tracing::info!(faults = ?spec, "http: faults set");
        self.shared.consume_fault(|f| *f = faults);
        self.faults()
    }

    pub(super) fn clear_faults(&self) -> Response {
        self.shared.consume_fault(|f| *f = Faults::default());
        self.shared
            .greylist_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        tracing::info!("http: faults cleared");
        self.faults()
    }
}
