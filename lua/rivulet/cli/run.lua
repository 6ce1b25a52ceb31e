-- `rivulet run FLOW [options]`: one execution of a flow, as a conversation (DESIGN.md §3).
--
-- Outbound messages print on stdout as "> BODY" ("> (voice) BODY" for what a caller hears).
-- When the execution waits for a reply it takes, in order: the --reply/--replies lines,
-- then a line typed at the "< " prompt (stdin is a terminal) or read from stdin (it is
-- not). End of input times the wait out, so a scripted run never hangs on a reply.
-- Scripted replies are echoed as "< TEXT" so the transcript reads like the conversation.
--
-- A call (--trigger incomingCall, or a Make Outgoing Call answered) is simulated as Twilio
-- would run it (rivulet.voice): what the caller hears prints, a Gather takes the next line
-- as keypad digits (0-9, #, *) or as speech (anything else), a Record takes it as the
-- message, an empty line is silence (the widget's timeout path), and end of input hangs
-- up. Where the outside world decides (a dialled party, a queue, Flex, a payment, a
-- virtual agent, an outgoing call, a TwiML Redirect), the next line names the widget's
-- event ("? NAME (events…)" on a terminal; empty: the first, its usual outcome), or
-- --event NAME=EVENT decides every time NAME waits; end of input hangs up (a call) or lets
-- the wait time out. What was decided prints as "* …".
-- The last line, on stderr, is "execution FN… ended: REASON".
--
-- Exit status: 0 the execution ended normally, 1 it failed (a guard stopped it, a widget
-- errored) or could not finish (with --store: the store failed, e.g. the disk is full; what
-- was saved before is kept), 2 bad input (usage, an unloadable flow, a flow with
-- validation errors (printed like `rivulet validate`'s), unreadable files, a --store that
-- is not a usable store).
-- The auth token is never printed or logged: every line written goes through scrub().

local rivulet = require "rivulet"
local core = require "rivulet.core"
local json = require "rivulet.json"
local args_lib = require "rivulet.cli.args"
local voice = require "rivulet.voice"

local ipairs, pairs, tostring, pcall = ipairs, pairs, tostring, pcall
local format = string.format
local stdout, stderr, stdin = io.stdout, io.stderr, io.stdin

local M = {}

local USAGE =
  "usage: rivulet run FLOW [--trigger EVENT] [--from ADDR] [--to ADDR] [--body TEXT]\n" ..
  "         [--param KEY=VALUE]... [--reply TEXT]... [--replies FILE] [--map-url FROM=TO]...\n" ..
  "         [--auth-token TOKEN] [--account-sid AC...] [--map-function ZH...=URL]... [--functions FILE]...\n" ..
  "         [--log FILE] [--store DB] [--subflows DIR] [--event WIDGET=EVENT]...\n" ..
  "         (rivulet help run)\n"

M.DEFAULTS = {
  trigger = "incomingMessage", from = "+15550001111", to = "+15559990000", body = "hi",
}

local trigger_widget = require "rivulet.widgets.trigger"

-- options that take a value; `list` ones may repeat
local OPTIONS = {
  ["--trigger"] = {}, ["--from"] = {}, ["--to"] = {}, ["--body"] = {},
  ["--param"] = { list = true }, ["--reply"] = { list = true }, ["--replies"] = { list = true },
  ["--map-url"] = { list = true }, ["--auth-token"] = {}, ["--log"] = {}, ["--store"] = {},
  ["--subflows"] = {}, ["--event"] = { list = true }, ["--account-sid"] = {},
  ["--map-function"] = { list = true }, ["--functions"] = { list = true },
}

local scrubber = args_lib.scrubber

-- usage errors echo arguments, which may hold the token: main() sets this first
local usage_scrub = function(s) return s end

local function usage_error(msg)
  stderr:write("rivulet run: ", usage_scrub(msg), "\n", USAGE)
  return nil, 2
end

local split_eq = args_lib.split_eq

-- args -> options table | nil, exit code
function M.parse(args)
  local o = { param = {}, reply = {}, replies = {}, ["map-url"] = {}, event = {}, order = {},
              ["map-function"] = {}, functions = {} }
  local i, flow = 1, nil
  while i <= #args do
    local a = args[i]
    local name, inline = a:match("^(%-%-[%w%-]+)=(.*)$")
    name = name or a
    if a == "--" then
      i = i + 1
      if args[i] and not flow then flow = args[i] i = i + 1 end
      if args[i] then return usage_error(format("unexpected argument '%s'", args[i])) end
      break
    elseif OPTIONS[name] then
      local v = inline
      if v == nil then
        i = i + 1
        v = args[i]
        if v == nil then return usage_error(format("option '%s' needs a value", name)) end
      end
      local key = name:sub(3)
      if OPTIONS[name].list then
        local t = o[key]
        t[#t + 1] = v
        -- replies keep their command-line order across --reply and --replies
        if key == "reply" or key == "replies" then o.order[#o.order + 1] = { key, v } end
      else
        o[key] = v
      end
    elseif a:sub(1, 1) == "-" and a ~= "-" then
      return usage_error(format("unknown option '%s'", a))
    elseif flow then
      return usage_error(format("unexpected argument '%s' (one FLOW only)", a))
    else
      flow = a
    end
    i = i + 1
  end
  if not flow then return usage_error("missing FLOW") end
  o.flow = flow
  for k, v in pairs(M.DEFAULTS) do if o[k] == nil then o[k] = v end end
  if not trigger_widget.EVENTS[o.trigger] then
    return usage_error(format("unknown trigger event '%s' (%s)", o.trigger, trigger_widget.EVENT_LIST))
  end
  o.parameters = {}
  local order = {}
  for _, p in ipairs(o.param) do
    local k, v = split_eq(p)
    if not k then return usage_error(format("--param wants KEY=VALUE, got '%s'", p)) end
    if o.parameters[k] == nil then order[#order + 1] = k end
    o.parameters[k] = v
  end
  -- in command-line order: Studio prints {{flow.data}} in its document's order
  if #order > 1 then require("rivulet.json").ordered(order, o.parameters) end
  o.events = {}
  for _, p in ipairs(o.event) do
    local k, v = split_eq(p)
    if not k or v == "" then return usage_error(format("--event wants WIDGET=EVENT, got '%s'", p)) end
    o.events[k] = v
  end
  local map, merr = args_lib.url_map(o["map-url"])
  if not map then return usage_error(merr) end
  o.url_map = map
  o["auth-token"] = args_lib.token(o)
  local account, aerr = args_lib.account(o)
  if aerr then return usage_error(aerr) end
  o.account_sid = account
  local fmap, ferr = args_lib.function_map(o["map-function"], o.functions)
  if not fmap then return usage_error(ferr) end
  o.function_map = fmap
  return o
end

-- the scripted replies, in command-line order -> list | nil, err
local function scripted(o)
  local list = {}
  for _, r in ipairs(o.order) do
    if r[1] == "reply" then
      list[#list + 1] = r[2]
    else
      local f, err = io.open(r[2], "rb")
      if not f then return nil, format("cannot read --replies file: %s", err) end
      -- read it whole: lines() raises on a directory (open succeeds, reading fails)
      local text, rerr = f:read("a")
      f:close()
      if not text then return nil, format("cannot read --replies file: %s: %s", r[2], tostring(rerr)) end
      if text ~= "" and text:sub(-1) ~= "\n" then text = text .. "\n" end
      for line in text:gmatch("(.-)\n") do list[#list + 1] = (line:gsub("\r$", "")) end
    end
  end
  return list
end

local function is_tty()
  return os.execute("test -t 0") == true
end

-- converse(engine, exec, reply, opts) -> exec | exec, why it stopped while still active
-- Runs exec to its end: HTTP through the engine, a call through rivulet.voice, each wait
-- answered with reply(w, need) (the next line; nil: end of input, which times a reply wait
-- out and hangs a call up). need is rivulet.voice's (what a call waits for) or nil (a
-- reply). opts.events: widget name -> the event it takes whenever it waits for an outcome;
-- opts.note(text) hears what was decided. Every pass answers or ends one wait, so the
-- engine's step and repeat guards bound the loop.
function M.converse(engine, exec, reply, opts)
  opts = opts or {}
  local events, note = opts.events or {}, opts.note or function() end
  while exec.status == "active" do
    local n = voice.settle(engine, exec)
    if exec.status ~= "active" then break end
    local r
    if n then
      local forced = events[n.widget]
      local line = not forced and reply(n.exec, n)
      if forced then
        note(format("%s: %s (--event)", n.widget, forced))
        r = voice.choose(engine, n, forced)
      elseif line == nil then
        if n.in_call then
          note("the caller hangs up")
          r = voice.hangup(engine, exec)
        else
          note(format("%s: no answer", n.widget))
          r = voice.expire(engine, n)
        end
      elseif n.ask == "outcome" then
        local ev = M.pick_event(n.events, line)
        if ev then
          note(format("%s: %s", n.widget, ev))
          r = voice.choose(engine, n, ev)
        else
          note(format("%s: '%s' is none of its events (%s)", n.widget, line, table.concat(n.events, ", ")))
          r = { code = "resumed" }          -- asked again; every line read brings input's end nearer
        end
      else
        r = voice.input(engine, n, line)
      end
    else
      local w = engine:innermost(exec)      -- the reply may be awaited inside a subflow
      if not (w.wait and w.wait.kind == "reply") then
        local what = w.wait and tostring(w.wait.kind) or "nothing"
        return exec, format("waiting for %s", what)
      end
      local body, ctx = reply(w), exec.context
      r = body == nil and engine:handle{ kind = "timeout", sid = exec.sid }
        or engine:handle{ kind = "message", from = ctx.contact.channel.address, to = ctx.flow.channel.address,
                          body = body }
    end
    if r.code ~= "resumed" and r.code ~= "timed_out" and r.code ~= "ended" then return exec, tostring(r.message) end
  end
  return exec
end

-- the event a line names (any case; empty: the first, the widget's usual outcome), or nil
function M.pick_event(events, line)
  line = line:match("^%s*(.-)%s*$")
  if line == "" then return events[1] end
  for _, e in ipairs(events) do
    if e:lower() == line:lower() then return e end
  end
  return nil
end

-- the record as JSON holds it: core.json_encode writes what JSON cannot hold (a lua
-- widget's functions, cycles) as text, so the record of any execution can be written
function M.plain(v)
  return json.decode(core.json_encode(v))
end

-- the token is scrubbed from the text as written, as the store does
local function write_log(path, exec, scrub)
  local text = scrub(core.json_encode(rivulet.record(exec)))
  local f, ferr = io.open(path, "wb")
  if not f then return nil, ferr end
  f:write(text, "\n")
  f:close()
  return true
end

function M.main(args)
  usage_scrub = scrubber(args_lib.early_token(args or {}))
  local o, code = M.parse(args or {})
  if not o then return code end
  local token = o["auth-token"]
  local scrub = scrubber(token)

  local replies, rerr = scripted(o)
  if not replies then stderr:write("rivulet run: ", rerr, "\n") return 2 end
  if o.log then
    -- fail before running, not after, when the record cannot be written
    local f, err = io.open(o.log, "ab")
    if not f then stderr:write("rivulet run: cannot write --log file: ", err, "\n") return 2 end
    f:close()
  end

  local flow = args_lib.load_flow("run", o.flow, scrub)
  if not flow then return 2 end
  for name, ev in pairs(o.events) do
    local state = flow.by_name[name]
    local w = state and require("rivulet.widgets").get(state.type)
    if not state then
      stderr:write(scrub(format("rivulet run: --event %s=%s: the flow has no widget '%s'\n", name, ev, name)))
      return 2
    end
    if not (w and M.pick_event(w.events or {}, ev) == ev) then
      stderr:write(scrub(format("rivulet run: --event %s=%s: '%s' (%s) has no event '%s' (%s)\n", name, ev, name,
        tostring(state.type), ev, table.concat(w and w.events or {}, ", "))))
      return 2
    end
  end
  -- what this run cannot reach, said before it starts (the console asks for the outside
  -- world's answers itself)
  for _, n in ipairs(require("rivulet.validate").local_run(flow, { function_map = o.function_map,
      subflows = o.subflows, account_sid = o.account_sid, auth_token = token })) do
    if n.kind ~= "outside" then stderr:write(scrub("rivulet run: note: " .. n.message), "\n") end
  end
  if #o.param > 0 and o.trigger ~= "incomingRequest" and o.trigger ~= "incomingParent" then
    stderr:write("rivulet run: note: --param is used by --trigger incomingRequest (flow.data) " ..
      "and incomingParent (trigger.parent.parameters) only\n")
  end

  -- with --store the record is kept there as it runs; other executions in the store are
  -- left to `rivulet deliver` (resume = false): run holds one conversation
  local db = args_lib.store_path(o)
  local engine, eerr, ecode = rivulet.engine{
    url_map = o.url_map, auth_token = token, store = db, resume = false,
    account_sid = o.account_sid, function_map = o.function_map,
    subflows = o.subflows,
    on_message = function(_, msg)
      local body = tostring(msg.body or "")
      stdout:write(scrub((msg.kind == "voice" and "> (voice) " or "> ") .. body), "\n")
      stdout:flush()
    end,
  }
  if not engine then
    local msg, status = args_lib.store_failure(db, eerr, ecode)
    stderr:write("rivulet run: ", scrub(msg), "\n")
    return status
  end

  -- the REST trigger reverses the addresses (Studio's Executions API: From is the flow's
  -- own number, To the contact); --from is always the contact here
  local trigger = { event = o.trigger, from = o.from, to = o.to, body = o.body }
  if o.trigger == "incomingRequest" then trigger.from, trigger.to = o.to, o.from end
  if o.trigger == "incomingRequest" or o.trigger == "incomingParent" then
    trigger.parameters = o.parameters
  end

  local tty = is_tty()
  local next_reply, stdin_done = 1, false
  local function reply(_, need)
    local r = replies[next_reply]
    if r then
      next_reply = next_reply + 1
      stdout:write(scrub("< " .. r), "\n")
      return r
    end
    if stdin_done then return nil end
    if tty then
      if need and need.ask == "outcome" then
        stdout:write(format("? %s (%s) ", need.widget, table.concat(need.events, ", ")))
      else
        stdout:write("< ")
      end
      stdout:flush()
    end
    local line = stdin:read("l")
    if line == nil then
      stdin_done = true
      if tty then stdout:write("\n") end
      return nil
    end
    line = line:gsub("\r$", "")
    if not tty then stdout:write(scrub("< " .. line), "\n") end
    return line
  end

  local ok, exec, serr, scode = pcall(function()
    local r = engine:handle{ kind = "start", flow = flow, trigger = trigger }
    if r.code == "store_error" then return nil, r.message, r.store_code or "error" end
    if r.code ~= "started" then return nil, r.message end
    return M.converse(engine, r.exec, reply, { events = o.events, note = function(text)
      stdout:write(scrub("* " .. text), "\n")
      stdout:flush()
    end })
  end)
  stdout:flush()
  if not ok then
    stderr:write("rivulet run: internal error: ", scrub(tostring(exec)), "\n")
    return 1
  end
  if not exec then
    local msg, status = tostring(serr), 1
    if scode then msg, status = args_lib.store_failure(db, serr, scode) end   -- nothing was saved
    stderr:write("rivulet run: ", scrub(msg), "\n")
    return status
  end

  local status = 0
  if o.log then
    local lok, lerr = write_log(o.log, exec, scrub)
    if not lok then
      stderr:write("rivulet run: cannot write --log file: ", scrub(tostring(lerr)), "\n")
      status = 2
    end
  end
  if exec.status == "active" then
    stderr:write(scrub(format("execution %s stopped: %s", exec.sid, serr or "still active")), "\n")
    return status ~= 0 and status or 1
  end
  if exec.status == "detached" then
    if exec.detached == "reloaded" then       -- another process sharing the store moved it on
      stderr:write(scrub(format("execution %s stopped: %s", exec.sid, tostring(exec.reason))), "\n")
      return status ~= 0 and status or 1
    end
    -- a write failed: the execution stays in the store as last saved, and whoever opens the
    -- store next (`rivulet deliver --tick`) takes it over from there
    local msg, sstatus = args_lib.store_failure(db, exec.reason, exec.detached)
    stderr:write("rivulet run: ", scrub(format("%s (execution %s stops at its last saved step;" ..
      " `rivulet deliver --store %s --tick` resumes it)", msg, exec.sid, db)), "\n")
    return status ~= 0 and status or sstatus
  end
  stderr:write(scrub(format("execution %s ended: %s", exec.sid, tostring(exec.reason))), "\n")
  if status ~= 0 then return status end
  return exec.failed and 1 or 0
end

return M
