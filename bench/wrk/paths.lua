-- bench/wrk/paths.lua - wrk script: GET a list of paths, round robin, as one user.
--
--   PF_TOKEN=pft_... PF_PATHS=/tmp/paths.txt wrk -t2 -c20 -d20s --latency -s bench/wrk/paths.lua URL
--
-- Environment:
--   PF_PATHS  file with one request target per line (path and query, already URL-encoded; required)
--   PF_TOKEN  API token, sent as Authorization: Bearer (none: no credentials)
--   PF_HEADER one extra "Name: value" header (e.g. "If-None-Match: ..."), optional
-- Each thread starts at a different line so that threads do not ask in lockstep. done() prints the
-- status counts, socket errors, latency percentiles and one machine-readable line
-- `paths.lua: result rps=... p50=... p90=... p99=... max=... non2xx=... errors=...` (ms), which
-- bench/search.sh and bench/cache.sh read.

local file = os.getenv("PF_PATHS") or ""
local paths = {}
local fh = file ~= "" and io.open(file, "r") or nil
if fh then
	for line in fh:lines() do
		if line ~= "" then
			table.insert(paths, line)
		end
	end
	fh:close()
end
if #paths == 0 then
	io.stderr:write("paths.lua: set PF_PATHS to a file of request targets, one per line\n")
	os.exit(2)
end

local headers = { ["Accept"] = "application/json" }
local token = os.getenv("PF_TOKEN") or ""
if token ~= "" then
	headers["Authorization"] = "Bearer " .. token
end
local extra = os.getenv("PF_HEADER") or ""
local hname, hvalue = extra:match("^([^:]+):%s*(.*)$")
if hname then
	headers[hname] = hvalue
end

local threads = {}
local nthreads = 0
function setup(thread)
	nthreads = nthreads + 1
	thread:set("thread_no", nthreads)
	table.insert(threads, thread)
end

local pos = 0
status_counts = {}
bad = 0
last_bad = ""

function init(args)
	local k = tonumber(rawget(_G, "thread_no")) or 1
	pos = ((k - 1) * 7919) % #paths
end

function request()
	pos = pos % #paths + 1
	return wrk.format("GET", paths[pos], headers)
end

function response(status, hdrs, body)
	local key = tostring(status)
	status_counts[key] = (status_counts[key] or 0) + 1
	if status < 200 or status > 399 then
		bad = bad + 1
		last_bad = key .. " " .. (body or ""):sub(1, 120)
	end
end

function done(summary, latency, requests)
	local counts, total_bad, example = {}, 0, ""
	for _, t in ipairs(threads) do
		total_bad = total_bad + (t:get("bad") or 0)
		local lb = t:get("last_bad")
		if lb and lb ~= "" then
			example = lb
		end
		local sc = t:get("status_counts")
		if sc then
			for k, v in pairs(sc) do
				counts[k] = (counts[k] or 0) + v
			end
		end
	end
	local parts = {}
	for k, v in pairs(counts) do
		table.insert(parts, k .. ": " .. v)
	end
	table.sort(parts)
	local e = summary.errors
	local secs = summary.duration / 1e6
	local ms = function(us) return us / 1000 end
	io.write(string.format("paths.lua: %d paths from %s\n", #paths, file))
	io.write("status codes: " .. table.concat(parts, ", ") .. "\n")
	if example ~= "" then
		io.write("e.g. " .. example .. "\n")
	end
	io.write(string.format("paths.lua: result rps=%.1f p50=%.2f p90=%.2f p99=%.2f max=%.2f non2xx=%d errors=%d\n",
		summary.requests / secs, ms(latency:percentile(50)), ms(latency:percentile(90)),
		ms(latency:percentile(99)), ms(latency.max), total_bad,
		e.connect + e.read + e.write + e.timeout))
end
