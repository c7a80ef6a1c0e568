#!/bin/bash
# The agent hears no key, checked where the agent is: a SIPp caller (tests/kamailio/
# caller_hold.xml) calls through Kamailio (tools/kamailio/kamailio-toneguard.cfg) and toneguard
# to a SIPp agent (agent_hold.xml, which accepts telephone-event, so RFC 4733 events would reach
# it if let through), and puts it on hold and back with two re-INVITEs while typing.
# The caller plays a pcap made by caller_pcap.py: toneguard-synth's speech with keys typed
# in-band (tone pairs in the PCMU audio) and as RFC 4733 events. tcpdump records what reaches
# the agent's media port and, separately, what reaches toneguard's ports.
# Checks: toneguard-detect --leak finds no DTMF fragment and no RFC 4733 event in the agent's
# capture (with a full call's worth of packets in it); the same tool finds every key the
# caller typed, in order, in what reached toneguard (the check can fail there); toneguard
# counted every key; the re-INVITEs' offers and answers kept toneguard's port on both sides (and
# passed the hold's direction on); Kamailio's ng commands were all accepted; BYE deleted the
# call.
# Usage: kamailio_dtmf_blocked.sh SOURCE_DIR BIN_DIR
src_dir=$1
bin_dir=$2
source "$src_dir/tests/kamailio/lib.sh"

port_min=$((50000 + 2 * ($$ % 2000)))
start_toneguard tg "$port_min" --mask-all-calls

agent_mp=$(free_udp_ports 4)
caller_mp=$(free_udp_ports 4)
agent_port=$(free_udp_ports 1)
start_kamailio "udp:127.0.0.1:${tg_ng[tg]}" "$agent_port"

# The caller's audio: speech, keys in-band and as RFC 4733 events, 9 s.
# (Debian's Asterisk sounds through toneguard-synth, when installed; else line noise.)
speech=()
for dir in /usr/share/asterisk/sounds/en /usr/share/asterisk/sounds/en_US_f_Allison; do
  if [ -d "$dir" ] && "$bin_dir/toneguard-synth" -o "$work/speech.wav" --digits "" --seed 11 \
       --speech "$dir" >/dev/null 2>>"$work/synth.out"; then
    speech=(--wav "$work/speech.wav")
    break
  fi
done
python3 "$kam_dir/caller_pcap.py" -o "$work/caller.pcap" --duration-ms 9000 "${speech[@]}" \
  --inband 1500:147* --rfc4733 3500:2580# --inband 6000:369D >"$work/keys.jsonl" ||
  fail "caller_pcap.py failed"
sent=$(sed -n 's/.*"digit": "\(.\)".*/\1/p' "$work/keys.jsonl" | tr -d '\n')
sent_inband=$(grep '"inband"' "$work/keys.jsonl" | sed -n 's/.*"digit": "\(.\)".*/\1/p' | tr -d '\n')

start_capture agent "udp and dst host 127.0.0.1 and dst port $agent_mp"
start_capture toneguard "udp and dst host 127.0.0.1 and dst portrange $port_min-$((port_min + 99))"

cd "$work" || exit 1
start_sipp_agent agent_hold.xml 1 40 -trace_msg -message_file "$work/agent.msg"
timeout 40 sipp -sf "$kam_dir/caller_hold.xml" "127.0.0.1:$sip_port" -s agent -i 127.0.0.1 \
  -p "$(free_udp_ports 1)" -mi 127.0.0.1 -mp "$caller_mp" -m 1 -d 7000 -nostdin \
  -trace_msg -message_file "$work/caller.msg" >"$work/caller.out" 2>&1 ||
  fail "the SIPp call through Kamailio failed"

# Three offers to the agent and three answers to the caller, each with toneguard's port of
# that side, the same every time; the hold's direction reached the agent.
offered=$(sed -n 's/^m=audio \([0-9]*\) .*/\1/p' "$work/agent.msg" | awk 'NR % 2 == 1' | sort -u)
answered=$(sed -n 's/^m=audio \([0-9]*\) .*/\1/p' "$work/caller.msg" | awk 'NR % 2 == 0' | sort -u)
read -r _ tg_caller_port tg_agent_port <<<"$(relayed_calls tg | tail -1)"
[ "$(sed -n 's/^m=audio //p' "$work/agent.msg" | wc -l)" -eq 6 ] ||
  fail "the agent did not see three offers and answer them"
[ "$offered" = "$tg_agent_port" ] || fail "the agent was offered ports '$offered', not toneguard's $tg_agent_port"
[ "$answered" = "$tg_caller_port" ] || fail "the caller was answered ports '$answered', not toneguard's $tg_caller_port"
grep -q "^a=sendonly" "$work/agent.msg" || fail "the hold's a=sendonly did not reach the agent"

wait_for_bye tg
stop_capture agent
stop_capture toneguard
stop_toneguard tg

# What reached the agent: a whole call of audio, no key in any form.
expect_no_key_at_agent 400

# What reached toneguard from the caller: the scan finds the keys there.
"$bin_dir/toneguard-detect" --json "$work/toneguard.pcap" >"$work/caller-keys.out" 2>&1
found=$(sed -n 's/.*"digit":"\(.\)".*/\1/p;s/.*"digit": "\(.\)".*/\1/p' "$work/caller-keys.out" | tr -d '\n')
[ "$found" = "$sent" ] ||
  fail "toneguard-detect found '$found' in what reached toneguard; the caller typed '$sent'"
leak_status=0
"$bin_dir/toneguard-detect" --leak --json "$work/toneguard.pcap" >/dev/null 2>&1 || leak_status=$?
[ "$leak_status" -eq 1 ] ||
  fail "toneguard-detect --leak did not flag the caller's keys (exit $leak_status)"

keys=$(stopped_counter tg keys)
leaked=$(stopped_counter tg leaked-samples)
[ "${keys:-0}" -ge "${#sent}" ] || fail "toneguard found ${keys:-0} of the caller's ${#sent} keys"
expect_no_ng_rejected tg
[ "${leaked:-1}" -eq 0 ] || fail "toneguard counted $leaked leaked samples"
! grep -q "level=warn\|level=error" "$work/tg.log" || fail "toneguard warned: $(grep -m1 'level=warn\|level=error' "$work/tg.log")"
echo "the caller typed $sent (${#sent_inband} in-band, $((${#sent} - ${#sent_inband})) RFC 4733);" \
  "toneguard found $keys; $agent_packets packets reached the agent, toneguard-detect --leak: clean;" \
  "the same scan of what reached toneguard found '$found'"
