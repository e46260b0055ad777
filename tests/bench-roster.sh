#!/usr/bin/env bash
# Benchmark of the roster through the HTTP API, on both backends: a generated roster of
# ROWS members (100,000 by default) imported into one grassroots union (dry run, commit,
# re-import of the full export), and exported masked and in full. Uses the release binary and
# curl; PostgreSQL and Redis are started as tests/run.sh does. Prints, per step, the wall time
# seen by the client and the service's peak RSS during the step: the service is restarted before
# each step (the data stays in the database), so each figure is that step's own peak (VmHWM)
# from a fresh process, next to the idle process's RSS. Asserts nothing about timing.
#
#   tests/bench-roster.sh            # 100,000 rows
#   BENCH_ROWS=20000 tests/bench-roster.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${BENCH_ROWS:-100000}
PASSWORD='Bench-Password-2026'
# Three imports of ROWS rows each: above the default daily budget of rows checked.
export HUIGONG__ROSTER__MAX_CHECKED_ROWS_PER_DAY=$((ROWS * 4))

# shellcheck source=tests/services.sh
. tests/services.sh
cargo build --release --locked -q -p huigong-server
cargo build --release --locked -q -p huigong-roster --example roster_100k
${CARGO_TARGET_DIR:-./target}/release/examples/roster_100k write "$TMP/roster.xlsx" "$ROWS" >/dev/null

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); $(date -u +%Y-%m-%d)"
echo "roster: $ROWS rows, $(( $(stat -c %s "$TMP/roster.xlsx") / 1024 )) KiB"

bench_backend() {
  local name=$1 port pid base token district union
  port=$(free_port)
  base="http://127.0.0.1:$port"
  printf '%s\n' "$PASSWORD" | RUST_LOG=warn ${CARGO_TARGET_DIR:-./target}/release/huigong admin create \
    --username bench --role county_admin --password-stdin >/dev/null
  start() {
    HUIGONG__SERVER__PORT=$port RUST_LOG=warn ${CARGO_TARGET_DIR:-./target}/release/huigong >>"$TMP/server-$name.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do curl -sf "$base/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
    curl -sf "$base/readyz" >/dev/null || { cat "$TMP/server-$name.log"; die "service did not start"; }
  }
  stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; }
  # The first "KEY":"value" of a JSON answer (the object's own, before any nested one).
  json() { grep -o "\"$1\":\"[^\"]*\"" | head -1 | cut -d'"' -f4; }
  # Sessions of the embedded backend live in the process: log in after each start.
  login() {
    token=$(curl -sf "$base/api/v1/auth/password/login" -H 'content-type: application/json' \
      -d "{\"username\":\"bench\",\"password\":\"$PASSWORD\"}" | json token)
  }
  start
  login
  post() { curl -sf "$base$1" -H "authorization: Bearer $token" -H 'content-type: application/json' -d "$2"; }
  district=$(post /api/v1/admin/orgs "{\"parent_id\":\"00000000-0000-7000-8000-000000000001\",\"level\":\"district\",\"name\":\"雉城街道总工会\"}" | json id)
  union=$(post /api/v1/admin/orgs "{\"parent_id\":\"$district\",\"level\":\"grassroots\",\"name\":\"长兴县某某集团工会\",\"unit_name\":\"长兴县某某集团\",\"unit_code\":\"91350100M000100Y43\",\"unit_nature\":\"私营经济\",\"unit_address\":\"长兴县\",\"employee_count\":$ROWS,\"founded_on\":\"2001-05-06\",\"union_type\":\"单建\",\"member_count\":$ROWS,\"leader_name\":\"吴可青\",\"phone\":\"0572-6022447\"}" | json id)
  [ -n "$union" ] || die "could not create the union"
  stop
  step() {
    local label=$1; shift
    start
    login
    echo 5 >"/proc/$pid/clear_refs"   # the login's password hashing is not the step's
    local idle
    idle=$(awk '/VmRSS/ {printf "%d", $2/1024}' "/proc/$pid/status")
    local out
    out=$(curl -s -o "$TMP/out" -w '%{http_code} %{time_total}' -H "authorization: Bearer $token" "$@")
    local summary
    summary=$(head -c 300 "$TMP/out" | tr -d '\n' | grep -o '"\(rows\|valid\|created\|updated\|unchanged\)":[0-9]*' | tr '\n' ' ' || true)
    printf '%-10s %-30s HTTP %s  %6.2f s  peak RSS %4d MB (idle %d MB)  %s\n' "$name" "$label" "${out%% *}" "${out##* }" \
      "$(awk '/VmHWM/ {printf "%d", $2/1024}' "/proc/$pid/status")" "$idle" "$summary"
    stop
  }
  local import="$base/api/v1/admin/orgs/$union/roster/import"
  step "import, dry run" -F "file=@$TMP/roster.xlsx" "$import"
  step "import, commit" -F "file=@$TMP/roster.xlsx" "$import?commit=true"
  step "export, masked" "$base/api/v1/admin/orgs/$union/roster.xlsx"
  step "export, full" "$base/api/v1/admin/orgs/$union/roster.xlsx?full=true"
  cp "$TMP/out" "$TMP/full.xlsx"
  step "re-import of the full export" -F "file=@$TMP/full.xlsx" "$import?commit=true"
}

HUIGONG__DATABASE__URL="sqlite://$TMP/bench.sqlite" HUIGONG__REDIS__URL="" bench_backend sqlite+mem
psql "$HUIGONG_TEST_PG_URL" -qc "CREATE DATABASE bench_roster"
HUIGONG__DATABASE__URL="${HUIGONG_TEST_PG_URL%/postgres}/bench_roster" HUIGONG__REDIS__URL="$HUIGONG_TEST_REDIS_URL" bench_backend pg+redis
