#!/bin/bash
# Kamailio (Debian kamailio, its rtpengine module) drives toneguard unchanged: SIPp (Debian
# sip-tester) calls through Kamailio to a SIPp agent; Kamailio puts the media through toneguard
# with rtpengine_offer/answer/delete from tools/kamailio/kamailio-toneguard.cfg. The caller
# plays SIPp's PCMA recording and an RFC 4733 key; toneguard masks every call here
# (--mask-all-calls).
# Checks: the call completes; the agent's INVITE carries toneguard's address and a port from its
# range; RTP flows both ways through toneguard; the key is found; BYE deletes the call.
# Usage: kamailio_call.sh SOURCE_DIR BIN_DIR
set -u
src_dir=$1
bin_dir=$2
for tool in kamailio sipp; do
  command -v "$tool" >/dev/null || { echo "$tool missing (Debian kamailio, sip-tester)"; exit 1; }
done
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  [ -n "${KEEP_WORK:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for f in toneguard.log kamailio.log uac.out; do echo "--- $f"; tail -n 40 "$work/$f"; done
  exit 1
}

# free_udp_port: a UDP port on 127.0.0.1 nobody holds now.
free_udp_port() {
  python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
sip_port=$(free_udp_port)
agent_port=$(free_udp_port)
caller_port=$(free_udp_port)
port_min=$((50000 + 2 * ($$ % 2000)))
port_max=$((port_min + 99))

"$bin_dir/toneguard" --listen-ng 127.0.0.1:0 --port-min "$port_min" --port-max "$port_max" \
  --mask-all-calls --log-level debug 2>"$work/toneguard.log" &
pids+=($!)
for _ in $(seq 50); do grep -q "msg=listening" "$work/toneguard.log" && break; sleep 0.1; done
ng_port=$(sed -n 's/.*msg=listening.* port=\([0-9]*\).*/\1/p' "$work/toneguard.log" | head -1)
[ -n "$ng_port" ] || fail "toneguard did not start"

sed -e "s|^#!define LISTEN .*|#!define LISTEN udp:127.0.0.1:$sip_port|" \
    -e "s|^#!define TONEGUARD_NG .*|#!define TONEGUARD_NG \"udp:127.0.0.1:$ng_port\"|" \
    -e "s|^#!define AGENT_URI .*|#!define AGENT_URI \"sip:127.0.0.1:$agent_port\"|" \
    "$src_dir/tools/kamailio/kamailio-toneguard.cfg" >"$work/kamailio.cfg"
kamailio -f "$work/kamailio.cfg" -DD -E -Y "$work" -m 32 -M 8 >"$work/kamailio.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q "support for it enabled" "$work/kamailio.log" && break; sleep 0.1; done
grep -q "support for it enabled" "$work/kamailio.log" || fail "Kamailio did not find toneguard"

cd "$work" || exit 1
ln -s /usr/share/sip-tester pcap  # uac_pcap plays pcap/g711a.pcap and pcap/dtmf_2833_1.pcap
timeout 40 sipp -sn uas -i 127.0.0.1 -p "$agent_port" -m 1 -mi 127.0.0.1 -rtp_echo -nostdin \
  -trace_msg -message_file "$work/agent.msg" >"$work/uas.out" 2>&1 &
pids+=($!)
timeout 40 sipp -sn uac_pcap "127.0.0.1:$sip_port" -i 127.0.0.1 -p "$caller_port" -m 1 \
  -mi 127.0.0.1 -nostdin >"$work/uac.out" 2>&1 || fail "SIPp's call through Kamailio failed"

# The agent was offered toneguard's media address, not the caller's.
media_port=$(sed -n 's/^m=audio \([0-9]*\) .*/\1/p' "$work/agent.msg" | head -1)
[ -n "$media_port" ] || fail "the agent saw no SDP"
{ [ "$media_port" -ge "$port_min" ] && [ "$media_port" -le "$port_max" ]; } ||
  fail "the agent's media port $media_port is not toneguard's ($port_min..$port_max)"
grep -q "^c=IN IP4 127.0.0.1" "$work/agent.msg" || fail "the agent saw no c= line"

# BYE through Kamailio deleted the call in toneguard.
for _ in $(seq 50); do grep -q 'msg="call media stopped"' "$work/toneguard.log" && break; sleep 0.1; done
grep -q 'msg="call media stopped"' "$work/toneguard.log" || fail "BYE did not delete the call"

kill -TERM "${pids[0]}"
wait "${pids[0]}"
stopped=$(grep "msg=stopped" "$work/toneguard.log")
forwarded=$(sed -n 's/.* rtp-forwarded=\([0-9]*\).*/\1/p' <<<"$stopped")
keys=$(sed -n 's/.* keys=\([0-9]*\).*/\1/p' <<<"$stopped")
rejected=$(sed -n 's/.* ng-rejected=\([0-9]*\).*/\1/p' <<<"$stopped")
[ "${forwarded:-0}" -ge 400 ] || fail "only ${forwarded:-0} RTP packets went through toneguard"
[ "${keys:-0}" -ge 1 ] || fail "the caller's RFC 4733 key was not found"
[ "${rejected:-1}" -eq 0 ] || fail "toneguard rejected $rejected of Kamailio's ng commands"
echo "Kamailio $(kamailio -v | head -1 | cut -d' ' -f3) drove toneguard: offer, answer, delete;" \
  "$forwarded RTP packets relayed, $keys key found"
