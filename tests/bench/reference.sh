# Sourced by the bench scripts after tests/services.sh: the reference endpoint
# (tests/bench/reference.rs, example `bench_reference`), one PostgreSQL primary-key select per
# request through the service's kind of pool, measured with wrk in the same run as the figures,
# so that each figure is also printed as a ratio to it (absolute figures drift by a third within
# an hour on the 2-core machine; ratios much less).
#
#   reference_measure LABEL       # runs wrk against it, sets REFERENCE_RPS (mean of the runs)
#   ratio RATE                    # prints "0.42× ref"
# shellcheck shell=bash

REFERENCE_RUNS=()
REFERENCE_RPS=""

# Builds and starts the reference endpoint on its own database; stops it on exit.
reference_start() {
  cargo build --release --locked -q -p huigong-tests --example bench_reference
  psql "$HUIGONG_TEST_PG_URL" -qc "CREATE DATABASE bench_reference"
  REFERENCE_PORT=$(free_port)
  BENCH_DATABASE_URL="${HUIGONG_TEST_PG_URL%/postgres}/bench_reference" BENCH_REFERENCE_PORT=$REFERENCE_PORT \
    "${CARGO_TARGET_DIR:-./target}/release/examples/bench_reference" >"$TMP/reference.log" 2>&1 &
  REFERENCE_PID=$!
  for _ in $(seq 100); do
    curl -sf "127.0.0.1:$REFERENCE_PORT/reference" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  cat "$TMP/reference.log"
  die "the reference endpoint did not start"
}

reference_stop() {
  [ -z "${REFERENCE_PID:-}" ] || { kill "$REFERENCE_PID" 2>/dev/null || true; wait "$REFERENCE_PID" 2>/dev/null || true; }
  REFERENCE_PID=""
}

# wrk against the reference for REFERENCE_SECONDS (10) at REFERENCE_CONNECTIONS (64); prints the
# figure and sets REFERENCE_RPS to the mean of every measurement so far in this run.
reference_measure() {
  local label=$1 out rps
  out=$(wrk -t"${WRK_THREADS:-2}" -c"${REFERENCE_CONNECTIONS:-64}" -d"${REFERENCE_SECONDS:-10}s" --latency \
    "http://127.0.0.1:$REFERENCE_PORT/reference")
  rps=$(awk '/Requests\/sec/ { printf "%.0f", $2 }' <<<"$out")
  local bad
  bad=$(awk '/Non-2xx/ { print $NF }' <<<"$out")
  [ -z "$bad" ] || die "the reference endpoint answered $bad non-2xx"
  REFERENCE_RUNS+=("$rps")
  REFERENCE_RPS=$(printf '%s\n' "${REFERENCE_RUNS[@]}" | awk '{ s += $1 } END { printf "%.0f", s / NR }')
  printf '%-10s %-34s %10s req/s  p50 %8s  p99 %8s  (reference: 1 PG primary-key select per request)\n' \
    reference "$label" "$rps" \
    "$(awk '/ 50%/ { print $2 }' <<<"$out")" "$(awk '/ 99%/ { print $2 }' <<<"$out")"
}

# RATE as a ratio to the reference's mean throughput so far.
ratio() {
  awk -v r="$1" -v ref="$REFERENCE_RPS" 'BEGIN { if (ref > 0) printf "%.2f× ref", r / ref; else printf "- × ref" }'
}
