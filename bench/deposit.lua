-- wrk script for brokerplane's native API: one write per request, each with its own
-- x-request-id (so every request claims a fresh idempotency key, as a real client's would).
--
-- Environment: BENCH_KEY (bearer key), BENCH_KIND ("deposit" or "account"),
-- BENCH_LOGIN_FIRST and BENCH_LOGIN_LAST (deposits pick a login uniformly in between),
-- BENCH_GROUP (the group accounts are opened in).
-- done() prints one line "BENCH_JSON {...}" that bench.py reads.

local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() * 1000 + tid)
  prefix = string.format("wrk-%d-%d-%d-", os.time(), tid, math.random(1, 1000000000))
  counter = 0
  kind = os.getenv("BENCH_KIND") or "deposit"
  first = tonumber(os.getenv("BENCH_LOGIN_FIRST") or "0")
  last = tonumber(os.getenv("BENCH_LOGIN_LAST") or "0")
  group = os.getenv("BENCH_GROUP") or "demo-usd"
  headers = {
    ["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY"),
    ["Content-Type"] = "application/json",
  }
end

function request()
  counter = counter + 1
  headers["x-request-id"] = prefix .. counter
  if kind == "account" then
    local body = string.format('{"group": "%s", "name": "Bench client %d", "leverage": 100}', group, counter)
    return wrk.format("POST", "/v1/users", headers, body)
  end
  local login = math.random(first, last)
  local body = string.format('{"login": %d, "amount": "1.00", "comment": "bench"}', login)
  return wrk.format("POST", "/v1/balances/deposit", headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "status_errors": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
