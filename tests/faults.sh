#!/usr/bin/env bash
# Fault tests on the production topology without containers (deploy/local.sh: PostgreSQL, Redis,
# the WeChat mock, two huigong instances, nginx; all on loopback in a temporary directory), with
# bounded load: PostgreSQL and Redis stopped and started, one instance killed mid-roster-import
# and mid-redemption, WeChat answering -1 / 45011 / timing out (code2session and the outbox's
# subscribe/send). The checks and figures are tests/faults.py's (Python's standard library).
# Run by tests/run.sh once; alone: tests/faults.sh. About a minute after the build.
#
#   FAULTS_ROWS=8000 tests/faults.sh    # rows of the roster killed mid-import (default 6000)
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${FAULTS_ROWS:-6000}
TARGET=${CARGO_TARGET_DIR:-target}
case $TARGET in /*) ;; *) TARGET=$PWD/$TARGET ;; esac

cargo build --locked -q -p huigong-server -p miniprogram-stub --bins
cargo build --locked -q -p huigong-roster --example roster_100k

DIR=$(mktemp -d /tmp/huigong-faults.XXXXXX)
cleanup() {
  deploy/local.sh stop --dir "$DIR" >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT

"$TARGET/debug/examples/roster_100k" write "$DIR/roster.xlsx" "$ROWS" >/dev/null
# Imports beyond the daily row budget; notification retries every second (doubling) rather
# than every 10 s, so that recovery is seen within the run.
export HUIGONG__ROSTER__MAX_CHECKED_ROWS_PER_DAY=1000000
export HUIGONG_BIN="$TARGET/debug/huigong" MOCK_BIN="$TARGET/debug/miniprogram-stub"
export HUIGONG__NOTIFY__RETRY_BASE_MS=1000 HUIGONG__CARD__MAX_PREVIEWS_PER_IP_PER_HOUR=100000
deploy/local.sh start --dir "$DIR"
started=$(date +%s)
if ! python3 tests/faults.py "$DIR" "$DIR/roster.xlsx" "$ROWS"; then
  echo "== faults: logs of $DIR" >&2
  for f in huigong-1 huigong-2 nginx; do
    echo "-- $f.log (last lines)" >&2
    tail -n 15 "$DIR/$f.log" >&2 || true
  done
  exit 1
fi
echo "== faults: all scenarios passed in $(( $(date +%s) - started )) s"
