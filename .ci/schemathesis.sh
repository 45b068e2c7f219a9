#!/usr/bin/env bash
# The authority's OpenAPI document is its contract: schemathesis (PyPI) generates requests from
# /openapi.json and checks every answer against it. A throwaway authority runs on loopback with
# members, subsystems and one enrolled gateway; schemathesis runs twice, once with that gateway's
# client certificate and once with the operator token, a bounded number of examples per
# operation. Any failure (a 5xx, an undocumented status or media type, a body that does not
# match its schema) fails the script.
#
# Environment: PSN_BIN (default: build target/debug/psn), PSN_TEST_DATABASE_URL (run the
# authority on a fresh PostgreSQL database of that server; default SQLite), SCHEMATHESIS_VENV
# (default: target/schemathesis-venv), SCHEMATHESIS_EXAMPLES (default 25 per operation),
# SCHEMATHESIS_TIMEOUT (seconds per run, default 300).
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
examples=${SCHEMATHESIS_EXAMPLES:-25}
limit=${SCHEMATHESIS_TIMEOUT:-300}
venv=${SCHEMATHESIS_VENV:-$PWD/target/schemathesis-venv}

install_schemathesis() {
  if "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    return
  fi
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq python3-venv >/dev/null
  fi
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
}

install_schemathesis
if [ -z "${PSN_BIN:-}" ]; then
  cargo build --locked -p psn --bin psn
  PSN_BIN=$PWD/target/debug/psn
fi
psn() { PSN_LOG=warn "$PSN_BIN" "$@"; }

work=$(mktemp -d)
server=
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  if [ -n "$database" ]; then
    psql -q "$PSN_TEST_DATABASE_URL" -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# On PostgreSQL when PSN_TEST_DATABASE_URL names a server (as in .ci/run): a fresh database,
# dropped afterwards. PostgreSQL refuses some text SQLite stores (NUL characters), so it is the
# stricter check.
database=
auth=$work/authority
if [ -n "${PSN_TEST_DATABASE_URL:-}" ]; then
  database=psn_schemathesis_$$
  psql -q "$PSN_TEST_DATABASE_URL" -c "CREATE DATABASE $database"
  psn authority init --data-dir "$auth" --network GB --database-url "${PSN_TEST_DATABASE_URL%/*}/$database" >/dev/null
else
  psn authority init --data-dir "$auth" --network GB >/dev/null
fi
# The binary itself in the background (not the psn function: its subshell would be what $!
# names, and killing it would leave the server running).
PSN_LOG=warn "$PSN_BIN" authority serve --data-dir "$auth" --listen 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.err" &
server=$!
# The server prints "listening on URL" once it accepts connections.
url=
for _ in $(seq 1 300); do
  url=$(sed -n 's/.*listening on \(https:[^ ]*\).*/\1/p' "$work/serve.out" | head -1)
  [ -n "$url" ] && break
  kill -0 "$server" 2>/dev/null || { cat "$work/serve.err" >&2; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "the authority did not start" >&2; cat "$work/serve.err" >&2; exit 1; }

# The identifiers the document uses as examples exist, so examples reach past the 404s. The
# gateway belongs to DfE (whose service is the document's example) under a code no example
# names, so the operator run cannot revoke or suspend it before the gateway run.
psn authority member add GB/LA/E10000016 --name "Kent County Council" --data-dir "$auth" >/dev/null
psn authority member add GB/GOV/D6 --name "Department for Education" --data-dir "$auth" >/dev/null
psn authority subsystem add GB/LA/E10000016/revenues --data-dir "$auth" >/dev/null
psn authority subsystem add GB/GOV/D6/eligibility --data-dir "$auth" >/dev/null
token=$(psn authority token create --member GB/GOV/D6 --gateway contract --data-dir "$auth")
psn gateway enrol --data-dir "$work/dfe" --token "$token" --address 127.0.0.1:9443 >/dev/null

run() {
  local what=$1
  shift
  echo "schemathesis against $url/openapi.json with the $what"
  # From the scratch directory, where schemathesis leaves its crash cache.
  (cd "$work" && timeout --signal=INT --kill-after=30 "$limit" "$venv/bin/schemathesis" run "$url/openapi.json" \
    --tls-verify "$auth/ca.pem" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --max-examples "$examples" \
    --seed 14 \
    --generation-database none \
    --workers 1 \
    --request-timeout 70 \
    --suppress-health-check all \
    --warnings off \
    "$@")
}

# Gateway first: the operator run may suspend members and revoke gateways the examples name.
failed=0
run "gateway certificate" --request-cert "$work/dfe/identity.pem" || failed=1
run "operator token" --header "Authorization: Bearer $(cat "$auth/operator.token")" || failed=1
exit "$failed"
