#!/usr/bin/env bash
# The production topology without containers, on loopback, for tests and for a laptop:
#
#   nginx (proxy, :PROXY_PORT) ──► huigong-1, huigong-2 (the built binary) ──► PostgreSQL
#                                         │                                ──► Redis (password, AOF)
#                                         └──► the WeChat mock (miniprogram-stub, live mode)
#
# Everything lives in one directory (default $HUIGONG_LOCAL_DIR, else /tmp/huigong-local; or
# --dir DIR): data, logs, pid files, the generated secrets (secrets.env, mode 0600) and
# local.env, which names the ports and URLs (source it). Ports are free loopback ports chosen at
# the first start and kept. PostgreSQL, Redis and nginx are Debian packages, installed when run as
# root and missing. The binaries: $HUIGONG_BIN / $MOCK_BIN, else target/{release,debug}/, built
# (debug) when missing.
#
#   deploy/local.sh start   [--dir DIR]     start everything (what runs already is left alone)
#   deploy/local.sh stop    [--dir DIR]     stop everything (data kept; `rm -rf DIR` to forget)
#   deploy/local.sh status  [--dir DIR]     what runs, and each instance's /readyz
#   deploy/local.sh start|stop|restart|kill COMPONENT [--dir DIR]
#        one of: postgres redis mock huigong-1 huigong-2 nginx (kill: SIGKILL, for fault tests)
#   deploy/local.sh run ARGS… [--dir DIR]   the huigong binary with the instances' configuration
#        (for example `deploy/local.sh run audit verify`, `deploy/local.sh run backup --to B`)
#
# After `start`: `. DIR/local.env; curl $HUIGONG_URL/readyz`; the county admin is `admin` with
# the password in DIR/admin-password.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)

DIR=${HUIGONG_LOCAL_DIR:-${TMPDIR:-/tmp}/huigong-local}
ARGS=()
while [ $# -gt 0 ]; do
  case $1 in
    --dir) DIR=$2; shift 2 ;;
    --dir=*) DIR=${1#--dir=}; shift ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
set -- "${ARGS[@]}"
CMD=${1:-status}
ONE=${2:-}

say() { printf '== local: %s\n' "$*"; }
die() { printf 'deploy/local.sh: %s\n' "$*" >&2; exit 1; }
COMPONENTS="postgres redis mock huigong-1 huigong-2 nginx"

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
port_is_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local p
  for _ in $(seq 200); do
    p=$(( (RANDOM % 20000) + 30000 ))
    if port_is_free "$p"; then echo "$p"; return 0; fi
  done
  die "no free loopback port found"
}
random_b64() { head -c "$1" /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '='; }

install_packages() {
  local missing=()
  [ -n "$(pg_bin)" ] || missing+=(postgresql)
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
  [ ${#missing[@]} = 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "missing: ${missing[*]}; run as root, or: sudo apt-get install ${missing[*]}"
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

binary() { # $1: name, $2: override
  if [ -n "$2" ]; then echo "$2"; return; fi
  for profile in release debug; do
    if [ -x "$REPO/target/$profile/$1" ]; then echo "$REPO/target/$profile/$1"; return; fi
  done
  say "building $1 (debug)" >&2
  (cd "$REPO" && cargo build -q -p huigong-server -p miniprogram-stub --bins) >&2
  echo "$REPO/target/debug/$1"
}

# The directory, its ports and secrets: made once, then read. For tests and a laptop only:
# PostgreSQL trusts every connection on 127.0.0.1 and the directory must stay traversable by the
# postgres user, so any local user of the machine can reach the database. Never run it on a
# machine other people log in to.
init_dir() {
  mkdir -p "$DIR"
  chmod 755 "$DIR"
  if [ ! -f "$DIR/local.env" ]; then
    local pg redis mock h1 h2 proxy
    pg=$(free_port); redis=$(free_port); mock=$(free_port); h1=$(free_port); h2=$(free_port); proxy=$(free_port)
    local redis_pw; redis_pw=$(random_b64 24)
    cat >"$DIR/local.env" <<EOF
# deploy/local.sh: the ports and URLs of this set-up (no secrets: those are in secrets.env).
LOCAL_DIR=$DIR
PG_PORT=$pg
REDIS_PORT=$redis
MOCK_PORT=$mock
HUIGONG_1_PORT=$h1
HUIGONG_2_PORT=$h2
PROXY_PORT=$proxy
HUIGONG_URL=http://127.0.0.1:$proxy
HUIGONG_1_URL=http://127.0.0.1:$h1
HUIGONG_2_URL=http://127.0.0.1:$h2
MOCK_URL=http://127.0.0.1:$mock
PG_URL=postgres://huigong@127.0.0.1:$pg/huigong
EOF
    umask 077
    {
      echo "# deploy/local.sh: secrets of this local set-up only (generated; never reuse them)."
      "$(binary huigong "${HUIGONG_BIN:-}")" keys generate | grep '^HUIGONG__'
      echo "HUIGONG__REDIS__URL=redis://:$redis_pw@127.0.0.1:$redis/0"
      echo "REDIS_PASSWORD=$redis_pw"
      echo "HUIGONG__WECHAT__APPID=wx-local-$(random_b64 6)"
      echo "HUIGONG__WECHAT__SECRET=$(random_b64 24)"
      echo "ADMIN_PASSWORD=Local-$(random_b64 12)-9"
    } >"$DIR/secrets.env"
    grep '^ADMIN_PASSWORD=' "$DIR/secrets.env" | cut -d= -f2- >"$DIR/admin-password"
    umask 022
  fi
  # shellcheck source=/dev/null
  . "$DIR/local.env"
  set -a
  # shellcheck source=/dev/null
  . "$DIR/secrets.env"
  set +a
}

pid_alive() { [ -f "$DIR/$1.pid" ] && kill -0 "$(cat "$DIR/$1.pid")" 2>/dev/null; }
wait_port() { # $1 port, $2 what
  for _ in $(seq 150); do
    port_is_free "$1" || return 0
    sleep 0.1
  done
  die "$2 does not listen on $1 (log: $DIR/$2.log)"
}

huigong_env() { # the environment of the huigong commands
  export HUIGONG_PROFILE=development HUIGONG_CONFIG_DIR="$REPO/config"
  export HUIGONG__DATABASE__URL="$PG_URL" HUIGONG__DATABASE__MIGRATE_ON_START=false
  export HUIGONG__WECHAT__MODE=live HUIGONG__WECHAT__BASE_URL="$MOCK_URL" HUIGONG__WECHAT__TIMEOUT_MS=2000
  export HUIGONG__WECHAT__APPLY_RESULT_TEMPLATE_ID=tmpl-local-apply-result
  export HUIGONG__SERVER__HOST=127.0.0.1 HUIGONG__SERVER__WORKERS=1
  export HUIGONG__SERVER__TRUSTED_PROXIES=127.0.0.1/32
  export HUIGONG__LOG__FORMAT=json HUIGONG__NOTIFY__POLL_MS=1000 HUIGONG__NOTIFY__RETRY_BASE_MS=1000
}

start_postgres() {
  pid_alive postgres && return 0
  local bin; bin=$(pg_bin)
  if [ ! -f "$DIR/pg/PG_VERSION" ]; then
    mkdir -p "$DIR/pg" "$DIR/pgsock"
    [ "$(id -u)" = 0 ] && chown postgres "$DIR/pg" "$DIR/pgsock"
    as_pg "$bin/initdb" -D "$DIR/pg" -U postgres --auth=trust --no-locale -E UTF8 >"$DIR/initdb.log" 2>&1 \
      || { cat "$DIR/initdb.log"; die "initdb failed"; }
    cat >>"$DIR/pg/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$DIR/pgsock'
max_connections = 200
EOF
  fi
  as_pg "$bin/pg_ctl" -D "$DIR/pg" -w -t 30 -l "$DIR/pg/postgres.log" start >/dev/null \
    || { tail -n 20 "$DIR/pg/postgres.log"; die "PostgreSQL did not start"; }
  local psql=("$bin/psql" -qtA -h 127.0.0.1 -p "$PG_PORT" -U postgres)
  if [ -z "$("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = 'huigong'")" ]; then
    "${psql[@]}" -c "CREATE ROLE huigong LOGIN" -c "CREATE DATABASE huigong OWNER huigong" >/dev/null
  fi
  head -n 1 "$DIR/pg/postmaster.pid" >"$DIR/postgres.pid"
}
stop_postgres() {
  [ -f "$DIR/pg/postmaster.pid" ] && as_pg "$(pg_bin)/pg_ctl" -D "$DIR/pg" -m "${1:-fast}" -w stop >/dev/null 2>&1 || true
  rm -f "$DIR/postgres.pid"
}

start_redis() {
  pid_alive redis && return 0
  mkdir -p "$DIR/redis"
  umask 077
  printf 'requirepass "%s"\nport %s\nbind 127.0.0.1\nappendonly yes\ndir %s\nmaxmemory-policy noeviction\ndaemonize yes\npidfile %s\nlogfile %s\n' \
    "$REDIS_PASSWORD" "$REDIS_PORT" "$DIR/redis" "$DIR/redis.pid" "$DIR/redis.log" >"$DIR/redis/redis.conf"
  umask 022
  redis-server "$DIR/redis/redis.conf" || die "Redis did not start"
  for _ in $(seq 50); do
    REDISCLI_AUTH=$REDIS_PASSWORD redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && return 0
    sleep 0.1
  done
  die "Redis does not answer (log: $DIR/redis.log)"
}
stop_redis() {
  pid_alive redis && REDISCLI_AUTH=$REDIS_PASSWORD redis-cli -p "$REDIS_PORT" shutdown >/dev/null 2>&1 || true
  for _ in $(seq 50); do pid_alive redis || break; sleep 0.1; done
  rm -f "$DIR/redis.pid"
}

spawn() { # $1 name, rest: command
  local name=$1; shift
  nohup "$@" >>"$DIR/$name.log" 2>&1 </dev/null &
  echo $! >"$DIR/$name.pid"
}

start_mock() {
  pid_alive mock && return 0
  spawn mock "$(binary miniprogram-stub "${MOCK_BIN:-}")" --bind "127.0.0.1:$MOCK_PORT" \
    --appid "$HUIGONG__WECHAT__APPID" --secret "$HUIGONG__WECHAT__SECRET"
  wait_port "$MOCK_PORT" mock
}

migrate_and_admin() {
  huigong_env
  local bin; bin=$(binary huigong "${HUIGONG_BIN:-}")
  "$bin" migrate >>"$DIR/migrate.log" 2>&1 || { tail -n 20 "$DIR/migrate.log"; die "huigong migrate failed"; }
  if [ ! -f "$DIR/admin-created" ]; then
    printf '%s\n' "$ADMIN_PASSWORD" | "$bin" admin create --username admin --role county_admin --password-stdin \
      >>"$DIR/migrate.log" 2>&1 || { tail -n 5 "$DIR/migrate.log"; die "creating the admin failed"; }
    touch "$DIR/admin-created"
  fi
}

start_instance() { # $1: 1 or 2
  local name=huigong-$1 port
  pid_alive "$name" && return 0
  port=$([ "$1" = 1 ] && echo "$HUIGONG_1_PORT" || echo "$HUIGONG_2_PORT")
  huigong_env
  export HUIGONG__SERVER__PORT=$port
  spawn "$name" "$(binary huigong "${HUIGONG_BIN:-}")" serve
  for _ in $(seq 150); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null && return 0
    pid_alive "$name" || { tail -n 20 "$DIR/$name.log"; die "$name exited"; }
    sleep 0.1
  done
  die "$name is not ready (log: $DIR/$name.log)"
}

start_nginx() {
  pid_alive nginx && return 0
  mkdir -p "$DIR/nginx/tmp"
  [ "$(id -u)" = 0 ] && chown -R nobody "$DIR/nginx/tmp"
  cat >"$DIR/nginx/nginx.conf" <<EOF
# deploy/local.sh: deploy/nginx.conf's proxying, on loopback, plain HTTP.
worker_processes 1;
pid $DIR/nginx.pid;
error_log $DIR/nginx.log warn;
$([ "$(id -u)" = 0 ] && echo "user nobody nogroup;")
events { worker_connections 1024; }
http {
    server_tokens off;
    log_format huigong '\$remote_addr [\$time_iso8601] "\$request_method \$uri" \$status '
                       '\$body_bytes_sent \$request_time \$upstream_addr \$request_id';
    access_log $DIR/nginx-access.log huigong;
    client_body_temp_path $DIR/nginx/tmp/body;
    proxy_temp_path $DIR/nginx/tmp/proxy;
    fastcgi_temp_path $DIR/nginx/tmp/fastcgi;
    uwsgi_temp_path $DIR/nginx/tmp/uwsgi;
    scgi_temp_path $DIR/nginx/tmp/scgi;
    upstream huigong {
        server 127.0.0.1:$HUIGONG_1_PORT max_fails=3 fail_timeout=5s;
        server 127.0.0.1:$HUIGONG_2_PORT max_fails=3 fail_timeout=5s;
        keepalive 32;
    }
    server {
        listen 127.0.0.1:$PROXY_PORT;
        client_max_body_size 11m;
        location / {
            proxy_pass http://huigong;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_set_header X-Request-Id \$request_id;
            proxy_connect_timeout 2s;
            proxy_read_timeout 60s;
            proxy_next_upstream error timeout http_502;
            proxy_next_upstream_tries 2;
            # No instance answered (both down, or one died mid-request): the API's error shape.
            error_page 502 504 =503 /.upstream-unavailable;
        }
        location = /.upstream-unavailable {
            internal;
            default_type application/json;
            add_header Retry-After 5 always;
            return 503 '{"code":"upstream_unavailable","message":"服务暂时不可用，请稍后重试"}';
        }
    }
}
EOF
  nginx -c "$DIR/nginx/nginx.conf" -p "$DIR/nginx" -e "$DIR/nginx.log" 2>>"$DIR/nginx.log" \
    || { tail -n 5 "$DIR/nginx.log"; die "nginx did not start"; }
  wait_port "$PROXY_PORT" nginx
}
stop_pidfile() { # $1 name, $2 signal
  if pid_alive "$1"; then
    kill "-${2:-TERM}" "$(cat "$DIR/$1.pid")" 2>/dev/null || true
    for _ in $(seq 100); do pid_alive "$1" || break; sleep 0.1; done
  fi
  rm -f "$DIR/$1.pid"
}

start_one() {
  case $1 in
    postgres) start_postgres ;;
    redis) start_redis ;;
    mock) start_mock ;;
    huigong-1) start_instance 1 ;;
    huigong-2) start_instance 2 ;;
    nginx) start_nginx ;;
    *) die "unknown component $1 (one of: $COMPONENTS)" ;;
  esac
}
stop_one() { # $1 component, $2 signal (TERM, or KILL)
  case $1 in
    postgres) stop_postgres "$([ "${2:-TERM}" = KILL ] && echo immediate || echo fast)" ;;
    redis) if [ "${2:-TERM}" = KILL ]; then stop_pidfile redis KILL; else stop_redis; fi ;;
    mock|huigong-1|huigong-2) stop_pidfile "$1" "${2:-TERM}" ;;
    nginx) if pid_alive nginx; then nginx -c "$DIR/nginx/nginx.conf" -p "$DIR/nginx" -e "$DIR/nginx.log" -s quit 2>/dev/null || true; fi
           for _ in $(seq 50); do pid_alive nginx || break; sleep 0.1; done; rm -f "$DIR/nginx.pid" ;;
    *) die "unknown component $1 (one of: $COMPONENTS)" ;;
  esac
}

status() {
  [ -f "$DIR/local.env" ] || { echo "nothing set up in $DIR"; return 0; }
  local c state
  for c in $COMPONENTS; do
    if pid_alive "$c"; then state="running (pid $(cat "$DIR/$c.pid"))"; else state=stopped; fi
    printf '%-10s %s\n' "$c" "$state"
  done
  for u in "$HUIGONG_1_URL" "$HUIGONG_2_URL" "$HUIGONG_URL"; do
    printf '%-32s readyz %s\n' "$u" "$(curl -s -m 3 -o /dev/null -w '%{http_code}' "$u/readyz" || true)"
  done
}

case $CMD in
  start)
    install_packages
    init_dir
    if [ -n "$ONE" ]; then start_one "$ONE"; exit 0; fi
    start_postgres; start_redis; start_mock
    migrate_and_admin
    start_instance 1; start_instance 2; start_nginx
    say "running in $DIR: $HUIGONG_URL (nginx) → $HUIGONG_1_URL, $HUIGONG_2_URL; admin password in $DIR/admin-password"
    ;;
  stop|kill)
    [ -f "$DIR/local.env" ] || { echo "nothing set up in $DIR"; exit 0; }
    init_dir
    sig=$([ "$CMD" = kill ] && echo KILL || echo TERM)
    if [ -n "$ONE" ]; then stop_one "$ONE" "$sig"; exit 0; fi
    for c in nginx huigong-1 huigong-2 mock redis postgres; do stop_one "$c" "$sig"; done
    say "stopped (data kept in $DIR)"
    ;;
  restart)
    [ -n "$ONE" ] || die "restart needs a component (one of: $COMPONENTS)"
    init_dir
    stop_one "$ONE"; start_one "$ONE"
    ;;
  run)
    [ -f "$DIR/local.env" ] || die "nothing set up in $DIR: deploy/local.sh start first"
    init_dir
    huigong_env
    exec "$(binary huigong "${HUIGONG_BIN:-}")" "${@:2}"
    ;;
  status)
    [ -f "$DIR/local.env" ] && init_dir
    status
    ;;
  *) die "usage: deploy/local.sh start|stop|status|restart|kill [COMPONENT] [--dir DIR]" ;;
esac
