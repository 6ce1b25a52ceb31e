-- `rivulet deliver --store DB --flow FLOW --from A --to B --body TEXT`: an inbound message,
-- webhook-style (DESIGN.md §3). The contact's waiting execution in DB takes it, or a new
-- execution of FLOW starts with it; either runs to its next wait or end, saved as it goes.
-- Opening DB resumes the other executions that have something to do (due timeouts fire,
-- work a crash cut off runs again), so a store driven only by deliveries still keeps time;
-- executions waiting for a reply are not even read.
--
-- With --tick instead of a message it only catches up (for cron: due timeouts fire even when
-- no message comes).
--
-- Several deliveries may run at once on one store: a delivery that finds the execution
-- between two steps in another process waits for it to settle (up to the store's busy
-- timeout), and one that loses a race for an execution reloads it and tries again.

local rivulet = require "rivulet"
local core = require "rivulet.core"
local store_mod = require "rivulet.store"
local args_lib = require "rivulet.cli.args"

local format, tostring, ipairs = string.format, tostring, ipairs
local stdout, stderr = io.stdout, io.stderr

local M = {}

local USAGE = "usage: rivulet deliver --store DB --flow FLOW --from ADDR --to ADDR --body TEXT\n" ..
  "         [--media-url URL] [--map-url FROM=TO]... [--auth-token TOKEN] [--subflows DIR] [--json]\n" ..
  "         (rivulet help deliver)\n" ..
  "       rivulet deliver --store DB --tick [--map-url FROM=TO]... [--auth-token TOKEN] [--subflows DIR]\n"

local SPEC = {
  ["--store"] = { value = true }, ["--flow"] = { value = true }, ["--from"] = { value = true },
  ["--to"] = { value = true }, ["--body"] = { value = true }, ["--media-url"] = { value = true },
  ["--map-url"] = { list = true }, ["--auth-token"] = { value = true }, ["--json"] = {},
  ["--subflows"] = { value = true }, ["--tick"] = {},
}

M.RETRY_SLEEP_MS = 10           -- between looks at an execution another process is running
M.MAX_RACES = 20                -- lost races (reload and try again) before giving up

-- hand msg to the contact's execution or start one: exec, how | nil, err, code
local function take(engine, flow, msg)
  local deadline = core.monotonic() + store_mod.BUSY_TIMEOUT_MS / 1000
  local races = 0
  while true do
    local exec, err, code = engine:deliver(msg)
    if exec then return exec, "delivered" end
    if code == "none" then
      exec, err = engine:start(flow, { event = "incomingMessage", from = msg.from, to = msg.to,
                                       body = msg.body, message = msg.media_url and
                                         { MediaUrl0 = msg.media_url, NumMedia = "1" } or nil })
      if exec then return exec, "started" end
      if not err:find("already has an active execution", 1, true) then return nil, err, "start" end
      code = "conflict"                   -- another process started one just now: deliver to it
    end
    if code == "conflict" then
      races = races + 1
      if races > M.MAX_RACES then return nil, err, code end
    elseif code == "running" then
      if core.monotonic() > deadline then return nil, err, code end
      core.sleep(M.RETRY_SLEEP_MS)
    else
      return nil, err, code
    end
  end
end

function M.main(argv)
  local scrub = args_lib.scrubber(args_lib.early_token(argv or {}))
  local function usage(msg)
    stderr:write("rivulet deliver: ", scrub(msg), "\n", USAGE)
    return 2
  end
  local o, pos = args_lib.parse(argv or {}, SPEC)
  if not o then return usage(pos) end
  if pos[1] then return usage(format("unexpected argument '%s'", pos[1])) end
  local db = args_lib.store_path(o)
  if not db then return usage("--store DB is required (or set RIVULET_STORE)") end
  for _, k in ipairs{ "flow", "from", "to", "body", "media-url" } do
    if o.tick and o[k] ~= nil then return usage(format("--tick delivers no message: --%s does not go with it", k)) end
    if not o.tick and o[k] == nil and k ~= "media-url" then return usage(format("--%s is required", k)) end
  end
  local map, merr = args_lib.url_map(o["map-url"])
  if not map then return usage(merr) end
  local token = args_lib.token(o)
  scrub = args_lib.scrubber(token)

  local flow = not o.tick and args_lib.load_flow("deliver", o.flow, scrub)
  if not o.tick and not flow then return 2 end

  local sent = {}
  local engine, eerr = rivulet.engine{
    store = db, url_map = map, auth_token = token, keep_ended = false, subflows = o.subflows,
    resume = "due",           -- the waiting executions stay in the store: one delivery costs the same at any size
    on_message = function(exec, m)
      sent[#sent + 1] = { sid = exec.sid, from = m.from, to = m.to, body = tostring(m.body or ""),
                          media_url = m.media_url }
      if not o.json then
        local to = tostring(m.to)
        local prefix = (to == o.from) and "> " or format("> (to %s) ", to)
        stdout:write(scrub(prefix .. tostring(m.body or "")), "\n")
        stdout:flush()
      end
    end,
  }
  if not engine then
    stderr:write("rivulet deliver: ", scrub(tostring(eerr)), "\n")
    return 2
  end
  if o.tick then            -- opening caught up already; let the HTTP calls it started finish
    local ok, err = pcall(engine.run, engine)
    engine.store:close()
    if not ok then
      stderr:write("rivulet deliver: internal error: ", scrub(tostring(err)), "\n")
      return 1
    end
    if o.json then stdout:write(scrub(store_mod.encode({ resumed = engine.resumed, sent = sent })), "\n") end
    stderr:write(format("%d execution%s had something to do\n", engine.resumed, engine.resumed == 1 and "" or "s"))
    return 0
  end

  local ok, exec, how, code = pcall(take, engine, flow,
    { from = o.from, to = o.to, body = o.body, media_url = o["media-url"] })
  if ok and exec then ok, code = pcall(engine.run, engine) end
  if not ok then
    stderr:write("rivulet deliver: internal error: ", scrub(tostring(exec or code)), "\n")
    engine.store:close()
    return 1
  end
  engine.store:close()
  if not exec then
    local status = (code == "not_waiting" or code == "running") and 1 or 2
    if o.json then
      stdout:write(store_mod.encode({ taken = false, reason = code, message = scrub(how), sent = sent }), "\n")
    end
    stderr:write("rivulet deliver: ", scrub(tostring(how)), "\n")
    return status
  end

  local w = exec.status == "active" and engine:innermost(exec).wait
  if o.json then
    stdout:write(scrub(store_mod.encode({
      taken = true, how = how, sid = exec.sid, status = exec.status, failed = exec.failed or false,
      reason = exec.reason, state = exec.state, waiting = w and w.kind or nil, sent = sent,
    })), "\n")
  end
  if exec.status == "active" then
    stderr:write(scrub(format("execution %s %s; waits for %s at '%s'", exec.sid, how,
      w and (w.kind == "reply" and "a reply" or w.kind) or "nothing", tostring(exec.state))), "\n")
    return 0
  elseif exec.status == "detached" then
    stderr:write(scrub(format("rivulet deliver: execution %s: %s", exec.sid, tostring(exec.reason))), "\n")
    return 2
  end
  stderr:write(scrub(format("execution %s %s; ended: %s", exec.sid, how, tostring(exec.reason))), "\n")
  return exec.failed and 1 or 0
end

return M
