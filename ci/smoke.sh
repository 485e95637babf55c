#!/usr/bin/env bash
# Mail smoke check for any CI: installs mailtrip if needed, runs one round trip against the
# account in MAILTRIP_* variables, writes a JUnit report, and exits with mailtrip's code
# (0 delivered, 1 warning, 2 failed, 3 config). Secrets come only from the environment.
set -euo pipefail

: "${MAILTRIP_USER:?set MAILTRIP_USER (a CI secret or variable)}"
: "${MAILTRIP_PASSWORD:?set MAILTRIP_PASSWORD as a masked CI secret}"
report="${MAILTRIP_JUNIT:-mailtrip-junit.xml}"

if ! command -v mailtrip >/dev/null 2>&1; then
  # From a checkout of this repository, or from its git URL (MAILTRIP_GIT).
  if [ -f Cargo.toml ] && grep -q '^name = "mailtrip"' Cargo.toml; then
    cargo install --locked --path .
  else
    cargo install --locked --git "${MAILTRIP_GIT:?set MAILTRIP_GIT to the mailtrip repository URL}" mailtrip
  fi
fi

# The password is read from the environment by mailtrip itself (MAILTRIP_PASSWORD), never
# passed on the command line where `ps` or a CI log could show it.
status=0
mailtrip check --format junit --output "$report" --timeout "${MAILTRIP_TIMEOUT:-120s}" || status=$?
echo "mailtrip: exit $status; JUnit report in $report"
exit "$status"
