-- The bad-input catalogue (issue 7 §4): inputs the host must refuse cleanly, one table per
-- case, run by spec/test_bad_input.lua through the host binary in a fresh temp directory.
--
--   { name = "json/truncated/run",         -- unique; the LuaUnit test name is made from it
--     files = { ["f.json"] = text | function() return text end },   -- written first
--     args = { "run", "{dir}/f.json", ... },  -- "{dir}" is the temp directory
--     stdin = text, env = { K = V },          -- optional
--     code = 2,                               -- expected exit status
--     has = { "f.json", "line 1, column 13" },-- plain substrings of stdout..stderr ("{dir}" too)
--     lacks = { "SECRET" },                   -- plain substrings that must not appear
--     log = "{dir}/log.json",                 -- optional: a file whose text `lacks` checks too
--     untouched = "{dir}/s.db",               -- optional: a file that must be byte for byte as it was
--     fsize = 65536,                          -- optional: no file may grow past this (prlimit),
--                                             --   a write past it is an I/O error (EFBIG)
--     seconds = 5 }                           -- the run is killed (and fails) after this
--
-- Every case also checks: no signal, no Lua traceback, no "internal error". Big inputs are
-- generated here, at test time. Exit statuses follow each command's contract: 2 for input
-- that cannot be loaded (every command) and, for `run`, a flow with validation errors;
-- `validate` keeps 1 for "the flow loads but has errors" (documented, spec/test_validate).
-- HTTP redirects to other schemes are in spec/test_http.lua (not repeated here).

local json = require "rivulet.json"
local widgets = require "rivulet.widgets"

local format, rep = string.format, string.rep

local cases = {}
local function add(c) cases[#cases + 1] = c end

local TOKEN = "tok3nS3CRETf00dcafe"

-- ---- flow builders ---------------------------------------------------------------------

local function tr(event, nx) return { event = event, next = nx } end

local function trigger(nx)
  return { name = "Trigger", type = "trigger", properties = { offset = { x = 0, y = 0 } },
           transitions = { tr("incomingMessage", nx), tr("incomingCall"), tr("incomingRequest") } }
end

local function send(name, body, nx)
  return { name = name, type = "send-message", properties = { body = body },
           transitions = { tr("sent", nx), tr("failed", nx) } }
end

-- Trigger -> states[1] -> ...
local function flow(...)
  local states = { ... }
  local list = { trigger(states[1] and states[1].name) }
  for _, s in ipairs(states) do list[#list + 1] = s end
  return { description = "bad input", initial_state = "Trigger",
           flags = { allow_concurrent_calls = true }, states = list }
end

local function enc(t) return assert(json.encode(t)) end

local GOOD = enc(flow(send("hello", "Hi")))

-- ---- 1. malformed JSON, through run, validate and graph --------------------------------

local MALFORMED = {
  { "truncated", '{"states": [', { "invalid JSON", "the end of the file", "line 1, column 13" } },
  { "trailing_comma_object", '{\n  "description": "x",\n}', { "invalid JSON", "'}'", "line 3, column 1" } },
  { "trailing_comma_array", '{"states": [1,]}', { "invalid JSON", "']'", "line 1, column 15" } },
  { "bad_escape", '{"description": "a\\qb"}', { "invalid JSON", "escape", "line 1" } },
  { "bad_unicode_escape", '{"description": "\\u12G4"}', { "invalid JSON", "unicode escape", "line 1" } },
  { "single_quotes", "{'states': []}", { "invalid JSON", "line 1, column 2" } },
  { "unquoted_key", "{states: []}", { "invalid JSON", "line 1, column 2" } },
  { "comment", "// a flow\n{}", { "invalid JSON", "line 1, column 1" } },
  { "empty_file", "", { "invalid JSON", "the end of the file", "line 1, column 1" } },
  { "whitespace_only", "  \n\t\n", { "invalid JSON", "the end of the file", "line 3" } },
  { "two_documents", GOOD .. "\n{}", { "invalid JSON", "line 2, column 1" } },
  { "nan", '{"description": NaN, "states": []}', { "invalid JSON", "line 1, column 17" } },
  { "top_level_number", "42", { "#: a flow must be a JSON object", "not a number" } },
  { "top_level_string", '"flow"', { "#: a flow must be a JSON object", "not a string" } },
  { "top_level_null", "null", { "#: a flow must be a JSON object", "not null" } },
  { "top_level_true", "true", { "#: a flow must be a JSON object", "not a boolean" } },
  { "top_level_array", "[1, 2]", { "#: a flow must be a JSON object", "not an array" } },
  { "states_not_a_list", '{"initial_state": "T", "states": 5}', { "#/states", "must be an array" } },
  { "deep_arrays_100000", function() return rep("[", 100000) .. rep("]", 100000) end,
    { "invalid JSON", "too many nested", "line 1, column 65" } },
  { "deep_objects_100000", function() return rep('{"a":', 100000) .. "1" .. rep("}", 100000) end,
    { "invalid JSON", "too many nested" } },
  { "deep_in_a_property", function()
      return (GOOD:gsub('"body":"Hi"', '"body":' .. rep("[", 70) .. rep("]", 70)))
    end, { "invalid JSON", "too many nested" } },
  { "nul_byte_between_tokens", '{"states":\0[]}', { "invalid JSON", "line 1, column 11" } },
  { "nul_byte_in_a_string", '{"description": "a\0b", "states": []}', { "invalid JSON", "line 1" } },
}
for _, m in ipairs(MALFORMED) do
  for _, cmd in ipairs({ "run", "validate", "graph" }) do
    local has = { "f.json" }
    for _, h in ipairs(m[3]) do has[#has + 1] = h end
    add{ name = format("json/%s/%s", m[1], cmd), files = { ["f.json"] = m[2] },
         args = { cmd, "{dir}/f.json" }, code = 2, has = has }
  end
end

-- a byte order mark is not an error: the flow loads
for _, cmd in ipairs({ "validate", "graph" }) do
  add{ name = "json/bom_is_accepted/" .. cmd, files = { ["f.json"] = "\239\187\191" .. GOOD },
       args = { cmd, "{dir}/f.json" }, code = 0, has = { cmd == "graph" and "digraph" or "0 errors" } }
end
add{ name = "json/bom_is_accepted/run", files = { ["f.json"] = "\239\187\191" .. GOOD },
     args = { "run", "{dir}/f.json" }, code = 0, has = { "> Hi" } }

-- invalid UTF-8 inside a string is bytes, not an error: the message goes out as is
add{ name = "json/invalid_utf8_in_body/run", files = { ["f.json"] = enc(flow(send("hello", "x\255\254y"))) },
     args = { "run", "{dir}/f.json" }, code = 0, has = { "> x\255\254y" } }

add{ name = "file/missing/run", args = { "run", "{dir}/nope.json" }, code = 2,
     has = { "nope.json", "No such file" } }
add{ name = "file/missing/validate", args = { "validate", "{dir}/nope.json" }, code = 2,
     has = { "nope.json", "No such file" } }
add{ name = "file/missing/graph", args = { "graph", "{dir}/nope.json" }, code = 2,
     has = { "nope.json", "No such file" } }
add{ name = "file/directory/validate", args = { "validate", "{dir}" }, code = 2,
     has = { "error", "Is a directory" } }

-- ---- 2. Lua flow files ------------------------------------------------------------------

local LUA = {
  { "error_string", 'error("boom")', { "f.lua:1: boom" } },
  { "error_table", "error({})", { "f.lua", "not a string (table)" } },
  { "error_nil", "error(nil)", { "f.lua", "not a string (nil)" } },
  { "endless_loop", "while true do end", { "f.lua", "instruction budget exceeded" } },
  { "endless_loop_under_pcall", "while true do pcall(function() while true do end end) end",
    { "f.lua", "instruction budget exceeded" } },
  { "returns_number", "return 42", { "f.lua", "must return a table, not number" } },
  { "returns_nothing", "local x = 1", { "f.lua", "must return a table, not nil" } },
  { "returns_function", "return function() end", { "f.lua", "must return a table, not function" } },
  { "syntax_error", "return {", { "f.lua:1:", "near <eof>" } },
  { "require_is_not_there", 'require "os"', { "f.lua:1:", "require" } },
  { "io_is_not_there", 'io.open("/etc/passwd")', { "f.lua:1:", "io" } },
  { "os_exit_is_not_there", "os.exit(0)", { "f.lua:1:", "exit" } },
  { "global_assignment", "x = 1 return {}", { "f.lua:1:", "assignment to global 'x'" } },
  { "binary_chunk", function() return string.dump(function() return {} end) end,
    { "f.lua", "binary" } },
  { "nul_byte_in_source", "return {\0}", { "f.lua" } },
  { "state_not_a_table", 'return { "Trigger" }', { "f.lua", "state 1 must be a table" } },
}
for _, l in ipairs(LUA) do
  for _, cmd in ipairs({ "run", "validate" }) do
    add{ name = format("lua/%s/%s", l[1], cmd), files = { ["f.lua"] = l[2] },
         args = { cmd, "{dir}/f.lua" }, code = 2, has = l[3] }
  end
end
add{ name = "lua/endless_loop/graph", files = { ["f.lua"] = "while true do end" },
     args = { "graph", "{dir}/f.lua" }, code = 2, has = { "f.lua", "instruction budget exceeded" } }
-- the file's table reaches the host as data: its metatable stays behind, so a metamethod
-- never runs there (this one would raise), and the flow is what the table holds: nothing
local META = 'return setmetatable({}, {__index = function() error("meta") end})'
for _, cmd in ipairs({ "run", "validate", "graph" }) do
  add{ name = "lua/metamethod_stays_behind/" .. cmd, files = { ["f.lua"] = META },
       args = { cmd, "{dir}/f.lua" }, code = cmd == "validate" and 1 or (cmd == "graph" and 0 or 2),
       has = { cmd == "graph" and "digraph" or "a flow needs at least one state" }, lacks = { "f.lua:1: meta" } }
end

-- ---- 3. wrongly typed properties, every widget type, through run (validated first) ------

-- a value that fails a "string|integer"-style spec
local WRONG = {
  { "number", 12.5, { string = true, number = true } },
  { "object", { a = { 1 } }, { object = true } },
  { "boolean", true, { boolean = true } },
}

-- transitions that satisfy the widget (every event, ending)
local function ending(w)
  local out = {}
  for _, ev in ipairs(w.events or { "next" }) do out[#out + 1] = tr(ev) end
  if #out == 0 then out[1] = tr("next") end
  return out
end

local types = {}
for t in pairs(widgets.TYPES) do types[#types + 1] = t end
table.sort(types)
for _, t in ipairs(types) do
  local w = widgets.get(t)
  local keys = {}
  for k in pairs(w.properties or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  if t ~= "trigger" and #keys > 0 then
    -- one state per property, each with that property wrong (twice: two kinds of wrong)
    for round = 1, 2 do
      local states, has = {}, { "f.json" }
      for _, key in ipairs(keys) do
        local ok = {}
        for s in w.properties[key]:gmatch("[^|]+") do ok[s] = true end
        if ok.integer then ok.number = true end
        local wrong, n = nil, 0
        for _, bad in ipairs(WRONG) do
          local allowed = false
          for k in pairs(bad[3]) do if ok[k] then allowed = true end end
          if not allowed then
            n = n + 1
            if n == round or (round == 2 and wrong == nil) then wrong = bad end
          end
        end
        local st = { name = "w_" .. key, type = t, properties = {}, transitions = ending(w) }
        for _, r in ipairs(w.required or {}) do st.properties[r] = "x" end
        st.properties[key] = wrong[2]
        states[#states + 1] = st
        local i = #states
        for _, h in ipairs({ format("#/states/%d/properties/%s: error: 'w_%s' (%s): property '%s' must be",
                                    i, key, key, t, key) }) do has[#has + 1] = h end
      end
      add{ name = format("type/%s/%d", t, round),
           files = { ["f.json"] = function() return enc(flow(table.unpack(states))) end },
           args = { round == 1 and "run" or "validate", "{dir}/f.json" }, code = round == 1 and 2 or 1,
           has = has }
    end
  end
  if t ~= "trigger" then
    -- every required property, missing
    for _, r in ipairs(w.required or {}) do
      local st = { name = "needs_" .. r, type = t, properties = {}, transitions = ending(w) }
      for _, o in ipairs(w.required) do if o ~= r then st.properties[o] = "x" end end
      if next(st.properties) == nil then st.properties.offset = { x = 0, y = 0 } end
      add{ name = format("required/%s/%s", t, r),
           files = { ["f.json"] = function() return enc(flow(st)) end },
           args = { "run", "{dir}/f.json" }, code = 2,
           has = { "#/states/1/properties/" .. r, "'needs_" .. r .. "'",
                   "missing required property '" .. r .. "'" } }
    end
  end
end

-- ---- 4. the flow's shape ------------------------------------------------------------------

local SHAPE = {
  { "unknown_widget_type", function()
      return enc(flow({ name = "odd", type = "send-carrier-pigeon", properties = {},
                        transitions = { tr("next") } }))
    end, { "#/states/1/type", "unknown widget type 'send-carrier-pigeon'", "'odd'" } },
  { "type_not_a_string", function()
      return enc(flow({ name = "odd", type = 7, properties = {}, transitions = { tr("next") } }))
    end, { "#/states/1/type", "'odd'", "must be a string" } },
  { "next_names_no_state", function() return enc(flow(send("hello", "Hi", "nowhere"))) end,
    { "#/states/1/transitions/0/next", "nowhere" } },
  { "duplicate_state_names", function()
      return enc(flow(send("hello", "Hi", "hello2"), { name = "hello2", type = "send-message",
        properties = { body = "a" }, transitions = { tr("sent"), tr("failed") } },
        send("hello2", "b")))
    end, { "#/states/3/name", "hello2" } },
  { "initial_state_names_no_state", function()
      local f = flow(send("hello", "Hi")); f.initial_state = "Nope"; return enc(f)
    end, { "#/initial_state", "'Nope' names no state" } },
  { "initial_state_missing", function()
      local f = flow(send("hello", "Hi")); f.initial_state = nil; return enc(f)
    end, { "#/initial_state", "missing" } },
  { "no_states", '{"initial_state": "Trigger", "states": []}', { "#/states", "at least one state" } },
  { "state_not_an_object", '{"initial_state": "Trigger", "states": [5]}',
    { "#/states/0", "a state must be an object, not" } },
  { "name_not_a_string", function()
      local f = flow(send("hello", "Hi")); f.states[2].name = { 1 }; return enc(f)
    end, { "#/states/1", "name must be a string" } },
  { "transitions_not_a_list", function()
      local f = flow(send("hello", "Hi")); f.states[2].transitions = "sent"; return enc(f)
    end, { "#/states/1/transitions", "'hello'", "must be a list" } },
  { "properties_not_an_object", function()
      local f = flow(send("hello", "Hi")); f.states[2].properties = "Hi"; return enc(f)
    end, { "#/states/1/properties", "'hello'", "must be an object" } },
  { "unknown_event", function()
      local f = flow(send("hello", "Hi")); f.states[2].transitions[3] = tr("exploded"); return enc(f)
    end, { "#/states/1/transitions/2", "'hello'", "exploded" } },
  { "ten_thousand_states", function()
      local states = {}
      for i = 1, 10000 do states[i] = send("s" .. i, "n" .. i, i < 10000 and ("s" .. (i + 1)) or nil) end
      return enc(flow(table.unpack(states)))
    end, { "#/states", "10001 states", "at most 1000" } },
}
for _, s in ipairs(SHAPE) do
  add{ name = format("shape/%s/run", s[1]), files = { ["f.json"] = s[2] },
       args = { "run", "{dir}/f.json" }, code = 2, has = s[3] }
  add{ name = format("shape/%s/validate", s[1]), files = { ["f.json"] = s[2] },
       args = { "validate", "{dir}/f.json" }, code = 1, has = s[3] }
end
add{ name = "shape/ten_thousand_states/graph", seconds = 5,
     files = { ["f.json"] = SHAPE[#SHAPE][2] }, args = { "graph", "{dir}/f.json" }, code = 0,
     has = { '"s10000"' } }

-- a loop with no exit: validate warns (exit 0: Studio publishes such flows), run stops it
-- at the engine's step guard (exit 1: the execution failed)
local function loop_flow()
  local a = { name = "a", type = "set-variables", properties = { variables = { { key = "n", value = "1" } } },
              transitions = { tr("next", "b") } }
  local b = { name = "b", type = "set-variables", properties = { variables = { { key = "n", value = "2" } } },
              transitions = { tr("next", "a") } }
  return enc(flow(a, b))
end
add{ name = "loop/no_exit/validate", files = { ["f.json"] = loop_flow }, args = { "validate", "{dir}/f.json" },
     code = 0, has = { "#/states/1", "warning", "'a' is in a loop with no exit", "a, b" } }
add{ name = "loop/no_exit/run", files = { ["f.json"] = loop_flow }, args = { "run", "{dir}/f.json" },
     code = 1, has = { "ended: more than 1000 steps" } }

-- ---- 5. Liquid: huge and deeply nested ----------------------------------------------------

local function deep_liquid()
  return enc(flow(send("m", rep("{% if true %}", 20000) .. rep("{% endif %}", 20000))))
end
add{ name = "liquid/nested_20000/validate", files = { ["f.json"] = deep_liquid },
     args = { "validate", "{dir}/f.json" }, code = 0,
     has = { "#/states/1/properties/body", "warning", "nesting too deep" } }
add{ name = "liquid/nested_20000/run", files = { ["f.json"] = deep_liquid },
     args = { "run", "{dir}/f.json" }, code = 0, has = { "'m' ended the flow on 'failed'" } }
add{ name = "liquid/huge_200000_outputs/run",
     files = { ["f.json"] = function() return enc(flow(send("m", rep("{{ trigger.message.Body }}", 200000)))) end },
     args = { "run", "{dir}/f.json", "--body", "x" }, code = 0, has = { "'m' ended the flow on 'failed'" } }
add{ name = "liquid/unclosed_output/validate", files = { ["f.json"] = function() return enc(flow(send("m", "Hi {{ flow.x"))) end },
     args = { "validate", "{dir}/f.json" }, code = 0, has = { "#/states/1/properties/body", "warning", "Liquid syntax error" } }

-- ---- 6. messages (--reply, --replies, stdin) ------------------------------------------------

local function waiter()
  return enc(flow({ name = "ask", type = "send-and-wait-for-reply", properties = { body = "Say?", timeout = "60" },
                    transitions = { tr("incomingMessage", "echo"), tr("timeout"), tr("deliveryFailure") } },
                  send("echo", "got {{widgets.ask.inbound.Body | size}}")))
end
add{ name = "reply/invalid_utf8", files = { ["f.json"] = waiter },
     args = { "run", "{dir}/f.json", "--reply", "\255\254\253" }, code = 0, has = { "> got 3" } }
add{ name = "reply/nul_bytes_on_stdin", files = { ["f.json"] = waiter },
     args = { "run", "{dir}/f.json" }, stdin = "a\0b\0c\n", code = 0, has = { "> got 5" } }
add{ name = "reply/one_megabyte_on_stdin", files = { ["f.json"] = waiter },
     args = { "run", "{dir}/f.json" }, stdin = rep("y", 1000000) .. "\n", code = 0, has = { "> got 1000000" } }
add{ name = "reply/replies_file_missing", files = { ["f.json"] = waiter },
     args = { "run", "{dir}/f.json", "--replies", "{dir}/no-replies.txt" }, code = 2,
     has = { "--replies", "no-replies.txt" } }
add{ name = "reply/replies_file_is_a_directory", files = { ["f.json"] = waiter },
     args = { "run", "{dir}/f.json", "--replies", "{dir}" }, code = 2, has = { "--replies" } }
add{ name = "args/unknown_trigger", files = { ["f.json"] = GOOD },
     args = { "run", "{dir}/f.json", "--trigger", "incomingPigeon" }, code = 2, has = { "incomingPigeon" } }
add{ name = "args/bad_param", files = { ["f.json"] = GOOD },
     args = { "run", "{dir}/f.json", "--param", "novalue" }, code = 2, has = { "--param", "novalue" } }

-- ---- 7. function replies, through `rivulet test` stubs (rivulet.http.simulate) ----------

local FN = "https://example-1.twil.io/fn"
local function fn_flow()
  return enc(flow({ name = "fn", type = "run-function", properties = { url = FN },
                    transitions = { tr("success", "ok"), tr("fail", "bad") } },
                  send("ok", "ok {{widgets.fn.body | size}}"),
                  send("bad", "fail {{widgets.fn.status_code}}")))
end
local function fn_spec(stub, script)
  return format("return { flow = (...):match('^(.*)/') .. '/f.json', live = false,\n" ..
                "  stubs = { fn = %s },\n  cases = { { name = 'reply', script = { %q } } } }\n",
                stub, script)
end
local FN_REPLIES = {
  -- no reply taken: Studio's empty output map, so status_code renders empty (not 0)
  { "enormous_body", "{ status = 200, body = string.rep('z', 20 * 1024 * 1024) }", "> fail " },
  { "invalid_json", "{ status = 200, content_type = 'application/json', body = '{\"a\": ' }", "> ok 6" },
  { "nul_bytes", "{ status = 200, content_type = 'text/plain', body = 'a\\0b' }", "> ok 3" },
  { "invalid_utf8", "{ status = 200, content_type = 'text/plain', body = '\\255\\254' }", "> ok 2" },
  { "deep_json", "{ status = 200, content_type = 'application/json', body = string.rep('[', 100000) }", "> fail " },
  { "status_500", "{ status = 500, body = 'no' }", "> fail 500" },
}
for _, r in ipairs(FN_REPLIES) do
  add{ name = "function_reply/" .. r[1], seconds = 8,
       files = { ["f.json"] = fn_flow, ["x_spec.lua"] = fn_spec(r[2], r[3]) },
       args = { "test", "{dir}/x_spec.lua" }, code = 0, has = { "1 passed" } }
end

-- `rivulet test` with bad specs
local TEST = {
  { "spec_syntax_error", "return {", { "x_spec.lua" } },
  { "spec_returns_number", "return 5", { "x_spec.lua" } },
  { "spec_unknown_key", "return { flow = 'f.json', cases = {}, flwo = 1 }", { "x_spec.lua", "flwo" } },
  { "spec_flow_is_bad_json", "return { flow = (...):match('^(.*)/') .. '/bad.json', cases = { { name = 'c', script = {} } } }",
    { "bad.json", "invalid JSON", "line 1, column 13" } },
  { "spec_flow_missing", "return { flow = (...):match('^(.*)/') .. '/none.json', cases = { { name = 'c', script = {} } } }",
    { "none.json" } },
  { "spec_flow_lua_loops", "return { flow = (...):match('^(.*)/') .. '/loop.lua', cases = { { name = 'c', script = {} } } }",
    { "loop.lua", "instruction budget exceeded" } },
}
for _, t in ipairs(TEST) do
  add{ name = "test/" .. t[1], files = { ["x_spec.lua"] = t[2], ["bad.json"] = '{"states": [',
                                          ["loop.lua"] = "while true do end" },
       args = { "test", "{dir}/x_spec.lua" }, code = 2, has = t[3] }
end

-- ---- 8. URLs with other schemes (redirects to them: spec/test_http.lua) ------------------

local function url_flow(kind, url)
  local st
  if kind == "http" then
    st = { name = "call", type = "make-http-request", properties = { url = url, method = "GET" },
           transitions = { tr("success", "ok"), tr("failed") } }
  else
    st = { name = "call", type = "run-function", properties = { url = url },
           transitions = { tr("success", "ok"), tr("fail") } }
  end
  return enc(flow(st, send("ok", "ok")))
end
-- why the call failed is the step's (Studio keeps it out of the outputs): the closing line
-- of a flow that ends on the failure says it
for _, u in ipairs({ { "file", "file:///etc/passwd" }, { "gopher", "gopher://127.0.0.1:70/1" },
                     { "ftp", "ftp://127.0.0.1/x" }, { "data", "data:text/plain,hi", "(not a valid URL: data:" } }) do
  for _, kind in ipairs({ "http", "function" }) do
    add{ name = format("url/%s/%s", u[1], kind), files = { ["f.json"] = function() return url_flow(kind, u[2]) end },
         args = { "run", "{dir}/f.json" }, code = 0,
         has = { "'call' ended the flow on 'fail",
                 u[3] or ("(only http and https URLs are allowed, not " .. u[1]) }, lacks = { "root:" } }
  end
end

-- ---- 9. the auth token never shows -------------------------------------------------------

local function token_flow()
  return enc(flow({ name = "call", type = "make-http-request",
                    properties = { url = "http://127.0.0.1:1/" .. TOKEN .. "/x?t=" .. TOKEN, method = "GET",
                                   add_twilio_auth = true },
                    transitions = { tr("success", "say"), tr("failed", "say") } },
                  send("say", "url {{widgets.call.body}} token " .. TOKEN)))
end
add{ name = "token/url_and_message_and_log", files = { ["f.json"] = token_flow }, log = "{dir}/log.json",
     args = { "run", "{dir}/f.json", "--auth-token", TOKEN, "--log", "{dir}/log.json" }, code = 0,
     has = { "[auth token]" }, lacks = { TOKEN } }
add{ name = "token/from_the_environment", files = { ["f.json"] = token_flow }, log = "{dir}/log.json",
     env = { RIVULET_AUTH_TOKEN = TOKEN }, args = { "run", "{dir}/f.json", "--log", "{dir}/log.json" },
     code = 0, has = { "[auth token]" }, lacks = { TOKEN } }
add{ name = "token/in_a_usage_error", files = { ["f.json"] = GOOD },
     args = { "run", "{dir}/f.json", "--auth-token", TOKEN, "--map-url", TOKEN }, code = 2,
     has = { "--map-url" }, lacks = { TOKEN } }
add{ name = "token/in_an_unexpected_argument", env = { RIVULET_AUTH_TOKEN = TOKEN }, files = { ["f.json"] = GOOD },
     args = { "run", "{dir}/f.json", TOKEN }, code = 2, has = { "unexpected argument" }, lacks = { TOKEN } }
add{ name = "token/in_the_flow_file_name", env = { RIVULET_AUTH_TOKEN = TOKEN },
     args = { "run", "{dir}/" .. TOKEN .. ".json" }, code = 2, has = { "No such file" }, lacks = { TOKEN } }
add{ name = "token/in_a_flow_error", files = { ["f.lua"] = format("error(%q)", "leaked " .. TOKEN) },
     args = { "run", "{dir}/f.lua", "--auth-token=" .. TOKEN }, code = 2, has = { "leaked [auth token]" }, lacks = { TOKEN } }
add{ name = "token/in_a_validation_error", files = { ["f.json"] = function() return enc(flow(send("hello", "Hi", TOKEN))) end },
     args = { "run", "{dir}/f.json", "--auth-token", TOKEN }, code = 2, has = { "#/states/1/transitions" }, lacks = { TOKEN } }
add{ name = "token/in_a_reply", files = { ["f.json"] = waiter }, log = "{dir}/log.json",
     args = { "run", "{dir}/f.json", "--auth-token", TOKEN, "--reply", "my " .. TOKEN, "--log", "{dir}/log.json" },
     code = 0, has = { "< my [auth token]" }, lacks = { TOKEN } }

-- ---- 10. stores: files that are not a usable store, and the store commands' usage ----------
-- `untouched`: the store file is byte for byte what it was (or still absent) after the run.

local function sqlite_file(setup)
  return function()
    local core, store = require "rivulet.core", require "rivulet.store"
    local path = os.tmpname()
    os.remove(path)
    setup(path, core, store)
    local f = assert(io.open(path, "rb"))
    local bytes = f:read("a")
    f:close()
    os.remove(path)
    return bytes
  end
end
local BAD_STORES = {
  garbage = { rep("\0\1\2\255garbage", 500), "not a rivulet store" },
  text = { "a text file, not a store\n", "not a rivulet store" },
  foreign = { sqlite_file(function(p, core)
    local db = assert(core.sqlite_open(p))
    assert(db:exec("CREATE TABLE users (id INTEGER PRIMARY KEY)"))
    db:close()
  end), "another application" },
  newer = { sqlite_file(function(p, _, store)
    local st = assert(store.open(p))
    assert(st.db:exec("PRAGMA journal_mode = DELETE; PRAGMA user_version = 7"))
    st:close()
  end), "written by a newer rivulet (store schema 7" },
}
local WAITER = function() return waiter() end
for kind, b in pairs(BAD_STORES) do
  local files = { ["s.db"] = b[1], ["f.json"] = WAITER }
  add{ name = "store/" .. kind .. "/deliver", files = files, untouched = "{dir}/s.db",
       args = { "deliver", "--store", "{dir}/s.db", "--flow", "{dir}/f.json", "--from", "+1", "--to", "+2",
                "--body", "hi" }, code = 2, has = { "s.db: ", b[2] }, lacks = { "Your answer" } }
  add{ name = "store/" .. kind .. "/logs", files = files, untouched = "{dir}/s.db",
       args = { "logs", "--store", "{dir}/s.db" }, code = 2, has = { "s.db: ", b[2] } }
  add{ name = "store/" .. kind .. "/logs_sid", files = files, untouched = "{dir}/s.db",
       args = { "logs", "--store", "{dir}/s.db", "FN00000000000000000000000000000000" }, code = 2,
       has = { "s.db: ", b[2] } }
  add{ name = "store/" .. kind .. "/run", files = files, untouched = "{dir}/s.db",
       args = { "run", "{dir}/f.json", "--store", "{dir}/s.db", "--reply", "x" }, code = 2,
       has = { "s.db: ", b[2] }, lacks = { "Your answer" } }
end
-- a flow that cannot load: nothing is written, not even a new store
add{ name = "store/bad_flow_creates_no_store", files = { ["f.json"] = '{"states": [' }, untouched = "{dir}/s.db",
     args = { "deliver", "--store", "{dir}/s.db", "--flow", "{dir}/f.json", "--from", "+1", "--to", "+2",
              "--body", "hi" }, code = 2, has = { "f.json: invalid JSON" } }
add{ name = "store/invalid_flow_creates_no_store", untouched = "{dir}/s.db",
     files = { ["f.json"] = function() return enc(flow(send("hello", "Hi", "nowhere"))) end },
     args = { "deliver", "--store", "{dir}/s.db", "--flow", "{dir}/f.json", "--from", "+1", "--to", "+2",
              "--body", "hi" }, code = 2, has = { "#/states/1/transitions/0/next" } }
add{ name = "store/logs_of_a_missing_store", untouched = "{dir}/s.db", args = { "logs", "--store", "{dir}/s.db" },
     code = 2, has = { "s.db: unable to open database file" } }
add{ name = "store/logs_bad_status", args = { "logs", "--store", "{dir}/s.db", "--status", "done" }, code = 2,
     has = { "--status must be active, ended or failed, not 'done'" } }
add{ name = "store/logs_bad_since", args = { "logs", "--store", "{dir}/s.db", "--since", "last tuesday" }, code = 2,
     has = { "--since: 'last tuesday' is not a time" } }
add{ name = "store/logs_bad_limit", args = { "logs", "--store", "{dir}/s.db", "--limit", "-3" }, code = 2,
     has = { "--limit wants a count, not '-3'" } }
add{ name = "store/logs_sid_with_filters", args = { "logs", "--store", "{dir}/s.db", "FN1", "--status", "active" },
     code = 2, has = { "not with a SID" } }
add{ name = "store/logs_without_store", args = { "logs" }, code = 2, has = { "--store DB is required" } }
add{ name = "store/deliver_without_body", untouched = "{dir}/s.db", files = { ["f.json"] = GOOD },
     args = { "deliver", "--store", "{dir}/s.db", "--flow", "{dir}/f.json", "--from", "+1", "--to", "+2" },
     code = 2, has = { "--body is required" } }
add{ name = "store/deliver_bad_map_url", untouched = "{dir}/s.db", files = { ["f.json"] = GOOD },
     args = { "deliver", "--store", "{dir}/s.db", "--flow", "{dir}/f.json", "--from", "+1", "--to", "+2",
              "--body", "x", "--map-url", "nothing" }, code = 2, has = { "--map-url wants FROM=TO, got 'nothing'" } }
add{ name = "store/deliver_token_not_in_store", files = { ["f.json"] = WAITER }, store = "{dir}/s.db",
     args = { "deliver", "--store", "{dir}/s.db", "--flow", "{dir}/f.json", "--from", "+1", "--to", "+2",
              "--body", "my " .. TOKEN, "--auth-token", TOKEN }, code = 0, lacks = { TOKEN } }

-- ---- 11. the store's medium fails, and paths that are no store ------------------------------
-- A failure of the file or the disk is exit 1 with SQLite's message and the file named, and
-- nothing committed before it is lost (the store byte for byte as it was); a path that is
-- no store is exit 2. A disk that fills up for real (a tmpfs) and a read-only mount are in
-- spec/test_store.lua (they need a mount namespace).

-- a store holding one execution of f.json (the waiter flow, stored as the commands store
-- it: the text of the file), waiting for +1's reply
local function store_with(start)
  return sqlite_file(function(p)
    local rivulet = require "rivulet"
    local flow_file = p .. ".json"
    local f = assert(io.open(flow_file, "wb"))
    f:write(waiter())
    f:close()
    local e = assert(rivulet.engine{ store = p })
    assert(e:start(assert(rivulet.load_flow(flow_file)), start))
    e.store:close()
    os.remove(flow_file)
  end)
end
local waiting_store = store_with{ event = "incomingMessage", from = "+1", to = "+2", body = "hi" }
local BIG = rep("y", 100000)                    -- a reply whose step cannot fit under FSIZE
local FSIZE = 65536                             -- over the 32 KiB -shm, under the reply's WAL frames
local IO_FILES = { ["s.db"] = waiting_store, ["f.json"] = WAITER }
add{ name = "store/io_error/deliver_reply", files = IO_FILES, untouched = "{dir}/s.db", fsize = FSIZE,
     args = { "deliver", "--store", "{dir}/s.db", "--flow", "{dir}/f.json", "--from", "+1", "--to", "+2",
              "--body", BIG }, code = 1,
     has = { "rivulet deliver: {dir}/s.db: disk I/O error (the message was not taken; the store is as it was)" },
     lacks = { "> got" } }
add{ name = "store/io_error/deliver_start", files = IO_FILES, untouched = "{dir}/s.db", fsize = FSIZE,
     args = { "deliver", "--store", "{dir}/s.db", "--flow", "{dir}/f.json", "--from", "+3", "--to", "+2",
              "--body", BIG }, code = 1, has = { "{dir}/s.db: disk I/O error", "the message was not taken" } }
add{ name = "store/io_error/deliver_json", files = IO_FILES, untouched = "{dir}/s.db", fsize = FSIZE,
     args = { "deliver", "--store", "{dir}/s.db", "--flow", "{dir}/f.json", "--from", "+1", "--to", "+2",
              "--body", BIG, "--json" }, code = 1, has = { '"taken":false', '"reason":"ioerr"' } }
add{ name = "store/io_error/run_start", files = IO_FILES, untouched = "{dir}/s.db", fsize = FSIZE,
     args = { "run", "{dir}/f.json", "--store", "{dir}/s.db", "--from", "+3", "--body", BIG }, code = 1,
     has = { "rivulet run: {dir}/s.db: disk I/O error" }, lacks = { "Say?" } }
-- the start is saved, the reply's step is not: the execution stays waiting, as last saved
add{ name = "store/io_error/run_reply", files = IO_FILES, fsize = FSIZE,
     args = { "run", "{dir}/f.json", "--store", "{dir}/s.db", "--from", "+3", "--reply", BIG }, code = 1,
     has = { "> Say?", "rivulet run: {dir}/s.db: disk I/O error (execution FN", "stops at its last saved step;",
             "rivulet deliver --store {dir}/s.db --tick" }, lacks = { "> got" } }
-- paths that are no store: exit 2, nothing created
add{ name = "store/no_such_directory/deliver", files = { ["f.json"] = WAITER }, untouched = "{dir}/no/s.db",
     args = { "deliver", "--store", "{dir}/no/s.db", "--flow", "{dir}/f.json", "--from", "+1", "--to", "+2",
              "--body", "hi" }, code = 2,
     has = { "{dir}/no/s.db: unable to open database file (No such file or directory)" } }
add{ name = "store/no_such_directory/run", files = { ["f.json"] = WAITER }, untouched = "{dir}/no/s.db",
     args = { "run", "{dir}/f.json", "--store", "{dir}/no/s.db" }, code = 2,
     has = { "{dir}/no/s.db: unable to open database file" }, lacks = { "Say?" } }
for _, cmd in ipairs{ "deliver", "run", "logs" } do
  local args = { deliver = { "deliver", "--store", "{dir}", "--flow", "{dir}/f.json", "--from", "+1", "--to", "+2",
                             "--body", "hi" },
                 run = { "run", "{dir}/f.json", "--store", "{dir}" }, logs = { "logs", "--store", "{dir}" } }
  add{ name = "store/a_directory/" .. cmd, files = { ["f.json"] = WAITER }, args = args[cmd], code = 2,
       has = { "rivulet " .. cmd .. ": {dir}: not a rivulet store (a directory)" }, lacks = { "Say?" } }
end
-- invalid UTF-8 kept in the store (a contact, a body) is U+FFFD in JSON output, never raw
local binary_store = store_with{ event = "incomingMessage", from = "+1\255\192\128", to = "+2",
                                 body = "bin\254\237\160\128" }
add{ name = "store/invalid_utf8/logs_json", files = { ["s.db"] = binary_store },
     args = { "logs", "--store", "{dir}/s.db", "--json" }, code = 0,
     has = { '"contact":"+1\239\191\189\239\191\189\239\191\189"' }, lacks = { "\255", "\192", "\128" } }

return { cases = cases, TOKEN = TOKEN }
