-- wrk script of the HTTP benchmark: every request carries a session cookie from a fixed pool of
-- 1000 ids. Each wrk thread takes its own slice of the pool (round robin within it), so that two
-- requests in flight never share an id, however the threads' rates drift apart (no lock waits
-- between our own connections; a thread's connections take consecutive ids of its slice).
-- At the end, prints one JSON line with requests/s and latency percentiles (µs).

local pool_size = 1000
local ids = {}
for i = 0, pool_size - 1 do
  ids[i + 1] = string.format("http%028d", i)
end

local threads = {}

-- wrk sets up every thread before any of them runs: each one ends up knowing how many there are.
function setup(thread)
  table.insert(threads, thread)
  thread:set("slot", #threads - 1)
  for _, t in ipairs(threads) do
    t:set("slices", #threads)
  end
end

local n = 0

function request()
  n = n + 1
  local size = math.floor(pool_size / (slices or 1))
  local id = ids[(slot or 0) * size + n % size + 1]
  return wrk.format("GET", nil, { ["Cookie"] = "PHPSESSID=" .. id })
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"rps":%.1f,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d}\n',
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
