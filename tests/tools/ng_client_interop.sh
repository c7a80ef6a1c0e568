#!/bin/bash
# rtpengine's own ng test client (Debian rtpengine-utils: rtpengine-ng-client) drives the real
# daemon through a call: ping, an SRTP offer answered by a plain RTP agent, query, delete.
# Usage: ng_client_interop.sh BIN_DIR
set -u
bin_dir=$1
client=$(command -v rtpengine-ng-client) || { echo "rtpengine-ng-client missing (rtpengine-utils)"; exit 1; }
work=$(mktemp -d)
trap 'kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null; rm -rf "$work"' EXIT

# A free ng port and media range: let the daemon pick the ng port, read it from its log.
port_min=$((44000 + 2 * ($$ % 2000)))
"$bin_dir/toneguard" --listen-ng 127.0.0.1:0 --port-min "$port_min" --port-max $((port_min + 99)) \
  2>"$work/log" &
daemon=$!
for _ in $(seq 50); do grep -q "msg=listening" "$work/log" && break; sleep 0.1; done
ng_port=$(sed -n 's/.*msg=listening.* port=\([0-9]*\).*/\1/p' "$work/log" | head -1)
[ -n "$ng_port" ] || { echo "daemon did not start:"; cat "$work/log"; exit 1; }

fail() { echo "FAIL: $*"; echo "--- daemon log"; cat "$work/log"; exit 1; }
ng() { timeout 10 "$client" --proxy-address=127.0.0.1 --proxy-port="$ng_port" "$@" 2>&1; }

out=$(ng ping); echo "$out" | grep -q "result => 'pong'" || fail "ping: $out"

caller_key=WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz
out=$(ng offer --trust-address --replace-origin --replace-session-connection --protocol=RTP/AVP \
  --from-tag=ft1 --call-id=interop-1 \
  --sdp=$'v=0\no=phone 1 2 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 3456 RTP/SAVP 0 101\na=rtpmap:101 telephone-event/8000\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:'"$caller_key"$'\n')
new_sdp=${out#*New SDP:}
echo "$new_sdp" | grep -q "^m=audio [0-9]* RTP/AVP 0 101" || fail "offer: agent SDP is not plain RTP: $out"
echo "$new_sdp" | grep -q "a=crypto" && fail "offer: a=crypto toward a plain agent: $out"
agent_port=$(echo "$new_sdp" | sed -n 's/^m=audio \([0-9]*\).*/\1/p')
[ "$agent_port" -ge "$port_min" ] && [ "$agent_port" -le $((port_min + 99)) ] ||
  fail "offer: port $agent_port outside $port_min..$((port_min + 99))"

out=$(ng answer --trust-address --from-tag=ft1 --to-tag=tt1 --call-id=interop-1 \
  --sdp=$'v=0\no=agent 1 2 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 4456 RTP/AVP 0 101\na=rtpmap:101 telephone-event/8000\n')
new_sdp=${out#*New SDP:}
echo "$new_sdp" | grep -q "^m=audio [0-9]* RTP/SAVP 0 101" || fail "answer: caller SDP is not SRTP: $out"
echo "$new_sdp" | grep -q "^a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" || fail "answer: no crypto: $out"
echo "$new_sdp" | grep -q "$caller_key" && fail "answer: the caller's own key came back: $out"

out=$(ng query --call-id=interop-1)
echo "$out" | grep -q "'crypto suite' => 'AES_CM_128_HMAC_SHA1_80'" || fail "query: $out"
echo "$out" | grep -q "protocol => 'RTP/AVP'" || fail "query: $out"
# The client prints an ok reply without its result key, and an error with its reason.
out=$(ng delete --call-id=interop-1 --from-tag=ft1)
echo "$out" | grep -qi "error\|unknown" && fail "delete: $out"
for _ in $(seq 50); do grep -q 'msg="call media stopped" call-id=interop-1' "$work/log" && break; sleep 0.1; done
grep -q 'msg="call media stopped" call-id=interop-1' "$work/log" || fail "delete did not stop the media"
out=$(ng query --call-id=interop-1); echo "$out" | grep -q "Unknown call-id" || fail "query after delete: $out"
echo "rtpengine-ng-client: ping, SRTP offer to a plain agent, answer, query, delete: ok"
