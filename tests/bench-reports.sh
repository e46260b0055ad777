#!/usr/bin/env bash
# Benchmark of the live progress report (进度通报) over BENCH_MEMBERS members (1,000,000 by
# default), on both backends: the `progress_1m` example of the store crate generates a county of
# 20 districts × 100 grassroots unions directly through the store's entities (people sealed,
# memberships, 60 % with a card, 1 % incomplete), then times the report county-wide and for one
# district, BENCH_RUNS times each, and prints min / median / max. PostgreSQL is started as
# tests/run.sh does (fsync off). Asserts nothing about timing. Generating 1M members takes a few
# minutes per backend: run it when the machine is otherwise quiet.
#
#   tests/bench-reports.sh
#   BENCH_MEMBERS=100000 tests/bench-reports.sh
#   BENCH_BACKENDS=postgres tests/bench-reports.sh     # one backend (sqlite, postgres)
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=tests/services.sh
. tests/services.sh
cargo build --release --locked -q -p huigong-store --example progress_1m
bin=${CARGO_TARGET_DIR:-./target}/release/examples/progress_1m

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); $(date -u +%Y-%m-%d)"
backends=${BENCH_BACKENDS:-sqlite postgres}
# Each backend's 1M members take about a gigabyte: one at a time, removed after.
if [[ " $backends " == *" sqlite "* ]]; then
  echo "== SQLite"
  BENCH_DATABASE_URL="sqlite://$TMP/bench.sqlite?mode=rwc" "$bin"
  rm -f "$TMP"/bench.sqlite*
fi
if [[ " $backends " == *" postgres "* ]]; then
  echo "== PostgreSQL"
  psql "$HUIGONG_TEST_PG_URL" -qc "CREATE DATABASE bench_reports"
  BENCH_DATABASE_URL="${HUIGONG_TEST_PG_URL%/postgres}/bench_reports" "$bin"
fi
