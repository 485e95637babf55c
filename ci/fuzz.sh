#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time (FUZZ_SECONDS, default 60 each), starting
# from the committed seeds, and prints each corpus size. Stable Rust: RUSTC_BOOTSTRAP lets
# cargo-fuzz pass its sanitizer flags. A crash fails the script and leaves fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${FUZZ_SECONDS:-60}"
targets=(smtp_session imap_session verify_message auth_results received)

command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1

for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  cp -n seeds/"$t"/* "corpus/$t/" 2>/dev/null || true
  echo "== fuzz $t for ${seconds}s"
  log="$(mktemp)"
  if ! cargo fuzz run "$t" "corpus/$t" -- -max_total_time="$seconds" -timeout=10 \
      -rss_limit_mb=2048 >"$log" 2>&1; then
    tail -40 "$log" >&2
    echo "fuzz: $t failed; crashing inputs (if any) are in fuzz/artifacts/$t/" >&2
    exit 1
  fi
  grep -E '^Done [0-9]+ runs' "$log" || tail -3 "$log"
  rm -f "$log"
  echo "fuzz: $t corpus: $(ls "corpus/$t" | wc -l) inputs"
done
echo "fuzz: all targets ran clean"
