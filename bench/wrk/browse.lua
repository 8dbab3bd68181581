-- bench/wrk/browse.lua - wrk script: a user browsing an import.
--
-- Mostly walks the job's keyset pages (GET /api/imports/ID/properties?limit=N&after=CURSOR), following
-- each answer's "next" cursor and starting over when it is null; sometimes lists the jobs
-- (GET /api/imports) or opens one property seen on a page (GET /api/properties/ID, with its raw row).
--
--   PF_JOB=7 wrk -t2 -c50 -d30s --latency -s bench/wrk/browse.lua http://127.0.0.1:8080
--
-- Environment: PF_JOB (job id, required), PF_LIMIT (page size, default 100), PF_MIX ("pages,list,one"
-- percentages, default "85,5,10").
-- The cursor is kept per wrk thread, shared by that thread's connections: with several connections a
-- page may be fetched twice, which is fine for a load test. done() prints the status-code counts and
-- latency percentiles; any non-2xx answer is reported there.

local job = os.getenv("PF_JOB")
if not job or not job:match("^%d+$") then
	io.stderr:write("browse.lua: set PF_JOB to the id of an import (PF_JOB=7 wrk ... -s bench/wrk/browse.lua URL)\n")
	os.exit(2)
end
local limit = tonumber(os.getenv("PF_LIMIT") or "100") or 100
local mix = os.getenv("PF_MIX") or "85,5,10"

local p_pages, p_list, p_one = mix:match("^(%d+),(%d+),(%d+)$")
p_pages, p_list, p_one = tonumber(p_pages) or 85, tonumber(p_list) or 5, tonumber(p_one) or 10

local threads = {}
local thread_no = 0

function setup(thread)
	thread_no = thread_no + 1
	thread:set("thread_no", thread_no)
	table.insert(threads, thread)
end

-- per-thread state (each wrk thread has its own Lua state); the counters are globals so that
-- done() can read them with thread:get()
local cursor = nil          -- next page's cursor, nil = first page
local ids = {}              -- property ids seen on pages, for single fetches
local nids = 0
status_counts = {}          -- "200" -> n
walks = 0                   -- keyset walks completed (next == null)
bad = 0                     -- non-2xx answers
last_bad = ""

local function urlencode(s)
	return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function init(args)
	math.randomseed(os.time() + (thread_no or 0) * 7919)
end

local function page_path()
	local p = "/api/imports/" .. job .. "/properties?limit=" .. limit
	if cursor then
		p = p .. "&after=" .. urlencode(cursor)
	end
	return p
end

function request()
	local r = math.random(1, p_pages + p_list + p_one)
	local path
	if r <= p_pages or (r > p_pages + p_list and nids == 0) then
		path = page_path()
	elseif r <= p_pages + p_list then
		path = "/api/imports"
	else
		path = "/api/properties/" .. ids[math.random(1, nids)]
	end
	return wrk.format("GET", path, { ["Accept"] = "application/json" })
end

local MAX_IDS = 5000

-- Answers are told apart by their body (connections interleave, so request order says nothing):
-- only a page of properties has a "next" member.
function response(status, headers, body)
	local key = tostring(status)
	status_counts[key] = (status_counts[key] or 0) + 1
	if status < 200 or status > 299 then
		bad = bad + 1
		last_bad = key .. " " .. (body or ""):sub(1, 120)
		if body and body:find('"after"', 1, true) then
			cursor = nil -- a refused cursor: start the walk again
		end
		return
	end
	if not body or not body:find('"next"', 1, true) then
		return
	end
	-- minimal JSON reading: the "next" member, and a few item ids
	local nxt = body:match('"next"%s*:%s*"([^"]*)"')
	if nxt then
		cursor = nxt
	elseif body:match('"next"%s*:%s*null') then
		cursor = nil
		walks = walks + 1
	end
	if nids < MAX_IDS then
		local n = 0
		for id in body:gmatch('{%s*"id"%s*:%s*(%d+)') do
			nids = nids + 1
			ids[nids] = id
			n = n + 1
			if n >= 5 or nids >= MAX_IDS then
				break
			end
		end
	end
end

function done(summary, latency, requests)
	local counts, total_bad, walks_total, example = {}, 0, 0, ""
	for _, t in ipairs(threads) do
		total_bad = total_bad + (t:get("bad") or 0)
		walks_total = walks_total + (t:get("walks") or 0)
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
	io.write(string.format("browse.lua: job %s, limit %d, mix pages/list/one %d/%d/%d\n", job, limit,
		p_pages, p_list, p_one))
	io.write("status codes: " .. table.concat(parts, ", ") .. "\n")
	io.write(string.format("complete keyset walks: %d; non-2xx: %d%s\n", walks_total, total_bad,
		example ~= "" and (" (e.g. " .. example .. ")") or ""))
	io.write(string.format("requests/s: %.1f; latency p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
		summary.requests / (summary.duration / 1e6),
		latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
		latency.max / 1000))
end
