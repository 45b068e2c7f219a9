#!/usr/bin/env bash
# Bounded fuzzing of psn's parsers of untrusted input (fuzz/README.md): each target runs for
# FUZZ_SECONDS (default 20: with a dozen targets the whole step fuzzes for about four minutes,
# after building them) from its committed seeds (fuzz/seeds/<target>/) and what earlier runs
# kept (fuzz/corpus/<target>/, not committed). cargo-fuzz needs a nightly compiler; where none is
# installed the step says so and is skipped. A crash fails the run and leaves its input in
# fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${FUZZ_SECONDS:-20}"
if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzzing skipped: no nightly toolchain is installed, and cargo-fuzz needs one"
  exit 0
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

# One build of every target first: they share their dependencies, and one cargo run links them
# side by side rather than one at a time inside the timed runs.
echo "building the fuzz targets"
if ! cargo +nightly fuzz build >fuzz-build.log 2>&1; then
  tail -40 fuzz-build.log >&2
  echo "building the fuzz targets failed" >&2
  exit 1
fi
rm -f fuzz-build.log

for target in $(cargo +nightly fuzz list); do
  mkdir -p "corpus/$target"
  inputs=("corpus/$target")
  if [ -d "seeds/$target" ]; then
    inputs+=("seeds/$target")
  fi
  echo "fuzzing $target for ${seconds}s"
  set +e
  cargo +nightly fuzz run "$target" "${inputs[@]}" -- -max_total_time="$seconds" >"fuzz-$target.log" 2>&1
  status=$?
  set -e
  grep -E '^(Done|INFO: seed corpus)' "fuzz-$target.log" || true
  if [ "$status" -ne 0 ]; then
    tail -40 "fuzz-$target.log" >&2
    echo "fuzzing $target failed (exit $status); inputs that fail are in fuzz/artifacts/$target/" >&2
    exit "$status"
  fi
  rm -f "fuzz-$target.log"
done
