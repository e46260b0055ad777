-- wrk script: verifications at the till (`POST /api/v1/merchant/verify`), each with its own
-- single-use QR token from $TOKENS_FILE, as the staff member whose bearer token is $STAFF_TOKEN.
-- Thread k of n takes lines k+1, k+1+n, ... so no token is used twice. wrk runs for its whole
-- duration (-d): give it more tokens than it can use. A thread that runs out sends requests to
-- a path that does not exist; their 404s are not counted, and the figures are then marked as
-- invalid (the rate is bounded by the tokens, not measured). Any other answer than 200 is a
-- failure.
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  local n = tonumber(os.getenv("WRK_THREADS") or "2")
  tokens, sent, ok, failed, overrun = {}, 0, 0, 0, 0
  local line_no = 0
  for line in io.lines(os.getenv("TOKENS_FILE")) do
    if line_no % n == tid then tokens[#tokens + 1] = line end
    line_no = line_no + 1
  end
  headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. os.getenv("STAFF_TOKEN"),
  }
end

function request()
  sent = sent + 1
  local token = tokens[sent]
  if token == nil then
    return wrk.format("GET", "/bench/tokens-exhausted")
  end
  return wrk.format("POST", "/api/v1/merchant/verify", headers, '{"token":"' .. token .. '"}')
end

function response(status, headers, body)
  if status == 200 then
    ok = ok + 1
  elseif status == 404 then
    overrun = overrun + 1
  else
    failed = failed + 1
  end
end

function done(summary, latency, requests)
  local answered, failures, ran_out = 0, 0, 0
  for _, t in ipairs(threads) do
    answered = answered + t:get("ok") + t:get("failed")
    failures = failures + t:get("failed")
    ran_out = ran_out + t:get("overrun")
  end
  local secs = summary.duration / 1e6
  io.write(string.format(
    "%d verifies in %.1f s with %s connections (wrk): %.0f verifies/s; p50 %.2fms p99 %.2fms; failures %d\n",
    answered, secs, os.getenv("WRK_CONNECTIONS") or "?", answered / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, failures))
  if ran_out > 0 then
    io.write("INVALID: the tokens ran out before the end of the run; fetch more (BENCH_VERIFIES)\n")
  end
end
