#!/usr/bin/env bash
# The one test command: runs every test twice, once on the embedded backend (SQLite + in-process
# sessions) and once on PostgreSQL + Redis, which this script installs (Debian packages, when run
# as root and they are missing) and starts as throwaway instances on free loopback ports in a
# temporary directory. Exits non-zero if anything failed or a service could not start.
#
#   tests/run.sh                 # both passes
#   tests/run.sh -- login        # extra arguments go to `cargo test` (a filter, for example)
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=tests/services.sh
. tests/services.sh

[ "${1:-}" = "--" ] && shift

status=0
run_pass() {
  HUIGONG_TEST_BACKEND=$1 cargo test --workspace --locked --no-fail-fast --lib --tests -- "${@:2}" 2>&1 \
    | tee -a "$TMP/results.log"
  return "${PIPESTATUS[0]}"
}
log "pass 1/2: SQLite + in-process sessions"
run_pass embedded "$@" || status=1
log "pass 2/2: PostgreSQL + Redis"
run_pass services "$@" || status=1

# One closing line for both passes together.
awk '/^test result:/ { p += $4; f += $6 } END { printf "\nboth backends: %d passed, %d failed\n", p, f }' "$TMP/results.log"
if [ "$status" = 0 ]; then log "all tests passed on both backends"; else log "TESTS FAILED"; fi
exit "$status"
