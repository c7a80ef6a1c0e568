#!/usr/bin/env bash
# The Debian package installs, starts and answers ng ping (issue 7), on this machine as root:
# CI runs on a throwaway machine, which is the clean machine here. The test
#   1. makes the .deb with cpack from BUILD_DIR (the tree's own binaries: no second build) and
#      checks its control fields and contents;
#   2. installs it with apt-get (as an operator would: dependencies from the archive), and checks
#      the system user, the state directory, the prompt set built by the postinst, the unit
#      (systemd-analyze verify) and its enablement, and the conffile;
#   3. starts the daemon exactly as the unit's ExecStart says, as its User/Group, with its
#      LimitNOFILE/LimitMEMLOCK, no new privileges and no capabilities (systemd itself does not
#      run in containers, so its sandboxing is not applied here), and sends it an ng ping;
#   4. stops it with SIGTERM and purges the package: nothing of it may be left.
# Exits 77 (skipped) when not root, or when a toneguard package or user is already on the machine
# (it is then not this test's to remove). The package is purged on every exit.
# Usage: package_test.sh BUILD_DIR
set -euo pipefail
build_dir=$(cd "$1" && pwd)
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; [ -s "${log:-/dev/null}" ] && { echo "--- daemon log"; cat "$log"; }; exit 1; }
step() { echo "== $*"; }

[ "$(id -u)" -eq 0 ] || skip "installs a Debian package: needs root (CI runs it as root)"
for tool in cpack dpkg-deb dpkg-shlibdeps apt-get python3 setpriv prlimit; do
  command -v "$tool" >/dev/null || skip "$tool missing"
done
if dpkg-query -W -f='${Status}' toneguard 2>/dev/null | grep -qv "not-installed"; then
  skip "a toneguard package is already installed here; not touching it"
fi
getent passwd toneguard >/dev/null && skip "a user toneguard already exists here; not touching it"
getent group toneguard >/dev/null && skip "a group toneguard already exists here; not touching it"

work=$(mktemp -d)
chmod 755 "$work"  # apt's _apt user reads the .deb
log=$work/daemon.log
daemon=
installed=no
cleanup() {
  if [ -n "$daemon" ]; then
    kill "$daemon" 2>/dev/null || true
    wait "$daemon" 2>/dev/null || true
  fi
  if [ "$installed" = yes ]; then
    apt-get purge -y -qq -o DPkg::Lock::Timeout=120 toneguard >/dev/null 2>&1 ||
      dpkg --purge toneguard >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

step "package: cpack in $build_dir"
cmake --build "$build_dir" --target package_programs >"$work/build.log" 2>&1 ||
  { cat "$work/build.log"; fail "the packaged programs do not build"; }
(cd "$build_dir" && cpack -G DEB -B "$work/cpack") >"$work/cpack.log" 2>&1 ||
  { cat "$work/cpack.log"; fail "cpack failed"; }
deb=$(ls "$work"/cpack/toneguard_*.deb)
echo "$(basename "$deb"): $(du -k "$deb" | cut -f1) KiB"
field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = toneguard ] || fail "Package: $(field Package)"
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build_dir/CMakeCache.txt")
[ "$(field Version)" = "$version" ] || fail "Version $(field Version), the project says $version"
depends=$(field Depends)
echo "Depends: $depends"
for dep in adduser asterisk-core-sounds-en-wav espeak-ng libc6 libssl3 libsqlite3-0 libliquid; do
  grep -q "$dep" <<<"$depends" || fail "Depends has no $dep (dpkg-shlibdeps or the static list)"
done
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$work/files"
for f in /usr/bin/toneguard /usr/bin/toneguard-detect /usr/bin/toneguard-prompts \
  /usr/bin/toneguard-sim /usr/bin/toneguard-dialog /usr/bin/toneguard-synth \
  /usr/bin/toneguard-sandbox-gateway /lib/systemd/system/toneguard.service \
  /etc/toneguard/toneguard.toml /usr/share/doc/toneguard/README.md; do
  grep -qx "$f" "$work/files" || fail "the package has no $f"
done
grep -E "_test|_tests|_bench|rtp-load|fuzz" "$work/files" && fail "test or benchmark programs in the package"
dpkg-deb -e "$deb" "$work/control"
for script in postinst prerm postrm; do sh -n "$work/control/$script" || fail "$script: syntax"; done
grep -qx /etc/toneguard/toneguard.toml "$work/control/conffiles" || fail "toneguard.toml is no conffile"

if command -v lintian >/dev/null; then  # informative only: the tags are printed, none fails the test
  echo "lintian: $(timeout 120 lintian --suppress-tags no-manual-page "$deb" 2>/dev/null | tr '\n' ';' || true)"
fi

step "install: apt-get install $(basename "$deb")"
installed=yes
apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=120 "$deb" >"$work/install.log" 2>&1 ||
  { cat "$work/install.log"; fail "apt-get install failed"; }
grep "toneguard:" "$work/install.log" || true
dpkg-query -W -f='${Status}\n' toneguard | grep -qx "install ok installed" || fail "not installed"
IFS=: read -r _ _ uid gid _ home shell < <(getent passwd toneguard) || fail "no user toneguard"
[ "$uid" -lt 1000 ] || fail "toneguard is no system user (uid $uid)"
[ "$(getent group toneguard | cut -d: -f3)" = "$gid" ] || fail "toneguard's group is not toneguard"
[ "$home" = /var/lib/toneguard ] && [ "$shell" = /usr/sbin/nologin ] || fail "home $home, shell $shell"
[ "$(stat -c '%U:%G %a' /var/lib/toneguard)" = "toneguard:toneguard 750" ] ||
  fail "/var/lib/toneguard is $(stat -c '%U:%G %a' /var/lib/toneguard)"
setpriv --reuid=toneguard --regid=toneguard --init-groups \
  toneguard-prompts check /var/lib/toneguard/prompts/en >"$work/check.log" 2>&1 ||
  { cat "$work/check.log"; fail "the installed prompt set does not check as the toneguard user"; }
echo "prompt set: $(cat "$work/check.log")"
unit=/lib/systemd/system/toneguard.service
[ -f "$unit" ] || fail "no $unit"
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify "$unit" >"$work/verify.log" 2>&1 || { cat "$work/verify.log"; fail "systemd-analyze verify $unit"; }
  echo "systemd-analyze verify: ok"
fi
[ -L /etc/systemd/system/multi-user.target.wants/toneguard.service ] || fail "the unit is not enabled"
dpkg-query -W -f='${Conffiles}\n' toneguard | grep -q "/etc/toneguard/toneguard.toml" ||
  fail "dpkg keeps no conffile /etc/toneguard/toneguard.toml"

step "start: as $unit says"
unit_value() { sed -n "s/^$1=//p" "$unit" | tail -1; }
bytes() {  # systemd's size suffixes K, M, G (1024-based)
  case $1 in
    *K) echo $((${1%K} * 1024)) ;; *M) echo $((${1%M} * 1024 * 1024)) ;;
    *G) echo $((${1%G} * 1024 * 1024 * 1024)) ;; *) echo "$1" ;;
  esac
}
exec_start=$(unit_value ExecStart)
user=$(unit_value User) group=$(unit_value Group)
nofile=$(unit_value LimitNOFILE) memlock=$(bytes "$(unit_value LimitMEMLOCK)")
echo "ExecStart=$exec_start (User=$user Group=$group LimitNOFILE=$nofile LimitMEMLOCK=$memlock)"
# systemd raises hard limits as root; a container without CAP_SYS_RESOURCE cannot go above its own.
if ! prlimit --nofile="$nofile" --memlock="$memlock" true 2>/dev/null; then
  hard_nofile=$(ulimit -Hn) hard_memlock=$(ulimit -Hl)
  [ "$hard_nofile" = unlimited ] || [ "$hard_nofile" -ge "$nofile" ] || nofile=$hard_nofile
  [ "$hard_memlock" = unlimited ] || [ $((hard_memlock * 1024)) -ge "$memlock" ] ||
    memlock=$((hard_memlock * 1024))
  echo "note: this machine's hard limits are lower and cannot be raised here (no CAP_SYS_RESOURCE):" \
    "LimitNOFILE=$nofile LimitMEMLOCK=$memlock"
fi
read -r -a command <<<"$exec_start"
listen=$(sed -n 's/^listen-ng = "\(.*\)"/\1/p' /etc/toneguard/toneguard.toml)
[ "$listen" = 127.0.0.1:2223 ] || fail "the default config's listen-ng is '$listen'"
(cd / && umask 0027 && exec prlimit --nofile="$nofile" --memlock="$memlock" --core=0 -- \
  setpriv --reuid="$user" --regid="$group" --init-groups --no-new-privs --inh-caps=-all \
  --bounding-set=-all -- "${command[@]}") 2>"$log" &
daemon=$!
for _ in $(seq 100); do grep -q "msg=listening" "$log" && break; kill -0 "$daemon" 2>/dev/null || break; sleep 0.1; done
grep -q "msg=listening proto=ng address=127.0.0.1 port=2223" "$log" || fail "the daemon did not listen on $listen"
grep -q 'msg="payments ready".*prompts=/var/lib/toneguard/prompts/en' "$log" || fail "not the installed prompt set"
grep -E 'msg="(media workers started|payments ready)"|level=(warn|error)' "$log" || true
# /proc/PID's owner would say root: the daemon makes itself undumpable. Its status says the uid.
euid=$(awk '/^Uid:/ {print $3}' "/proc/$daemon/status")
[ "$euid" = "$(id -u toneguard)" ] || fail "the daemon runs as uid $euid"

step "ng ping on $listen"
reply=$(python3 - "$listen" <<'PY'
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.sendto(b"pkgtest1 d7:command4:pinge", (host, int(port)))
print(s.recv(65536).decode())
PY
) || fail "no reply to ng ping"
echo "reply: $reply"
[ "$reply" = "pkgtest1 d6:result4:ponge" ] || fail "ng ping answered '$reply', not pong"
[ "$(stat -c %U /var/lib/toneguard/reports.sqlite 2>/dev/null)" = toneguard ] ||
  fail "no report DB /var/lib/toneguard/reports.sqlite written by the daemon"

step "stop: SIGTERM"
kill -TERM "$daemon"
status=0
wait "$daemon" || status=$?
daemon=
[ "$status" -eq 0 ] || fail "the daemon exited with $status on SIGTERM"
tail -n 1 "$log"

step "purge: apt-get purge toneguard"
apt-get purge -y -o DPkg::Lock::Timeout=120 toneguard >"$work/purge.log" 2>&1 ||
  { cat "$work/purge.log"; fail "apt-get purge failed"; }
installed=no
left=()
dpkg-query -W -f='${Status}' toneguard 2>/dev/null | grep -qv "not-installed" && left+=("the dpkg entry")
getent passwd toneguard >/dev/null && left+=("the user")
getent group toneguard >/dev/null && left+=("the group")
while read -r f; do
  if [ ! -d "$f" ] && { [ -e "$f" ] || [ -L "$f" ]; }; then left+=("$f"); fi
done <"$work/files"
for d in /etc/toneguard /var/lib/toneguard /usr/share/doc/toneguard; do
  if [ -e "$d" ]; then left+=("$d"); fi
done
find /etc/systemd /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked \
  -name '*toneguard*' 2>/dev/null | grep -q . && left+=("systemd links or state")
[ ${#left[@]} -eq 0 ] || fail "left after purge: ${left[*]}"
echo "package: built, installed, started, answered ng ping, stopped and purged without a trace: ok"
