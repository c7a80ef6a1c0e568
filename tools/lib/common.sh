# Shared by tools/test and tools/demo: Debian packages, configure and build.
# shellcheck shell=bash

TONEGUARD_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# Everything the build, the tests and the demo use, by Debian package name.
TONEGUARD_PACKAGES=(
  build-essential cmake ninja-build pkg-config
  clang libclang-rt-14-dev
  g++-aarch64-linux-gnu qemu-user-static
  libortp-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libliquid-dev libspandsp-dev
  libboost1.81-dev libboost-json1.81-dev libtomlplusplus-dev libyaml-cpp-dev
  libsrtp2-dev liburing-dev libssl-dev libsqlite3-dev sqlite3
  libpcap-dev  # toneguard-detect reads captures
  postgresql libpq-dev  # the optional PostgreSQL reporting store and its test
  rtpengine-utils kamailio sip-tester tcpdump
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  libgstreamer1.0-dev
  asterisk-core-sounds-en asterisk-core-sounds-en-wav asterisk-moh-opsound-wav espeak-ng  # -en: the sounds/en link
  python3 curl
  dpkg-dev  # tools/package: dpkg-shlibdeps computes the Debian package's Depends
  gnuplot-nox  # toneguard-sim --plot
  chromium nodejs npm  # the agent panel's browser test (playwright-core from npm)
)

# Installs the packages that are missing (apt-get as root, or through sudo).
ensure_packages() {
  local missing=()
  for p in "${TONEGUARD_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" && continue
    # Node.js from another source (e.g. NodeSource, which bundles npm) serves as well; Debian's
    # npm package would conflict with it.
    case $p in
      nodejs) command -v node >/dev/null && continue ;;
      npm) command -v npm >/dev/null && continue ;;
    esac
    missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "toneguard: installing missing packages: ${missing[*]}"
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# configure_and_build DIR [cmake args...]: configures with Ninja and builds with -j2.
configure_and_build() {
  local dir=$1
  shift
  cmake -S "$TONEGUARD_ROOT" -B "$TONEGUARD_ROOT/$dir" -G Ninja "$@" >"$TONEGUARD_ROOT/$dir.configure.log" 2>&1 ||
    { cat "$TONEGUARD_ROOT/$dir.configure.log"; return 1; }
  cmake --build "$TONEGUARD_ROOT/$dir" -j2
}
