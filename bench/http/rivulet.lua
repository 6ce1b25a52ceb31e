-- bench/http/rivulet.lua: rivulet's side of the HTTP benchmark (run.sh runs it).
--
--   rivulet.lua latency URL N SECONDS WARMUP [TOKEN]
--       Run Function round trips through one client, one at a time (keep-alive), with
--       parameters {min = "1", max = "6"}: the body bare.c sends. Signed when TOKEN is
--       given. Stops after N timed calls (N > 0) or after SECONDS. One JSON line:
--       {"impl":..,"n":..,"median_us":..,"p10_us":..,"p90_us":..,"mean_us":..}
--   rivulet.lua step URL N SECONDS WARMUP
--       The same call as a Run Function step: one execution after another of Trigger ->
--       Run Function (those parameters) -> Ended, in one engine (so one keep-alive
--       connection), each timed from its start to its end. Each must end on `success` with
--       widgets.call.parsed.number == 4. The same JSON line, impl "rivulet_step".
--   rivulet.lua concurrent URL COUNT
--       COUNT client:run_function calls started at once on this thread, then polled until
--       all are done. One JSON line: {"impl":"concurrent","count":..,"wall_s":..,
--       "start_s":..,"ok":..,"failed":..,"first_failure":..}
--
-- Each call must succeed with parsed.number == 4, or the script exits 1.

local rivulet = require "rivulet"

-- The clock: rivulet.core.monotonic (seconds, nanosecond resolution) when the core has it,
-- else LuaSocket's gettimeofday (microseconds: coarse next to a ~30 us call).
local now = rivulet.core.monotonic
if type(now) ~= "function" then
   local have_socket, socket = pcall(require, "socket")
   if not have_socket then
      io.stderr:write("bench/http/rivulet.lua: no clock: ",
         "neither rivulet.core.monotonic nor LuaSocket\n")
      os.exit(2)
   end
   now = socket.gettime
end

local PARAMS = { min = "1", max = "6" }

local function check(o, where)
   if o.event ~= "success" or type(o.parsed) ~= "table" or o.parsed.number ~= 4 then
      io.stderr:write(("bench/http/rivulet.lua: %s: event=%s status=%s reason=%s message=%s"
         .. " body=%s\n"):format(where, tostring(o.event), tostring(o.status_code),
            tostring(o.reason), tostring(o.message), tostring(o.body)))
      os.exit(1)
   end
end

local function latency(url, n, seconds, warmup, token)
   local client = rivulet.http.client{ timeout_ms = 10000 }
   local args = { url = url, parameters = PARAMS, auth_token = token }
   for _ = 1, warmup do check(client:wait(client:run_function(args)), "warm-up") end

   local samples, count, sum = {}, 0, 0
   local start = now()
   while true do
      local t0 = now()
      local o = client:wait(client:run_function(args))
      local t1 = now()
      check(o, "call")
      count = count + 1
      samples[count] = (t1 - t0) * 1e6
      sum = sum + samples[count]
      if n > 0 then
         if count >= n then break end
      elseif t1 - start >= seconds then
         break
      end
   end
   table.sort(samples)
   local function at(q) return samples[math.floor(count * q) + 1] or samples[count] end
   print(('{"impl":"%s","n":%d,"median_us":%.2f,"p10_us":%.2f,"p90_us":%.2f,"mean_us":%.2f}')
      :format(token and "rivulet_signed" or "rivulet", count, at(0.5), at(0.1), at(0.9),
         sum / count))
end

local function step(url, n, seconds, warmup)
   local flow = assert(rivulet.load_flow{
      { name = "Trigger", type = "trigger", on = { incomingMessage = "call" } },
      { name = "call", type = "run-function", url = url, parameters = PARAMS, on = { success = false, fail = false } },
   })
   local engine = rivulet.engine{ keep_ended = false }
   local trigger = { from = "+15550000001", to = "+15559990000", body = "go" }
   local function one(where)
      local exec = engine:start(flow, trigger)
      engine:run()
      local o = exec and exec.context.widgets.call
      if not (exec and exec.status == "ended" and not exec.failed and #exec.steps == 2
              and exec.steps[2].name == "success" and o and type(o.parsed) == "table" and o.parsed.number == 4) then
         io.stderr:write(("bench/http/rivulet.lua: %s: the execution did not end on success: %s\n")
            :format(where, exec and tostring(exec.reason) or "not started"))
         os.exit(1)
      end
   end
   for _ = 1, warmup do one("warm-up") end
   local samples, count, sum = {}, 0, 0
   local start = now()
   while true do
      local t0 = now()
      one("step")
      local t1 = now()
      count = count + 1
      samples[count] = (t1 - t0) * 1e6
      sum = sum + samples[count]
      if n > 0 then
         if count >= n then break end
      elseif t1 - start >= seconds then
         break
      end
   end
   table.sort(samples)
   local function at(q) return samples[math.floor(count * q) + 1] or samples[count] end
   print(('{"impl":"rivulet_step","n":%d,"median_us":%.2f,"p10_us":%.2f,"p90_us":%.2f,"mean_us":%.2f}')
      :format(count, at(0.5), at(0.1), at(0.9), sum / count))
end

local function concurrent(url, count)
   local client = rivulet.http.client{ timeout_ms = 10000 }
   local args = { url = url, parameters = PARAMS }
   local calls = {}
   local t0 = now()
   for i = 1, count do calls[i] = client:run_function(args) end
   local t_started = now()
   while client:poll(100) > 0 do end
   local t1 = now()
   local ok, failed, first = 0, 0, nil
   for i = 1, count do
      local o = calls[i]:outcome()
      if o and o.event == "success" and type(o.parsed) == "table" and o.parsed.number == 4 then
         ok = ok + 1
      else
         failed = failed + 1
         if not first then
            first = o and ("%s %s %s"):format(tostring(o.status_code), tostring(o.reason),
               tostring(o.message)) or "not done"
         end
      end
   end
   -- first_failure goes into JSON: quotes, backslashes and control characters become spaces
   first = (first or ""):gsub('[%c"\\]', " ")
   print(('{"impl":"concurrent","count":%d,"wall_s":%.4f,"start_s":%.4f,"ok":%d,"failed":%d,'
      .. '"first_failure":"%s"}'):format(count, t1 - t0, t_started - t0, ok, failed, first))
   if failed > 0 then os.exit(1) end
end

local mode = arg[1]
if mode == "latency" then
   latency(arg[2], tonumber(arg[3]) or 0, tonumber(arg[4]) or 1, tonumber(arg[5]) or 200, arg[6])
elseif mode == "step" then
   step(arg[2], tonumber(arg[3]) or 0, tonumber(arg[4]) or 1, tonumber(arg[5]) or 200)
elseif mode == "concurrent" then
   concurrent(arg[2], tonumber(arg[3]) or 1000)
else
   io.stderr:write("usage: rivulet.lua latency URL N SECONDS WARMUP [TOKEN]\n",
      "       rivulet.lua step URL N SECONDS WARMUP\n",
      "       rivulet.lua concurrent URL COUNT\n")
   os.exit(2)
end
