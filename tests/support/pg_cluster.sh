#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback for tests (C++ through postgres_cluster.h, or shell).
#
#   pg_cluster.sh start DIR          create the cluster in DIR (new or empty) when it is not
#                                    there yet, start it on 127.0.0.1 on a free port; prints the
#                                    URI of its database "toneguard" (user toneguard, password)
#   pg_cluster.sh stop DIR           stop the server (fast shutdown), keep the cluster; `start`
#                                    starts it again on the same port
#   pg_cluster.sh createdb DIR NAME  a new database NAME; prints its URI
#   pg_cluster.sh psql DIR NAME ARG...  psql on database NAME as the superuser (over the
#                                    socket in DIR), e.g. psql DIR toneguard -Atc 'SELECT 1'
#   pg_cluster.sh destroy DIR        stop the server and remove DIR
#   pg_cluster.sh fresh DIR          destroy, then start (a CTest fixture's set-up)
#
# The server binaries: $PG_BINDIR, else the newest /usr/lib/postgresql/*/bin (Debian), else
# initdb on PATH. None found: exit status 77 and a line on stderr (tests skip on it); 0 with
# PG_CLUSTER_OPTIONAL=1 (no cluster is made, and tests looking for it skip).
# PostgreSQL refuses to run as root: under root the server runs as the "postgres" system user
# (Debian's postgresql package creates it), else as "nobody", and DIR is handed to that user.
# Connections over TCP need the password (scram-sha-256); the socket in DIR trusts its user.
set -euo pipefail

die() {
  echo "pg_cluster.sh: $*" >&2
  exit 1
}

find_bindir() {
  if [[ -n "${PG_BINDIR:-}" && -x "$PG_BINDIR/initdb" ]]; then
    echo "$PG_BINDIR"
    return
  fi
  local newest
  newest=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [[ -n "$newest" && -x "$newest/initdb" ]]; then
    echo "$newest"
    return
  fi
  if command -v initdb >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
    return
  fi
  echo "pg_cluster.sh: no PostgreSQL server binaries (initdb) found" >&2
  [[ "${PG_CLUSTER_OPTIONAL:-}" != 1 ]] || exit 0
  exit 77
}

# Runs a server program as the cluster's owner.
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u "$OWNER" -- "$@"
  else
    "$@"
  fi
}

# A TCP port on 127.0.0.1 nobody listens on now, below the UDP ports the daemon tests take
# (20000 and up) and the kernel's ephemeral range.
free_port() {
  local port attempt
  for attempt in $(seq 1 50); do
    port=$((12000 + RANDOM % 8000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  die "no free TCP port found"
}

uri_of() {
  echo "postgresql://toneguard:$(cat "$DIR/password")@127.0.0.1:$(cat "$DIR/port")/$1"
}

start_server() {
  local attempt
  for attempt in 1 2 3 4 5; do
    [[ -s "$DIR/port" ]] || free_port >"$DIR/port"
    if as_owner "$BINDIR/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 -s start \
      -o "-k $DIR -c listen_addresses=127.0.0.1 -p $(cat "$DIR/port") -c fsync=off \
          -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=16MB \
          -c max_connections=40" >/dev/null; then
      return
    fi
    # The port was taken meanwhile (or the server failed): try another one.
    as_owner "$BINDIR/pg_ctl" -D "$DIR/data" -m immediate -s stop >/dev/null 2>&1 || true
    : >"$DIR/port"
  done
  cat "$DIR/server.log" >&2 || true
  die "the server did not start (log above)"
}

SELF=$(readlink -f "$0")
command=${1:-}
DIR=${2:-}
[[ -n "$command" && -n "$DIR" ]] || die "usage: pg_cluster.sh start|stop|createdb|psql|destroy DIR ..."
BINDIR=$(find_bindir)
[[ -n "$BINDIR" ]] || exit 0
OWNER=$(id -un)
if [[ $(id -u) -eq 0 ]]; then
  if id postgres >/dev/null 2>&1; then OWNER=postgres; else OWNER=nobody; fi
fi

[[ "$command" != start && "$command" != fresh ]] || mkdir -p "$DIR"
[[ -d "$DIR" ]] || { [[ "$command" == destroy ]] && exit 0; die "$DIR: no such directory"; }
DIR=$(cd "$DIR" && pwd)
# The server's user may not enter the caller's working directory.
cd /

if [[ "$command" == fresh ]]; then
  "$SELF" destroy "$DIR"
  mkdir -p "$DIR"
  command=start
fi

case "$command" in
  start)
    if [[ ! -f "$DIR/data/PG_VERSION" ]]; then
      [[ $(id -u) -ne 0 ]] || chown "$OWNER" "$DIR"
      chmod 700 "$DIR"
      # Letters and digits only: the URI needs no escaping.
      (tr -dc 'a-zA-Z0-9' </dev/urandom || true) | head -c 24 >"$DIR/password"
      as_owner "$BINDIR/initdb" -D "$DIR/data" -U toneguard --pwfile="$DIR/password" -E UTF8 \
        --locale=C --auth-local=trust --auth-host=scram-sha-256 -N >"$DIR/initdb.log" 2>&1 ||
        { cat "$DIR/initdb.log" >&2; die "initdb failed (log above)"; }
      start_server
      as_owner "$BINDIR/createdb" -h "$DIR" -p "$(cat "$DIR/port")" -U toneguard toneguard
    else
      start_server
    fi
    uri_of toneguard
    ;;
  stop)
    [[ -f "$DIR/data/PG_VERSION" ]] || die "$DIR: no cluster"
    as_owner "$BINDIR/pg_ctl" -D "$DIR/data" -m fast -w -s stop >/dev/null
    ;;
  createdb)
    name=${3:?usage: pg_cluster.sh createdb DIR NAME}
    as_owner "$BINDIR/createdb" -h "$DIR" -p "$(cat "$DIR/port")" -U toneguard "$name"
    uri_of "$name"
    ;;
  psql)
    name=${3:?usage: pg_cluster.sh psql DIR NAME ARG...}
    shift 3
    as_owner "$BINDIR/psql" -X -q -h "$DIR" -p "$(cat "$DIR/port")" -U toneguard -d "$name" \
      -v ON_ERROR_STOP=1 "$@"
    ;;
  destroy)
    if [[ -f "$DIR/data/postmaster.pid" ]]; then
      as_owner "$BINDIR/pg_ctl" -D "$DIR/data" -m immediate -s stop >/dev/null 2>&1 || true
    fi
    rm -rf "$DIR"
    ;;
  *)
    die "unknown command '$command'"
    ;;
esac
