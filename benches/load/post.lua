-- wrk script: POST the decision in decision.json; count non-200 answers.
local f = assert(io.open(os.getenv("NEXTBEST_BODY") or "benches/load/decision.json", "r"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"

-- Non-2xx answers are counted by wrk itself ("Non-2xx or 3xx responses"); a Lua response()
-- hook would make wrk copy every body into Lua and steal CPU from the server it measures.
function done(summary, latency, requests)
  local failed = summary.errors.status
  io.write(string.format("non-2xx responses: %d, socket errors: %d\n", failed,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
  io.write(string.format("p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
