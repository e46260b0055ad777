#!/usr/bin/env bash
# The console's browser tests (issue 15): Debian's Chromium driven by playwright-core against a
# spawned `huigong` on the embedded backend (SQLite + in-process sessions), on a free loopback
# port with a temporary data directory. Called once by tests/run.sh; runs alone too:
#
#   tests/browser/run.sh                              # every *.test.mjs
#   tests/browser/run.sh --test-name-pattern=till     # extra arguments go to `node --test`
#
# Installs chromium (and Node) with apt-get when missing and run as root; `npm ci` from the
# committed package-lock.json with PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1: nothing downloads a
# browser. The tests write their screenshots (1280×800) to docs/console/<page>.png.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(cd ../.. && pwd)
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

need_root() {
  [ "$(id -u)" = 0 ] || { echo "tests/browser/run.sh: $1 is missing; sudo apt-get install $2" >&2; exit 1; }
}
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  need_root Node "nodejs npm"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
  need_root Chromium chromium
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
export CHROMIUM
if ! cmp -s package-lock.json node_modules/.ci-lock.json; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.ci-lock.json
fi

echo "== console: vendored htmx matches its npm package"
tail -n +2 "$ROOT/crates/huigong-console/assets/htmx.min.js" | cmp - node_modules/htmx.org/dist/htmx.min.js
cmp "$ROOT/crates/huigong-console/assets/htmx.LICENSE" node_modules/htmx.org/LICENSE

(cd "$ROOT" && cargo build --locked -q -p huigong-server)
BIN=${HUIGONG_BIN:-$ROOT/target/debug/huigong}

DIR=$(mktemp -d)
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$DIR"
}
trap cleanup EXIT

PORT=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
export HUIGONG_PROFILE=development
export HUIGONG_CONFIG_DIR="$ROOT/config"
export HUIGONG__SERVER__HOST=127.0.0.1
export HUIGONG__SERVER__PORT=$PORT
export HUIGONG__SERVER__WORKERS=2
export HUIGONG__DATABASE__URL="sqlite://$DIR/huigong.sqlite"
export HUIGONG__REDIS__URL=
export HUIGONG__VAULT__DEV_KEY_FILE="$DIR/dev-keys.toml"
export HUIGONG__LOG__FILTER=warn
export HUIGONG__AUTH__REQUIRE_TOTP_FOR=grassroots_admin
export HUIGONG_BROWSER_PASSWORD='Console-Test-2026'
export HUIGONG_BROWSER_BASE="http://127.0.0.1:$PORT"
export HUIGONG_BROWSER_WORLD="$DIR/world.json"

echo "$HUIGONG_BROWSER_PASSWORD" | "$BIN" admin create --username county --password-stdin >"$DIR/admin.log" 2>&1 \
  || { cat "$DIR/admin.log" >&2; exit 1; }
"$BIN" serve >"$DIR/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  if node -e "fetch('$HUIGONG_BROWSER_BASE/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"; then break; fi
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$DIR/server.log" >&2; exit 1; }
  sleep 0.2
done

node seed.mjs
echo "== console: browser tests (Chromium $("$CHROMIUM" --version 2>/dev/null | awk '{print $2}'))"
rc=0
node --test --test-concurrency=1 "$@" ./*.test.mjs || rc=1
if [ "$rc" != 0 ]; then echo "--- server log"; tail -50 "$DIR/server.log"; fi
exit "$rc"
