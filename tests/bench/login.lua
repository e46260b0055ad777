-- wrk script: every request logs in with its own single-use code from $CODES_FILE.
-- Thread k of n takes lines k+1, k+1+n, ... so no code is used twice.
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function init(args)
  local n = tonumber(os.getenv("WRK_THREADS") or "2")
  codes, idx = {}, 0
  local line_no = 0
  for line in io.lines(os.getenv("CODES_FILE")) do
    if line_no % n == tid then codes[#codes + 1] = line end
    line_no = line_no + 1
  end
end

function request()
  idx = idx + 1
  local code = codes[idx] or "codes-exhausted"
  return wrk.format("POST", "/api/v1/auth/wechat/login",
    { ["Content-Type"] = "application/json" }, '{"code":"' .. code .. '"}')
end
