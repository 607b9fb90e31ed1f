#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for FUZZ_SECONDS (default 10) each, seeded
# from the committed corpora in fuzz/corpus/<target>/. Fails on the first
# crash, leak, timeout or out-of-memory; the reproducer is left in
# fuzz/artifacts/<target>/ (replay: cd fuzz && cargo +nightly fuzz run -O <target> <file>).
#
# The committed corpora are read-only here: new inputs go to a scratch
# directory (.run/fuzz-corpus/<target>), so a smoke run leaves git clean.
# Builds are cached in fuzz/target: only the first run pays the nightly
# build (about 4 min of CPU, 7.5 min wall on 2 busy cores); after a policies
# change about 1 min; unchanged: seconds.
#
#   FUZZ_SECONDS=60 scripts/fuzz-smoke.sh            every target, 60 s each
#   scripts/fuzz-smoke.sh jwt_verify route_match     some targets
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH="$ROOT/.tools/bin:$PATH"
SECONDS_EACH=${FUZZ_SECONDS:-10}

command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz missing: run scripts/bootstrap.sh" >&2; exit 1; }
rustup toolchain list | grep -q '^nightly' || { echo "the nightly toolchain is missing: rustup toolchain install nightly" >&2; exit 1; }

mkdir -p "$ROOT/.run"
cd fuzz
if (($#)); then targets=("$@"); else mapfile -t targets < <(cargo +nightly fuzz list); fi

start=$(date +%s)
# -O: optimized, with debug assertions and AddressSanitizer (cargo-fuzz defaults).
build() { cargo +nightly fuzz build -O "$@" >"$ROOT/.run/fuzz-build.log" 2>&1 || { cat "$ROOT/.run/fuzz-build.log" >&2; exit 1; }; }
if (($#)); then for t in "${targets[@]}"; do build "$t"; done; else build; fi
built=$(date +%s)
echo "fuzz: built ${#targets[@]} targets in $((built - start)) s"

failed=()
for t in "${targets[@]}"; do
  scratch="$ROOT/.run/fuzz-corpus/$t"
  mkdir -p "$scratch" "corpus/$t" "artifacts/$t"
  # The built binary directly (cargo fuzz run would re-check the build per target).
  # -rss_limit_mb / -timeout: an input that needs > 2 GiB or 10 s is a finding too.
  if "target/x86_64-unknown-linux-gnu/release/$t" "$scratch" "corpus/$t" \
       -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=10 -max_len=16384 \
       -artifact_prefix="artifacts/$t/" >"$ROOT/.run/fuzz-$t.log" 2>&1; then
    printf 'fuzz: %-18s ok   %s\n' "$t" "$(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$ROOT/.run/fuzz-$t.log" | tail -1)"
  else
    printf 'fuzz: %-18s FAILED (log: .run/fuzz-%s.log, reproducer in fuzz/artifacts/%s/)\n' "$t" "$t" "$t"
    tail -40 "$ROOT/.run/fuzz-$t.log" >&2
    failed+=("$t")
  fi
done
echo "fuzz: total $(( $(date +%s) - start )) s (${SECONDS_EACH} s per target)"
((${#failed[@]} == 0)) || { echo "fuzz: crashes in ${failed[*]}" >&2; exit 1; }
