#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz and libFuzzer on the nightly toolchain) of the message
# decoders, the key/proof/ciphertext parsers, the round state machine, the DSMR importer and the
# web app's form parsing: builds every target in fuzz/ and runs each for SECS seconds (default 30).
#
#   bash tests/fuzz.sh [SECS] [TARGET...]
#   bash tests/fuzz.sh --build-only      install cargo-fuzz if missing and build every target
#
# Inputs start from fuzz/seeds/<target> and, for the message targets, the golden vectors in
# schemas/testdata/golden; what libFuzzer learns is kept in ~/.cache/zebra-zeal/fuzz/<target> so
# a later run goes on from there. A crash stops the script: its input is in
# fuzz/artifacts/<target>/, and the fix keeps it as a regression test in the crate it hit.
# Installs cargo-fuzz (~2 min, cached in ~/.cargo/bin) when missing; needs the nightly
# toolchain (rustup toolchain install nightly). Exit status: 0 when no target crashed.
set -euo pipefail

cd "$(dirname "$0")/.."
: "${HOME:=$(getent passwd "$(id -u)" | cut -d: -f6)}"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/zebra-zeal/fuzz"
CARGO_FUZZ_VERSION=0.13.2
BUILD_ONLY=""
if [ "${1:-}" = --build-only ]; then BUILD_ONLY=1; shift; fi
SECS=${1:-30}
[ $# -gt 0 ] && shift
case $SECS in '' | *[!0-9]*) echo "tests/fuzz.sh: SECS must be a number of seconds" >&2; exit 2 ;; esac

say() { printf '==> %s\n' "$*" >&2; }

rustup toolchain list 2>/dev/null | grep -q '^nightly' \
  || { echo "tests/fuzz.sh: the nightly toolchain is missing (rustup toolchain install nightly)" >&2; exit 1; }
if ! cargo fuzz --version >/dev/null 2>&1; then
  say "installing cargo-fuzz $CARGO_FUZZ_VERSION (cargo install; ~2 min)"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list --fuzz-dir fuzz)
fi
mkdir -p "$CACHE"
say "building the fuzz targets (nightly, address sanitizer; first run ~10 min)"
start=$SECONDS
cargo +nightly fuzz build --fuzz-dir fuzz >"$CACHE/build.log" 2>&1 \
  || { tail -n 40 "$CACHE/build.log" >&2; echo "tests/fuzz.sh: build failed (log: $CACHE/build.log)" >&2; exit 1; }
say "built in $((SECONDS - start))s"
[ -z "$BUILD_ONLY" ] || exit 0
for t in "${targets[@]}"; do
  work="$CACHE/$t"
  mkdir -p "$work"
  seeds=()
  [ -d "fuzz/seeds/$t" ] && seeds+=("fuzz/seeds/$t")
  case $t in wire_message | round_record) seeds+=(schemas/testdata/golden) ;; esac
  say "fuzzing $t for ${SECS}s"
  start=$SECONDS
  # -malloc_limit_mb: one allocation above 64 MiB is a finding (a decoder trusting a length).
  cargo +nightly fuzz run --fuzz-dir fuzz "$t" "$work" "${seeds[@]}" -- \
    -max_total_time="$SECS" -rss_limit_mb=2048 -malloc_limit_mb=64 -print_final_stats=1 \
    2>"$work.log" || { tail -n 40 "$work.log" >&2; echo "tests/fuzz.sh: $t crashed (log: $work.log)" >&2; exit 1; }
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work.log" | grep -o '[0-9]*$' || echo '?')
  say "$t: $runs runs in $((SECONDS - start))s, corpus $(ls "$work" | wc -l) inputs, no crash"
done
