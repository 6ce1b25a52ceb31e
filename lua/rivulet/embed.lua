-- rivulet.embed: the Lua side of the C API (src/rivulet.c). One engine per handle; every
-- function returns its result, or nil, a code name ("notfound", "busy", "badinput") and a
-- message, which rivulet.c turns into RIVULET_* codes and rivulet_errmsg.

local rivulet = require "rivulet"
local engine_mod = require "rivulet.engine"
local json = require "rivulet.json"

local type, ipairs, tostring, floor = type, ipairs, tostring, math.floor
local format = string.format

local M = {}

-- cfg: plain fields from rivulet_config; emit_message(sid, from, to, body) and
-- emit_end(sid, status, reason) call the host's callbacks
function M.new(cfg, emit_message, emit_end)
  local url_map = {}
  for _, line in ipairs(cfg.url_map or {}) do
    local from, to = line:match("^(.-)=(.*)$")
    if not from or from == "" then error(format("url_map entry '%s' is not FROM=TO", line), 0) end
    url_map[from] = to
  end
  local limits = {}
  if cfg.same_widget_limit then limits.same_widget = cfg.same_widget_limit end
  if cfg.step_limit then limits.steps = cfg.step_limit end
  local engine, open_err = rivulet.engine{
    store = cfg.store_path, resume = "poll",     -- callbacks only inside rivulet_poll/start/deliver
    auth_token = cfg.auth_token, timezone = cfg.timezone, url_map = url_map, limits = limits,
    timeout_ms = cfg.http_timeout_ms,
    keep_ended = false,              -- thousands pass through an embedded engine
    on_message = emit_message and function(exec, m)
      emit_message(exec.sid, tostring(m.from or ""), tostring(m.to or ""), tostring(m.body or ""))
    end,
    on_end = emit_end and function(exec)
      emit_end(exec.sid, exec.failed and "failed" or "ended", tostring(exec.reason or ""))
    end,
  }
  if not engine then error(open_err, 0) end
  local flows = {}
  local api = {}

  function api.load_flow(name, path)
    local f, err = rivulet.load_flow(path)
    if not f then return nil, "badinput", err end
    local ok, problems = rivulet.validate(f)
    if not ok then
      for _, p in ipairs(problems) do
        if p.level == "error" then return nil, "badinput", format("%s: %s: %s", path, p.path, p.message) end
      end
    end
    flows[name] = f
    return true
  end

  function api.start(name, trigger_json)
    local f = flows[name]
    if not f then return nil, "notfound", format("no flow named '%s' (rivulet_load_flow it first)", name) end
    local t, err = json.decode(trigger_json)
    if type(t) ~= "table" then return nil, "badinput", "trigger is not a JSON object: " .. tostring(err) end
    local exec, serr = engine:start(f, t)
    if not exec then return nil, "busy", serr end
    return exec.sid
  end

  function api.deliver(from, to, body)
    local exec, derr, code
    for _ = 1, M.MAX_RACES do          -- another process moved it on: deliver to the new copy
      exec, derr, code = engine:deliver{ from = from, to = to, body = body }
      if exec or code ~= "conflict" then break end
    end
    if exec then return true end
    if code == "running" then return nil, "busy", derr end
    if code == "none" or code == "not_waiting" then return nil, "notfound", derr end
    return nil, "error", derr
  end

  function api.poll(ms)
    return engine:poll(ms)
  end

  function api.active()
    return engine.n_active
  end

  -- milliseconds until the next timer is due, or -1
  function api.next_timer_ms()
    local at = engine:next_deadline()
    if not at then return -1 end
    local ms = floor((at - engine.now()) * 1000)
    return ms > 0 and ms or 0
  end

  api.engine = engine
  -- the C client behind the engine's HTTP calls: rivulet.c takes it once, at open, for
  -- rivulet_fds and rivulet_timeout
  api.http_client = engine.http:handle()
  return api
end

M.sid_length = #engine_mod.sid("FN")
M.MAX_RACES = 20

return M
