#!/usr/bin/env bash
# A first look at the data plane's cost (the full harness is the benchmark issue's): starts
# `psn demo` from a release build, then runs short, bounded wrk loads on loopback against the
# sample eligibility backend directly and through the Kent -> DfE gateway pair.
# Usage: bench/quick-pair.sh [seconds per run, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release -q -p psn
dir=$(mktemp -d)
target/release/psn demo --data-dir "$dir/demo" >"$dir/out.log" 2>"$dir/err.log" &
demo=$!
trap 'kill -INT $demo 2>/dev/null; wait $demo 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 120); do grep -q "Ctrl-C" "$dir/out.log" 2>/dev/null && break; sleep 0.5; done
kent=$(python3 -c "import json,sys; d=json.load(open('$dir/demo/demo.json')); print([m['internal'] for m in d['members'] if m['id']=='GB/LA/E10000016'][0])")
backend=$(grep -A2 'services' "$dir"/demo/gateways/GB-GOV-D6/gateway.toml | grep backend | cut -d'"' -f2)
pair="$kent/r1/GB/GOV/D6/eligibility/fsm-check/check?nino=QQ123456C"
direct="$backend/check?nino=QQ123456C"
run() { # name url conns extra-header...
  local name=$1 url=$2 conns=$3; shift 3
  wrk -t1 -c"$conns" -d"${secs}s" --latency "$@" "$url" | awk -v n="$name" -v c="$conns" '
    /Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
    END {printf "%-8s %4d conns  %10.0f req/s  p50 %8s  p99 %8s\n", n, c, rps, p50, p99}'
}
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%F)"
for conns in 64 1; do
  run direct "$direct" "$conns"
  run pair "$pair" "$conns" -H "PSN-Client: GB/LA/E10000016/revenues"
done
