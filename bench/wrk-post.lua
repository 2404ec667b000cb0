-- wrk script: POST one message per request to crosstalk's HTTP API.
-- APP1_KEY, BENCH_SESSION and BENCH_CHANNELS (channels bench0..N-1) come
-- from the environment.
local key = os.getenv("APP1_KEY") or ""
local session = os.getenv("BENCH_SESSION") or ""
local nch = tonumber(os.getenv("BENCH_CHANNELS") or "1")
local n = 0
local headers = {
	["Authorization"] = "Bearer " .. key,
	["X-Crosstalk-Session"] = session,
	["Content-Type"] = "application/json",
}

request = function()
	n = n + 1
	local body = string.format('{"channel":"bench%d","text":"wrk %d"}', n % nch, n)
	return wrk.format("POST", "/api/v1/messages", headers, body)
end
