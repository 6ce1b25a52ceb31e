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
-- Widget failures print on stderr as they happen ("! get_num (run-function) fail:
-- connect_failed: ... -> send_error"), and so does a function or HTTP call still without an
-- answer after SLOW_CALL_S. -v also traces every step, request and reply on stderr
-- ("  [+12.3 ms] ..."); -q prints only the messages (and the last line when it failed).
-- The last line, on stderr, always says why the execution stopped: "execution FN… ended:
-- REASON", "... stopped: ...", or "... interrupted (Ctrl-C) ...".
--
-- Ctrl-C (SIGINT) or SIGTERM ends the execution there, as `rivulet end` would (a step
-- "ended", reason "interrupted (Ctrl-C)"; with --store it is so recorded, so the contact is
-- free for the next run), writes --log, and exits 130 (143 for SIGTERM).
--
-- Exit status: 0 the execution ended normally, 1 it failed (a guard stopped it, a widget
-- errored) or could not finish (with --store: the store failed, e.g. the disk is full; what
-- was saved before is kept), 2 bad input (usage, an unloadable flow, a flow with
-- validation errors (printed like `rivulet validate`'s), unreadable files, a --store that
-- is not a usable store), 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
-- The auth token is never printed or logged: every line written goes through scrub().

local rivulet = require "rivulet"
local core = require "rivulet.core"
local json = require "rivulet.json"
local args_lib = require "rivulet.cli.args"

local ipairs, pairs, tostring, pcall, next = ipairs, pairs, tostring, pcall, next
local format = string.format
local stdout, stderr, stdin = io.stdout, io.stderr, io.stdin

local M = {}

-- a call with no answer after this long gets a line saying so (Studio waits 10 s; silence
-- for that long looks like a hang)
M.SLOW_CALL_S = 2
-- -v shows this much of a reply's body (a whole page of HTML says nothing more)
M.TRACE_BODY_BYTES = 200
-- how often a wait for a line on a terminal looks at whether Ctrl-C came
M.SIGNAL_LOOK_MS = 200
-- exit statuses of a run stopped by a signal, as a shell reports them (128 + signal)
M.SIGNAL_EXIT = { INT = 130, TERM = 143 }
local SIGNAL_WHY = { INT = "interrupted (Ctrl-C)", TERM = "terminated (SIGTERM)" }

local USAGE =
  "usage: rivulet run FLOW [--trigger EVENT] [--from ADDR] [--to ADDR] [--body TEXT]\n" ..
  "         [--param KEY=VALUE]... [--reply TEXT]... [--replies FILE] [--map-url FROM=TO]...\n" ..
  "         [--auth-token TOKEN] [--account-sid AC...] [--map-function ZH...=URL]... [--functions FILE]...\n" ..
  "         [--log FILE] [--store DB] [--subflows DIR] [--event WIDGET=EVENT]...\n" ..
  "         [-v | -q]\n" ..
  "Run 'rivulet run --help' for details.\n"

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
    elseif a == "-v" or a == "--verbose" then
      o.verbose = true
    elseif a == "-q" or a == "--quiet" then
      o.quiet = true
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
  if o.verbose and o.quiet then return usage_error("-v and -q do not go together") end
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

-- converse(engine, exec, reply, opts) -> exec | exec, why it stopped while still active
-- Runs exec to its end: HTTP through the engine, a call through rivulet.voice, each wait
-- answered with reply(w, need) (the next line; nil: end of input, which times a reply wait
-- out and hangs a call up). need is rivulet.voice's (what a call waits for) or nil (a
-- reply). opts.events: widget name -> the event it takes whenever it waits for an outcome;
-- opts.note(text) hears what was decided. Every pass answers or ends one wait, so the
-- engine's step and repeat guards bound the loop.
-- rivulet.voice (with rivulet.twiml) loads when an execution first waits on a call or on
-- the outside world: a flow that only messages never needs it. Until then this is
-- voice.settle, answering nil where voice.need would (ended, or waiting for a reply or a
-- subflow).
local voice
local function settle(engine, exec)
  engine:run()
  if not voice then
    if exec.status ~= "active" then return nil end
    local w = engine:innermost(exec)
    local wait = w.status == "active" and w.wait
    if not wait or (wait.kind ~= "call" and wait.kind ~= "event") then return nil end
    voice = require "rivulet.voice"
  end
  return voice.settled(engine, exec)
end

function M.converse(engine, exec, reply, opts)
  opts = opts or {}
  local events, note = opts.events or {}, opts.note or function() end
  while exec.status == "active" do
    local n = settle(engine, exec)
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

-- ---- what the console shows besides the messages ------------------------------------------

-- a widget failed: its event names a failure (fail, failed, deliveryFailure, callFailure,
-- failedToEnqueue...), or a property did not render
local function is_failure(step)
  local outs = type(step.context) == "table" and step.context.outputs
  return step.name ~= "ended" and (tostring(step.name):lower():find("fail", 1, true) ~= nil
    or step.reason == "liquid" or (type(outs) == "table" and outs.reason == "liquid"))
end
M.is_failure = is_failure

-- "widget (type) event: reason: message -> next"
function M.describe_failure(step)
  local outs = type(step.context) == "table" and type(step.context.outputs) == "table" and step.context.outputs or {}
  -- why it failed is the step's (reason, note); older records kept it in the outputs
  local reason, message = step.reason or outs.reason, step.note or outs.message
  local why = {}
  if reason ~= nil then why[#why + 1] = tostring(reason) end
  if message ~= nil and message ~= reason then why[#why + 1] = tostring(message) end
  if outs.status_code ~= nil and outs.status_code ~= 0 and outs.status_code ~= "" and reason ~= "http_status" then
    why[#why + 1] = "HTTP " .. tostring(outs.status_code)
  end
  return format("%s (%s) %s%s -> %s", tostring(step.transitioned_from), tostring(step.type), tostring(step.name),
    #why > 0 and (": " .. table.concat(why, ": ")) or "", tostring(step.transitioned_to))
end

-- parameters as sent (a map or Studio's {{key =, value =}} list) -> "k=v k=v"
local function show_params(p)
  if type(p) ~= "table" then return "" end
  local list = {}
  if p[1] ~= nil then
    for _, kv in ipairs(p) do
      if type(kv) == "table" then list[#list + 1] = tostring(kv.key) .. "=" .. tostring(kv.value) end
    end
  else
    for k, v in pairs(p) do list[#list + 1] = tostring(k) .. "=" .. tostring(v) end
    table.sort(list)
  end
  return table.concat(list, " ")
end

local function cut(text, n)
  text = tostring(text or ""):gsub("[\r\n]+", " ")
  if #text > n then return text:sub(1, n) .. format("... (%d bytes)", #text) end
  return text
end

-- An HTTP client that reports on the engine's calls: the request as it starts (-v), its
-- reply when it finished (-v), a call with no answer after SLOW_CALL_S, and that stops the
-- run when a signal came (the engine polls it while calls run). Everything else is the
-- client's own. That client, rivulet.http's, is made (and rivulet.http loaded) when the
-- engine first uses it: a flow that calls nothing never loads it.
local INTERRUPTED = setmetatable({}, { __tostring = function() return "interrupted" end })
M.INTERRUPTED = INTERRUPTED

local function reporting_client(say, trace, verbose, quiet)
  local running = {}
  local real = require("rivulet.engine").lazy_client()
  local c = setmetatable({}, { __index = function(t, k)
    local f = real[k]
    if type(f) ~= "function" then return f end
    local m = function(_, ...) return f(real, ...) end
    t[k] = m
    return m
  end })
  local function started(kind, args, call)
    local method = kind == "run_function" and "POST" or tostring(args.method or "GET")
    local who = tostring(args.widget or "?")
    if verbose then trace(format("%s: %s %s  %s", who, method, tostring(args.url), show_params(args.parameters))) end
    running[#running + 1] = { call = call, widget = who, url = tostring(args.url), t0 = core.monotonic(),
                              timeout_s = (args.timeout_ms or require("rivulet.http").TIMEOUT_MS) / 1000 }
    return call
  end
  function c.run_function(_, args) return started("run_function", args, real:run_function(args)) end
  function c.http_request(_, args) return started("http_request", args, real:http_request(args)) end
  function c.poll(_, ms)
    local n = real:poll(ms)
    if core.signaled() then error(INTERRUPTED, 0) end
    local now = core.monotonic()
    for i = #running, 1, -1 do
      local r = running[i]
      if r.call:done() then
        table.remove(running, i)
        local o = r.call:outcome() or {}
        if verbose then
          local what = {}
          if o.status_code and o.status_code ~= 0 then what[#what + 1] = "HTTP " .. tostring(o.status_code) end
          if o.content_type and o.content_type ~= "" then what[#what + 1] = tostring(o.content_type) end
          if o.reason then what[#what + 1] = "(" .. tostring(o.reason) .. ")" end
          trace(format("%s: %s %s in %.1f ms%s", r.widget, tostring(o.event), table.concat(what, " "),
            tonumber(o.elapsed_ms) or 0, (o.body and o.body ~= "") and (": " .. cut(o.body, M.TRACE_BODY_BYTES)) or ""))
        end
      elseif not r.slow and now - r.t0 >= M.SLOW_CALL_S and not quiet then
        r.slow = true
        say(format("... %s: no answer from %s after %d s (it gives up after %g s)", r.widget, r.url,
          M.SLOW_CALL_S, r.timeout_s))
      end
    end
    return n
  end
  return c
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
  local t0 = core.monotonic()
  local function say(text)                  -- a line about the run, on stderr
    stdout:flush()
    stderr:write(scrub(text), "\n")
    stderr:flush()
  end
  local function trace(text)
    say(format("  [+%.1f ms] %s", (core.monotonic() - t0) * 1000, text))
  end
  local failures = 0
  core.trap_signals()                       -- Ctrl-C ends the execution (below), not the process
  local engine, eerr, ecode = rivulet.engine{
    url_map = o.url_map, auth_token = token, store = db, resume = false,
    account_sid = o.account_sid, function_map = o.function_map,
    subflows = o.subflows,
    http = reporting_client(say, trace, o.verbose, o.quiet),
    on_message = function(_, msg)
      local body = tostring(msg.body or "")
      stdout:write(scrub((msg.kind == "voice" and "> (voice) " or "> ") .. body), "\n")
      stdout:flush()
    end,
    on_step = function(_, step)
      if o.verbose then
        trace(format("%d %s (%s) %s -> %s", #_.steps, tostring(step.transitioned_from), tostring(step.type),
          tostring(step.name), tostring(step.transitioned_to)))
      end
      if is_failure(step) then
        failures = failures + 1
        if not o.quiet then say("! " .. M.describe_failure(step)) end
      end
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

  local tty = core.isatty(0)
  local next_reply, stdin_done = 1, false
  local function reply(_, need)
    if core.signaled() then error(INTERRUPTED, 0) end
    local r = replies[next_reply]
    if r then
      next_reply = next_reply + 1
      if not o.quiet then stdout:write(scrub("< " .. r), "\n") end
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
    -- on a terminal, wait for the line with poll(2): a Ctrl-C that comes between the last
    -- look at the flag and the wait is seen within SIGNAL_LOOK_MS, where a blocking read
    -- would miss it. (A terminal hands over one line per read, so stdio holds no more.)
    while tty and not core.signaled() and not next(core.wait_fds({ 0 }, M.SIGNAL_LOOK_MS)) do end
    if core.signaled() then error(INTERRUPTED, 0) end
    local line = stdin:read("l")
    -- a signal interrupts the read (no SA_RESTART): that is no end of input
    if core.signaled() then error(INTERRUPTED, 0) end
    if line == nil then
      stdin_done = true
      if tty then stdout:write("\n") end
      return nil
    end
    line = line:gsub("\r$", "")
    if not tty and not o.quiet then stdout:write(scrub("< " .. line), "\n") end
    return line
  end

  local exec
  local ok, done, serr, scode = pcall(function()
    local r = engine:handle{ kind = "start", flow = flow, trigger = trigger }
    if r.code == "store_error" then return nil, r.message, r.store_code or "error" end
    if r.code == "conflict" and db then
      return nil, format("%s (`rivulet end %s --store %s` ends it)", r.message, tostring(r.active_sid), db)
    end
    if r.code ~= "started" then return nil, r.message end
    exec = r.exec
    return M.converse(engine, r.exec, reply, { events = o.events, note = function(text)
      if o.quiet then return end
      stdout:write(scrub("* " .. text), "\n")
      stdout:flush()
    end })
  end)
  local sig = core.signaled()
  if sig and tty then stdout:write("\n") end   -- after the terminal's ^C
  stdout:flush()
  if not ok and done ~= INTERRUPTED then
    stderr:write("rivulet run: internal error: ", scrub(tostring(done)), "\n")
    return 1
  end
  if sig and exec and exec.status == "active" then
    -- as `rivulet end` does: a step "ended" where it stood; with --store, so recorded
    local r = engine:handle{ kind = "end", sid = exec.sid, reason = SIGNAL_WHY[sig] }
    if r.code == "ended" then exec = r.exec else serr = r.message end   -- with a store: its copy
  elseif ok and not done then
    local msg, status = tostring(serr), 1
    if scode then msg, status = args_lib.store_failure(db, serr, scode) end   -- nothing was saved
    stderr:write("rivulet run: ", scrub(msg), "\n")
    return sig and M.SIGNAL_EXIT[sig] or status
  end
  if not exec then                          -- a signal before the execution started
    stderr:write("rivulet run: ", SIGNAL_WHY[sig], " before the execution started\n")
    return M.SIGNAL_EXIT[sig]
  end

  local status = 0
  if o.log then
    local lok, lerr = write_log(o.log, exec, scrub)
    if not lok then
      stderr:write("rivulet run: cannot write --log file: ", scrub(tostring(lerr)), "\n")
      status = 2
    end
  end
  local function last(text, rc)             -- the closing line (with -q only when it went wrong)
    if not o.quiet or rc ~= 0 then say(text) end
    return rc
  end
  if sig then
    local where = exec.status == "ended" and format("; ended at '%s'", tostring(exec.state))
      or format(" (%s)", tostring(serr or exec.reason))
    return last(format("execution %s %s%s", exec.sid, SIGNAL_WHY[sig], where), M.SIGNAL_EXIT[sig])
  end
  if exec.status == "active" then
    return last(format("execution %s stopped: %s", exec.sid, serr or "still active"), status ~= 0 and status or 1)
  end
  if exec.status == "detached" then
    if exec.detached == "reloaded" then       -- another process sharing the store moved it on
      return last(format("execution %s stopped: %s", exec.sid, tostring(exec.reason)), status ~= 0 and status or 1)
    end
    -- a write failed: the execution stays in the store as last saved, and whoever opens the
    -- store next (`rivulet deliver --tick`) takes it over from there
    local msg, sstatus = args_lib.store_failure(db, exec.reason, exec.detached)
    stderr:write("rivulet run: ", scrub(format("%s (execution %s stops at its last saved step;" ..
      " `rivulet deliver --store %s --tick` resumes it)", msg, exec.sid, db)), "\n")
    return status ~= 0 and status or sstatus
  end
  local after = ""
  if failures > 0 and not exec.failed then
    after = format(" (after %d widget failure%s, shown above)", failures, failures == 1 and "" or "s")
  end
  return last(format("execution %s ended: %s%s", exec.sid, tostring(exec.reason), after),
    status ~= 0 and status or (exec.failed and 1 or 0))
end

return M
