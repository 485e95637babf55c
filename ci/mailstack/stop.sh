#!/usr/bin/env bash
# Stops the mailtrip test stack's Postfix and Dovecot instances (found via their PID files
# under STATE_DIR) and waits for them to exit. Tolerates a stack that is not running.
set -euo pipefail

S=${1:-${MAILSTACK_DIR:-/tmp/mailtrip-mailstack}}
S=${S%/}

pid_from() { [[ -r $1 ]] && tr -dc '0-9' <"$1" || true; }
alive() { [[ -n $1 ]] && kill -0 "$1" 2>/dev/null; }
# Guard against a stale PID file whose pid now belongs to some other process.
is_cmd() { # pid pattern
  [[ -n $1 ]] && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qE "$2"
}
wait_gone() { # pid name
  local pid=$1 name=$2 i
  for ((i = 0; i < 100; i++)); do alive "$pid" || return 0; sleep 0.1; done
  echo "mailstack: $name (pid $pid) still running after 10 s; sending SIGKILL" >&2
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 20; i++)); do alive "$pid" || return 0; sleep 0.1; done
  echo "mailstack: WARNING: $name (pid $pid) did not exit" >&2
}

# The masters call setsid(), so each leads a process group of only its own children:
# signalling that group as well makes shutdown ~1 s instead of ~3 s (dovecot).
term_master() { # pid
  local pid=$1 pgid
  kill -TERM "$pid" 2>/dev/null || true
  pgid=$(awk '{print $5}' "/proc/$pid/stat" 2>/dev/null || true)
  if [[ $pgid == "$pid" ]]; then kill -TERM -- "-$pgid" 2>/dev/null || true; fi
}

stopped=0

# Postfix: master.pid lives in the queue directory. SIGTERM to master == "postfix stop".
pf_pid=$(pid_from "$S/postfix-queue/pid/master.pid")
if alive "$pf_pid" && is_cmd "$pf_pid" 'postfix/.*master|^master'; then
  term_master "$pf_pid"
  wait_gone "$pf_pid" postfix
  stopped=1
fi

# Dovecot: master.pid lives in base_dir.
dc_pid=$(pid_from "$S/dovecot/run/master.pid")
if alive "$dc_pid" && is_cmd "$dc_pid" 'dovecot'; then
  term_master "$dc_pid"
  wait_gone "$dc_pid" dovecot
  stopped=1
fi

if ((stopped)); then
  echo "mailstack: stopped (state kept in $S)"
else
  echo "mailstack: not running ($S)"
fi
