#!/usr/bin/env bash
# Installs (non-interactively, idempotently) the Debian packages for the mailtrip
# real-server test stack: Postfix, Dovecot (IMAP/LMTP/Sieve), swaks (+Net::SSLeay for TLS), OpenSSL, python3.
set -euo pipefail

PKGS=(postfix dovecot-core dovecot-imapd dovecot-lmtpd dovecot-sieve swaks openssl
      ca-certificates libssl-dev pkg-config python3 libnet-ssleay-perl)

# Stop any system-wide daemons the packages may have started (no systemd here, but
# invoke-rc.d/init scripts can still start them). Tolerates their absence.
stop_system_daemons() {
  if command -v postfix >/dev/null 2>&1; then
    postfix status >/dev/null 2>&1 && postfix stop >/dev/null 2>&1 || true
  fi
  if command -v doveadm >/dev/null 2>&1; then
    doveadm stop >/dev/null 2>&1 || true
  fi
  # Only the system master processes (default config paths), never our own instances.
  local pidfile pid
  for pidfile in /var/spool/postfix/pid/master.pid /run/dovecot/master.pid; do
    if [[ -r $pidfile ]]; then
      pid=$(tr -dc '0-9' <"$pidfile")
      [[ -n $pid ]] && kill "$pid" 2>/dev/null || true
    fi
  done
}

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "mailstack: all packages already installed"
  stop_system_daemons
  exit 0
fi

echo "mailstack: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
echo "postfix postfix/mailname string localhost" | debconf-set-selections

# Keep init scripts from starting daemons during install (restored afterwards).
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod +x "$policy"
  created_policy=1
fi
cleanup() { if ((created_policy)); then rm -f "$policy"; fi; }
trap cleanup EXIT

apt_get() { apt-get -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"; }
if ! apt_get install --no-install-recommends "${missing[@]}"; then
  apt-get update -q
  apt_get install --no-install-recommends "${missing[@]}"
fi

stop_system_daemons
echo "mailstack: install done"
