-- wrk script: POST one message per request to crosstalk's HTTP API.
-- APP1_KEY, BENCH_SESSIONS (a file of session refs, one per line: the
-- posts go round-robin over these users) and BENCH_CHANNELS (channels
-- bench0..N-1) come from the environment.
local key = os.getenv("APP1_KEY") or ""
local nch = tonumber(os.getenv("BENCH_CHANNELS") or "1")
local sessions = {}
for line in io.lines(os.getenv("BENCH_SESSIONS")) do
	if line ~= "" then
		sessions[#sessions + 1] = line
	end
end
local n = 0

request = function()
	n = n + 1
	local body = string.format('{"channel":"bench%d","text":"wrk %d"}', n % nch, n)
	return wrk.format("POST", "/api/v1/messages", {
		["Authorization"] = "Bearer " .. key,
		["X-Crosstalk-Session"] = sessions[n % #sessions + 1],
		["Content-Type"] = "application/json",
	}, body)
end
