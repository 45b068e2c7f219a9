#!/usr/bin/env bash
# The web UI in a real browser: starts an authority (SQLite) on loopback with two members, an
# enrolled gateway with a service, a grant and an SLA, one person per role, and a federated
# partner network GB-KENT (a second authority, each importing the other's anchor), then runs the
# Playwright suite in ui-tests/ with Debian's Chromium (Playwright cannot download browsers here)
# and axe-core. Benchmarks are set up over every real council with the demo's synthetic returns.
# Screenshots of every page are kept under target/ui-tests/screenshots (in CARGO_TARGET_DIR when
# it is set). Hook into .ci/run with `bash .ci/ui-tests.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
if ! command -v chromium >/dev/null 2>&1; then
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi
export PSN_CHROMIUM="${PSN_CHROMIUM:-$(command -v chromium)}"

cargo build -p psn --locked
target=${CARGO_TARGET_DIR:-$PWD/target}
psn=$target/debug/psn
out=$target/ui-tests
rm -rf "$out"
mkdir -p "$out/screenshots"
work=$(mktemp -d)
server=""
kent_server=""
cleanup() {
  for pid in "$server" "$kent_server"; do
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  done
  rm -rf "$work"
}
trap cleanup EXIT

listening() { # pid log -> the URL the authority serving as pid says it listens on
  local url=""
  for _ in $(seq 1 100); do
    url=$(grep -o 'listening on https://[0-9.:]*' "$2" | sed 's/listening on //' || true)
    [ -n "$url" ] && { echo "$url"; return 0; }
    kill -0 "$1" || { cat "$2" >&2; return 1; }
    sleep 0.1
  done
  echo "the authority did not start" >&2
  cat "$2" >&2
  return 1
}

"$psn" authority init --data-dir "$work/gb" --network GB >/dev/null
"$psn" authority serve --data-dir "$work/gb" --listen 127.0.0.1:0 >"$work/serve.log" 2>&1 &
server=$!
url=$(listening "$server" "$work/serve.log")

d=(--data-dir "$work/gb")
"$psn" authority member add GB/LA/E10000016 --name "Kent County Council" --region "South East" "${d[@]}" >/dev/null
"$psn" authority member add GB/LA/E10000008 --name "Devon County Council" --region "South West" "${d[@]}" >/dev/null
"$psn" authority subsystem add GB/LA/E10000016/revenues "${d[@]}" >/dev/null
"$psn" authority subsystem add GB/LA/E10000008/benefits "${d[@]}" >/dev/null
token=$("$psn" authority token create --member GB/LA/E10000016 --gateway gw1 "${d[@]}" 2>/dev/null)
"$psn" gateway enrol --data-dir "$work/kent-gw1" --token "$token" --address gw1.kent.example:8443 >/dev/null
g=(--data-dir "$work/kent-gw1")
service=GB/LA/E10000016/revenues/council-tax
"$psn" gateway service add "$service" --backend http://127.0.0.1:9/lookup --title "Council tax account lookup" --process lgsl:58 "${g[@]}" >/dev/null
"$psn" gateway access grant --service "$service" --to GB/LA/E10000008 --method GET --path '/accounts/*' "${g[@]}" >/dev/null
# More listings, so the catalogue's search has facets to count and something to rank.
"$psn" gateway service add GB/LA/E10000016/revenues/council-tax-support --backend http://127.0.0.1:9/support \
  --title "Council tax support claims" --process lgsl:63 --process lgsl:64 --lifecycle beta "${g[@]}" >/dev/null
"$psn" gateway service add GB/LA/E10000016/revenues/payroll --backend http://127.0.0.1:9/payroll \
  --title "Payroll for schools" --process psn:4002 --service-type files --who-may-apply by-request "${g[@]}" >/dev/null
"$psn" gateway sla set "$service" --availability 99.5 --window month --latency 'p95<800ms' "${g[@]}" >/dev/null

# A day of measurements, as Kent's gateway would deliver them after calling the council tax
# lookup from its revenues system: 100 exchanges an hour, the backend failing a few in the
# afternoon, latency drifting. Delivered over the gateway's own mutual TLS, exactly as
# `psn gateway serve` delivers them, so the SLA report pages have something to chart.
node -e '
const service = process.argv[1], client = process.argv[2]
const hour = Math.floor(Date.now() / 3600000) * 60
const rows = []
for (let h = 1; h <= 24; h++) {
  const minute = hour - h * 60
  const ms = 20 + (h % 7)
  const key = (outcome) => ({ minute, side: "consumer", kind: "exchange", service, client, outcome })
  rows.push({ key: key("ok"), counts: { count: 100,
    total: { buckets: { [ms]: 100 }, sum_ms: 100 * ms },
    upstream: { buckets: { [ms - 5]: 100 }, sum_ms: 100 * (ms - 5) } } })
  if (h >= 4 && h <= 6) {
    rows.push({ key: key("backend"), counts: { count: h, total: { buckets: {}, sum_ms: 0 }, upstream: { buckets: {}, sum_ms: 0 } } })
  }
}
const records = rows.reduce((n, r) => n + r.counts.count, 0)
process.stdout.write(JSON.stringify({ from: null, to: { segment: 1, position: records + 1 }, records, rows }))
' "$service" GB/LA/E10000016/revenues >"$work/batch.json"
curl -sS --fail --cacert "$work/gb/ca.pem" --cert "$work/kent-gw1/identity.pem" \
  -H 'content-type: application/json' --data-binary @"$work/batch.json" \
  "$url/v1/gateway/aggregates" >/dev/null

person() { # username role [member] -> one-time password
  local args=("$1" --role "$2" --output json "${d[@]}")
  [ $# -gt 2 ] && args+=(--member "$3")
  "$psn" authority person add "${args[@]}" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write(JSON.parse(s).password))'
}
op=$(person ops@network.example operator)
admin=$(person kent-admin@kent.gov.uk member-admin GB/LA/E10000016)
viewer=$(person kent-viewer@kent.gov.uk member-viewer GB/LA/E10000016)
assessor=$(person assessor@network.example assessor)
devon=$(person devon-admin@devon.gov.uk member-admin GB/LA/E10000008)
# A peer assessor from Kent: may review other members' submissions, never Kent's own.
kent_assessor=$(person kent-assessor@kent.gov.uk assessor GB/LA/E10000016)

# Compliance: Kent's connection answers to every control but the first, saved through the API
# with the operator token (the browser answers the first through the form), and an evidence
# file for the browser to upload.
node -e '
const fs = require("fs")
const framework = JSON.parse(fs.readFileSync(process.argv[1], "utf8"))
const answers = framework.controls
  .filter((c) => c.kinds.includes("connection") && c.id !== "coco-1")
  .map((c) => ({ control: c.id, status: "met", assurance: "independently-tested",
    note: "Tested by our IT health check provider." }))
process.stdout.write(JSON.stringify({ framework: framework.id, version: framework.version, answers }))
' "$(ls data/compliance/psn-coco-*.json | sort -V | tail -1)" >"$work/draft.json"
curl -sS --fail --cacert "$work/gb/ca.pem" -X PUT -H "authorization: Bearer $(cat "$work/gb/operator.token")" \
  -H 'content-type: application/json' --data-binary @"$work/draft.json" \
  "$url/v1/compliance/drafts/connection?member=GB/LA/E10000016" >/dev/null
printf '%%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%%%EOF\n' >"$work/firewall-rules-review.pdf"

# Federation: the regional network GB-KENT, its own authority with one member, exported to GB.
# GB-KENT imports GB's anchor first, so GB's import polls a partner that already knows it and
# GB's federation pages show GB-KENT active at once. Each fingerprint is read from what
# `psn federation export` prints, as an operator reads it out to the other.
"$psn" authority init --data-dir "$work/kent" --network GB-KENT >/dev/null
"$psn" authority serve --data-dir "$work/kent" --listen 127.0.0.1:0 >"$work/kent-serve.log" 2>&1 &
kent_server=$!
listening "$kent_server" "$work/kent-serve.log" >/dev/null
k=(--data-dir "$work/kent")
kent_member=GB-KENT/LA/E10000016
"$psn" authority member add "$kent_member" --name "Kent County Council" --region "South East" "${k[@]}" >/dev/null
"$psn" federation export --file "$work/gb.anchor" "${d[@]}" >"$work/gb-export.txt"
"$psn" federation export --file "$work/kent.anchor" "${k[@]}" >"$work/kent-export.txt"
fingerprint() { sed -n 's/^fingerprint \([^:]*\): .*/\1/p' "$1"; }
gb_fingerprint=$(fingerprint "$work/gb-export.txt")
kent_fingerprint=$(fingerprint "$work/kent-export.txt")
"$psn" federation import "$work/gb.anchor" --fingerprint "$gb_fingerprint" --export-member "$kent_member" \
  "${k[@]}" >/dev/null 2>>"$work/federation.log"
"$psn" federation import "$work/kent.anchor" --fingerprint "$kent_fingerprint" --export-service "$service" \
  "${d[@]}" >/dev/null 2>>"$work/federation.log"
partner=""
for _ in $(seq 1 100); do
  partner=$("$psn" federation show GB-KENT --output json "${d[@]}" |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const p=JSON.parse(s);process.stdout.write(`${p.freshness.state} ${p.received.members}`)})')
  [ "$partner" = "active 1" ] && break
  sleep 0.1
done
[ "$partner" = "active 1" ] || { echo "GB did not receive GB-KENT's configuration: $partner"; cat "$work/federation.log"; exit 1; }

cat >"$out/setup.json" <<JSON
{
  "url": "$url",
  "people": {
    "operator": { "username": "ops@network.example", "password": "$op" },
    "member-admin": { "username": "kent-admin@kent.gov.uk", "password": "$admin" },
    "member-viewer": { "username": "kent-viewer@kent.gov.uk", "password": "$viewer" },
    "assessor": { "username": "assessor@network.example", "password": "$assessor" }
  },
  "kentAssessor": { "username": "kent-assessor@kent.gov.uk", "password": "$kent_assessor" },
  "evidence": "$work/firewall-rules-review.pdf",
  "requester": { "username": "devon-admin@devon.gov.uk", "password": "$devon" },
  "federation": { "partner": "GB-KENT", "fingerprint": "$kent_fingerprint", "member": "$kent_member", "exported": "$service" }
}
JSON

cd ui-tests
if [ ! -d node_modules ]; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
fi
export PSN_UI_SETUP="$out/setup.json" PSN_UI_SCREENSHOTS="$out/screenshots" PSN_UI_RESULTS="$out/results"
npx playwright test --grep-invert benchmarks
# Benchmarks: every real council, and the demo's synthetic returns for two financial years past
# the embargo, so reports have distributions, peers and savings. Loaded after the other pages'
# tests, whose two-member network (its member list, the keyboard journey) they would change.
"$psn" authority member import "${d[@]}" >/dev/null
"$psn" authority benchmark load-synthetic "${d[@]}" >/dev/null
npx playwright test --grep benchmarks
