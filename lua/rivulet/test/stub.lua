-- rivulet.test.stub: the HTTP client a `rivulet test` case gives the engine. It answers Run
-- Function and Make HTTP Request calls from the case's stubs (by widget name, else by the
-- longest URL prefix), through rivulet.http.simulate so a stubbed reply takes the road a
-- real one takes; a call no stub matches goes to the network (through url_map) or, with
-- live = false, fails the case.
--
--   local C = { stubs =, live =, url_map =, max_body =, calls = {} }   -- the case's state
--   engine_options.http = stub.client(C)
--   -- C.calls lists every call; C.problem is set when a stub is missing or misbehaves

local http = require "rivulet.http"
local show = require("rivulet.test.text").show

local type, pairs, ipairs, tostring, pcall, setmetatable =
  type, pairs, ipairs, tostring, pcall, setmetatable
local format, sub = string.format, string.sub
local min = math.min

local M = {}

-- a call that is already over (a stub's reply)
local Done = {}
Done.__index = Done
function Done.done() return true end
function Done:outcome() return self.o end

local function params_map(p)
  local m = {}
  if type(p) ~= "table" then return m end
  if p[1] ~= nil then
    for _, kv in ipairs(p) do
      if type(kv) == "table" and kv.key ~= nil then
        m[kv.key] = kv.value == nil and "" or kv.value
      end
    end
  else
    for k, v in pairs(p) do m[k] = v end
  end
  return m
end

local function longest_prefix(map, url)
  local best, val
  for k, v in pairs(map or {}) do
    if type(k) == "string" and k ~= "" and sub(url, 1, #k) == k and (not best or #k > #best) then
      best, val = k, v
    end
  end
  return best, val
end

-- client(C): the engine's http, answering from C.stubs, else live (or failing)
function M.client(C)
  local real
  local counts = {}
  local client = {}
  local finished = {}      -- tags of stubbed calls (done at once) not yet handed out
  local function done(args, o)
    if args.tag ~= nil then finished[#finished + 1] = args.tag end
    return setmetatable({ o = o }, Done)
  end
  local function call(kind, args)
    local url = tostring(args.url or "")
    local widget = args.widget       -- Run Function and Make HTTP Request name themselves
    local key, stub
    if widget and C.stubs[widget] ~= nil then key, stub = widget, C.stubs[widget] end
    if stub == nil then key, stub = longest_prefix(C.stubs, url) end
    local method = kind == "run_function" and "POST" or (args.method or "GET")
    if stub == false then stub = nil end
    if stub ~= nil then
      counts[key] = (counts[key] or 0) + 1
      local n = counts[key]
      local reply
      if type(stub) == "function" then
        local ev = { widget = widget, url = url, method = method, body = args.body,
                     parameters = params_map(args.parameters), content_type = args.content_type,
                     kind = kind, count = n }
        local ok, r = pcall(stub, ev)
        if not ok then
          C.problem = format("the stub '%s' for %s raised: %s", key, tostring(widget), tostring(r))
          r = { reason = "transport", message = "stub raised" }
        elseif type(r) ~= "table" then
          C.problem = format("the stub '%s' for %s returned %s, not a reply table", key,
            tostring(widget), show(r))
          r = { reason = "transport", message = "stub returned no reply" }
        end
        reply = r
      elseif stub[1] ~= nil then
        reply = stub[min(n, #stub)]
      else
        reply = stub
      end
      if type(reply) ~= "table" then
        C.problem = format("the stub '%s' has a reply that is not a table: %s", key, show(reply))
        reply = { reason = "transport", message = "bad stub" }
      end
      local ok, o = pcall(http.simulate, kind, reply, C.max_body)
      if not ok then
        C.problem = format("the stub '%s' for %s has a bad reply %s: %s", key, tostring(widget),
          show(reply), tostring(o))
        o = http.simulate(kind, { reason = "transport", message = "bad stub reply" })
      end
      o.url = url
      C.calls[#C.calls + 1] = { widget = widget, url = url, stub = key, event = o.event,
                                status = o.status_code }
      return done(args, o)
    end
    if not C.live then
      C.problem = C.problem or format(
        "%s: no stub for %s %s (live = false; stub it by widget name or URL)",
        tostring(widget), method, url)
      local o = http.simulate(kind, { reason = "transport", message = "no stub" })
      return done(args, o)
    end
    real = real or http.client()
    local a = {}         -- the call as the flow asked for it, sent to the mapped URL
    for k, v in pairs(args) do a[k] = v end
    local from, to = longest_prefix(C.url_map, url)
    if from then a.url = to .. sub(url, #from + 1) end
    C.calls[#C.calls + 1] = { widget = widget, url = url, live = a.url }
    return real[kind](real, a)
  end
  function client.run_function(_, args) return call("run_function", args) end
  function client.http_request(_, args) return call("http_request", args) end
  function client.poll(_, ms)
    if real and real:running() > 0 then return real:poll(ms) end
    return 0
  end
  function client.running() return real and real:running() or 0 end
  function client.finished()
    local list = finished
    finished = {}
    for _, tag in ipairs(real and real:finished() or {}) do list[#list + 1] = tag end
    return list[1] and list or nil
  end
  function client.close() if real then real:close() end end
  return client
end

return M
