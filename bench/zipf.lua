-- wrk script for bench/mixed.sh: a Zipf-distributed key mix plus a share of
-- one-off keys that can only miss.
--
--   wrk ... -s bench/zipf.lua <url> -- OBJECTS S COLD_PCT SEED TAG [warm]
--
-- OBJECTS   number of hot keys, /obj/1 .. /obj/OBJECTS; key k (rank k) is
--           requested with probability proportional to 1 / k^S
-- S         Zipf exponent (1.0: rank 1 gets ~10% of the hot requests at 10 000 keys)
-- COLD_PCT  percent of requests that go to a new key, /obj/c-TAG-<thread>-<n>,
--           never seen before: a miss the proxy fetches (and stores)
-- SEED      random seed; thread i uses SEED + i, so targets given the same
--           seed get the same Zipf key sequence per thread (warm: the key
--           offset to start from)
-- TAG       makes the one-off keys unique per run
-- warm      instead of the mix, walk the hot keys in order from SEED + 1
--           (thread i takes keys SEED + i, SEED + i + threads, ...), then keep
--           cycling; used to fill the cache
--
-- The Zipf CDF is a precomputed table; each request draws one uniform number
-- and binary-searches it. Hot requests are pre-formatted in init().
-- done() prints the BENCH_RESULT line that the bench scripts parse.

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  thread:set("nthreads", 0)   -- fixed up below once all threads exist
  table.insert(threads, thread)
  for _, t in ipairs(threads) do t:set("nthreads", #threads) end
end

local n, cold, tag, warm, start
local cdf, reqs = {}, {}
local i_warm, i_cold = 0, 0

function init(args)
  n = tonumber(args[1]) or 10000
  local s = tonumber(args[2]) or 1.0
  cold = (tonumber(args[3]) or 10) / 100
  local seed = tonumber(args[4]) or 1
  tag = args[5] or "x"
  warm = args[6] == "warm"
  start = seed
  math.randomseed(seed + (id or 0) * 7919)
  local sum = 0
  for k = 1, n do
    sum = sum + 1 / k ^ s
    cdf[k] = sum
  end
  for k = 1, n do
    cdf[k] = cdf[k] / sum
    reqs[k] = wrk.format(nil, "/obj/" .. k)
  end
  cdf[n] = 1.0
end

local function zipf_key()
  local u = math.random()
  local lo, hi = 1, n
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cdf[mid] < u then lo = mid + 1 else hi = mid end
  end
  return lo
end

function request()
  if warm then
    local k = (start + i_warm * nthreads + (id - 1)) % n + 1
    i_warm = i_warm + 1
    return reqs[k]
  end
  if cold > 0 and math.random() < cold then
    i_cold = i_cold + 1
    return wrk.format(nil, "/obj/c-" .. tag .. "-" .. id .. "-" .. i_cold)
  end
  return reqs[zipf_key()]
end

done = function(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "BENCH_RESULT requests=%d seconds=%.3f rps=%.2f p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
    "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
