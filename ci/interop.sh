#!/usr/bin/env bash
# Brings up Postfix + Dovecot on loopback (ci/mailstack), runs the interop tests against it
# (and against the embedded server, the same test bodies), and stops the stack whatever happens.
# Usable locally: `bash ci/interop.sh`; MAILSTACK_DIR picks the state dir.
set -euo pipefail
cd "$(dirname "$0")/.."
state="${MAILSTACK_DIR:-/tmp/mailtrip-mailstack}"

bash ci/mailstack/install.sh
# Armed before start.sh: a start that fails halfway must not leave a daemon behind.
trap 'bash ci/mailstack/stop.sh "$state" || true' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
bash ci/mailstack/start.sh "$state"

bash ci/mailstack/smoke.sh "$state"
MAILTRIP_MAILSTACK_ENV="$state/env" cargo test --test tests interop:: -- --include-ignored
# Independent clients the mailstack install brought: swaks against the embedded server.
cargo test --test tests cli::swaks -- --include-ignored
