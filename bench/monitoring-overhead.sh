#!/usr/bin/env bash
# What monitoring costs the data plane: the same `psn demo` pair (Kent -> DfE, every feature on,
# durable audit log) with the gateways' monitoring on (aggregates delivered every 10 s, probes
# every 30 s: the defaults) and off, interleaved, each run a bounded wrk load on loopback.
# Prometheus counting stays on in both (it cannot be turned off); trace export is off in both.
# Usage: bench/monitoring-overhead.sh [repetitions, default 3] [seconds per run, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
reps="${1:-3}"
secs="${2:-10}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release -q -p psn
dir=$(mktemp -d)
demo=""
stop_demo() { if [ -n "$demo" ]; then kill -INT "$demo" 2>/dev/null || true; wait "$demo" 2>/dev/null || true; demo=""; fi; }
trap 'stop_demo; rm -rf "$dir"' EXIT
run() { # monitoring conns -> req/s
  local monitoring=$1 conns=$2
  rm -rf "$dir/demo" "$dir/out.log"
  target/release/psn demo --data-dir "$dir/demo" --monitoring "$monitoring" >"$dir/out.log" 2>"$dir/err.log" &
  demo=$!
  for _ in $(seq 1 120); do grep -q "Ctrl-C" "$dir/out.log" 2>/dev/null && break; sleep 0.5; done
  local kent
  kent=$(python3 -c "import json; d=json.load(open('$dir/demo/demo.json')); print([m['internal'] for m in d['members'] if m['id']=='GB/LA/E10000016'][0])")
  wrk -t1 -c"$conns" -d"${secs}s" -H "PSN-Client: GB/LA/E10000016/revenues" \
    "$kent/r1/GB/GOV/D6/eligibility/fsm-check/check?nino=QQ123456C" | awk '/Requests\/sec/ {print $2}'
  stop_demo
}
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%F)"
for conns in 64 1; do
  ratios=()
  for rep in $(seq 1 "$reps"); do
    on=$(run on "$conns")
    off=$(run off "$conns")
    ratio=$(python3 -c "print(f'{$on/$off:.3f}')")
    ratios+=("$ratio")
    printf "%3d conns  rep %d  on %9.0f req/s  off %9.0f req/s  on/off %s\n" "$conns" "$rep" "$on" "$off" "$ratio"
  done
  python3 -c "import statistics,sys; c=sys.argv[1]; r=[float(x) for x in sys.argv[2:]]; print(f'{c:>3} conns  median on/off {statistics.median(r):.3f} (range {min(r):.3f}-{max(r):.3f})')" "$conns" "${ratios[@]}"
done
