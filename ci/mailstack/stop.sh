#!/usr/bin/env bash
# Stops the mailtrip test stack's Postfix and Dovecot instances (found via their PID files
# under STATE_DIR) and waits for them to exit. Tolerates a stack that is not running.
set -euo pipefail

S=${1:-${MAILSTACK_DIR:-/tmp/mailtrip-mailstack}}
S=${S%/}

pid_from() { [[ -r $1 ]] && tr -dc '0-9' <"$1" || true; }
alive() { [[ -n $1 ]] && kill -0 "$1" 2>/dev/null; }
wait_gone() { # pid name
  local pid=$1 name=$2 i
  for ((i = 0; i < 100; i++)); do alive "$pid" || return 0; sleep 0.1; done
  echo "mailstack: $name (pid $pid) still running after 10 s; sending SIGKILL" >&2
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 20; i++)); do alive "$pid" || return 0; sleep 0.1; done
  echo "mailstack: WARNING: $name (pid $pid) did not exit" >&2
}

stopped=0

# Postfix: master.pid lives in the queue directory.
pf_pid=$(pid_from "$S/postfix-queue/pid/master.pid")
if alive "$pf_pid"; then
  postfix -c "$S/postfix" stop >/dev/null 2>&1 || kill -TERM "$pf_pid" 2>/dev/null || true
  wait_gone "$pf_pid" postfix
  stopped=1
fi

# Dovecot: master.pid lives in base_dir.
dc_pid=$(pid_from "$S/dovecot/run/master.pid")
if alive "$dc_pid"; then
  kill -TERM "$dc_pid" 2>/dev/null || true
  wait_gone "$dc_pid" dovecot
  stopped=1
fi

if ((stopped)); then
  echo "mailstack: stopped (state kept in $S)"
else
  echo "mailstack: not running ($S)"
fi
