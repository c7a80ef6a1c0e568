# Shared by the Kamailio tests (sourced): a working directory removed at exit, every process
# started through `spawn` stopped at exit, free loopback ports, toneguard nodes, Kamailio with
# tools/kamailio/kamailio-toneguard.cfg, SIPp's caller and agent (tests/kamailio/*.xml) and
# tcpdump captures, a throwaway PostgreSQL reporting database. The caller sets src_dir and
# bin_dir first. KEEP_WORK=1 keeps the directory.
set -u
for tool in kamailio sipp tcpdump python3; do
  command -v "$tool" >/dev/null || { echo "$tool missing (Debian kamailio, sip-tester, tcpdump)"; exit 1; }
done
work=$(mktemp -d)
kam_dir=$src_dir/tests/kamailio
pids=()
pg_dir=
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  if [ -n "$pg_dir" ]; then
    timeout 30 "$src_dir/tests/support/pg_cluster.sh" destroy "$pg_dir" >/dev/null 2>&1
    rm -rf "$pg_dir"
  fi
  [ -n "${KEEP_WORK:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT

# fail MESSAGE: says why, shows the end of every log, exits 1 (cleanup stops everything).
fail() {
  echo "FAIL: $*"
  for f in "$work"/*.log "$work"/*.out; do
    [ -f "$f" ] && { echo "--- ${f#"$work"/}"; tail -n 30 "$f"; }
  done
  exit 1
}

# spawn LOG COMMAND...: runs COMMAND in the background, stdout and stderr to $work/LOG; its pid
# in $spawned and in the list cleanup stops.
spawn() {
  local log=$1
  shift
  : >"$work/$log"  # there before anyone reads it
  "$@" >>"$work/$log" 2>&1 &
  spawned=$!
  pids+=("$spawned")
}

# reaped PID: PID has been waited for; cleanup leaves it (its number may be reused).
reaped() {
  local kept=() p
  for p in "${pids[@]}"; do [ "$p" = "$1" ] || kept+=("$p"); done
  pids=("${kept[@]}")
}

# wait_for_log FILE PATTERN [SECONDS]: true once FILE (in $work) has a line matching PATTERN.
wait_for_log() {
  local deadline=$((SECONDS + ${3:-10}))
  while [ "$SECONDS" -lt "$deadline" ]; do
    grep -q -- "$2" "$work/$1" 2>/dev/null && return 0
    sleep 0.1
  done
  grep -q -- "$2" "$work/$1" 2>/dev/null
}

# free_udp_ports N: the first of N consecutive UDP ports on 127.0.0.1 free now (SIPp takes its
# media port and the three after it).
free_udp_ports() {
  python3 - "$1" <<'PY'
import random, socket, sys
n = int(sys.argv[1])
for _ in range(200):
    first = random.randrange(20000, 32000, 2)
    held = []
    try:
        for p in range(first, first + n):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            held.append(s)
            s.bind(("127.0.0.1", p))
        print(first)
        break
    except OSError:
        pass
    finally:
        for s in held:
            s.close()
else:
    sys.exit("no free UDP ports")
PY
}

# start_toneguard NAME PORT_MIN [OPTION...]: a toneguard node logging to $work/NAME.log with
# media ports PORT_MIN..PORT_MIN+99 and ng on a free port; sets tg_pid[NAME], tg_ng[NAME].
declare -A tg_pid tg_ng
start_toneguard() {
  local name=$1 port_min=$2
  shift 2
  spawn "$name.log" "$bin_dir/toneguard" --listen-ng 127.0.0.1:0 --port-min "$port_min" \
    --port-max $((port_min + 99)) --node-name "$name" "$@"
  tg_pid[$name]=$spawned
  wait_for_log "$name.log" "msg=listening proto=ng" || fail "toneguard $name did not start"
  tg_ng[$name]=$(listening_port "$name" ng)
}

# listening_port NAME PROTO: the port toneguard NAME listens on for PROTO (ng, api).
listening_port() {
  sed -n "s/.*msg=listening proto=$2 .* port=\([0-9]*\).*/\1/p" "$work/$1.log" | head -1
}

# stop_toneguard NAME: SIGTERM, then waits for it to exit.
stop_toneguard() {
  kill -TERM "${tg_pid[$1]}"
  wait "${tg_pid[$1]}"
  reaped "${tg_pid[$1]}"
}

# stopped_counter NAME KEY: a counter of toneguard NAME's last line (msg=stopped).
stopped_counter() {
  sed -n "s/.*msg=stopped.* $2=\([0-9]*\).*/\1/p" "$work/$1.log"
}

# start_kamailio NG_SOCKETS AGENT_PORT: Kamailio on a free port ($sip_port) with the example
# configuration, its rtpengine module pointed at NG_SOCKETS (rtpengine_sock syntax), calls
# routed to the agent on AGENT_PORT. Waits until the module has found every node.
start_kamailio() {
  write_kamailio_config "$@"
  run_kamailio "$(wc -w <<<"$1")"
}

# write_kamailio_config NG_SOCKETS AGENT_PORT: $work/kamailio.cfg from the example, listening
# on a free port ($sip_port).
write_kamailio_config() {
  sip_port=$(free_udp_ports 1)
  sed -e "s|^#!define LISTEN .*|#!define LISTEN udp:127.0.0.1:$sip_port|" \
      -e "s|^#!define TONEGUARD_NG .*|#!define TONEGUARD_NG \"$1\"|" \
      -e "s|^#!define AGENT_URI .*|#!define AGENT_URI \"sip:127.0.0.1:$2\"|" \
      "$src_dir/tools/kamailio/kamailio-toneguard.cfg" >"$work/kamailio.cfg"
}

# run_kamailio NODES: Kamailio with $work/kamailio.cfg; waits until its rtpengine module has
# found NODES nodes.
run_kamailio() {
  spawn kamailio.log kamailio -f "$work/kamailio.cfg" -DD -E -Y "$work" -m 32 -M 8
  local deadline=$((SECONDS + 10))
  while [ "$(grep -c 'support for it enabled' "$work/kamailio.log")" -lt "$1" ] &&
        [ "$SECONDS" -lt "$deadline" ]; do
    sleep 0.1
  done
  [ "$(grep -c 'support for it enabled' "$work/kamailio.log")" -ge "$1" ] ||
    fail "Kamailio did not find every toneguard node"
}

# start_capture NAME FILTER: tcpdump on loopback writing $work/NAME.pcap; waits until it listens.
start_capture() {
  spawn "$1.tcpdump.out" tcpdump -i lo -n -U -w "$work/$1.pcap" "$2"
  capture_pid[$1]=$spawned
  wait_for_log "$1.tcpdump.out" "listening on" 5 || fail "tcpdump did not start"
}
declare -A capture_pid

# stop_capture NAME: stops tcpdump NAME and waits for it to write the file.
stop_capture() {
  kill -INT "${capture_pid[$1]}"
  wait "${capture_pid[$1]}"
  reaped "${capture_pid[$1]}"
}

# start_sipp_agent SCENARIO CALLS SECONDS [SIPP_OPTION...]: SIPp's agent
# (tests/kamailio/SCENARIO) on $agent_port for CALLS calls, at most SECONDS, echoing the media
# it gets on $agent_mp; its output in $work/agent.out. Run from $work (SIPp's files land there).
start_sipp_agent() {
  local scenario=$1 calls=$2 seconds=$3
  shift 3
  spawn agent.out timeout "$seconds" sipp -sf "$kam_dir/$scenario" -i 127.0.0.1 \
    -p "$agent_port" -m "$calls" -mi 127.0.0.1 -mp "$agent_mp" -rtp_echo -nostdin "$@"
}

# wait_for_bye NAME: BYE has deleted the call on toneguard NAME (within 5 s); then half a
# second for the call's last packets to reach the captures.
wait_for_bye() {
  wait_for_log "$1.log" 'msg="call media stopped"' 5 || fail "BYE did not delete the call"
  sleep 0.5
}

# expect_no_key_at_agent MIN_PACKETS: at least MIN_PACKETS packets reached the agent
# ($work/agent.pcap; the count in $agent_packets) and toneguard-detect --leak finds no key in
# them, in-band or RFC 4733 (its report in $work/agent-leaks.out).
expect_no_key_at_agent() {
  local leak_status=0
  agent_packets=$(tcpdump -r "$work/agent.pcap" -n 2>/dev/null | wc -l)
  [ "$agent_packets" -ge "$1" ] || fail "only $agent_packets packets reached the agent"
  "$bin_dir/toneguard-detect" --leak --json "$work/agent.pcap" >"$work/agent-leaks.out" 2>&1 ||
    leak_status=$?
  [ "$leak_status" -eq 0 ] || {
    cat "$work/agent-leaks.out"
    fail "toneguard-detect --leak found DTMF in the agent's capture (exit $leak_status)"
  }
}

# expect_no_ng_rejected NAME: toneguard NAME (stopped) accepted every ng command Kamailio sent.
expect_no_ng_rejected() {
  local rejected
  rejected=$(stopped_counter "$1" ng-rejected)
  [ "${rejected:-1}" -eq 0 ] || fail "toneguard rejected $rejected of Kamailio's ng commands"
}

# relayed_calls NAME: the calls toneguard NAME relayed, one "call-id caller-port agent-port"
# line each.
relayed_calls() {
  sed -n 's/.*msg=relaying call-id="\{0,1\}\([^ "]*\)"\{0,1\} caller-port=\([0-9]*\) agent-port=\([0-9]*\).*/\1 \2 \3/p' \
    "$work/$1.log"
}

# start_report_db: a throwaway PostgreSQL cluster on 127.0.0.1, a free port
# (tests/support/pg_cluster.sh), in a directory of its own under /tmp (under root the server
# runs as the postgres user, which may not enter $work); cleanup destroys it. Sets report_db to
# its database's URI for --report-db, or leaves it empty, saying so, where no PostgreSQL server
# binaries are installed.
report_db=
start_report_db() {
  local rc=0
  pg_dir=$(mktemp -d /tmp/toneguard-kam-pg.XXXXXX)
  report_db=$(timeout 90 "$src_dir/tests/support/pg_cluster.sh" start "$pg_dir" \
    2>"$work/pg_cluster.log") || rc=$?
  if [ "$rc" -eq 77 ]; then
    report_db=
    echo "no PostgreSQL server binaries (initdb): the reporting database part is skipped"
    return 0
  fi
  [ "$rc" -eq 0 ] && [ -n "$report_db" ] || fail "the PostgreSQL cluster did not start (rc $rc)"
}

# report_sql SQL: SQL's rows on the report database, unaligned, fields separated by spaces.
report_sql() {
  timeout 20 "$src_dir/tests/support/pg_cluster.sh" psql "$pg_dir" toneguard -At -F ' ' -c "$1"
}
