#!/usr/bin/env bash
# The mini program's tests, called by tests/run.sh once per pass (HUIGONG_TEST_BACKEND=embedded or
# services; for services, HUIGONG_TEST_PG_URL and HUIGONG_TEST_REDIS_URL come from tests/services.sh):
#   npm ci from package-lock.json (Node and npm from Debian's packages when missing, as root),
#   the vendored WeUI and qrcode-generator checked against the locked npm packages,
#   tsc --checkJs over app/ with miniprogram-api-typings, the unit tests (node --test,
#   miniprogram-simulate), and the end-to-end journey against a spawned debug `huigong`.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  [ "$(id -u)" = 0 ] || { echo "miniprogram-stub/test.sh: Node is missing; sudo apt-get install nodejs npm" >&2; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
# npm ci again only when the lockfile changed since the last one.
if ! cmp -s package-lock.json node_modules/.ci-lock.json; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.ci-lock.json
fi

echo "== mini program: vendored files match their npm packages"
cmp node_modules/weui-wxss/dist/style/weui.wxss app/weui/weui.wxss
cmp node_modules/qrcode-generator/dist/qrcode.js app/vendor/qrcode.js
echo "== mini program: tsc --checkJs"
npx --no-install tsc -p tsconfig.json
echo "== mini program: unit tests"
node --test test/unit/
echo "== mini program: journey (${HUIGONG_TEST_BACKEND:-embedded})"
(cd .. && cargo build --locked -q -p huigong-server)
if [ "${HUIGONG_TEST_BACKEND:-embedded}" = services ]; then
  : "${HUIGONG_TEST_PG_URL:?services pass without HUIGONG_TEST_PG_URL}" "${HUIGONG_TEST_REDIS_URL:?}"
  node test/journey.js
else
  env -u HUIGONG_TEST_PG_URL -u HUIGONG_TEST_REDIS_URL node test/journey.js
fi
