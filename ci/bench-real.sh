#!/usr/bin/env bash
# Issue 14's comparison: mailtrip check against a real Postfix + Dovecot (ci/mailstack), paired
# and interleaved with a Python smtplib/imaplib script (benches/anchors/roundtrip.py) and
# check_email_delivery; then mailtrip check against the embedded server and mailtrip load against
# the stack. Prints every figure and the ratios against the issue's targets. Not part of
# `cargo test`. Usage: bash ci/bench-real.sh [ROUNDS]   (MAILSTACK_DIR picks the state dir)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-${BENCH_ROUNDS:-15}}
LOAD_PROBES=${LOAD_PROBES:-1000}
# 16 in flight: Postfix delivers into Dovecot over LMTP at ~300-380/s on this machine, so more
# probes in flight only queue (Little's law: 64 in flight at ~370/s wait ~170 ms each); 16 keep
# the stack at its rate with p50 ~40 ms. LOAD_CONCURRENCY=64 shows the queueing.
LOAD_CONCURRENCY=${LOAD_CONCURRENCY:-16}
state="${MAILSTACK_DIR:-/tmp/mailtrip-mailstack}"
work=$(mktemp -d)

bash ci/mailstack/install.sh
# check_email_delivery and the Perl modules it needs (Recommends of its package).
if [[ ! -x /usr/lib/nagios/plugins/check_email_delivery ]] || ! perl -MNet::SMTP::TLS -MMail::IMAPClient -e1 2>/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends monitoring-plugins-contrib \
    libio-socket-ssl-perl libmail-imapclient-perl libnet-smtp-tls-perl libnet-smtp-ssl-perl \
    libnet-smtpauth-perl libauthen-sasl-perl >/dev/null
fi
command -v hyperfine >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y hyperfine >/dev/null
cargo build --release --quiet
bin=$PWD/target/release/mailtrip

trap 'kill ${monitor_pid:-} 2>/dev/null || true; bash ci/mailstack/stop.sh "$state" >/dev/null || true; rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
env_file=$(bash ci/mailstack/start.sh "$state" 2>/dev/null | tail -n1)
set -a
# shellcheck disable=SC1090
. "$env_file"
set +a

# Every client trusts the system roots plus the stack's CA, as `mailtrip --ca-file` does. The
# Perl plugin reads OpenSSL's SSL_CERT_FILE, so it gets one bundle with both.
cat /etc/ssl/certs/ca-certificates.crt "$MAILSTACK_CA" >"$work/bundle.pem"
export MAILTRIP_PASSWORD=$MAILSTACK_PASS1
mailtrip_check="$bin check --format json --smtp smtp+starttls://$MAILSTACK_TLS_NAME:$MAILSTACK_SUBMISSION_PORT \
--imap imaps://$MAILSTACK_TLS_NAME:$MAILSTACK_IMAPS_PORT --user $MAILSTACK_USER1 --ca-file $MAILSTACK_CA"
python_check="python3 benches/anchors/roundtrip.py"
ced_check="SSL_CERT_FILE=$work/bundle.pem /usr/lib/nagios/plugins/check_email_delivery -H $MAILSTACK_TLS_NAME \
--smtp-port $MAILSTACK_SUBMISSION_PORT --smtptls --imap-port $MAILSTACK_IMAPS_PORT --imapssl \
--username $MAILSTACK_USER1 --password $MAILSTACK_PASS1 --mailto $MAILSTACK_USER1 --mailfrom $MAILSTACK_USER1 \
--wait 1 --imap-check-interval 1 --libexec /usr/lib/nagios/plugins"

# Warm-up: first logins, page cache, Dovecot's index files.
for cmd in "$mailtrip_check" "$python_check" "$ced_check"; do sh -c "$cmd" >/dev/null 2>&1 || true; done

echo "== check against Postfix + Dovecot: $ROUNDS paired, interleaved rounds"
PAIRED_JSON=$work/real.json python3 benches/anchors/paired.py "$ROUNDS" \
  "mailtrip=$mailtrip_check" "python=$python_check" "check_email_delivery=$ced_check"

echo
echo "== check against the embedded server (hyperfine, $((ROUNDS * 2)) runs)"
# -N: no shell between hyperfine and mailtrip, so the figure is mailtrip's alone.
hyperfine -N --style basic --warmup 2 --runs $((ROUNDS * 2)) --export-json "$work/embedded.json" \
  "env -u MAILTRIP_PASSWORD $bin check --format json" | grep -E "Time|Range" || true

echo
echo "== load against Postfix + Dovecot ($LOAD_PROBES probes, $LOAD_CONCURRENCY in flight)"
$bin load --format json --probes "$LOAD_PROBES" --concurrency "$LOAD_CONCURRENCY" \
  --smtp "smtp+starttls://$MAILSTACK_TLS_NAME:$MAILSTACK_SUBMISSION_PORT" \
  --imap "imaps://$MAILSTACK_TLS_NAME:$MAILSTACK_IMAPS_PORT" --user "$MAILSTACK_USER1" \
  --ca-file "$MAILSTACK_CA" >"$work/load.json" || true

echo
echo "== monitor against Postfix + Dovecot (interval 1s, ${MONITOR_SECONDS:-20} s)"
port=$(python3 -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
$bin monitor --listen "127.0.0.1:$port" --interval 1s \
  --smtp "smtp+starttls://$MAILSTACK_TLS_NAME:$MAILSTACK_SUBMISSION_PORT" \
  --imap "imaps://$MAILSTACK_TLS_NAME:$MAILSTACK_IMAPS_PORT" --user "$MAILSTACK_USER1" \
  --ca-file "$MAILSTACK_CA" >"$work/monitor.log" 2>&1 &
monitor_pid=$!
sleep "${MONITOR_SECONDS:-20}"
curl -s "http://127.0.0.1:$port/metrics" >"$work/metrics.txt" || true
kill "$monitor_pid" 2>/dev/null || true
wait "$monitor_pid" 2>/dev/null || true

echo
echo "== detection after the SMTP 250: IDLE versus NOOP polls (what an early-poll schedule gains)"
ROUNDS=$ROUNDS POLL_MS=5 python3 benches/anchors/idle_vs_poll.py | tee "$work/detect.txt"

python3 - "$work" <<'PY'
import json, re, sys
w = sys.argv[1]
real = json.load(open(f"{w}/real.json"))
emb = json.load(open(f"{w}/embedded.json"))["results"][0]
load = json.load(open(f"{w}/load.json"))
m = real["mailtrip"]
lat = load["latency_ms"]
emb_ms = emb["median"] * 1000
# Monitor: mean round trip and the histogram bucket holding the median.
metrics = open(f"{w}/metrics.txt").read()
def metric(name):
    m = re.search(rf"^{name}{{[^}}]*}} ([0-9.e+-]+)$", metrics, re.M)
    return float(m.group(1)) if m else float("nan")
mon_n = metric("mailtrip_monitor_round_trip_seconds_count")
mon_mean = metric("mailtrip_monitor_round_trip_seconds_sum") / mon_n * 1000 if mon_n else float("nan")
buckets = [(float(le), float(v)) for le, v in re.findall(
    r'^mailtrip_monitor_round_trip_seconds_bucket\{le="([0-9.]+)",[^}]*\} ([0-9.]+)$', metrics, re.M)]
mon_p50 = next((le * 1000 for le, v in buckets if mon_n and v >= mon_n / 2), float("nan"))
rows = [
    ("check wall median (ms)", m["wall_ms"], "<= 60", m["wall_ms"] <= 60),
    ("check CPU median (ms)", m["cpu_ms"], "<= 20", m["cpu_ms"] <= 20),
    ("python / mailtrip (paired)", real["python"]["ratio_vs_mailtrip"], ">= 3x", real["python"]["ratio_vs_mailtrip"] >= 3),
    ("check_email_delivery / mailtrip", real["check_email_delivery"]["ratio_vs_mailtrip"], ">= 20x", real["check_email_delivery"]["ratio_vs_mailtrip"] >= 20),
    ("embedded check wall median (ms)", emb_ms, "<= 20", emb_ms <= 20),
    ("load round trips/s", load["throughput_per_sec"], ">= 300", load["throughput_per_sec"] >= 300),
    ("load latency p50 (ms)", lat["p50"], "<= 50", lat["p50"] <= 50),
    ("load lost", load["lost"], "0", load["lost"] == 0),
    ("monitor round trip p50 <= (ms)", mon_p50, "<= 50", mon_p50 <= 50),
]
print()
print("== summary against issue 14's targets")
for name, value, target, ok in rows:
    print(f"{name:<34} {value:>9.2f}   target {target:<7} {'met' if ok else 'MISSED'}")
print(f"load: sent {load['sent']}, delivered {load['delivered']}, send failures {load['send_failed']}, "
      f"latency p90 {lat['p90']:.1f} / p99 {lat['p99']:.1f} / max {lat['max']:.1f} ms, "
      f"{load['settings']['smtp_connections']} SMTP connections, idle={load['idle']}")
print(f"embedded check: median {emb_ms:.1f} ms, user {emb['user'] * 1000:.1f} ms + sys {emb['system'] * 1000:.1f} ms (means)")
print(f"monitor: {mon_n:.0f} round trips, mean {mon_mean:.1f} ms; the median lies in the histogram bucket ending at {mon_p50:.0f} ms")
print("check phases (median ms): " + ", ".join(f"{k} {v:.1f}" for k, v in m["phases_ms"].items()))
PY
