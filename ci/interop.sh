#!/usr/bin/env bash
# Brings up Postfix + Dovecot on loopback (ci/mailstack), runs the interop tests against it,
# and stops the stack whatever happens. Usable locally: `bash ci/interop.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
state="${MAILSTACK_DIR:-/tmp/mailtrip-mailstack}"

bash ci/mailstack/install.sh
bash ci/mailstack/start.sh "$state"
trap 'bash ci/mailstack/stop.sh "$state"' EXIT

bash ci/mailstack/smoke.sh "$state"
MAILTRIP_MAILSTACK_ENV="$state/env" cargo test --test tests interop -- --include-ignored
