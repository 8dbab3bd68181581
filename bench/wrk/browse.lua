-- bench/wrk/browse.lua - wrk script: a user browsing imports.
--
-- Mostly walks the jobs' keyset pages (GET /api/imports/ID/properties?limit=N&after=CURSOR),
-- following each answer's "next" cursor and starting over when it is null; sometimes lists the
-- jobs (GET /api/imports), opens a job (GET /api/imports/ID) or one property seen on a page
-- (GET /api/properties/ID, with its raw row). Requests rotate over the jobs given.
--
--   PF_TOKEN=pft_... PF_JOB=7,8 wrk -t2 -c10 -d30s --latency -s bench/wrk/browse.lua http://127.0.0.1:8080
--
-- Environment:
--   PF_JOB       job ids, comma-separated (required); they must belong to PF_TOKEN's user
--   PF_TOKEN     API token (`propflow user token NAME`), sent as Authorization: Bearer; without
--                it the requests carry no credentials (servers before accounts)
--   PF_LIMIT     page size, default 100
--   PF_MIX       "pages,list,job,one" percentages, default "80,5,5,10" (a 3-number "pages,list,one"
--                is read with job = 0)
--   PF_DELAY_MS  think time before each request of a connection, default 0 (as fast as it goes)
-- Each wrk thread walks the pages of one of the jobs (thread k: the k-th job, round robin), so that
-- a page's "next" always belongs to the job it is sent back for: a cursor is sealed to its import
-- and another import's is refused with 400. The cursor is shared by that thread's connections: with
-- several connections a page may be fetched twice, which is fine for a load test. done() prints the
-- status-code counts, wrk's socket errors (connect, read, write, timeout) and the latency
-- percentiles, and a machine-readable line `browse.lua: result ...` (bench/concurrent.sh reads it).

local jobs = {}
for id in (os.getenv("PF_JOB") or ""):gmatch("[^,]+") do
	if not id:match("^%d+$") then
		jobs = {}
		break
	end
	table.insert(jobs, id)
end
if #jobs == 0 then
	io.stderr:write("browse.lua: set PF_JOB to import ids (PF_JOB=7 or PF_JOB=7,8; see the top of the file)\n")
	os.exit(2)
end
local token = os.getenv("PF_TOKEN") or ""
local limit = tonumber(os.getenv("PF_LIMIT") or "100") or 100
local delay_ms = tonumber(os.getenv("PF_DELAY_MS") or "0") or 0
local mix = os.getenv("PF_MIX") or "80,5,5,10"

local p_pages, p_list, p_job, p_one = mix:match("^(%d+),(%d+),(%d+),(%d+)$")
if not p_pages then
	p_pages, p_list, p_one = mix:match("^(%d+),(%d+),(%d+)$")
	p_job = 0
end
p_pages, p_list, p_job, p_one = tonumber(p_pages) or 80, tonumber(p_list) or 5, tonumber(p_job) or 5,
	tonumber(p_one) or 10
local p_total = p_pages + p_list + p_job + p_one

local headers = { ["Accept"] = "application/json" }
if token ~= "" then
	headers["Authorization"] = "Bearer " .. token
end

local threads = {}
local thread_no = 0

function setup(thread)
	thread_no = thread_no + 1
	thread:set("thread_no", thread_no)
	table.insert(threads, thread)
end

-- per-thread state (each wrk thread has its own Lua state); the counters are globals so that
-- done() can read them with thread:get()
local cursors = {}          -- job id -> next page's cursor (nil = first page)
local turn = 0              -- rotation over the jobs
local pending = {}          -- FIFO, one entry per request in flight: its job for a page, else false
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

function delay()
	return delay_ms
end

function request()
	turn = turn % #jobs + 1
	local job = jobs[turn]
	local r = math.random(1, p_total)
	local path
	if r <= p_pages or (r > p_pages + p_list + p_job and nids == 0) then
		-- this thread's walk: setup() gave each thread its number as the global
		-- thread_no (the local of the same name counts threads in the main state)
		local k = tonumber(rawget(_G, "thread_no")) or 1
		job = jobs[(k - 1) % #jobs + 1]
		path = "/api/imports/" .. job .. "/properties?limit=" .. limit
		if cursors[job] then
			path = path .. "&after=" .. urlencode(cursors[job])
		end
	elseif r <= p_pages + p_list then
		path = "/api/imports"
	elseif r <= p_pages + p_list + p_job then
		path = "/api/imports/" .. job
	else
		path = "/api/properties/" .. ids[math.random(1, nids)]
	end
	table.insert(pending, (r <= p_pages or (r > p_pages + p_list + p_job and nids == 0)) and job or false)
	return wrk.format("GET", path, headers)
end

local MAX_IDS = 5000

-- Answers are matched with the oldest request in flight: exact with one connection per thread,
-- approximate with more (connections interleave), so a page is also recognised by its body (only a
-- page of properties has a "next" member). Pages of one thread are all of its own job, so a
-- cursor never lands on another job's walk.
function response(status, headers, body)
	local key = tostring(status)
	status_counts[key] = (status_counts[key] or 0) + 1
	local job = table.remove(pending, 1) or nil
	local is_page = body and body:find('"next"', 1, true)
	if status < 200 or status > 299 then
		bad = bad + 1
		last_bad = key .. " " .. (body or ""):sub(1, 120)
		if job then
			cursors[job] = nil -- a refused cursor: start the walk again
		end
		return
	end
	if not is_page or not job then
		return
	end
	-- minimal JSON reading: the "next" member, and a few item ids
	local nxt = body:match('"next"%s*:%s*"([^"]*)"')
	if nxt then
		cursors[job] = nxt
	elseif body:match('"next"%s*:%s*null') then
		cursors[job] = nil
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
	local e = summary.errors
	local secs = summary.duration / 1e6
	local ms = function(us) return us / 1000 end
	io.write(string.format("browse.lua: jobs %s, limit %d, mix pages/list/job/one %d/%d/%d/%d, delay %d ms\n",
		table.concat(jobs, ","), limit, p_pages, p_list, p_job, p_one, delay_ms))
	io.write("status codes: " .. table.concat(parts, ", ") .. "\n")
	io.write(string.format("complete keyset walks: %d; non-2xx: %d%s\n", walks_total, total_bad,
		example ~= "" and (" (e.g. " .. example .. ")") or ""))
	io.write(string.format("socket errors: connect %d, read %d, write %d, timeout %d\n",
		e.connect, e.read, e.write, e.timeout))
	io.write(string.format("requests/s: %.1f; latency p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
		summary.requests / secs, ms(latency:percentile(50)), ms(latency:percentile(90)),
		ms(latency:percentile(99)), ms(latency.max)))
	io.write(string.format("browse.lua: result requests=%d seconds=%.2f rps=%.1f p50=%.2f p90=%.2f " ..
		"p99=%.2f max=%.2f non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
		summary.requests, secs, summary.requests / secs, ms(latency:percentile(50)),
		ms(latency:percentile(90)), ms(latency:percentile(99)), ms(latency.max), total_bad,
		e.connect, e.read, e.write, e.timeout))
end
