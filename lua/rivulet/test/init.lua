-- rivulet.test: conversation specs for flows, run against the engine with stubbed
-- functions and a simulated clock, with transition coverage.
--
--   local test = require "rivulet.test"
--   local r = test.run("flows/specs/random_number_spec.lua", { coverage = true })
--   -- r = {passed =, failed =, skipped =, unreadable =, cases = {{name, ok, message,
--   --      transcript, ...}}, coverage =}; nil, err when the spec cannot be loaded
--   test.check(spec)            -- the same, raising the failure report (for LuaUnit suites:
--                               -- function TestMine.test_specs() test.check("x_spec.lua") end)
--
-- A SPEC is a Lua file returning a table (or that table itself):
--
--   return {
--     flow = "../random_number.lua",        -- Lua or Studio JSON; relative to the spec's
--                                           -- folder, else the current directory; or a table
--     stubs = { get_num = { status = 200, json = { number = 4 } } },   -- defaults for every case
--     cases = {
--       { name = "picks a number",
--         script = { "> What is the minimum number?", "< 1",
--                    "> What is the maximum number?", "< 6",
--                    "> Your random number is 4" },
--         state = "send_num",
--         context = { ["widgets.get_num.parsed.number"] = 4 } },
--     },
--     test_function_fails = { stubs = { get_num = { status = 500 } }, script = {...} },
--   }
--
-- The file runs as ordinary Lua (require works; its globals stay its own) with its own
-- path as `...`. Cases are `cases` (a list, in order, or a map name -> case) and then,
-- LuaUnit-style, every key starting with "test" (in name order). flow, trigger, now,
-- stubs, live, url_map, functions, subflows, timezone, limits, auth_token, account_sid and
-- skip may also sit at the spec level as every case's default; `stubs` merge key by key.
-- Unknown keys are errors.
--
-- A case:
--   trigger   what starts the execution; the default is an SMS "hi" from +15550001111 to
--             +15559990000. A string is that SMS's body. Tables (fields merge over the
--             default): { event = "incomingMessage", from =, to =, body = },
--             { event = "incomingRequest", parameters = {...} } (REST: flow.data),
--             { event = "incomingCall" } (a phone call, simulated as rivulet.voice does),
--             { event = "incomingParent", parameters = {...} }, incomingCall,
--             incomingConversationMessage. `from` is always the contact and `to` the flow's
--             own number, as in `rivulet run`.
--   now       the simulated clock's start: epoch seconds or "2024-05-01T09:30:00Z" (an
--             offset such as "+02:00" instead of Z works too); default 1704067200
--             (2024-01-01T00:00:00Z). Liquid's "now"/date and every timeout use this clock,
--             which moves only when the script says so: nothing ever sleeps.
--   stubs     calls from Run Function and Make HTTP Request, by widget name (first) or by
--             URL prefix (the longest wins; the URL as the flow asks for it, before url_map):
--               get_num = { status = 200, json = { number = 4 } }      a fixed reply
--               ["https://x.twil.io/fn"] = function(event) return { status = 500 } end
--               get_num = { { status = 500 }, { status = 200, json = {...} } }
--                                           replies in turn, the last one repeating
--               get_num = false              no stub here (cancels a spec-level one)
--             A reply is { status = 200, json = table | body = string, content_type =,
--             reason = "timeout"|"connect_failed"|... (a transport failure), message = }
--             and takes the road a real reply takes (rivulet.http.simulate: the body limit,
--             the status rule, JSON parsing). A function gets event = { widget, url, method,
--             parameters (a map), body, content_type, kind, count (calls so far of that stub,
--             this one included) }; raising in it fails the case with its message.
--   live      true (default): a call no stub matches goes to the network (through url_map,
--             e.g. to twilio-run on loopback). false: it fails the case ("no stub for ...").
--   url_map   { [prefix] = replacement } for live calls, as `rivulet run --map-url`.
--   functions { ["ZH…"] = url }: a Run Function that names that function SID calls url (a
--             Studio export often has only the SID and an empty url), as `rivulet run
--             --map-function`; a stub by widget name still wins.
--   subflows, timezone, limits, auth_token, account_sid   engine options (subflow paths are
--             relative to the spec's folder, as `flow` is; account_sid and auth_token are
--             what Make HTTP Request's add_twilio_auth sends to Twilio's API).
--   skip      a reason (string), or a function(case) returning one or nil: the case is
--             reported as skipped.
--   script    the conversation, in order:
--               "> TEXT"                    the flow sends exactly TEXT
--               "< TEXT"                    the contact replies TEXT (on a call: the
--                                           caller's keys or words at a Gather, the message
--                                           at a Record; what the caller hears is "> TEXT")
--               { expect = "TEXT" }         as "> TEXT"; also { match = "^Lua pattern$" } or
--                                           function(body, msg) -> truthy | false, why.
--                                           Optional to =, from =, widget = check the message.
--               { reply = "TEXT", media_url = }
--               { timeout = true }          the waiting Send & Wait times out: the clock
--                                           jumps to its deadline. On a call: silence at a
--                                           Gather or a Record (its timeout; noAudio), or
--                                           no outcome before the wait's deadline
--               { hangup = true }           the caller hangs up (the call's status callback)
--               { event = "busy", outputs = {...}, widget = "NAME" }
--                                           the outside world decides the waiting widget's
--                                           outcome (a dialled party, a queue, Flex, a
--                                           payment, an outgoing call, a TwiML Redirect's
--                                           return…); outputs default to what the real one
--                                           hands back; widget checks which widget waits
--               { advance = SECONDS }       simulated time passes (timers due fire)
--               { state = "NAME" }, { context = {...} }, { path = {...} }, { status = },
--               { reasons = {...} }:
--                                           the end expectations below, checked mid-script
--               { check = function(exec, engine) -> truthy | false, why }
--             Every message the flow sends must be expected, in order: one it sends that
--             the script does not expect, or one expected that never comes, fails the case.
--   status    at the end: "ended" (default: ended normally), "failed" (a guard or an
--             error stopped it) or "active" (still waiting).
--   state     the state the execution is in at the end (its last widget).
--   reason    the end reason: exact text, { match = "pattern" } or a function.
--   path      the states entered, in order (the trigger left out).
--   reasons   { get_num = "timeout" }: why each named widget failed, as its last step
--             records it (Studio keeps it out of the context: a failed call's outputs are an
--             empty map). A string, { match = }, a function or test.absent match the reason;
--             a table such as { reason = "http_status", note = { match = "500" } } matches the
--             reason and the note (the message for people) together.
--   context   { ["flow.variables.count"] = "3", ["widgets.get_num.parsed.number"] =
--             function(v) return v >= 1 and v <= 6 end, ["widgets.ask.inbound"] =
--             test.absent }: each key is a dotted path into the context; a value matches
--             by ==, a function by returning truthy, { match = "pattern" } by pattern, a
--             table when each of its keys matches (others may exist), test.absent when
--             nothing is there.
--
-- A spec may also have setup(spec) and teardown(spec), run once around its cases (setup
-- may change the spec's defaults, e.g. set url_map to a server it started); an error in
-- setup fails every case of the spec.
--
-- Coverage: run(..., { coverage = true }) (or a collector from test.coverage(), to add up
-- several specs) records every step of every execution the cases ran, subflows too.
-- collector:report() lists per flow the states entered and the transitions taken and
-- untested ("state -event-> next"; a transition is told apart by its state, event and next);
-- test.format_coverage(report) prints it and test.dot(report) draws it.

-- The parts, one job each (this file only ties them together and runs a spec's cases):
--   rivulet.test.spec      reading and checking a spec, the paths it names, case defaults
--   rivulet.test.case      running one case: the engine, the script's steps, expectations
--   rivulet.test.stub      the stubbing HTTP client a case gives the engine
--   rivulet.test.coverage  the coverage collector, its report as text and as DOT
--   rivulet.test.text      quoting, values in one line, line diffs, the failure report
--   rivulet.test.junit     JUnit XML

local core = require "rivulet.core"
local spec_mod = require "rivulet.test.spec"
local case = require "rivulet.test.case"
local coverage = require "rivulet.test.coverage"
local text = require "rivulet.test.text"
local junit = require "rivulet.test.junit"

local type, pairs, ipairs, tostring, error, pcall = type, pairs, ipairs, tostring, error, pcall
local format, find = string.format, string.find
local concat = table.concat
local DEFAULT_KEYS = spec_mod.DEFAULT_KEYS

local M = {}

M.DEFAULT_NOW = case.DEFAULT_NOW
M.CONTACT, M.CHANNEL = case.CONTACT, case.CHANNEL
M.absent = text.absent             -- the context expectation "nothing is there"

M.load = spec_mod.load             -- the spec table (or file) -> normalized spec | nil, err
M.normalize = spec_mod.normalize
M.show = text.show
M.line_diff = text.line_diff
M.format_failure = text.format_failure
-- "2024-05-01T09:30:00Z" / "2024-05-01 09:30" / "...+02:00" -> epoch seconds
M.parse_time = require("rivulet.time").parse
M.coverage = coverage.new
M.edge_text = coverage.edge_text
M.format_coverage = coverage.format_coverage
M.dot = coverage.dot
M.junit = junit.junit
M.xml_escape = junit.xml_escape

-- run(spec_or_path, options) -> results | nil, err
-- options: coverage (true or a collector from M.coverage()), live (false: no call goes to
-- the network), filter (a Lua pattern: only cases whose name matches), on_case(result)
-- (called as each case ends), name/dir (for a spec table: its name and folder for paths)
function M.run(spec, options)
  options = options or {}
  if type(options) ~= "table" then error("rivulet.test.run: options must be a table", 2) end
  local s, err = M.load(spec, options)
  if not s then return nil, err end
  local cov = options.coverage
  if cov == true then cov = M.coverage() end
  local ctx = { flows = {}, coverage = cov or nil, live = options.live }
  local results = { spec = s.name, passed = 0, failed = 0, skipped = 0, unreadable = 0, cases = {},
                    coverage = cov or nil }
  local t0 = core.now()
  if s.setup then
    local ok, e = pcall(s.setup, s.table)
    if not ok then s.setup_error = tostring(e) end
    -- setup may have set defaults (a server's url_map)
    for k, v in pairs(s.table) do if DEFAULT_KEYS[k] then s.defaults[k] = v end end
  end
  for _, c in ipairs(s.cases) do
    if not options.filter or find(c.name, options.filter) then
      local r = case.run(ctx, s, c)
      results.cases[#results.cases + 1] = r
      if r.skipped then results.skipped = results.skipped + 1
      elseif r.ok then results.passed = results.passed + 1
      else
        results.failed = results.failed + 1
        if r.unreadable then results.unreadable = results.unreadable + 1 end
      end
      if options.on_case then options.on_case(r) end
    end
  end
  if s.teardown then
    local ok, e = pcall(s.teardown, s.table)
    if not ok then results.teardown_error = tostring(e) end
  end
  results.time = core.now() - t0
  return results
end

-- run, raising the failure report when a case failed (for LuaUnit suites)
function M.check(spec, options)
  local r, err = M.run(spec, options)
  if not r then error(err, 2) end
  if r.failed > 0 then
    local parts = {}
    for _, c in ipairs(r.cases) do
      if not c.ok then parts[#parts + 1] = M.format_failure(c) end
    end
    parts[#parts + 1] = format("%d passed, %d failed", r.passed, r.failed)
    error(concat(parts, "\n"), 2)
  end
  return r
end

return M
