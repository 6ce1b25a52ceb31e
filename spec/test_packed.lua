-- rivulet.packed: an execution at rest kept as one string, brought back as it was at the
-- first read or write; reads that leave it packed (its scalar fields, peek); strings that
-- do not decode; and the engine keeping its waiting executions so (a conversation goes the
-- same with and without packing, stale timers and restarts included).

local lu = require "luaunit"
local rivulet = require "rivulet"
local packed = require "rivulet.packed"
local json = require "rivulet.json"
local core = require "rivulet.core"
local sidlib = require "rivulet.sid"
local helper = require "spec.helper"
local engine_mod = require "rivulet.engine"

local FROM, TO = "+15550001111", "+15559990000"

local function flow()
  return rivulet.load_flow{
    { name = "Trigger", type = "trigger", on = { incomingMessage = "ask" } },
    { name = "ask", type = "send-and-wait-for-reply", body = "Hi {{contact.channel.address}}, yes or no?",
      timeout = "60", on = { incomingMessage = "said", timeout = false } },
    { name = "said", type = "send-message", body = "You said {{widgets.ask.inbound.Body}}" },
  }
end

-- a deep copy that keeps metatables, for comparing before and after
local function copy(v, seen)
  if type(v) ~= "table" then return v end
  seen = seen or {}
  if seen[v] then return seen[v] end
  local c = {}
  seen[v] = c
  for k, x in next, v do c[copy(k, seen)] = copy(x, seen) end
  return setmetatable(c, getmetatable(v))
end

-- every byte value, twice (a back reference to it too)
local ALL_BYTES = (function()
  local t = {}
  for i = 0, 255 do t[#t + 1] = string.char(i) end
  return table.concat(t)
end)()

-- an execution-shaped table holding every kind of value the codec keeps, at its edges
local function sample(f)
  local shared = { 1, 2, 3 }
  local obj = json.ordered({ "b", "a" }, { b = 1, a = 2 })
  local exec = {
    sid = sidlib.new("FN"), flow = f, status = "active", state = "ask", rev = 3, flow_sid = sidlib.new("FW"),
    wait = { kind = "reply", state = "ask", since = 1700000000.5, deadline = 1700003600.5, token = 7,
             props = f.by_name.ask.properties, data = { sid = sidlib.new("SM") } },
    started_at = 1700000000.25, repeats = 127, big = 128, small = -128, smaller = -129,
    huge = math.maxinteger, tiny = math.mininteger, float_one = 1.0, neg_zero = -0.0, inf = math.huge,
    nan = 0 / 0, yes = true, no = false, null = json.null,
    empty = {}, array = json.empty_array(), list = setmetatable({ "x", "y" }, core.array_mt), obj = obj,
    shared1 = shared, shared2 = shared,
    s0 = "", s3 = "abc", s4 = "abcd", again = "abcd", s255 = string.rep("x", 255), s256 = string.rep("y", 256),
    bytes = ALL_BYTES, bytes_again = ALL_BYTES, nul = "a\0b",
    sid_upper = "FN" .. string.rep("A", 32), sid_short = "FN" .. string.rep("a", 31),
    sid_long = "FN" .. string.rep("a", 33), sid_like = sidlib.new("SM"), sid_zero = "SM" .. string.rep("0", 32),
    props = f.by_name.ask.properties, transitions = f.by_name.ask.transitions,
    nested = { deeper = { deepest = "z", [1.5] = "float key", [true] = "boolean key", [-1] = "negative key" } },
    context = { widgets = { ask = { outbound = { Body = "Hi" } } }, flow = { variables = { n = "1" } } },
  }
  exec.by_table = { [shared] = "a table as a key" }
  exec.self = exec
  exec.cycle = { back = exec }
  return exec
end

-- whether two values are the same, NaN included, tables deep (metatables by identity)
local function same(a, b, seen)
  if a ~= a then return b ~= b end
  if type(a) ~= "table" or type(b) ~= "table" then
    return a == b and math.type(a) == math.type(b) and (a ~= 0 or 1 / a == 1 / b)
  end
  seen = seen or {}
  if seen[a] then return seen[a] == b end
  seen[a] = b
  if getmetatable(a) ~= getmetatable(b) and not (getmetatable(a) and getmetatable(b)
    and same(getmetatable(a).__keys, getmetatable(b).__keys, seen)) then return false end
  for k, v in next, a do
    if type(k) ~= "table" and not same(v, rawget(b, k), seen) then return false end
  end
  for k in next, b do
    if type(k) ~= "table" and rawget(a, k) == nil then return false end
  end
  return true
end

local function nfields(t)
  local n = 0
  for _ in next, t do n = n + 1 end
  return n
end

TestPacked = {}

function TestPacked.test_round_trip_keeps_values_types_sharing_and_metatables()
  local f = flow()
  local exec = sample(f)
  local want = copy(exec)
  local n = nfields(exec)
  local sid = exec.sid
  lu.assertTrue(packed.pack(exec))
  lu.assertTrue(packed.is_packed(exec))
  lu.assertEquals(nfields(exec), 2)                 -- the sid and the string
  lu.assertEquals(rawget(exec, "sid"), sid)
  lu.assertNil(rawget(exec, "state"))
  packed.unpack(exec)
  lu.assertFalse(packed.is_packed(exec))
  lu.assertNil(getmetatable(exec))
  lu.assertNil(rawget(exec, 1))
  lu.assertEquals(nfields(exec), n)
  for k, v in pairs(want) do
    if k ~= "self" and k ~= "cycle" and k ~= "flow" and k ~= "by_table" then
      lu.assertTrue(same(exec[k], v), k)
    end
  end
  lu.assertEquals(math.type(exec.float_one), "float")
  lu.assertEquals(math.type(exec.huge), "integer")
  lu.assertEquals(exec.tiny, math.mininteger)
  lu.assertEquals(1 / exec.neg_zero, -math.huge)
  lu.assertTrue(exec.nan ~= exec.nan)
  lu.assertIs(exec.null, json.null)
  lu.assertIs(getmetatable(exec.array), core.array_mt)
  lu.assertIs(getmetatable(exec.list), core.array_mt)
  lu.assertNil(getmetatable(exec.empty))
  lu.assertEquals(getmetatable(exec.obj).__keys, { "b", "a" })
  lu.assertEquals(#exec.bytes, 256)
  lu.assertEquals(exec.bytes, ALL_BYTES)
  lu.assertIs(exec.shared1, exec.shared2)
  lu.assertEquals(exec.by_table[exec.shared1], "a table as a key")
  lu.assertIs(exec.self, exec)
  lu.assertIs(exec.cycle.back, exec)
  lu.assertIs(exec.flow, f)
  lu.assertIs(exec.props, f.by_name.ask.properties)  -- the flow's own tables, not copies
  lu.assertIs(exec.wait.props, f.by_name.ask.properties)
  lu.assertIs(exec.transitions, f.by_name.ask.transitions)
end

function TestPacked.test_status_flow_and_scalar_fields_read_without_unpacking()
  local f = flow()
  local exec = sample(f)
  local sid, fsid = exec.sid, exec.flow_sid
  assert(packed.pack(exec))
  lu.assertEquals(exec.status, "active")
  lu.assertIs(exec.flow, f)
  lu.assertEquals(exec.sid, sid)
  lu.assertEquals(exec.state, "ask")
  lu.assertEquals(exec.rev, 3)
  lu.assertEquals(exec.flow_sid, fsid)
  lu.assertEquals(exec.started_at, 1700000000.25)
  lu.assertEquals(exec.repeats, 127)
  lu.assertNil(exec.parent_sid)
  lu.assertNil(exec.takeovers)
  lu.assertTrue(packed.is_packed(exec))
  -- a table (its reader may change it), or any field not in HEAD: unpacked for good
  local w = exec.wait
  lu.assertFalse(packed.is_packed(exec))
  w.token = 8
  lu.assertEquals(exec.wait.token, 8)
  exec.status = "active"
  assert(packed.pack(exec))
  lu.assertEquals(exec.s3, "abc")
  lu.assertFalse(packed.is_packed(exec))
end

function TestPacked.test_a_write_or_pairs_decodes_first()
  local f = flow()
  local exec = sample(f)
  local n = nfields(exec)
  assert(packed.pack(exec))
  exec.status = "ended"
  lu.assertFalse(packed.is_packed(exec))
  lu.assertEquals(exec.status, "ended")
  lu.assertEquals(exec.state, "ask")
  exec.status = "active"
  assert(packed.pack(exec))
  exec.state = "said"                                -- a HEAD field written: unpacked too
  lu.assertFalse(packed.is_packed(exec))
  lu.assertEquals(exec.state, "said")
  lu.assertEquals(exec.s4, "abcd")
  assert(packed.pack(exec))
  local seen = 0
  for _ in pairs(exec) do seen = seen + 1 end
  lu.assertFalse(packed.is_packed(exec))
  lu.assertEquals(seen, n)
end

function TestPacked.test_peek_reads_without_unpacking_and_gives_copies()
  local f = flow()
  local exec = sample(f)
  local sid = exec.sid
  assert(packed.pack(exec))
  local w, state, status, fl, s = packed.peek(exec, "wait", "state", "status", "flow", "sid")
  lu.assertEquals(w.kind, "reply")
  lu.assertEquals(w.token, 7)
  lu.assertIs(w.props, f.by_name.ask.properties)
  lu.assertEquals({ state, status, s }, { "ask", "active", sid })
  lu.assertIs(fl, f)
  local ctx, nested = packed.peek(exec, "context", "nested")   -- not in HEAD: all of it decoded
  lu.assertEquals(ctx.flow.variables.n, "1")
  lu.assertEquals(nested.deeper[1.5], "float key")
  local view = packed.peek(exec, "self")                        -- a copy stands for itself
  lu.assertIs(view.self, view)
  lu.assertIs(view.cycle.back, view)
  lu.assertTrue(packed.is_packed(exec))
  w.token, ctx.flow.variables.n = 99, "changed"                -- copies: the execution keeps its own
  lu.assertEquals(packed.peek(exec, "wait").token, 7)
  lu.assertEquals(exec.context.flow.variables.n, "1")
  lu.assertFalse(packed.is_packed(exec))
  -- an execution that is not packed: its own fields
  lu.assertIs(packed.peek(exec, "context"), exec.context)
  lu.assertEquals({ packed.peek(exec, "state", "rev") }, { "ask", 3 })
end

function TestPacked.test_what_cannot_be_packed_stays_as_it_was()
  local f = flow()
  for _, odd in ipairs{ function() end, setmetatable({}, { __index = {} }), io.stdout, coroutine.create(print),
                        setmetatable({}, { __keys = { "a" }, __index = {} }) } do
    local exec = sample(f)
    exec.odd = { inside = odd }
    local ok, why = packed.pack(exec)
    lu.assertFalse(ok)
    lu.assertStrContains(why, "cannot be encoded")
    lu.assertFalse(packed.is_packed(exec))
    lu.assertIs(exec.odd.inside, odd)
    lu.assertEquals(exec.state, "ask")
    lu.assertNil(rawget(exec, 1))
  end
  local exec = sample(f)
  exec.status = "ended"
  lu.assertEquals({ packed.pack(exec) }, { false, "not active" })
  exec.status = "active"
  assert(packed.pack(exec))
  lu.assertFalse(packed.pack(exec))                 -- packed already
  lu.assertFalse(packed.pack(setmetatable({ sid = "FN1", status = "active", flow = f }, {})))
  lu.assertFalse(packed.pack({ status = "active", flow = f }))
  lu.assertFalse(packed.pack({ sid = "FN1", status = "active" }))
end

function TestPacked.test_nesting_is_packed_up_to_max_depth()
  local f = flow()
  local function nest(n)                            -- n tables deep under the execution
    local t = { leaf = true }
    for _ = 2, n do t = { t } end
    return t
  end
  local exec = sample(f)
  exec.deep = nest(packed.MAX_DEPTH - 1)            -- the execution is depth 1
  assert(packed.pack(exec))
  local t, d = exec.deep, 1
  while t[1] do t, d = t[1], d + 1 end
  lu.assertEquals(d, packed.MAX_DEPTH - 1)
  lu.assertTrue(t.leaf)
  exec = sample(f)
  exec.deep = nest(packed.MAX_DEPTH)
  lu.assertFalse(packed.pack(exec))
  lu.assertFalse(packed.is_packed(exec))
end

function TestPacked.test_many_strings_and_tables_use_wider_indexes()
  local f = flow()
  local exec = sample(f)
  local list = {}
  for i = 1, 70000 do list[i] = "string " .. i end   -- back references past 255 and 65535
  exec.list = list
  exec.again = { list[1], list[300], list[70000] }
  exec.tables = {}
  for i = 1, 70000 do exec.tables[i] = { i } end      -- table references past 255 and 65535
  exec.refs = { exec.tables[1], exec.tables[300], exec.tables[70000] }
  local want = copy(exec)
  assert(packed.pack(exec))
  packed.unpack(exec)
  lu.assertEquals(exec.list, want.list)
  lu.assertEquals(exec.again, { "string 1", "string 300", "string 70000" })
  lu.assertIs(exec.refs[1], exec.tables[1])
  lu.assertIs(exec.refs[2], exec.tables[300])
  lu.assertIs(exec.refs[3], exec.tables[70000])
  lu.assertEquals(exec.tables[70000], { 70000 })
end

function TestPacked.test_sids_short_strings_and_back_references()
  local f = flow()
  -- (keys x and y are dictionary words: two bytes each)
  local function size(fields)
    local exec = { sid = "FN" .. string.rep("f", 32), flow = f, status = "active" }
    for k, v in pairs(fields) do exec[k] = v end
    assert(packed.pack(exec))
    local n = #rawget(exec, 1)
    packed.unpack(exec)
    for k, v in pairs(fields) do lu.assertEquals(exec[k], v, k) end
    return n
  end
  local empty = size{}
  local sid = "SM" .. string.rep("0123456789abcdef", 2)
  lu.assertEquals(size{ x = sid } - empty, 2 + 19)                      -- tag + 2 letters + 16 bytes
  lu.assertEquals(size{ x = sid:upper() } - empty, 2 + 2 + 34)          -- not a SID: as it is
  lu.assertEquals(size{ x = sid:sub(1, 33) } - empty, 2 + 2 + 33)
  -- a string of SREF_MIN bytes is a back reference the second time; a shorter one is not
  local long, short = string.rep("q", packed.SREF_MIN), string.rep("q", packed.SREF_MIN - 1)
  lu.assertEquals(size{ x = long, y = long } - empty, 2 * 2 + (2 + #long) + 2)
  lu.assertEquals(size{ x = short, y = short } - empty, 2 * 2 + 2 * (2 + #short))
  -- 255 bytes have a one-byte length, 256 a four-byte one
  lu.assertEquals(size{ x = string.rep("r", 255) } - empty, 2 + 2 + 255)
  lu.assertEquals(size{ x = string.rep("r", 256) } - empty, 2 + 5 + 256)
  -- integers from -128 to 127 take one byte, the others eight; floats eight
  lu.assertEquals(size{ x = 127 } - empty, 2 + 2)
  lu.assertEquals(size{ x = -128 } - empty, 2 + 2)
  lu.assertEquals(size{ x = 128 } - empty, 2 + 9)
  lu.assertEquals(size{ x = -129 } - empty, 2 + 9)
  lu.assertEquals(size{ x = 1.0 } - empty, 2 + 9)
end

function TestPacked.test_the_dictionary_learns_strings_met_in_other_executions()
  local f = flow()
  local function pack(text, own)
    local exec = { sid = sidlib.new("FN"), flow = f, status = "active", text = text, own = own }
    assert(packed.pack(exec))
    local n = #rawget(exec, 1)
    lu.assertEquals({ exec.text, exec.own }, { text, own })
    return n
  end
  -- LEARN_MIN bytes are learned, one fewer are not
  local at, under = string.rep("m", packed.LEARN_MIN), string.rep("n", packed.LEARN_MIN - 1)
  local first = pack(at, under)
  lu.assertEquals(pack(at, under), first - (2 + #at) + 2)       -- at: two bytes now; under: as it was
  -- LEARN_MAX_LEN bytes are learned, one more is not
  local top, over = string.rep("o", packed.LEARN_MAX_LEN), string.rep("p", packed.LEARN_MAX_LEN + 1)
  first = pack(top, over)
  lu.assertEquals(pack(top, over), first - (#top + 5) + 2)
  -- an execution packed again (its next wait) does not teach its own strings
  local exec = { sid = sidlib.new("FN"), flow = f, status = "active", own = "only mine, every time" }
  assert(packed.pack(exec))
  local n = #rawget(exec, 1)
  for _ = 1, 3 do
    packed.unpack(exec)
    assert(packed.pack(exec))
    lu.assertEquals(#rawget(exec, 1), n)
  end
end

function TestPacked.test_the_dictionary_stops_learning_at_its_limit()
  local f = flow()
  local function pack(text)
    local exec = { sid = sidlib.new("FN"), flow = f, status = "active", text = text }
    assert(packed.pack(exec))
    local n = #rawget(exec, 1)
    lu.assertEquals(exec.text, text)
    return n
  end
  local learned = 0
  for i = 1, packed.LEARN_MAX + 10 do
    local s = string.format("word %08d", i)
    local a = pack(s)
    if pack(s) < a then learned = learned + 1 end
  end
  lu.assertEquals(learned, packed.LEARN_MAX)
end

-- a packed string that does not decode: a clear error at every read, the execution still
-- packed, never something else
function TestPacked.test_a_string_that_does_not_decode_raises_a_clear_error()
  local f = flow()
  local exec = sample(f)
  exec.list = { "one", "two", "three", 1.5, 300 }
  assert(packed.pack(exec))
  local good = rawget(exec, 1)
  local function expect_error(str, what)
    rawset(exec, 1, str)
    local ok, err = pcall(packed.unpack, exec)
    lu.assertFalse(ok, what)
    lu.assertStrMatches(err, "rivulet%.packed: execution " .. exec.sid .. " does not decode: .*")
    lu.assertTrue(packed.is_packed(exec), what)
    lu.assertEquals(rawget(exec, 1), str)
    lu.assertEquals(nfields(exec), 2, what)
    local ok2, err2 = pcall(function() return exec.context end)    -- the same at the next read
    lu.assertFalse(ok2)
    lu.assertEquals(err2, err)
    return err
  end
  for len = 0, #good - 1 do expect_error(good:sub(1, len), "cut at " .. len) end
  lu.assertStrContains(expect_error(good .. "\0", "one byte more"), "trailing bytes")
  lu.assertStrContains(expect_error("\200" .. good:sub(2), "a bad tag"), "bad tag 200 at byte 1")
  lu.assertStrContains(expect_error(string.rep("\25", #packed.HEAD) .. "\8" .. string.pack("<I2", 60000) .. "\1\24",
    "a word past the dictionary"), "bad dictionary reference")
  lu.assertStrContains(expect_error(string.rep("\25", #packed.HEAD) .. "\13\9\1\24", "a table never seen"),
    "bad table reference")
  lu.assertStrContains(expect_error(string.rep("\25", #packed.HEAD) .. "\5\3ab", "a string cut short"),
    "truncated string")
  lu.assertStrContains(expect_error(string.rep("\25", #packed.HEAD) .. string.rep("\20", 200), "nested too deep"),
    "tables nested too deep")
  -- a scalar read of a bad string raises too
  rawset(exec, 1, "\200")
  lu.assertErrorMsgContains("does not decode", function() return exec.state end)
  lu.assertErrorMsgContains("does not decode", packed.peek, exec, "wait")
  -- every byte changed in turn, to a few values: decoded (into something) or a clear error
  local sid = exec.sid
  for i = 1, #good do
    for _, v in ipairs{ 0, 7, 20, 24, 25, 255 } do
      local bad = good:sub(1, i - 1) .. string.char(v) .. good:sub(i + 1)
      rawset(exec, 1, bad)
      local ok, err = pcall(packed.unpack, exec)
      if ok then
        lu.assertFalse(packed.is_packed(exec))
        for k in next, exec do exec[k] = nil end
        exec.sid, exec.flow, exec.status = sid, f, "active"
        assert(packed.pack(exec))
      else
        lu.assertStrContains(err, "does not decode", "byte " .. i .. " = " .. v)
        lu.assertTrue(packed.is_packed(exec))
      end
    end
  end
  rawset(exec, 1, good)
  lu.assertEquals(exec.list, { "one", "two", "three", 1.5, 300 })
end

-- compact: the integer keys it tries land on key 1's slot under both integer hashes Lua
-- 5.4 has had, for every size of hash part it covers
function TestPacked.test_compact_keys_share_key_1s_slot_at_every_size()
  local S = packed.SAME_SLOT
  for log2 = 0, 7 do
    local size = 1 << log2
    local odd = (size - 1) | 1
    for j = 1, packed.COMPACT_TRIES do
      local k = 1 + j * S
      lu.assertEquals(k % odd, 1 % odd, "5.4.4+, size " .. size)            -- hashmod
      lu.assertEquals(k & (size - 1), 1 & (size - 1), "5.4.0-3, size " .. size)  -- hashpow2
    end
  end
  lu.assertTrue(packed.COMPACT_TRIES >= 128)           -- a free slot used per try
  lu.assertTrue(1 + packed.COMPACT_TRIES * S < math.maxinteger)
end

-- and what it is for: the shell left is a table of a few slots, not the execution's 32
function TestPacked.test_a_packed_execution_keeps_a_small_table()
  local f = flow()
  local N = 200
  local hold, strings, sids = { execs = {} }, {}, {}
  for i = 1, N do
    local e = sample(f)
    for j = 1, 10 do e["extra" .. j] = j end        -- ~55 fields: a 64-slot hash part
    assert(packed.pack(e))
    hold.execs[i], strings[i], sids[i] = e, rawget(e, 1), rawget(e, "sid")
  end
  collectgarbage()
  collectgarbage()
  local with = collectgarbage("count") * 1024
  hold.execs = nil                                  -- the shells go; their strings and sids stay
  collectgarbage()
  collectgarbage()
  local without = collectgarbage("count") * 1024
  local per_shell = (with - without) / N
  lu.assertTrue(per_shell <= 200, string.format("%.1f bytes per packed execution's table", per_shell))
  lu.assertEquals(#strings + #sids, 2 * N)
  lu.assertNil(hold.execs)
end

-- ---- the engine ---------------------------------------------------------------------------

TestPackedEngine = {}

function TestPackedEngine:tearDown() helper.cleanup() end

function TestPackedEngine.test_a_waiting_execution_is_packed_and_resumes_as_before()
  local sent = {}
  local e = rivulet.engine{ pack_waiting = 0, on_message = function(_, m) sent[#sent + 1] = m end }
  local exec = assert(e:start(flow(), { from = FROM, to = TO, body = "hi" }))
  lu.assertTrue(packed.is_packed(exec))
  assert(e:deliver{ from = FROM, to = TO, body = "yes" })
  lu.assertEquals(exec.status, "ended")
  lu.assertEquals(sent[2].body, "You said yes")
  lu.assertEquals(exec.context.widgets.ask.outbound.Body, "Hi " .. FROM .. ", yes or no?")
  lu.assertEquals(#exec.steps, 3)
end

function TestPackedEngine.test_pack_waiting_false_keeps_tables()
  local e = rivulet.engine{ on_message = function() end, pack_waiting = false }
  local exec = assert(e:start(flow(), { from = FROM, to = TO, body = "hi" }))
  lu.assertFalse(packed.is_packed(exec))
  lu.assertEquals(exec.wait.kind, "reply")
end

local SURVEY = {
  description = "survey",
  { name = "Trigger", type = "trigger", on = { incomingMessage = "init" } },
  { name = "init", type = "set-variables", variables = { who = "{{trigger.message.Body}}", n = "1" },
    on = { next = "q1" } },
  { name = "q1", type = "send-and-wait-for-reply", body = "Hi {{flow.variables.who}}, how old are you?",
    timeout = "60", on = { incomingMessage = "check", timeout = "late" } },
  { name = "check", type = "split-based-on", input = "{{widgets.q1.inbound.Body}}",
    match = { { type = "less_than", value = "18", next = "young" } }, on = { noMatch = "count" } },
  { name = "count", type = "set-variables", variables = { n = "{{flow.variables.n | plus: 1}}" },
    on = { next = "q2" } },
  { name = "q2", type = "send-and-wait-for-reply",
    body = "Thanks {{flow.variables.who}} ({{widgets.q1.inbound.Body}}), question {{flow.variables.n}}: colour?",
    timeout = "600", on = { incomingMessage = "bye", timeout = "late" } },
  { name = "young", type = "send-message", body = "Too young, {{flow.variables.who}}" },
  { name = "bye", type = "send-message", body = "Bye {{flow.variables.who}}: {{widgets.q2.inbound.Body | upcase}}" },
  { name = "late", type = "send-message", body = "Too late after {{flow.variables.n}}" },
}

-- SIDs are random: each becomes the order it was first met in
local function normal(v, names)
  names = names or {}
  if type(v) == "string" and sidlib.valid(v) then
    if not names[v] then names.n = (names.n or 0) + 1 names[v] = "SID" .. names.n end
    return names[v]
  end
  if type(v) ~= "table" then return v end
  local c = {}
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do c[normal(k, names)] = normal(v[k], names) end
  return c
end

-- one conversation: `script` is a list of replies, or "timeout" (the clock moves past the
-- wait's deadline); -> the execution's record (normalized), the bodies sent, and whether
-- the execution was packed at the end
local function converse(pack, script)
  local now = 1000
  local sent = {}
  local e = rivulet.engine{ pack_waiting = pack and 0, now = function() return now end,
                            on_message = function(_, m) sent[#sent + 1] = m.body end }
  local exec = assert(e:start(rivulet.load_flow(SURVEY), { from = FROM, to = TO, body = "Ann" }))
  for _, r in ipairs(script) do
    lu.assertEquals(packed.is_packed(exec), pack ~= false)
    now = now + 30
    if r == "timeout" then
      now = now + 3600
      e:poll(0)
    else
      assert(e:deliver{ from = FROM, to = TO, body = r })
    end
  end
  local at_end = packed.is_packed(exec)
  return normal(engine_mod.record(exec)), sent, at_end
end

function TestPackedEngine.test_a_conversation_goes_the_same_packed_or_not()
  for _, script in ipairs{ { "30", "blue" }, { "12" }, { "40", "timeout" }, { "timeout" }, { "40" } } do
    local rec, sent, at_end = converse(true, script)
    local rec2, sent2, at_end2 = converse(false, script)
    lu.assertEquals(sent, sent2, table.concat(script, ","))
    lu.assertEquals(rec, rec2, table.concat(script, ","))
    lu.assertEquals(at_end, rec.status == "active")                  -- waiting: packed
    lu.assertFalse(at_end2)
  end
  local rec, sent = converse(true, { "30", "blue" })
  lu.assertEquals(sent, { "Hi Ann, how old are you?", "Thanks Ann (30), question 2: colour?", "Bye Ann: BLUE" })
  lu.assertEquals(rec.status, "ended")
  lu.assertEquals(#rec.steps, 7)
  lu.assertEquals(rec.context.flow.variables, { who = "Ann", n = 2 })
end

function TestPackedEngine.test_a_packed_execution_times_out()
  local now = 1000
  local e = rivulet.engine{ pack_waiting = 0, on_message = function() end, now = function() return now end }
  local exec = assert(e:start(flow(), { from = FROM, to = TO, body = "hi" }))
  lu.assertTrue(packed.is_packed(exec))
  lu.assertEquals(e:next_deadline(), 1060)
  lu.assertTrue(packed.is_packed(exec))            -- the timer was read, not the execution
  now = 1061
  e:poll(0)
  lu.assertEquals(exec.status, "ended")
  lu.assertEquals(exec.steps[#exec.steps].name, "timeout")
end

-- the timer of a wait that was answered stays on the heap until its time: reading it does
-- not unpack the execution waiting at its next question
function TestPackedEngine.test_a_stale_timer_leaves_the_next_wait_packed()
  local now = 1000
  local e = rivulet.engine{ pack_waiting = 0, on_message = function() end, now = function() return now end }
  local exec = assert(e:start(rivulet.load_flow(SURVEY), { from = FROM, to = TO, body = "Ann" }))
  now = 1010
  assert(e:deliver{ from = FROM, to = TO, body = "30" })     -- q1's timer (1060) is stale now
  lu.assertTrue(packed.is_packed(exec))
  lu.assertEquals(e:next_deadline(), 1610)                   -- q2's
  lu.assertTrue(packed.is_packed(exec))
  now = 1100
  lu.assertEquals(e:fire_timers(), 0)
  e:poll(0)
  lu.assertTrue(packed.is_packed(exec))
  lu.assertEquals(exec.state, "q2")
  now = 1611
  lu.assertEquals(e:fire_timers(), 1)
  lu.assertEquals(exec.status, "ended")
  lu.assertEquals(exec.steps[#exec.steps].transitioned_from, "late")
end

-- executions taken in from the store on open are packed too, and go on as before
function TestPackedEngine.test_executions_recovered_from_the_store_are_packed()
  local db = helper.tmpdir() .. "/store.db"
  local sent = {}
  local function on_message(_, m) sent[#sent + 1] = m.body end
  local a = assert(rivulet.engine{ pack_waiting = 0, store = db, on_message = on_message })
  local x = assert(a:start(rivulet.load_flow(SURVEY), { from = FROM, to = TO, body = "Ann" }))
  assert(a:deliver{ from = FROM, to = TO, body = "30" })
  a.store:close()
  local b = assert(rivulet.engine{ pack_waiting = 0, store = db, on_message = on_message })
  lu.assertEquals(b.resumed, 1)
  local y = b.active[x.sid]
  lu.assertTrue(packed.is_packed(y))
  lu.assertEquals(y.state, "q2")
  lu.assertTrue(packed.is_packed(y))
  assert(b:deliver{ from = FROM, to = TO, body = "red" })
  lu.assertEquals(y.status, "ended")
  lu.assertEquals(sent[#sent], "Bye Ann: RED")
  b.store:close()
end

-- a wait whose deadline passed while no process ran fires at once on open; the others rest
function TestPackedEngine.test_a_due_wait_fires_on_open_and_the_rest_are_packed()
  local db = helper.tmpdir() .. "/store.db"
  local now = 1000
  local clock = function() return now end
  local a = assert(rivulet.engine{ pack_waiting = 0, store = db, now = clock, on_message = function() end })
  local x = assert(a:start(rivulet.load_flow(SURVEY), { from = FROM, to = TO, body = "Ann" }))
  local y = assert(a:start(rivulet.load_flow(SURVEY), { from = "+15550002222", to = TO, body = "Bo" }))
  assert(a:deliver{ from = "+15550002222", to = TO, body = "30" })       -- y waits at q2 (until 1600)
  a.store:close()
  now = 1100                                                             -- x's q1 (1060) is due
  local b = assert(rivulet.engine{ pack_waiting = 0, store = db, now = clock, on_message = function() end })
  lu.assertEquals(b:execution(x.sid).status, "ended")
  local y2 = b.active[y.sid]
  lu.assertTrue(packed.is_packed(y2))
  lu.assertEquals(y2.state, "q2")
  b.store:close()
end

-- ---- when a wait is packed: after engine.PACK_IDLE_S of rest, by poll -----------------------

local LONG_WAIT = {
  { name = "Trigger", type = "trigger", on = { incomingMessage = "ask" } },
  { name = "ask", type = "send-and-wait-for-reply", body = "Name?", timeout = "3600",
    on = { incomingMessage = "again", timeout = false } },
  { name = "again", type = "send-and-wait-for-reply", body = "Hi {{widgets.ask.inbound.Body}}. Age?",
    timeout = "3600", on = { incomingMessage = "bye", timeout = false } },
  { name = "bye", type = "send-message", body = "Bye {{widgets.ask.inbound.Body}}, {{widgets.again.inbound.Body}}" },
}

local function idle_engine(opts)
  local clock = { now = 5000 }
  opts = opts or {}
  opts.now = function() return clock.now end
  local sent = {}
  opts.on_message = function(_, m) sent[#sent + 1] = m.body end
  return rivulet.engine(opts), clock, sent
end

function TestPackedEngine.test_a_wait_is_packed_once_it_has_rested_PACK_IDLE_S()
  local e, clock = idle_engine()
  local exec = assert(e:start(LONG_WAIT, { from = FROM, to = TO, body = "hi" }))
  e:poll(0)
  lu.assertFalse(packed.is_packed(exec), "a fresh wait stays a table")
  clock.now = clock.now + engine_mod.PACK_IDLE_S - 0.001
  e:poll(0)
  lu.assertFalse(packed.is_packed(exec), "just short of PACK_IDLE_S")
  clock.now = clock.now + 0.001
  e:poll(0)
  lu.assertTrue(packed.is_packed(exec), "at PACK_IDLE_S")
  lu.assertEquals(e.resting.tail, 0, "the queue is empty")
end

function TestPackedEngine.test_an_answer_before_PACK_IDLE_S_is_never_packed_and_the_next_wait_starts_anew()
  local e, clock, sent = idle_engine()
  local exec = assert(e:start(LONG_WAIT, { from = FROM, to = TO, body = "hi" }))
  clock.now = clock.now + engine_mod.PACK_IDLE_S / 2
  assert(e:deliver{ from = FROM, to = TO, body = "Ann" })
  lu.assertEquals(sent[#sent], "Hi Ann. Age?")
  -- the first wait's time is up, the second's is not: the queue drops the first
  clock.now = clock.now + engine_mod.PACK_IDLE_S / 2
  e:poll(0)
  lu.assertFalse(packed.is_packed(exec))
  clock.now = clock.now + engine_mod.PACK_IDLE_S / 2
  e:poll(0)
  lu.assertTrue(packed.is_packed(exec))
  assert(e:deliver{ from = FROM, to = TO, body = "40" })
  lu.assertEquals(sent[#sent], "Bye Ann, 40")
  lu.assertEquals(exec.status, "ended")
end

function TestPackedEngine.test_pack_waiting_sets_the_rest_false_never_packs()
  local e, clock = idle_engine{ pack_waiting = 5 }
  local exec = assert(e:start(LONG_WAIT, { from = FROM, to = TO, body = "hi" }))
  clock.now = clock.now + 5
  e:poll(0)
  lu.assertTrue(packed.is_packed(exec))
  local never, clock2 = idle_engine{ pack_waiting = false }
  local kept = assert(never:start(LONG_WAIT, { from = FROM, to = TO, body = "hi" }))
  clock2.now = clock2.now + 10 * engine_mod.PACK_IDLE_S
  never:poll(0)
  lu.assertFalse(packed.is_packed(kept))
  lu.assertEquals(never.resting.tail, 0, "nothing queued")
end

-- a poll packs for PACK_SLICE_MS at most: with its time already up, one execution a call
function TestPackedEngine.test_packing_stops_at_its_deadline_and_goes_on_next_time()
  local e, clock = idle_engine()
  local execs = {}
  for i = 1, 3 do
    execs[i] = assert(e:start(LONG_WAIT, { from = "+1555000000" .. i, to = TO, body = "hi" }))
  end
  clock.now = clock.now + engine_mod.PACK_IDLE_S
  e:pack_resting(0)
  lu.assertEquals({ packed.is_packed(execs[1]), packed.is_packed(execs[2]), packed.is_packed(execs[3]) },
                  { true, false, false })
  e:pack_resting(0)
  e:pack_resting(0)
  lu.assertTrue(packed.is_packed(execs[3]))
  lu.assertEquals(e.resting.tail, 0)
end

-- the queue does not keep an execution that ended before its time came (serve: a minute of
-- finished conversations would stay in memory): its references are weak
function TestPackedEngine.test_the_queue_does_not_hold_an_ended_execution()
  local e, clock = idle_engine{ keep_ended = false }
  local exec = assert(e:start(LONG_WAIT, { from = FROM, to = TO, body = "hi" }))
  assert(e:deliver{ from = FROM, to = TO, body = "Ann" })
  assert(e:deliver{ from = FROM, to = TO, body = "40" })
  lu.assertEquals(exec.status, "ended")
  lu.assertEquals(e.resting.tail, 2, "two waits queued")
  lu.assertEquals(getmetatable(e.resting.exec).__mode, "v")
  lu.assertEquals(getmetatable(e.resting.wait).__mode, "v")
  e.resting.exec[1], e.resting.wait[2] = nil, nil     -- as the collector leaves them
  clock.now = clock.now + engine_mod.PACK_IDLE_S
  e:poll(0)
  lu.assertEquals(e.resting.tail, 0, "the queue moved past them")
  lu.assertFalse(packed.is_packed(exec))
end

-- nothing in the engine holds an execution that ended (keep_ended = false): not the timer
-- its answered wait left on the heap (an hour, here), not the resting queue
function TestPackedEngine.test_an_ended_execution_is_not_held_by_its_timers()
  local e = idle_engine{ keep_ended = false }
  local exec = assert(e:start(LONG_WAIT, { from = FROM, to = TO, body = "hi" }))
  local weak = setmetatable({ exec }, { __mode = "v" })
  assert(e:deliver{ from = FROM, to = TO, body = "Ann" })
  assert(e:deliver{ from = FROM, to = TO, body = "40" })
  lu.assertEquals(exec.status, "ended")
  lu.assertEquals(e.timers.n, 2, "both waits' timers are still on the heap")
  exec = nil   -- luacheck: ignore 311
  collectgarbage()
  collectgarbage()
  lu.assertNil(weak[1], "nothing holds the ended execution")
  lu.assertNil(e:next_deadline(), "its dead timers go")
end
