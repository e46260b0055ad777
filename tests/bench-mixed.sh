#!/usr/bin/env bash
# The mixed day (issue 18) on PostgreSQL + Redis: card views 60 %, verifications 20 %,
# redemptions 10 %, WeChat logins 5 %, admin member searches and application approvals 5 %,
# from BENCH_CONNECTIONS (128) concurrent clients, over a county of BENCH_MEMBERS (1,000,000)
# generated members. The load generator is tests/bench/mixed.rs (example `bench_mixed`); the
# members come from the store's `progress_1m` example (tests/bench-reports.sh), generated once
# and kept as a PostgreSQL dump under BENCH_CACHE_DIR (target/bench-cache; sealed personal data
# only, as in the database), restored in seconds on later runs. Prints throughput, p50/p99 per
# path, errors by path and status, the service's RSS (now and peak), and the figures as ratios
# to the reference endpoint (tests/bench/reference.rs) measured in the same run. Asserts
# nothing about timing; a run with errors is not a valid figure.
#
#   tests/bench-mixed.sh
#   BENCH_MEMBERS=100000 BENCH_OPS=20000 tests/bench-mixed.sh
set -euo pipefail
cd "$(dirname "$0")/.."
MEMBERS=${BENCH_MEMBERS:-1000000}
export BENCH_OPS=${BENCH_OPS:-40000}
export BENCH_CONNECTIONS=${BENCH_CONNECTIONS:-128}
export BENCH_CARDS=${BENCH_CARDS:-300}
export BENCH_PASSWORD='Bench-Mixed-2026!'
TARGET=${CARGO_TARGET_DIR:-target}
CACHE=${BENCH_CACHE_DIR:-$TARGET/bench-cache}

# shellcheck source=tests/services.sh
. tests/services.sh
# shellcheck source=tests/bench/reference.sh
. tests/bench/reference.sh
SERVER_PID=""
trap '[ -z "$SERVER_PID" ] || kill "$SERVER_PID" 2>/dev/null || true; reference_stop; cleanup' EXIT
if ! command -v wrk >/dev/null; then
  [ "$(id -u)" = 0 ] || die "wrk is missing: sudo apt-get install wrk"
  apt-get update -qq && apt-get install -y -qq wrk curl >/dev/null
fi
export WRK_THREADS=2
cargo build --release --locked -q -p huigong-server --bin huigong
cargo build --release --locked -q -p huigong-store --example progress_1m
cargo build --release --locked -q -p huigong-tests --example bench_mixed
reference_start

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); $(date -u +%Y-%m-%d)"

# The generated county, from the cache when the schema and the generator are unchanged.
DB_URL="${HUIGONG_TEST_PG_URL%/postgres}/bench_mixed"
psql "$HUIGONG_TEST_PG_URL" -qc "CREATE DATABASE bench_mixed"
mkdir -p "$CACHE"
version=$(git ls-files -s crates/huigong-store/src/migration crates/huigong-store/examples/progress_1m.rs | sha1sum | cut -c1-12)
dump="$CACHE/members-$MEMBERS-$version.pgdump"
if [ -f "$dump" ]; then
  started=$(date +%s)
  "$PG_BIN/pg_restore" -j 2 --no-owner -d "$DB_URL" "$dump"
  psql "$DB_URL" -qc "ANALYZE"
  echo "members: $MEMBERS restored from $dump in $(( $(date +%s) - started )) s"
else
  echo "members: generating $MEMBERS (once; kept in $dump) …"
  BENCH_MEMBERS=$MEMBERS BENCH_RUNS=1 BENCH_DATABASE_URL="$DB_URL" "$TARGET/release/examples/progress_1m" >/dev/null
  "$PG_BIN/pg_dump" -Fc -Z 1 -f "$dump.partial" "$DB_URL"
  mv "$dump.partial" "$dump"
fi

port=$(free_port)
export HUIGONG__DATABASE__URL="$DB_URL" HUIGONG__REDIS__URL="$HUIGONG_TEST_REDIS_URL" \
  HUIGONG__SERVER__PORT=$port HUIGONG__CARD__QR_TTL_SECS=60 \
  HUIGONG__CARD__MAX_PREVIEWS_PER_IP_PER_HOUR=1000000 \
  HUIGONG__APPLICATIONS__MAX_PER_IP_PER_HOUR=1000000 \
  HUIGONG__VAULT__DEV_KEY_FILE="$TMP/keys-mixed.toml" RUST_LOG=warn
printf '%s\n' "$BENCH_PASSWORD" | "$TARGET/release/huigong" admin create --username bench_county \
  --role county_admin --password-stdin >/dev/null
"$TARGET/release/huigong" >"$TMP/server-mixed.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 300); do curl -sf "localhost:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "localhost:$port/readyz" >/dev/null || { cat "$TMP/server-mixed.log"; die "service did not start"; }

reference_measure "GET /reference (before)"
BENCH_BASE="http://127.0.0.1:$port" "$TARGET/release/examples/bench_mixed" | tee "$TMP/figures-mixed.txt"
echo "service RSS after the run: $(awk '/VmRSS/ {printf "%.0f MB", $2/1024}' "/proc/$SERVER_PID/status"), peak $(awk '/VmHWM/ {printf "%.0f MB", $2/1024}' "/proc/$SERVER_PID/status")"
reference_measure "GET /reference (after)"
ops=$(grep -o '[0-9]* ops/s' "$TMP/figures-mixed.txt" | head -1 | cut -d' ' -f1)
reqs=$(grep -o '[0-9]* req/s' "$TMP/figures-mixed.txt" | head -1 | cut -d' ' -f1)
echo "ratios to the reference's mean, $REFERENCE_RPS req/s (${REFERENCE_RUNS[*]}): operations $(ratio "${ops:-0}"), requests $(ratio "${reqs:-0}")"
