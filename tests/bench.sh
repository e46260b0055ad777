#!/usr/bin/env bash
# Benchmarks of the HTTP paths, on both backends: the release binary, PostgreSQL and Redis started
# as tests/run.sh does, load from wrk (installed from Debian packages when missing, as root) on
# the same machine. Prints figures; asserts nothing about timing. Non-2xx answers are reported:
# a run with any is not a valid figure. Every rate is also printed as a ratio to the reference
# endpoint (tests/bench/reference.rs: one PostgreSQL primary-key select per request), measured
# in the same run before and after the paths (the ratio is to the mean of the two).
#
#   tests/bench.sh                 # 10 s per path, 64 connections
#   BENCH_SECONDS=30 BENCH_CONNECTIONS=128 tests/bench.sh
#   BENCH_BACKENDS=postgres BENCH_PATHS=login tests/bench.sh   # one backend, paths matching a regex
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_PATH=${BENCH_SECONDS:-10}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
export WRK_THREADS=2

# shellcheck source=tests/services.sh
. tests/services.sh
# shellcheck source=tests/bench/reference.sh
. tests/bench/reference.sh
trap 'reference_stop; cleanup' EXIT
if ! command -v wrk >/dev/null; then
  [ "$(id -u)" = 0 ] || die "wrk is missing: sudo apt-get install wrk"
  apt-get update -qq && apt-get install -y -qq wrk curl >/dev/null
fi
cargo build --release --locked -q
reference_start

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); $(date -u +%Y-%m-%d)"
echo "load: wrk -t$WRK_THREADS -c$CONNECTIONS -d${SECONDS_PER_PATH}s on loopback"

PASSWORD='Bench-Password-2026'
# The first "KEY":"value" of a JSON answer (the object's own, before any nested one).
json() { grep -o "\"$1\":\"[^\"]*\"" | head -1 | cut -d'"' -f4; }

# A worker holding an active 惠工卡: a county admin adds a member to a new union, the worker logs
# in through the mock and activates the card. Prints the worker's token.
card_holder() {
  local base=$1 admin district union worker preview
  admin=$(curl -sf "$base/api/v1/auth/password/login" -H 'content-type: application/json' \
    -d "{\"username\":\"bench\",\"password\":\"$PASSWORD\"}" | json token)
  post() { curl -sf "$base$1" -H "authorization: Bearer $2" -H 'content-type: application/json' -d "$3"; }
  district=$(post /api/v1/admin/orgs "$admin" '{"parent_id":"00000000-0000-7000-8000-000000000001","level":"district","name":"雉城街道总工会"}' | json id)
  union=$(post /api/v1/admin/orgs "$admin" "{\"parent_id\":\"$district\",\"level\":\"grassroots\",\"name\":\"甲公司工会\",\"unit_name\":\"甲公司\",\"unit_code\":\"91350100M000100Y43\",\"unit_nature\":\"私营经济\",\"unit_address\":\"长兴县\",\"employee_count\":10,\"founded_on\":\"2001-05-06\",\"union_type\":\"单建\",\"member_count\":10,\"leader_name\":\"吴可青\",\"phone\":\"0572-6022447\"}" | json id)
  post "/api/v1/admin/orgs/$union/members" "$admin" '{"name":"张三","sex":"女","id_number":"11010519491231002X","nationality":"汉族","education":"大专","mobile":"13957200001","household_type":"农村","unit_name":"甲公司","employment_status":"在岗","union_post":"会员"}' >/dev/null
  worker=$(curl -sf -XPOST "$base/wechat-mock/wx/login" \
    | curl -sf "$base/api/v1/auth/wechat/login" -H 'content-type: application/json' -d @- | json token)
  preview=$(post /api/v1/card/activation/preview "$worker" '{"name":"张三","id_number":"11010519491231002X"}' | json preview_id)
  post /api/v1/card/activation/confirm "$worker" "{\"preview_id\":\"$preview\"}" >/dev/null
  curl -sf "$base/api/v1/card" -H "authorization: Bearer $worker" >/dev/null || die "no card for the GET /api/v1/card run"
  printf '%s' "$worker"
}

bench_backend() {
  local name=$1 port
  port=$(free_port)
  printf '%s\n' "$PASSWORD" | RUST_LOG=warn ${CARGO_TARGET_DIR:-./target}/release/huigong admin create \
    --username bench --role county_admin --password-stdin >/dev/null
  HUIGONG__SERVER__PORT=$port RUST_LOG=warn ${CARGO_TARGET_DIR:-./target}/release/huigong >"$TMP/server-$name.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do curl -sf "localhost:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -sf "localhost:$port/readyz" >/dev/null || { cat "$TMP/server-$name.log"; die "service did not start"; }
  local base="http://127.0.0.1:$port"
  # Enough codes for the run (~20k logins/s at most), 50 logins per openid: returning users,
  # inside WeChat's 100 calls per user per minute.
  local count=$(( SECONDS_PER_PATH * 20000 ))
  curl -sf -XPOST "$base/wechat-mock/mock/codes" -H 'content-type: application/json' \
    -d "{\"count\": $count, \"users\": $(( count / 50 ))}" >"$TMP/codes-$name.txt"
  local token
  token=$(curl -sf -XPOST "$base/wechat-mock/wx/login" \
    | curl -sf "$base/api/v1/auth/wechat/login" -H 'content-type: application/json' -d @- \
    | sed 's/.*"token":"\([^"]*\)".*/\1/')
  run() {
    local label=$1; shift
    [[ "$label" =~ ${BENCH_PATHS:-.} ]] || return 0
    wrk -t$WRK_THREADS -c"$CONNECTIONS" -d"${SECONDS_PER_PATH}s" --latency "$@" >"$TMP/wrk.txt"
    awk -v label="$label" -v backend="$name" '
      /Requests\/sec/ { rps = $2 }
      / 50%/ { p50 = $2 } / 99%/ { p99 = $2 }
      /Non-2xx/ { bad = $NF }
      END { printf "%-10s %-34s %10.0f req/s  p50 %8s  p99 %8s  non-2xx %s\n", backend, label, rps, p50, p99, (bad == "" ? 0 : bad) }
    ' "$TMP/wrk.txt" >>"$TMP/figures.txt"
    tail -n 1 "$TMP/figures.txt"
  }
  run "GET /healthz" "$base/healthz"
  CODES_FILE="$TMP/codes-$name.txt" run "POST /api/v1/auth/wechat/login" -s tests/bench/login.lua "$base"
  run "GET /api/v1/me" -H "authorization: Bearer $token" "$base/api/v1/me"
  local holder
  holder=$(card_holder "$base")
  run "GET /api/v1/card" -H "authorization: Bearer $holder" "$base/api/v1/card"
  echo "           service RSS after the run: $(awk '/VmRSS/ {printf "%.0f MB", $2/1024}' "/proc/$pid/status")"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

reference_measure "GET /reference (before)"
: >"$TMP/figures.txt"
if [[ " ${BENCH_BACKENDS:-sqlite postgres} " == *" sqlite "* ]]; then
  HUIGONG__DATABASE__URL="sqlite://$TMP/bench.sqlite" HUIGONG__REDIS__URL="" bench_backend sqlite+mem
fi
if [[ " ${BENCH_BACKENDS:-sqlite postgres} " == *" postgres "* ]]; then
  psql "$HUIGONG_TEST_PG_URL" -qc "CREATE DATABASE bench"
  HUIGONG__DATABASE__URL="${HUIGONG_TEST_PG_URL%/postgres}/bench" HUIGONG__REDIS__URL="$HUIGONG_TEST_REDIS_URL" bench_backend pg+redis
fi
reference_measure "GET /reference (after)"
echo "ratios to the reference's mean, $REFERENCE_RPS req/s (${REFERENCE_RUNS[*]}):"
while read -r backend rest; do
  rate=$(grep -o '[0-9]* req/s' <<<"$rest" | head -1 | cut -d' ' -f1)
  printf '%-10s %-34s %s\n' "$backend" "$(sed 's/ *[0-9]* req\/s.*//' <<<"$rest")" "$(ratio "$rate")"
done <"$TMP/figures.txt"
