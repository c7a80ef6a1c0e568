#!/usr/bin/env bash
# The agent panel against the real daemon: starts toneguard (embedded sandbox gateway, default
# prompts, the API on loopback) and a simulated call (toneguard-sim --await-payment: a caller
# that answers whatever payment is started on its call, typing in-band keys), then headless
# Chromium takes the payment in the panel (run_browser_test.sh in BASE_URL mode) and watches it
# complete. Afterwards the caller's side must report success with no key leaked to the agent,
# and the daemon's log must not hold the card number.
#   tests/panel/run_daemon_browser_test.sh BIN_DIR
# Stops what it started. Exit status 0 passed, 1 failed, 2 setup failure.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 BIN_DIR" >&2; exit 2; }
bin=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d)
daemon=""
sim=""
cleanup() {
  [ -n "$sim" ] && kill -TERM "$sim" 2>/dev/null || true
  [ -n "$daemon" ] && kill -TERM "$daemon" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "run_daemon_browser_test: $*" >&2
  for f in daemon.log sim.out; do [ -f "$work/$f" ] && { echo "--- $f" >&2; tail -n 40 "$work/$f" >&2; }; done
  exit 1
}

token="panel-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
echo "$token" >"$work/tokens"
port_min=$((43000 + 200 * (RANDOM % 25)))
"$bin/toneguard" --listen-ng 127.0.0.1:0 --port-min "$port_min" --port-max $((port_min + 199)) \
  --api-listen 127.0.0.1:0 --api-token-file "$work/tokens" 2>"$work/daemon.log" &
daemon=$!
for _ in $(seq 100); do grep -q "proto=api" "$work/daemon.log" && break; sleep 0.1; done
grep -q "proto=api" "$work/daemon.log" || fail "the daemon did not start"
port_of() { grep "msg=listening proto=$1 " "$work/daemon.log" | sed -E 's/.* port=([0-9]+).*/\1/'; }
ng_port=$(port_of ng)
api_port=$(port_of api)
base="http://127.0.0.1:$api_port"

"$bin/toneguard-sim" --ng "127.0.0.1:$ng_port" --api "$base" --token-file "$work/tokens" \
  --calls 1 --await-payment --digits inband --duration 1 --payment-timeout 150 \
  --json "$work/sim.json" >"$work/sim.out" 2>&1 &
sim=$!
call_id=""
for _ in $(seq 100); do
  call_id=$(curl -s -H "Authorization: Bearer $token" "$base/v1/calls" |
    python3 -c 'import json,sys; c=json.load(sys.stdin)["calls"]; print(c[0]["call_id"] if c else "")' \
    2>/dev/null || true)
  [ -n "$call_id" ] && break
  sleep 0.1
done
[ -n "$call_id" ] || fail "the simulated call did not appear in /v1/calls"

PANEL_SCENARIOS=wrong-token,payment PANEL_CALL_ID="$call_id" \
  "$here/run_browser_test.sh" "$bin/toneguard" "$base" "$token" || fail "the browser test failed"

status=0
wait "$sim" || status=$?
sim=""
[ "$status" -eq 0 ] || fail "toneguard-sim exited $status"
python3 - "$work/sim.json" <<'PY' || fail "the caller's report is not a clean success"
import json, sys
r = json.load(open(sys.argv[1]))
ok = (r["payments"]["by_outcome"].get("success") == 1 and r["leaks"]["count"] == 0
      and r["rfc4733_leaked"]["events"] == 0)
print(f"caller: {r['payments']['by_outcome']}, leaks {r['leaks']['count']}")
sys.exit(0 if ok else 1)
PY
if grep -q 4111111111111111 "$work/daemon.log" "$work/sim.json" "$work/sim.out"; then
  fail "the card number appears in the output"
fi
echo "run_daemon_browser_test: passed"
