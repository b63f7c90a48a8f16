#!/usr/bin/env bash
# Start (or reuse) a throwaway PostgreSQL server for the test suite and print its URL.
# Installs PostgreSQL from Debian's packages when it is missing and we are root (CI, fresh
# machines). Usage: scripts/test-postgres.sh start|stop|url
set -euo pipefail

PORT="${RETURNLINE_TEST_PG_PORT:-54329}"
ROOT="${RETURNLINE_TEST_PG_DIR:-${TMPDIR:-/tmp}/returnline-test-pg-$PORT}"
DATA="$ROOT/data"
SOCK="$ROOT/run"
URL="postgresql://returnline@127.0.0.1:$PORT/postgres"

find_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$d" ] && command -v pg_ctl >/dev/null 2>&1; then d=$(dirname "$(readlink -f "$(command -v pg_ctl)")"); fi
  echo "$d"
}

install_postgres() {
  if [ "$(id -u)" != "0" ]; then
    echo "PostgreSQL is not installed and I am not root: install the 'postgresql' package" >&2
    exit 1
  fi
  echo "installing PostgreSQL from Debian's packages..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
}

as_pg() {  # initdb and postgres refuse to run as root
  if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
  BIN=$(find_bin)
  if [ -z "$BIN" ] || [ ! -x "$BIN/pg_ctl" ]; then install_postgres; BIN=$(find_bin); fi
  mkdir -p "$ROOT" "$SOCK"
  if [ "$(id -u)" = "0" ]; then chown -R postgres: "$ROOT"; fi
  if [ ! -f "$DATA/PG_VERSION" ]; then
    as_pg "$BIN/initdb" -D "$DATA" -U returnline -A trust -E UTF8 --no-instructions >/dev/null
  fi
  if ! as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    as_pg "$BIN/pg_ctl" -D "$DATA" -l "$ROOT/server.log" -w -t 60 start \
      -o "-p $PORT -k $SOCK -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" >/dev/null
  fi
  echo "$URL"
}

stop() {
  BIN=$(find_bin)
  [ -n "$BIN" ] && [ -f "$DATA/PG_VERSION" ] && as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null 2>&1 || true
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  url) echo "$URL" ;;
  *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
