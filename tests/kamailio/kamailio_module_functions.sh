#!/bin/bash
# The rest of what Kamailio's rtpengine module can send, from its own functions: a copy of the
# example config calls, on the caller's ACK, block_dtmf() for calls to "masked" (toneguard runs
# without --mask-all-calls, so this is what masks them), rtpengine_query(), and four functions
# toneguard does not implement: silence_media(), block_media(), play_dtmf(), start_recording().
# Two calls, the same keys (in-band and RFC 4733): first to "plain", then to "masked".
# Checks: in the agent's capture (toneguard-detect --leak, per stream) the plain call's keys are
# all there and the masked call's are not: the module's "block DTMF" masked them, and the
# agent-side check does see keys that get through. The four others are answered with an error,
# as rtpengine answers a command it does not know (exactly 8 ng commands refused, Kamailio logs
# the error replies and never a timeout), the node stays in use, BYE deletes both calls.
# Usage: kamailio_module_functions.sh SOURCE_DIR BIN_DIR
src_dir=$1
bin_dir=$2
source "$src_dir/tests/kamailio/lib.sh"

port_min=$((50000 + 2 * ($$ % 2000)))
start_toneguard tg "$port_min"
agent_port=$(free_udp_ports 1)
agent_mp=$(free_udp_ports 4)
write_kamailio_config "udp:127.0.0.1:${tg_ng[tg]}" "$agent_port"
# The test's own route on in-dialog ACKs, before the example's BYE handling.
sed -i 's|^    if (is_method("BYE")) {|    if (is_method("ACK")) {\
      if ($tU == "masked" \&\& block_dtmf()) { xlog("L_INFO", "TEST block_dtmf ok\\n"); }\
      if (rtpengine_query()) { xlog("L_INFO", "TEST rtpengine_query ok\\n"); }\
      if (!silence_media()) { xlog("L_INFO", "TEST silence_media refused\\n"); }\
      if (!block_media()) { xlog("L_INFO", "TEST block_media refused\\n"); }\
      if (!play_dtmf("code=1")) { xlog("L_INFO", "TEST play_dtmf refused\\n"); }\
      if (!start_recording()) { xlog("L_INFO", "TEST start_recording refused\\n"); }\
    }\
&|' "$work/kamailio.cfg"
grep -q "TEST block_dtmf" "$work/kamailio.cfg" || fail "the test route was not added"
run_kamailio 1

python3 "$kam_dir/caller_pcap.py" -o "$work/caller.pcap" --duration-ms 5000 \
  --inband 1500:159 --rfc4733 3000:260 >"$work/keys.jsonl" || fail "caller_pcap.py failed"
start_capture agent "udp and dst host 127.0.0.1 and dst port $agent_mp"
cd "$work" || exit 1
start_sipp_agent agent.xml 2 40
sleep 0.3
for call in plain masked; do
  timeout 30 sipp -sf "$kam_dir/caller.xml" "127.0.0.1:$sip_port" -s "$call" -i 127.0.0.1 \
    -p "$(free_udp_ports 1)" -mi 127.0.0.1 -mp "$(free_udp_ports 4)" -m 1 -d 5500 -nostdin \
    >"$work/caller-$call.out" 2>&1 || fail "SIPp call $call through Kamailio failed"
done
for _ in $(seq 50); do
  [ "$(grep -c 'msg="call media stopped"' "$work/tg.log")" -ge 2 ] && break
  sleep 0.1
done
[ "$(grep -c 'msg="call media stopped"' "$work/tg.log")" -eq 2 ] || fail "BYE did not delete both calls"
sleep 0.3
stop_capture agent
stop_toneguard tg

# Per call, toneguard's agent-facing port (the source of what the agent got): the plain call
# was relayed first.
plain_port=$(relayed_calls tg | sed -n '1s/.* //p')
masked_port=$(relayed_calls tg | sed -n '2s/.* //p')
leak_status=0
"$bin_dir/toneguard-detect" --leak --json "$work/agent.pcap" >"$work/agent-leaks.out" 2>&1 ||
  leak_status=$?
[ "$leak_status" -eq 1 ] || fail "toneguard-detect --leak exited $leak_status, not 1 (the plain call's keys)"
keys_of() { grep "\"stream\": \"127.0.0.1:$1->" "$work/agent-leaks.out" | sed -n 's/.*"key": "\(.\)".*/\1/p' | tr -d '\n'; }
sent=$(sed -n 's/.*"digit": "\(.\)".*/\1/p' "$work/keys.jsonl" | tr -d '\n')
[ "$(keys_of "$plain_port")" = "$sent" ] ||
  fail "the agent-side scan found '$(keys_of "$plain_port")' of the plain call's '$sent'"
[ -z "$(keys_of "$masked_port")" ] || {
  cat "$work/agent-leaks.out"
  fail "keys reached the agent after Kamailio's block_dtmf(): $(keys_of "$masked_port")"
}
[ "$(grep -c "TEST block_dtmf ok" "$work/kamailio.log")" -eq 1 ] || fail "block_dtmf() did not succeed once"
for what in "rtpengine_query ok" "silence_media refused" "block_media refused" \
            "play_dtmf refused" "start_recording refused"; do
  [ "$(grep -c "TEST $what" "$work/kamailio.log")" -eq 2 ] || fail "Kamailio did not log '$what' twice"
done
errors=$(grep -c 'proxy replied with error' "$work/kamailio.log")
[ "$errors" -eq 8 ] || fail "Kamailio logged $errors error replies, not 8"
! grep -q -E "can't send|timeout|no available proxies" "$work/kamailio.log" ||
  fail "Kamailio lost the node: $(grep -m1 -E "can't send|timeout|no available proxies" "$work/kamailio.log")"
rejected=$(stopped_counter tg ng-rejected)
keys=$(stopped_counter tg keys)
[ "${rejected:-0}" -eq 8 ] || fail "toneguard refused ${rejected:-0} ng commands, not 8"
[ "${keys:-0}" -ge 12 ] || fail "toneguard found ${keys:-0} of the callers' 12 keys"
echo "the agent got the plain call's keys ($(keys_of "$plain_port")) and none of the call Kamailio's" \
  "block_dtmf() masked ($keys keys found by toneguard);" \
  "rtpengine_query() answered; silence_media, block_media, play_dtmf, start_recording refused" \
  "with an error reply ($rejected ng-rejected), the node kept in use"
