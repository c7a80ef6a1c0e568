#!/bin/bash
# A secure payment on a call Kamailio set up: a SIPp caller calls through Kamailio
# (tools/kamailio/kamailio-toneguard.cfg) and toneguard to a SIPp agent; the test starts an
# automated payment through toneguard's API (POST /v1/calls/{Kamailio's Call-ID}/payments, as
# the agent's desktop would) and the caller answers the secure IVR from a pcap timeline
# (caller_pcap.py): the card number in-band, its confirmation, the expiry and the CVV as
# RFC 4733 events, the expiry's confirmation in-band, with gaps of 2 s or more between the
# answers (every entry prompt takes barge-in, so the keys need not wait for the prompts).
# Checks: the payment ends in success with the embedded sandbox gateway (Visa test card,
# last four 1111, a transaction reference); the API knows the call by the SIP Call-ID; the
# caller received the prompts; nothing of a key reached the agent (toneguard-detect --leak on
# the agent's capture); BYE deleted the call; no ng command refused; the card number appears
# in no log and no API answer.
# Usage: kamailio_payment.sh SOURCE_DIR BIN_DIR
src_dir=$1
bin_dir=$2
source "$src_dir/tests/kamailio/lib.sh"
command -v curl >/dev/null || { echo "curl missing"; exit 1; }

pan=4111111111111111
expiry=12$(printf '%02d' $((($(date -u +%y) + 1) % 100)))
cvv=737
token="kamailio-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
(umask 077 && echo "$token" >"$work/tokens")

port_min=$((50000 + 2 * ($$ % 2000)))
start_toneguard tg "$port_min" --api-listen 127.0.0.1:0 --api-token-file "$work/tokens" \
  --report-db "$work/reports.db"
wait_for_log tg.log "msg=listening proto=api" || fail "toneguard's API did not start"
api="http://127.0.0.1:$(listening_port tg api)"
api_get() { curl -s -H "Authorization: Bearer $token" "$api$1"; }

agent_port=$(free_udp_ports 1)
agent_mp=$(free_udp_ports 4)
caller_mp=$(free_udp_ports 4)
start_kamailio "udp:127.0.0.1:${tg_ng[tg]}" "$agent_port"

# The caller's answers; the payment is started within a second of the answer, the first key
# comes at 4 s.
python3 "$kam_dir/caller_pcap.py" -o "$work/caller.pcap" --duration-ms 21000 \
  --inband "4000:$pan#" --rfc4733 10500:1 --rfc4733 "12500:$expiry" --inband 15500:1 \
  --rfc4733 "17500:$cvv" >"$work/keys.jsonl" || fail "caller_pcap.py failed"

start_capture agent "udp and dst host 127.0.0.1 and dst port $agent_mp"
cd "$work" || exit 1
start_sipp_agent agent.xml 1 80 -trace_msg -message_file "$work/agent.msg"
sleep 0.3
spawn caller.out timeout 80 sipp -sf "$kam_dir/caller.xml" "127.0.0.1:$sip_port" -s agent \
  -i 127.0.0.1 -p "$(free_udp_ports 1)" -mi 127.0.0.1 -mp "$caller_mp" -m 1 -d 40000 -nostdin
caller=$spawned

wait_for_log tg.log "msg=relaying" 10 || fail "the call did not reach toneguard"
call_id=$(api_get /v1/calls | python3 -c 'import json, sys; print(json.load(sys.stdin)["calls"][0]["call_id"])') ||
  fail "GET /v1/calls listed no call"
sip_call_id=$(sed -n 's/^Call-ID: *\(.*\)\r\?$/\1/p' "$work/agent.msg" | head -1 | tr -d '\r')
[ "$call_id" = "$sip_call_id" ] || fail "the API's call '$call_id' is not the SIP Call-ID '$sip_call_id'"
encoded=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$call_id")
status=$(curl -s -o "$work/start.json" -w '%{http_code}' -X POST \
  -H "Authorization: Bearer $token" -H "Idempotency-Key: kamailio-payment-1" \
  -H "Content-Type: application/json" \
  -d '{"amount":"5.00","reference":"kamailio-1","mode":"automated","identified":true}' \
  "$api/v1/calls/$encoded/payments")
[ "$status" = 201 ] || fail "POST /v1/calls/$encoded/payments answered $status: $(cat "$work/start.json")"
payment_id=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["payment_id"])' "$work/start.json")
started=$SECONDS

# The caller's keys drive the dialog; the result comes once the gateway answered.
result=""
while [ $((SECONDS - started)) -lt 45 ]; do
  api_get "/v1/payments/$payment_id" >"$work/payment.json"
  result=$(python3 -c '
import json, sys
r = json.load(open(sys.argv[1])).get("result")
print("" if r is None else r["result"])' "$work/payment.json" 2>/dev/null)
  [ -n "$result" ] && break
  sleep 0.5
done
[ -n "$result" ] || fail "the payment had no result after 45 s: $(cat "$work/payment.json")"
[ "$result" = success ] || fail "the payment ended in $result: $(cat "$work/payment.json")"
python3 - "$work/payment.json" <<'PY' || fail "the payment's result is incomplete: $(cat "$work/payment.json")"
import json, sys
r = json.load(open(sys.argv[1]))["result"]
assert r["last_four"] == "1111" and r["brand"] == "visa", r
assert r["transaction_reference"], r
PY
took=$((SECONDS - started))

# The caller hangs up (-d); BYE through Kamailio deletes the call.
wait "$caller" || fail "the SIPp caller failed"
reaped "$caller"
wait_for_bye tg
stop_capture agent
api_get "/v1/reports?call_id=$encoded" >"$work/report.json"
api_get /metrics >"$work/metrics.txt"
stop_toneguard tg

expect_no_key_at_agent 1000
grep -q 'toneguard_payments_total{outcome="success"} 1' "$work/metrics.txt" ||
  fail "/metrics does not count the payment"
grep -q '"end_reason":"deleted"' "$work/report.json" || fail "the report does not say the call was deleted"
generated=$(stopped_counter tg rtp-generated)
finished=$(stopped_counter tg payments-finished)
[ "${generated:-0}" -ge 100 ] || fail "toneguard played no prompt to the caller (${generated:-0} packets)"
expect_no_ng_rejected tg
[ "${finished:-0}" -eq 1 ] || fail "toneguard finished ${finished:-0} payments"
if grep -q -e "$pan" -e "411111111111" "$work/tg.log" "$work/payment.json" "$work/start.json" \
  "$work/report.json" "$work/metrics.txt"; then
  fail "the card number appears in the log or an API answer"
fi
echo "payment $payment_id on Kamailio's call $call_id: $result in $took s after the start" \
  "(sandbox gateway, reference $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["result"]["transaction_reference"])' "$work/payment.json"));" \
  "$generated prompt packets to the caller; $agent_packets packets reached the agent, no key among them"
