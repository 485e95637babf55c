#!/usr/bin/env bash
# Peer check of `mailtrip monitor` by a real Prometheus (issue 19): promtool checks README's
# scrape config and alert rules, then Prometheus scrapes /probe?route=NAME through README's
# relabelling and must see probe_success 1, the scrape timeout less 0.5 s, and up 0 for a
# route the monitor does not know. Needs `prometheus` and `promtool` (apt-get install
# prometheus). Usable locally: `bash ci/prometheus.sh` (builds the binary first).
set -euo pipefail
cd "$(dirname "$0")/.."

for c in prometheus promtool curl python3; do
  command -v "$c" >/dev/null || { echo "prometheus.sh: '$c' not found (apt-get install prometheus)" >&2; exit 1; }
done
cargo build --quiet
bin=$PWD/target/debug/mailtrip
work=$(mktemp -d /tmp/mailtrip-prometheus.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# 1. README's snippets, as written, are valid for promtool.
python3 - "$work" <<'EOF'
import re, sys
work = sys.argv[1]
readme = open("README.md").read()
blocks = re.findall(r"```yaml\n(.*?)```", readme, re.S)
scrape = next(b for b in blocks if "job_name: mailtrip-probe" in b)
open(f"{work}/readme-scrape.yml", "w").write(scrape)
rules = next(b for b in blocks if "alert: MailRoundTripFailing" in b)
rules = rules[rules.index("groups:"):]
extra = next(b for b in blocks if "alert: MailProbeFailing" in b)
extra = "".join(l + "\n" for l in extra.splitlines() if not l.lstrip().startswith("#"))
open(f"{work}/readme-rules.yml", "w").write(rules.rstrip("\n") + "\n" + extra)
EOF
promtool check config "$work/readme-scrape.yml"
promtool check rules "$work/readme-rules.yml"

# 2. A live scrape: the monitor on the embedded demo server, probing only on scrape.
"$bin" monitor --no-interval --listen 127.0.0.1:0 2>"$work/monitor.log" &
pids+=($!)
for _ in $(seq 100); do
  addr=$(grep -o 'listening on http://[0-9.:]*' "$work/monitor.log" | sed 's|.*http://||' || true)
  [[ -n $addr ]] && break
  sleep 0.1
done
[[ -n $addr ]] || { cat "$work/monitor.log" >&2; exit 1; }
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$work/prometheus.yml" <<EOF
scrape_configs:
  - job_name: mailtrip-probe
    metrics_path: /probe
    scrape_interval: 2s
    scrape_timeout: 2s
    static_configs:
      - targets: [embedded, not-a-route]
        labels: {__tmp_monitor: "$addr", region: demo}
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_route
      - source_labels: [__param_route]
        target_label: route
      - source_labels: [__tmp_monitor]
        target_label: __address__
EOF
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
  --web.listen-address="127.0.0.1:$port" >"$work/prometheus.log" 2>&1 &
pids+=($!)

query() {
  curl -s "http://127.0.0.1:$port/api/v1/query" --data-urlencode "query=$1" |
    python3 -c 'import json, sys; r = json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")' 2>/dev/null || true
}
want() { # QUERY VALUE: waits up to 60 s for the query to return VALUE
  for _ in $(seq 120); do
    [[ $(query "$1") == "$2" ]] && { echo "prometheus.sh: ok: $1 == $2"; return 0; }
    sleep 0.5
  done
  echo "prometheus.sh: FAILED: $1 is '$(query "$1")', not $2" >&2
  cat "$work/monitor.log" >&2
  exit 1
}
want 'probe_success{route="embedded",region="demo"}' 1
want 'probe_mailtrip_timeout_seconds{route="embedded"}' 1.5
want 'count(probe_mailtrip_phase_duration_seconds{route="embedded",phase=~"smtp_submit|delivery|fetch|verify"})' 4
want 'up{route="not-a-route"}' 0
want 'up{route="embedded"}' 1
echo "prometheus.sh: a real Prometheus scraped /probe through README's relabelling"
