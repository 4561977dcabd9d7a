-- Posts the requests of a file written by benchmarks/serving.py:write_requests(),
-- one a line: path, body, then "Name:value" headers, separated by tabs.
--
--   wrk -t1 -c8 -d1s -s benchmarks/wrk_requests.lua http://127.0.0.1:8000 -- FILE THREADS
--
-- Thread i of THREADS takes lines i, i + THREADS, ... so no request is sent twice in a
-- run unless a thread runs out (it then starts its share again and counts a wrap).
-- At the end one line "wrk-summary key=value ..." gives the counts to the benchmark.

local threads = {}
local started = 0

function setup(thread)
  thread:set("index", started)
  started = started + 1
  table.insert(threads, thread)
end

function init(args)
  local stride = tonumber(args[2])
  requests = {}
  local line_number = 0
  for line in io.lines(args[1]) do
    if line_number % stride == index then
      local fields = {}
      for field in string.gmatch(line, "[^\t]+") do
        table.insert(fields, field)
      end
      local headers = {}
      for i = 3, #fields do
        local name, value = string.match(fields[i], "^([^:]+):(.*)$")
        headers[name] = value
      end
      table.insert(requests, wrk.format("POST", fields[1], headers, fields[2]))
    end
    line_number = line_number + 1
  end
  if #requests == 0 then
    error("no requests for thread " .. index .. " in " .. args[1])
  end
  position = 0
  wraps = 0
end

function request()
  position = position + 1
  if position > #requests then
    position = 1
    wraps = wraps + 1
  end
  return requests[position]
end

function done(summary, latency, requests)
  local wrapped = 0
  for _, thread in ipairs(threads) do
    wrapped = wrapped + thread:get("wraps")
  end
  local errors = summary.errors
  io.write(string.format(
    "wrk-summary requests=%d duration_us=%d status=%d connect=%d read=%d write=%d timeout=%d wraps=%d\n",
    summary.requests, summary.duration, errors.status, errors.connect, errors.read,
    errors.write, errors.timeout, wrapped
  ))
end
