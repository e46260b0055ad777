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

# Lints of deploy/ (hadolint, yamllint, Compose and Kubernetes schemas, policy): a few seconds.
tests/lint-deploy.sh

# shellcheck source=tests/services.sh
. tests/services.sh
# Redis Sentinel and a 3-node Redis Cluster for tests/e2e/redis_ha.rs (a few seconds).
# shellcheck source=tests/redis-ha.sh
. tests/redis-ha.sh

[ "${1:-}" = "--" ] && shift

# Schemathesis, the OpenAPI fuzzer of tests/e2e/fuzz.rs: from PyPI, versions pinned in
# tests/fuzz/requirements.txt, in a virtual environment under target/ (reinstalled when the pins
# change).
FUZZ_VENV=target/schemathesis
if ! cmp -s tests/fuzz/requirements.txt "$FUZZ_VENV/requirements.txt"; then
  log "installing Schemathesis (tests/fuzz/requirements.txt) into $FUZZ_VENV"
  if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    [ "$(id -u)" = 0 ] || die "python3 with venv is missing; sudo apt-get install python3-venv"
    apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
  fi
  rm -rf "$FUZZ_VENV"
  python3 -m venv "$FUZZ_VENV"
  "$FUZZ_VENV/bin/pip" install -q --disable-pip-version-check -r tests/fuzz/requirements.txt
  cp tests/fuzz/requirements.txt "$FUZZ_VENV/requirements.txt"
fi

status=0
run_pass() {
  local rc=0
  HUIGONG_TEST_BACKEND=$1 cargo test --workspace --locked --no-fail-fast --lib --tests -- "${@:2}" 2>&1 \
    | tee -a "$TMP/results.log" || rc=1
  # The mini program (miniprogram-stub/app): unit tests, type check, journey on this backend.
  HUIGONG_TEST_BACKEND=$1 miniprogram-stub/test.sh || rc=1
  return "$rc"
}
log "pass 1/2: SQLite + in-process sessions"
run_pass embedded "$@" || status=1
# The console in Chromium (tests/browser): once, on the embedded backend.
tests/browser/run.sh || status=1
log "pass 2/2: PostgreSQL + Redis"
run_pass services "$@" || status=1

# Fault tests on deploy/local.sh's topology (PostgreSQL, Redis, two instances, nginx, the WeChat
# mock), once, about a minute; not with a filter (tests/faults.sh runs them alone).
if [ $# = 0 ]; then
  log "fault tests (tests/faults.sh)"
  tests/faults.sh || status=1
fi

# One closing line for both passes together.
awk '/^test result:/ { p += $4; f += $6 } END { printf "\nboth backends: %d passed, %d failed\n", p, f }' "$TMP/results.log"
if [ "$status" = 0 ]; then log "all tests passed on both backends"; else log "TESTS FAILED"; fi
exit "$status"
