#!/usr/bin/env bash
# README's "Use it as a library", checked for real: a scratch crate that depends on this
# repository by path gets the README blocks marked `<!-- readme-test: PATH -->` pasted in
# verbatim (so they cannot drift), then `cargo test --offline` runs there, and the `since`
# test 20 more times (it once lost 4 mails in 5). Crates come from the local registry cache
# and this repository's Cargo.lock; the build shares this repository's target directory.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d "${TMPDIR:-/tmp}/mailtrip-readme.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

python3 - "$repo/README.md" "$scratch" "$repo" <<'PY'
import pathlib, re, sys

readme, scratch, repo = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
blocks = re.findall(r"<!-- readme-test: (\S+) -->\n```[^\n]*\n(.*?)\n```", readme.read_text(), re.S)
want = {"Cargo.toml", "tests/signup.rs", "tests/plain.rs", "tests/check.rs"}
found = {path for path, _ in blocks}
if found != want:
    sys.exit(f"readme-lib: README's readme-test blocks are {sorted(found)}, expected {sorted(want)}")
for path, body in blocks:
    out = scratch / path
    out.parent.mkdir(parents=True, exist_ok=True)
    if path == "Cargo.toml":
        # The README names a crates.io version (`version = "0.1"`, with the features it
        # uses); test this checkout instead, with the same features.
        body, n = re.subn(r'(?m)^(mailtrip = \{ )version = "[^"]*"', f'\\1path = "{repo}"', body)
        if n != 1:
            sys.exit("readme-lib: no `mailtrip = { version = \"...\", ... }` line in README's Cargo.toml block")
        body = '[package]\nname = "readme-lib"\nversion = "0.0.0"\nedition = "2024"\npublish = false\n\n' + body + "\n"
    out.write_text(body + "\n")
(scratch / "src").mkdir()
(scratch / "src" / "lib.rs").write_text("//! Scratch crate for ci/readme-lib.sh.\n")
PY

cp "$repo/Cargo.lock" "$scratch/"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
cd "$scratch"
echo "== README library snippets: cargo test --offline in $scratch"
cargo test --offline
echo "== since(now) just before sending, 20 times"
for i in $(seq 1 20); do
  if ! out=$(cargo test --offline -q --test signup mail_since_a_moment 2>&1); then
    echo "$out"
    echo "readme-lib: since(now) missed the mail on run $i of 20"
    exit 1
  fi
done
echo "readme-lib: 20 of 20"
