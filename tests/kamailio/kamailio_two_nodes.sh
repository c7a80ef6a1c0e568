#!/bin/bash
# Two toneguard nodes behind one Kamailio (tools/kamailio/kamailio-toneguard.cfg with both ng
# sockets in its rtpengine set, weight 1 each): the rtpengine module's own distribution (a hash
# of the Call-ID, kept per call) spreads calls over both; a node stopped (SIGTERM) takes its
# calls' media with it while new calls go to the other node and the calls already on the
# survivor keep flowing.
# 1. 10 long calls (SIPp, 5 per second, 16 s each) through Kamailio to a SIPp agent: both nodes
#    relay some of them.
# 2. Node b is stopped while they run; then 6 new calls: every one is set up and relayed by
#    node a, and completes.
# 3. tcpdump records everything that reaches the agent's media port: each of node a's long
#    calls keeps flowing across b's stop (packets before and after, no gap over 200 ms); each of
#    node b's calls stops reaching the agent when b stops (reported, as the operator would see
#    it). Every call's BYE completes at the SIP level.
# 4. With both nodes stopped, a new call is refused with 503.
# 5. Both nodes report to one PostgreSQL database (started here, tests/support/pg_cluster.sh):
#    it holds every call of the test, each with the name of the node that relayed it; node a's
#    calls ended ("deleted", by their BYE); node b's calls, cut off by its stop, have no end.
#    Skipped (said so) where no PostgreSQL server binaries are installed.
# Usage: kamailio_two_nodes.sh SOURCE_DIR BIN_DIR
src_dir=$1
bin_dir=$2
source "$src_dir/tests/kamailio/lib.sh"

long_calls=10
new_calls=6
base=$((50000 + 2 * ($$ % 1900)))
pg_started=$SECONDS
start_report_db
pg_took=$((SECONDS - pg_started))
db_options=()
[ -z "$report_db" ] || db_options=(--report-db "$report_db")
start_toneguard a "$base" "${db_options[@]}"
start_toneguard b $((base + 100)) "${db_options[@]}"
agent_port=$(free_udp_ports 1)
agent_mp=$(free_udp_ports 4)
start_kamailio "udp:127.0.0.1:${tg_ng[a]}=1 udp:127.0.0.1:${tg_ng[b]}=1" "$agent_port"

mkdir -p "$work/long" "$work/new"
python3 "$kam_dir/caller_pcap.py" -o "$work/long/caller.pcap" --duration-ms 15000 >/dev/null ||
  fail "caller_pcap.py failed"
python3 "$kam_dir/caller_pcap.py" -o "$work/new/caller.pcap" --duration-ms 2500 >/dev/null ||
  fail "caller_pcap.py failed"
start_capture agent "udp and dst host 127.0.0.1 and dst port $agent_mp"

cd "$work" || exit 1
start_sipp_agent agent.xml $((long_calls + new_calls)) 80 -trace_msg \
  -message_file "$work/agent.msg"
sleep 0.3
# caller NAME CALLS DURATION_MS: SIPp callers playing NAME/caller.pcap, Call-IDs NAME-<n>@...
caller() {
  (cd "$work/$1" && exec timeout 60 sipp -sf "$kam_dir/caller.xml" "127.0.0.1:$sip_port" -s agent \
    -i 127.0.0.1 -p "$(free_udp_ports 1)" -mi 127.0.0.1 -mp "$(free_udp_ports 4)" -m "$2" -r 5 \
    -d "$3" -cid_str "$1-%u-%p@toneguard.test" -nostdin -trace_stat -trace_err)
}
spawn long.out caller long "$long_calls" 16000
long_caller=$spawned

# 1. The long calls spread over both nodes.
deadline=$((SECONDS + 10))
while [ $(($(relayed_calls a | wc -l) + $(relayed_calls b | wc -l))) -lt "$long_calls" ] &&
      [ "$SECONDS" -lt "$deadline" ]; do
  sleep 0.1
done
on_a=$(relayed_calls a | wc -l)
on_b=$(relayed_calls b | wc -l)
[ $((on_a + on_b)) -eq "$long_calls" ] ||
  fail "$((on_a + on_b)) of $long_calls calls were relayed (a: $on_a, b: $on_b)"
[ "$on_a" -ge 1 ] && [ "$on_b" -ge 1 ] || fail "the calls did not spread: a $on_a, b $on_b"
relayed_calls a >"$work/long-on-a.txt"
relayed_calls b >"$work/long-on-b.txt"

# 2. Node b stops in the middle of its calls; new calls all go to a.
sleep 2
stop_time=$(date +%s.%N)
stop_toneguard b
sleep 0.5
new_started=$SECONDS
caller new "$new_calls" 2500 >"$work/new.out" 2>&1 || fail "new calls failed after node b stopped"
new_took=$((SECONDS - new_started))
# SIPp's statistics: the new calls' INVITE -> 200 OK time (cumulative mean).
new_setup=$(python3 -c '
import csv, glob, sys
rows = list(csv.DictReader(open(glob.glob(sys.argv[1] + "/caller_*_.csv")[0]), delimiter=";"))
h, m, s, us = map(int, rows[-1]["ResponseTime1(C)"].split(":"))
print(f"{((h * 60 + m) * 60 + s) * 1000 + us / 1000:.1f}")' "$work/new")
on_a_after=$(relayed_calls a | wc -l)
[ $((on_a_after - on_a)) -eq "$new_calls" ] ||
  fail "node a relayed $((on_a_after - on_a)) of the $new_calls calls placed after b stopped"

wait "$long_caller" || fail "the long calls' SIPp failed (their BYEs)"
reaped "$long_caller"
sleep 1
stop_capture agent
stop_toneguard a
relayed_calls a >"$work/all-on-a.txt"

# 4. No node left: Kamailio refuses the call (503) rather than letting its media bypass
# toneguard.
mkdir -p "$work/none" && cp "$work/new/caller.pcap" "$work/none/"
(cd "$work/none" && timeout 20 sipp -sf "$kam_dir/caller.xml" "127.0.0.1:$sip_port" -s agent \
  -i 127.0.0.1 -p "$(free_udp_ports 1)" -mi 127.0.0.1 -mp "$(free_udp_ports 4)" -m 1 -d 1000 \
  -nostdin -trace_msg -message_file "$work/none.msg" >"$work/none.out" 2>&1) &&
  fail "a call went through with no toneguard node"
grep -q "^SIP/2.0 503" "$work/none.msg" || fail "with no node, the call was not refused with 503"

# Every INVITE the agent got names the node that relays its call (X-Toneguard-Node).
python3 - "$work/agent.msg" "udp:127.0.0.1:${tg_ng[a]}" "udp:127.0.0.1:${tg_ng[b]}" \
  "$work/long-on-a.txt" "$work/long-on-b.txt" "$work/all-on-a.txt" >"$work/nodes.out" <<'PY' ||
import re, sys
messages = open(sys.argv[1]).read().replace("\r\n", "\n")
node_a, node_b = sys.argv[2], sys.argv[3]
want = {}
for node, listing in ((node_a, sys.argv[4]), (node_b, sys.argv[5]), (node_a, sys.argv[6])):
    for line in open(listing):
        want[line.split()[0]] = node
seen = {}
for m in re.split(r"\n(?=INVITE )", messages)[1:]:
    head = m.split("\n\n", 1)[0]
    call_id = re.search(r"^Call-ID: *(\S+)", head, re.M | re.I)
    node = re.search(r"^X-Toneguard-Node: *(\S+)", head, re.M | re.I)
    if call_id:
        seen[call_id.group(1)] = node.group(1) if node else None
bad = [(c, n, seen.get(c)) for c, n in want.items() if seen.get(c) != n]
print(f"{len(want) - len(bad)} of {len(want)} INVITEs named the node relaying their call")
for c, n, got in bad:
    print(f"  {c}: relayed by {n}, X-Toneguard-Node {got}")
sys.exit(1 if bad else 0)
PY
  { cat "$work/nodes.out"; fail "X-Toneguard-Node did not name the relaying node"; }

# 3. What reached the agent, per stream (toneguard's agent-facing port).
python3 - "$work/agent.pcap" "$stop_time" "$work/long-on-a.txt" "$work/long-on-b.txt" \
  >"$work/streams.out" <<'PY' || { cat "$work/streams.out"; fail "a call's media did not behave as expected"; }
import struct, sys
path, stop = sys.argv[1], float(sys.argv[2])
ports = {}
for node, listing in (("a", sys.argv[3]), ("b", sys.argv[4])):
    for line in open(listing):
        call_id, _, agent_port = line.split()
        ports[int(agent_port)] = (node, call_id)
streams = {}
with open(path, "rb") as f:
    magic, = struct.unpack("<I", f.read(24)[:4])
    scale = 1e-9 if magic == 0xA1B23C4D else 1e-6
    while header := f.read(16):
        sec, frac, caplen, _ = struct.unpack("<IIII", header)
        frame = f.read(caplen)
        ihl = (frame[14] & 0x0F) * 4
        src = struct.unpack("!H", frame[14 + ihl:16 + ihl])[0]
        streams.setdefault(src, []).append(sec + frac * scale)
ok = True
for port, (node, call_id) in sorted(ports.items(), key=lambda p: p[1]):
    times = streams.get(port, [])
    before = sum(t < stop for t in times)
    after = len(times) - before
    gap = max((b - a for a, b in zip(times, times[1:])), default=0) * 1000
    last = (times[-1] - stop) * 1000 if times else float("nan")
    print(f"node {node} call {call_id}: {before} packets before b stopped, {after} after,"
          f" longest gap {gap:.0f} ms, last packet {last:+.0f} ms from the stop")
    if node == "a" and (before < 50 or after < 200 or gap > 200):
        ok = False
    if node == "b" and (before < 50 or last > 100):
        ok = False
sys.exit(0 if ok else 1)
PY

# 5. The one reporting database: every call, by the node that relayed it (as both nodes' logs
# say, checked against X-Toneguard-Node above), how it ended and its segments.
if [ -n "$report_db" ]; then
  report_sql "SELECT c.call_id, c.node, coalesce((c.ended_at_ms - c.started_at_ms)::text, '-'),
                     coalesce(nullif(c.end_reason, ''), '-'), count(s.id),
                     count(s.id) FILTER (WHERE s.ended_at_ms IS NULL)
              FROM calls c LEFT JOIN segments s ON s.call_id = c.call_id
              GROUP BY c.call_id ORDER BY c.call_id" >"$work/report-calls.txt" ||
    fail "psql on the report database failed"
  python3 - "$work/report-calls.txt" "$work/all-on-a.txt" "$work/long-on-b.txt" \
    >"$work/report.out" <<'PY' || { cat "$work/report.out"; fail "the report database did not hold what the nodes did"; }
import sys
want = {}
for node, listing in (("a", sys.argv[2]), ("b", sys.argv[3])):
    for line in open(listing):
        want[line.split()[0]] = node
rows = {}
for line in open(sys.argv[1]):
    call_id, node, duration, reason, segments, open_segments = line.split()
    rows[call_id] = (node, duration, reason, int(segments), int(open_segments))
ok = True
for call_id in sorted(set(want) - set(rows)):
    print(f"  {call_id}: relayed by {want[call_id]}, not in the database")
    ok = False
for call_id in sorted(set(rows) - set(want)):
    print(f"  {call_id}: in the database (node {rows[call_id][0]}), relayed by no node")
    ok = False
summary = {}
for call_id in sorted(set(rows) & set(want)):
    node, duration, reason, segments, open_segments = rows[call_id]
    if node != want[call_id]:
        print(f"  {call_id}: relayed by {want[call_id]}, the database says node {node}")
        ok = False
    # a's calls ended by their BYE (ng delete); b's calls lost their node before that.
    ended = duration != "-"
    if (want[call_id] == "a") != ended or (ended and reason != "deleted"):
        print(f"  {call_id} (node {node}): ended after {duration} ms, reason {reason}")
        ok = False
    summary.setdefault(node, []).append((ended, reason, segments, open_segments))
for node, calls in sorted(summary.items()):
    ended = sum(e for e, _, _, _ in calls)
    reasons = sorted({r for _, r, _, _ in calls})
    print(f"report database: node {node}: {len(calls)} calls, {ended} with an end"
          f" (reasons {','.join(reasons)}), {sum(s for _, _, s, _ in calls)} segments,"
          f" {sum(o for _, _, _, o in calls)} of them open")
sys.exit(0 if ok else 1)
PY
  report_line="one PostgreSQL database (cluster started in ${pg_took} s) held all $(wc -l <"$work/report-calls.txt") calls by node, a's ended 'deleted', b's with no end"
else
  echo "report database part skipped: no PostgreSQL server binaries" >"$work/report.out"
  report_line="report database part skipped (no PostgreSQL server binaries)"
fi

rejected_a=$(stopped_counter a ng-rejected)
stopped_a=$(grep -c 'msg="call media stopped"' "$work/a.log")
[ "$stopped_a" -eq "$on_a_after" ] || fail "node a deleted $stopped_a of its $on_a_after calls"
cat "$work/nodes.out" "$work/streams.out" "$work/report.out"
echo "Kamailio's set of two nodes: $long_calls calls spread a $on_a / b $on_b; b stopped (SIGTERM)" \
  "mid-call: its $on_b calls' media stopped reaching the agent, a's $on_a flowed on without a gap;" \
  "$new_calls new calls all went to a (INVITE to 200 OK ${new_setup} ms on average, all done in ${new_took} s); a: $stopped_a calls deleted by BYE," \
  "ng-rejected=$rejected_a; stop lines: a rtp-forwarded=$(stopped_counter a rtp-forwarded)," \
  "b rtp-forwarded=$(stopped_counter b rtp-forwarded); with no node left a call is refused with 503;" \
  "$report_line"
