-- wrk script: POST a 1-cent redeem to a random card, a unique Idempotency-Key per request.
-- Environment: BENCH_TOKEN (API key secret), BENCH_CARDS (file of card ids, one a line),
-- BENCH_PREFIX (unique per run, so keys never collide across runs).
-- done() prints one line "BENCH_JSON {...}" with counts by status and latency percentiles (µs).

local token = os.getenv("BENCH_TOKEN")
local cards_file = os.getenv("BENCH_CARDS")
local run_prefix = os.getenv("BENCH_PREFIX") or "wrk"
local body = '{"type":"redeem","amount":{"amount":1,"currency":"USD"}}'

local ids = {}
for line in io.lines(cards_file) do
  if #line > 0 then ids[#ids + 1] = line end
end

local threads = {}
local thread_counter = 0

function setup(thread)
  thread_counter = thread_counter + 1
  thread:set("tid", thread_counter)
  table.insert(threads, thread)
end

-- per-thread state (each wrk thread has its own Lua state)
local counter = 0
statuses = {}

function init(args)
  math.randomseed(os.time() + (tid or 0) * 7919)
end

function request()
  counter = counter + 1
  local id = ids[math.random(#ids)]
  return wrk.format("POST", "/v1/gift-cards/" .. id .. "/activities", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
    ["Idempotency-Key"] = run_prefix .. "-" .. tostring(tid) .. "-" .. counter,
  }, body)
end

function response(status, headers, resp_body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end

function done(summary, latency, requests)
  local merged = {}
  for _, thread in ipairs(threads) do
    local s = thread:get("statuses")
    if s then
      for k, v in pairs(s) do merged[k] = (merged[k] or 0) + v end
    end
  end
  local parts = {}
  for k, v in pairs(merged) do parts[#parts + 1] = string.format('"%s":%d', k, v) end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"mean_us":%.1f,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"statuses":{%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, latency.mean, e.connect, e.read, e.write, e.status, e.timeout,
    table.concat(parts, ",")))
end
