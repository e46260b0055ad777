#!/usr/bin/env bash
# Benchmark of the merchant till, on both backends: verifications alone (`POST
# /api/v1/merchant/verify`), then pairs of a verification and its redemption (`POST
# /api/v1/merchant/redemptions`). The release binary, PostgreSQL and Redis started as
# tests/run.sh does, and the load generator `tests/bench/merchant.rs` (example `bench_merchant`)
# on the same machine. It sets up members with active cards and a merchant over the API, fetches
# one live QR token per customer beforehand, then drives each run: the verifications alone
# through wrk (`tests/bench/verify.lua`; installed from Debian packages when missing, as root),
# as tests/bench.sh does, the pairs (each redemption needs its verification's answer) from the
# program itself. Prints figures; asserts nothing about timing. A run with failures is not a
# valid figure, nor one marked INVALID (the tokens ran out before wrk's BENCH_VERIFY_SECONDS
# ended: fetch more with BENCH_VERIFIES). Every rate is also printed as a ratio to the reference
# endpoint (tests/bench/reference.rs: one PostgreSQL primary-key select per request), measured in
# the same run before and after the backends (the ratio is to the mean of the two).
#
#   tests/bench-merchant.sh
#   BENCH_VERIFIES=70000 BENCH_PAIRS=12000 BENCH_CONNECTIONS=128 BENCH_CARDS=500 tests/bench-merchant.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export BENCH_PAIRS=${BENCH_PAIRS:-8000}
export BENCH_VERIFIES=${BENCH_VERIFIES:-60000}
export BENCH_CONNECTIONS=${BENCH_CONNECTIONS:-64}
export BENCH_CARDS=${BENCH_CARDS:-300}
export BENCH_PASSWORD='Bench-Till-2026!'
TARGET=${CARGO_TARGET_DIR:-target}

# shellcheck source=tests/services.sh
. tests/services.sh
# shellcheck source=tests/bench/reference.sh
. tests/bench/reference.sh
SERVER_PID=""
trap '[ -z "$SERVER_PID" ] || kill "$SERVER_PID" 2>/dev/null || true; reference_stop; cleanup' EXIT
command -v curl >/dev/null || die "curl is missing"
if ! command -v wrk >/dev/null; then
  [ "$(id -u)" = 0 ] || die "wrk is missing: sudo apt-get install wrk"
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
export BENCH_WRK_SCRIPT="$PWD/tests/bench/verify.lua" WRK_THREADS=2
cargo build --release --locked -q -p huigong-server --bin huigong
cargo build --release --locked -q -p huigong-tests --example bench_merchant
reference_start

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); $(date -u +%Y-%m-%d)"
echo "load: verifies alone for ${BENCH_VERIFY_SECONDS:-5} s ($BENCH_VERIFIES tokens), then $BENCH_PAIRS verify+redeem pairs, $BENCH_CONNECTIONS concurrent tills, $BENCH_CARDS cards"

bench_backend() {
  local name=$1 port
  port=$(free_port)
  export HUIGONG__SERVER__PORT=$port HUIGONG__CARD__QR_TTL_SECS=60 \
    HUIGONG__CARD__MAX_PREVIEWS_PER_IP_PER_HOUR=1000000 \
    HUIGONG__VAULT__DEV_KEY_FILE="$TMP/keys-$name.toml" RUST_LOG=warn
  printf '%s\n' "$BENCH_PASSWORD" | "$TARGET/release/huigong" admin create --username bench_county \
    --role county_admin --password-stdin >/dev/null
  "$TARGET/release/huigong" >"$TMP/server-$name.log" 2>&1 &
  local pid=$!
  SERVER_PID=$pid
  for _ in $(seq 100); do curl -sf "localhost:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -sf "localhost:$port/readyz" >/dev/null || { cat "$TMP/server-$name.log"; die "service did not start"; }
  printf '%-10s ' "$name"
  BENCH_BASE="http://127.0.0.1:$port" "$TARGET/release/examples/bench_merchant" | tee "$TMP/figures-$name.txt"
  echo "           service RSS after the run: $(awk '/VmRSS/ {printf "%.0f MB", $2/1024}' "/proc/$pid/status")"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  SERVER_PID=""
}

reference_measure "GET /reference (before)"
HUIGONG__DATABASE__URL="sqlite://$TMP/bench.sqlite" HUIGONG__REDIS__URL="" bench_backend sqlite+mem
psql "$HUIGONG_TEST_PG_URL" -qc "CREATE DATABASE bench_merchant"
HUIGONG__DATABASE__URL="${HUIGONG_TEST_PG_URL%/postgres}/bench_merchant" HUIGONG__REDIS__URL="$HUIGONG_TEST_REDIS_URL" bench_backend pg+redis
reference_measure "GET /reference (after)"
echo "ratios to the reference's mean, $REFERENCE_RPS req/s (${REFERENCE_RUNS[*]}):"
for name in sqlite+mem pg+redis; do
  verifies=$(grep -o '[0-9]* verifies/s' "$TMP/figures-$name.txt" | head -1 | cut -d' ' -f1)
  pairs=$(grep -o '[0-9]* pairs/s' "$TMP/figures-$name.txt" | head -1 | cut -d' ' -f1)
  printf '%-10s verifies alone %s; verify+redeem pairs %s\n' "$name" "$(ratio "${verifies:-0}")" "$(ratio "${pairs:-0}")"
done
