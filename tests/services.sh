#!/usr/bin/env bash
# Sourced by tests/run.sh and tests/bench.sh: installs PostgreSQL and Redis when missing (Debian
# packages, as root), starts throwaway instances on free loopback ports in a temporary directory,
# exports HUIGONG_TEST_PG_URL / HUIGONG_TEST_REDIS_URL, and stops them on exit. Also installs
# the posters' CJK font (fonts-wqy-microhei) when missing.
# shellcheck shell=bash

log() { printf '\n== %s\n' "$*"; }
die() { printf 'tests/run.sh: %s\n' "$*" >&2; exit 1; }

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

if [ -z "$(pg_bin)" ] || ! command -v redis-server >/dev/null; then
  [ "$(id -u)" = 0 ] || die "PostgreSQL and Redis are missing; run as root to install them, or: sudo apt-get install postgresql redis-server"
  log "installing postgresql and redis-server"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postgresql redis-server >/dev/null
fi
# The CJK font of the union posters (poster.font_path in config/default.toml).
if [ ! -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ]; then
  [ "$(id -u)" = 0 ] || die "the posters' font is missing; run as root to install it, or: sudo apt-get install fonts-wqy-microhei"
  log "installing fonts-wqy-microhei"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends fonts-wqy-microhei >/dev/null
fi
PG_BIN=$(pg_bin)
[ -x "$PG_BIN/initdb" ] || die "initdb not found under /usr/lib/postgresql"

TMP=$(mktemp -d /tmp/huigong-tests.XXXXXX)
chmod 755 "$TMP"
PG_PID=""
cleanup() {
  if [ -f "$TMP/pg/postmaster.pid" ]; then as_pg "$PG_BIN/pg_ctl" -D "$TMP/pg" -m immediate stop >/dev/null 2>&1 || true; fi
  if [ -f "$TMP/redis.pid" ]; then kill "$(cat "$TMP/redis.pid")" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

# PostgreSQL refuses to run as root: use the postgres account then.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

port_is_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local p
  for _ in $(seq 200); do
    p=$(( (RANDOM % 20000) + 20000 ))
    if port_is_free "$p"; then echo "$p"; return 0; fi
  done
  die "no free loopback port found"
}

log "starting PostgreSQL"
PG_PORT=$(free_port)
mkdir -p "$TMP/pg" "$TMP/pgsock"
[ "$(id -u)" = 0 ] && chown postgres "$TMP/pg" "$TMP/pgsock"
as_pg "$PG_BIN/initdb" -D "$TMP/pg" -U postgres --auth=trust --no-locale -E UTF8 >"$TMP/initdb.log" 2>&1 \
  || { cat "$TMP/initdb.log"; die "initdb failed"; }
as_pg "$PG_BIN/pg_ctl" -D "$TMP/pg" -w -t 30 -l "$TMP/pg/server.log" \
  -o "-p $PG_PORT -k $TMP/pgsock -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
  start >/dev/null || { cat "$TMP/pg/server.log"; die "PostgreSQL did not start"; }

log "starting Redis"
REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
  --pidfile "$TMP/redis.pid" --dir "$TMP" --logfile "$TMP/redis.log" \
  || die "Redis did not start"
for _ in $(seq 50); do
  redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
  sleep 0.1
done
redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 || { cat "$TMP/redis.log"; die "Redis does not answer"; }

export HUIGONG_TEST_PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
export HUIGONG_TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/"
export HUIGONG_TEST_PG_DUMP="$PG_BIN/pg_dump"
