#!/usr/bin/env bash
# The agent panel's browser test (panel_browser_test.mjs): headless Chromium from Debian driven
# by playwright-core from npm.
#
#   tests/panel/run_browser_test.sh SERVER_BIN              starts SERVER_BIN (panel_test_server)
#                                                           with a random token and tests it
#   tests/panel/run_browser_test.sh SERVER_BIN BASE_URL TOKEN
#                                                           tests the server at BASE_URL (e.g. the
#                                                           daemon) with TOKEN; SERVER_BIN is not
#                                                           started (it only locates the build tree)
#
# playwright-core (pinned below) is installed on first use into the build tree:
# $TONEGUARD_NODE_CACHE, else <dir of SERVER_BIN>/../node_modules-cache; never globally.
# Environment: CHROMIUM, NODE, NPM (programs), PANEL_SCENARIOS, PANEL_CALL_ID,
# PANEL_SCREENSHOT_DIR... (see panel_browser_test.mjs), PANEL_TEST_TIMEOUT (s, default 150).
# Stops what it started. Exit status: the test's (0 passed, 1 failed), 2 usage or setup failure.
set -euo pipefail

# 1.61 is the newest playwright-core that still runs on Debian 12's Node 18; it drives
# Debian's Chromium (tested with 156) over CDP.
readonly PLAYWRIGHT_VERSION=1.61.1

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
usage() {
  echo "usage: $0 SERVER_BIN [BASE_URL TOKEN]" >&2
  exit 2
}
[ $# -eq 1 ] || [ $# -eq 3 ] || usage
server_bin=$1
base_url=${2:-}
token=${3:-}

NODE=${NODE:-$(command -v node || command -v nodejs || true)}
NPM=${NPM:-$(command -v npm || true)}
CHROMIUM=${CHROMIUM:-$(command -v chromium || echo /usr/bin/chromium)}
for tool in "$NODE" "$NPM" "$CHROMIUM"; do
  if [ -z "$tool" ] || [ ! -x "$tool" ]; then
    echo "run_browser_test: node, npm and chromium are needed (Debian: nodejs npm chromium)" >&2
    exit 2
  fi
done

cache=${TONEGUARD_NODE_CACHE:-}
if [ -z "$cache" ]; then
  if [ -e "$server_bin" ]; then
    cache=$(cd "$(dirname "$server_bin")/.." && pwd)/node_modules-cache
  else
    cache=$PWD/node_modules-cache
  fi
fi

# playwright-core, once per build tree (a lock keeps parallel runs from installing twice).
mkdir -p "$cache"
exec 9>"$cache/.install.lock"
flock -w 180 9 || { echo "run_browser_test: $cache is locked" >&2; exit 2; }
installed=$("$NODE" -e "try { console.log(require(process.argv[1]).version) } catch (e) {}" \
  "$cache/node_modules/playwright-core/package.json" 2>/dev/null || true)
if [ "$installed" != "$PLAYWRIGHT_VERSION" ]; then
  echo "run_browser_test: installing playwright-core@$PLAYWRIGHT_VERSION into $cache"
  if ! PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 timeout 150 "$NPM" install --prefix "$cache" \
      --no-audit --no-fund --no-save --loglevel=error "playwright-core@$PLAYWRIGHT_VERSION"; then
    echo "run_browser_test: npm install playwright-core@$PLAYWRIGHT_VERSION failed" >&2
    exit 2
  fi
fi
exec 9>&-

server_pid=""
server_in=""
server_log=""
# shellcheck disable=SC2317  # stop_server and cleanup run from the EXIT trap
stop_server() {
  [ -n "$server_pid" ] || return 0
  # Closing its stdin stops it; SIGTERM if it did not; SIGKILL at last.
  [ -n "$server_in" ] && eval "exec $server_in>&-"
  for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
  kill -TERM "$server_pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}
# shellcheck disable=SC2317
cleanup() {
  local status=$?
  stop_server
  if [ -n "$server_log" ]; then
    [ "$status" -eq 0 ] || { echo "--- server log"; cat "$server_log"; } >&2
    rm -f "$server_log"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

simulated=0
if [ -z "$base_url" ]; then
  [ -x "$server_bin" ] || { echo "run_browser_test: $server_bin is not executable" >&2; exit 2; }
  token="panel-test-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
  server_log=$(mktemp)
  coproc SERVER { exec "$server_bin" --token "$token" 2>"$server_log"; }
  # shellcheck disable=SC2153  # SERVER_PID is set by coproc
  server_pid=$SERVER_PID
  server_in=${SERVER[1]}
  line=""
  if ! read -r -t 15 line <&"${SERVER[0]}" || [[ "$line" != "listening port="* ]]; then
    echo "run_browser_test: the server did not start (got: '$line')" >&2
    exit 2
  fi
  base_url="http://127.0.0.1:${line#listening port=}"
  simulated=1
fi

echo "run_browser_test: $("$CHROMIUM" --version 2>/dev/null | head -1), node $("$NODE" --version), $base_url"
status=0
PANEL_BASE_URL=$base_url PANEL_TOKEN=$token PANEL_NODE_MODULES=$cache PANEL_SIMULATED=$simulated \
  CHROMIUM=$CHROMIUM timeout --kill-after=5 "${PANEL_TEST_TIMEOUT:-150}" \
  "$NODE" "$here/panel_browser_test.mjs" || status=$?
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
  echo "run_browser_test: the browser test timed out" >&2
fi
exit "$status"
