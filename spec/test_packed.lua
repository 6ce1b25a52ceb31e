-- rivulet.packed: an execution at rest kept as one string, and the table it leaves behind.

local lu = require "luaunit"
local rivulet = require "rivulet"
local packed = require "rivulet.packed"
local json = require "rivulet.json"
local core = require "rivulet.core"
local sidlib = require "rivulet.sid"

local function flow()
  return rivulet.load_flow{
    { name = "Trigger", type = "trigger", on = { incomingMessage = "ask" } },
    { name = "ask", type = "send-and-wait-for-reply", body = "Hi {{contact.channel.address}}, yes or no?",
      timeout = "60", on = { incomingMessage = "said", timeout = false } },
    { name = "said", type = "send-message", body = "You said {{widgets.ask.inbound.Body}}" },
  }
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

TestPacked = {}

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
