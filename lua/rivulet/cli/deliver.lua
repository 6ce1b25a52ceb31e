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
-- timeout), and one that loses a race for an execution reloads it and tries again (the
-- engine's handle{patient = true} does both).

local rivulet = require "rivulet"
local store_mod = require "rivulet.store"
local args_lib = require "rivulet.cli.args"

local format, tostring, ipairs = string.format, tostring, ipairs
local stdout, stderr = io.stdout, io.stderr

local M = {}

local USAGE = "usage: rivulet deliver --store DB --flow FLOW --from ADDR --to ADDR --body TEXT\n" ..
  "         [--media-url URL] [--map-url FROM=TO]... [--auth-token TOKEN] [--account-sid AC...]\n" ..
  "         [--map-function ZH...=URL]... [--functions FILE]... [--subflows DIR] [--json]\n" ..
  "       rivulet deliver --store DB --tick [--map-url FROM=TO]... [--auth-token TOKEN] [--subflows DIR]\n" ..
  "Run 'rivulet deliver --help' for details.\n"

local SPEC = {
  ["--store"] = { value = true }, ["--flow"] = { value = true }, ["--from"] = { value = true },
  ["--to"] = { value = true }, ["--body"] = { value = true }, ["--media-url"] = { value = true },
  ["--map-url"] = { list = true }, ["--auth-token"] = { value = true }, ["--json"] = {},
  ["--subflows"] = { value = true }, ["--tick"] = {}, ["--account-sid"] = { value = true },
  ["--map-function"] = { list = true }, ["--functions"] = { list = true },
}

-- the engine's result codes: how deliver says them (--json "how") and its exit status
-- (a store_error's comes from its store code: args.store_failure)
local HOW = { started = "started", resumed = "delivered", held = "delivered" }
local EXIT = { not_waiting = 1, busy = 1 }

-- what became of the execution when a write failed after the message was taken: the steps
-- committed before stay, and whoever opens the store next takes it over from there
local function kept(db, sid)
  return format(" (execution %s stops at its last saved step; the next delivery or" ..
    " `rivulet deliver --store %s --tick` resumes it)", sid, store_mod.display(db))
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
  local account, aerr = args_lib.account(o)
  if aerr then return usage(aerr) end
  local fmap, ferr = args_lib.function_map(o["map-function"], o.functions)
  if not fmap then return usage(ferr) end

  local flow = not o.tick and args_lib.load_flow("deliver", o.flow, scrub)
  if not o.tick and not flow then return 2 end

  local sent = {}
  local engine, eerr, ecode = rivulet.engine{
    store = db, url_map = map, auth_token = token, keep_ended = false, subflows = o.subflows,
    account_sid = account, function_map = fmap,
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
    local msg, status = args_lib.store_failure(db, eerr, ecode)
    stderr:write("rivulet deliver: ", scrub(msg), "\n")
    return status
  end
  if o.tick then            -- opening caught up already; let the HTTP calls it started finish
    local ok, err = pcall(function()
      engine:handle{ kind = "tick" }
      engine:run()
    end)
    engine.store:close()
    if not ok then
      stderr:write("rivulet deliver: internal error: ", scrub(tostring(err)), "\n")
      return 1
    end
    if o.json then stdout:write(scrub(store_mod.encode({ resumed = engine.resumed, sent = sent })), "\n") end
    stderr:write(format("%d execution%s had something to do\n", engine.resumed, engine.resumed == 1 and "" or "s"))
    if engine.store_error then      -- an execution could not be saved: it stays as last saved
      local msg, status = args_lib.store_failure(db, engine.store_error, engine.store_error_code)
      stderr:write("rivulet deliver: ", scrub(msg), "\n")
      return status
    end
    return 0
  end

  -- patient: another process running this contact's execution is waited for
  local ok, r = pcall(engine.handle, engine, { kind = "message", flow = flow, from = o.from, to = o.to,
                                               body = o.body, media_url = o["media-url"], patient = true })
  local err = not ok and r
  if ok and HOW[r.code] then ok, err = pcall(engine.run, engine) end
  if not ok then
    stderr:write("rivulet deliver: internal error: ", scrub(tostring(err)), "\n")
    engine.store:close()
    return 1
  end
  engine.store:close()
  local exec, how = r.exec, HOW[r.code]
  if not how then
    -- "running" is the name deliver has always given a busy execution
    local code = r.code == "busy" and "running" or r.code == "store_error" and (r.store_code or "error") or r.code
    local msg, status = tostring(r.message), EXIT[r.code] or 2
    if r.code == "store_error" then     -- nothing of the message was saved: the store is as it was
      msg, status = args_lib.store_failure(db, r.message, r.store_code)
      msg = msg .. " (the message was not taken; the store is as it was)"
    end
    if o.json then
      stdout:write(store_mod.encode({ taken = false, reason = code, message = scrub(msg), sent = sent }), "\n")
    end
    stderr:write("rivulet deliver: ", scrub(msg), "\n")
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
    if exec.detached == "reloaded" then     -- another process moved it on meanwhile
      stderr:write(scrub(format("rivulet deliver: execution %s: %s", exec.sid, tostring(exec.reason))), "\n")
      return 2
    end
    local msg, status = args_lib.store_failure(db, exec.reason, exec.detached)
    stderr:write("rivulet deliver: ", scrub(msg .. kept(db, exec.sid)), "\n")
    return status
  end
  stderr:write(scrub(format("execution %s %s; ended: %s", exec.sid, how, tostring(exec.reason))), "\n")
  return exec.failed and 1 or 0
end

return M
