-- rivulet.packed: an execution at rest (waiting for a reply, a call or an outcome) kept as
-- one string. Thousands of executions may wait for hours; as tables each holds ~4 KiB
-- (every trigger field, its steps and their snapshots, the wait's rendered properties),
-- encoded ~0.5 KiB. The execution stays the same table: it keeps its sid, and a
-- metatable brings the rest back, so no caller needs to know:
--
--   * status ("active": only an active execution is packed) and flow: answered at once;
--   * a field of HEAD holding no table (flow_sid, state, rev, ...): decoded from the front
--     of the string, which stays as it is (HEAD comes first in it);
--   * any other read, a write or pairs(): the execution is decoded in place for good (its
--     metatable gone), since whoever reads a table may change it.
--
--   packed.pack(exec) -> true | false, why   (false: not active, or something in it cannot
--                                             be encoded; it stays as it was)
--   packed.unpack(exec)                      decodes it in place (nothing when not packed)
--   packed.is_packed(exec)
--   packed.peek(exec, key...) -> values      exec[key]... without unpacking it: for a
--                                            packed one, tables are decoded copies, to
--                                            read only (the last copy is reused while the
--                                            execution stays as it is: a change to it
--                                            would show at the next peek, never in exec)
--
-- The encoding keeps what a Lua table can tell: integers apart from floats, tables shared
-- (or cyclic) as shared, json.null, the tables marked as arrays (core.array_mt) and JSON
-- objects' key order ({__keys = ...}), and the flow's own tables (a state's properties)
-- by identity. Anything else (a function, a userdata, another metatable, nesting deeper
-- than MAX_DEPTH) and the execution is not packed. Strings the flow or Twilio's fields hold
-- come from a per-flow dictionary (two bytes each), a string seen before in the same
-- execution is a back reference, and a SID (two letters and 32 hex digits) is its 16
-- bytes. A string that does not decode (only this module writes them, so: a bug, or memory
-- overwritten) raises "rivulet.packed: execution FN... does not decode: what, at byte N of
-- M" at every read, and leaves the execution packed as it was.

local core = require "rivulet.core"
local json = require "rivulet.json"
local trigger_widget = require "rivulet.widgets.trigger"

local type, pairs, ipairs, next, rawget, rawset, tonumber, tostring, getmetatable, setmetatable =
  type, pairs, ipairs, next, rawget, rawset, tonumber, tostring, getmetatable, setmetatable
local pcall, error, select, collectgarbage = pcall, error, select, collectgarbage
local char, byte, sub, find, format = string.char, string.byte, string.sub, string.find, string.format
local spack, sunpack, concat, mtype = string.pack, string.unpack, table.concat, math.type

local M = {}

local null, array_mt = json.null, core.array_mt

-- tags; those with a 1/2/4-byte index take three consecutive values
local T_FALSE, T_TRUE, T_INT1, T_INT, T_FLOAT, T_STR1, T_STR = 0, 1, 2, 3, 4, 5, 6
local T_DICT, T_SREF, T_TREF, T_FLOWT = 7, 10, 13, 16          -- +0 one byte, +1 two, +2 four
local T_SID, T_TABLE, T_ARRAY, T_KEYS, T_NULL, T_END, T_NIL = 19, 20, 21, 22, 23, 24, 25

-- strings shorter than this are not remembered for back references (one costs 2 bytes)
local SREF_MIN = 4
-- tables nested deeper than this (the execution is depth 1) are not packed; JSON replies
-- are at most json.MAX_DEPTH deep, and sit a few levels down in the context
local MAX_DEPTH = json.MAX_DEPTH + 16
M.SREF_MIN, M.MAX_DEPTH = SREF_MIN, MAX_DEPTH

-- The execution's fields that come first in the string, in this order (absent ones as
-- T_NIL), without their names: the ones read of a waiting execution without running it
-- (rivulet serve's answers and metrics, a delivery's revision check, the timers), so that
-- reading one decodes only what precedes it. The scalars first; the wait last.
local HEAD = { "parent_sid", "rev", "flow_sid", "flow_name", "state", "contact_key", "flow_version",
               "started_at", "updated_at", "initiated_by", "trigger_event", "last_state", "repeats",
               "takeovers", "wait" }
local HEAD_AT = {}
for i, k in ipairs(HEAD) do HEAD_AT[k] = i end
M.HEAD = HEAD
-- HEAD's fields a read answers from the front of the string: all but the wait (a table,
-- so reading it unpacks the execution anyway)
local SCALAR_AT = {}
for i, k in ipairs(HEAD) do if k ~= "wait" then SCALAR_AT[k] = i end end

-- The dictionary's fixed part: the names of the execution's own fields and of what Twilio
-- posts, and their usual values. Appending is fine; reordering changes no stored data
-- (packing lives only in memory), but keep it stable anyway.
local STATIC = {
  "sid", "flow_sid", "flow_version", "flow_name", "status", "state", "steps", "started_at", "repeats",
  "trigger_event", "initiated_by", "context", "contact_key", "last_state", "wait", "parent_sid", "rev",
  "takeovers", "updated_at", "trigger", "flow", "contact", "widgets", "channel", "address", "data",
  "variables", "message", "call", "conversation", "request", "parent", "parameters", "name", "type",
  "transitioned_from", "transitioned_to", "date_created", "reason", "note", "widget", "outputs", "http",
  "kind", "since", "deadline", "props", "token", "watch", "takes_reply", "early", "child", "outbound",
  "inbound", "active", "reply", "event", "subflow", "twiml", "Ended", "offset", "x", "y",
  "Body", "From", "To", "MessageSid", "SmsSid", "SmsMessageSid", "AccountSid", "NumMedia", "NumSegments",
  "SmsStatus", "ApiVersion", "FromCity", "FromState", "FromZip", "FromCountry", "ToCity", "ToState",
  "ToZip", "ToCountry", "Sid", "Status", "MediaUrl", "MediaUrl0", "Caller", "Called", "CallSid",
  "CallStatus", "Direction", "CallerCity", "CallerState", "CallerZip", "CallerCountry", "CalledCity",
  "CalledState", "CalledZip", "CalledCountry", "ringing", "received", "sent", "2010-04-01",
  "US", "", "0", "1", trigger_widget.DEFAULT_ACCOUNT, "stored_trigger",
}
for _, e in ipairs(trigger_widget.events) do STATIC[#STATIC + 1] = e end

-- ---- the per-flow dictionary -----------------------------------------------------------

-- flow -> {flow, words (index -> string), index (string -> index), tables (table -> index),
-- tlist (index -> table), mt (the packed executions' metatable)}; weak, so a flow nobody
-- runs goes (a packed execution holds its flow through its metatable)
local books = setmetatable({}, { __mode = "k" })

-- v, when of type `kind` and not there yet, gets the next number: list[n] = v, index[v] = n
local function number(list, index, v, kind)
  if type(v) == kind and not index[v] then
    local n = #list + 1
    list[n], index[v] = v, n
  end
end

local function add_word(b, s) number(b.words, b.index, s, "string") end
local function add_table(b, t) number(b.tlist, b.tables, t, "table") end

-- the strings of a state, and its tables (a widget's wait may keep one: it comes back as
-- the same table, not a copy)
local function add_strings(b, v, depth)
  if depth > 16 then return end                        -- a flow is data; stop on anything odd
  if type(v) == "string" then add_word(b, v)
  elseif type(v) == "table" then
    add_table(b, v)
    for k, x in pairs(v) do
      add_strings(b, k, depth + 1)
      add_strings(b, x, depth + 1)
    end
  end
end

-- Strings the flow does not hold but every execution has (a prompt rendered the same for
-- everyone, the flow's own number): one of LEARN_MIN to LEARN_MAX_LEN bytes met again in
-- another execution joins the dictionary. The dictionary only grows (packed strings point
-- into it), so at most LEARN_MAX words are learned per flow; the strings met once are
-- forgotten when SEEN_MAX of them wait for a second meeting.
local LEARN_MIN, LEARN_MAX_LEN, LEARN_MAX, SEEN_MAX = 8, 1024, 1024, 1024
M.LEARN_MIN, M.LEARN_MAX_LEN, M.LEARN_MAX, M.SEEN_MAX = LEARN_MIN, LEARN_MAX_LEN, LEARN_MAX, SEEN_MAX

-- the first time v appears in execution `who` being packed: true when it is a word now.
-- b.seen[v] is the execution that met it first: one packed again at its next wait does
-- not teach its own strings.
local function learn(b, v, who)
  if b.learned >= LEARN_MAX then return false end
  local first = b.seen[v]
  if first then
    if first == who then return false end
    add_word(b, v)
    b.learned = b.learned + 1
    b.seen[v] = nil
    return true
  end
  if b.nseen >= SEEN_MAX then b.seen, b.nseen = {}, 0 end
  b.seen[v], b.nseen = who, b.nseen + 1
  return false
end

local unpack_exec, peek_head

local function book_of(flow)
  local b = books[flow]
  if b then return b end
  b = { flow = flow, words = {}, index = {}, tables = {}, tlist = {}, seen = {}, nseen = 0, learned = 0 }
  for _, s in ipairs(STATIC) do add_word(b, s) end
  add_table(b, flow)
  for _, k in ipairs{ "sid", "source", "description", "initial_state", "revision" } do add_word(b, flow[k]) end
  for _, st in ipairs(type(flow.states) == "table" and flow.states or {}) do
    if type(st) == "table" then
      add_table(b, st)
      add_strings(b, st.name, 0)
      add_strings(b, st.type, 0)
      add_strings(b, st.transitions, 0)
      add_strings(b, st.properties, 0)
    end
  end
  b.mt = {
    __index = function(t, k)
      if k == "status" then return "active" end       -- only an active execution is packed
      if k == "flow" then return flow end
      local at = SCALAR_AT[k]
      if at then
        local v = peek_head(t, b, at)
        if type(v) ~= "table" then return v end        -- nothing to change through it
      end
      unpack_exec(t)
      return rawget(t, k)
    end,
    __newindex = function(t, k, v)
      unpack_exec(t)
      rawset(t, k, v)
    end,
    __pairs = function(t)
      unpack_exec(t)
      return next, t, nil
    end,
  }
  b.mt.book = b
  books[flow] = b
  return b
end

-- ---- encoding ---------------------------------------------------------------------------

-- one encoding at a time (nothing in it calls out), so its state lives here
local buf, nbuf, strs, nstrs, tbls, ntbls, book, who

local function put(x)
  nbuf = nbuf + 1
  buf[nbuf] = x
end

local function ref(tag, n)
  if n < 0x100 then put(char(tag, n))
  elseif n < 0x10000 then put(char(tag + 1) .. spack("<I2", n))
  else put(char(tag + 2) .. spack("<I4", n)) end
end

-- a JSON object's key order, and nothing else, in its metatable
local function keys_only(mt)
  return type(rawget(mt, "__keys")) == "table" and next(mt, "__keys") == nil and next(mt) == "__keys"
end

local value

local function entries(v, depth)
  for k, x in next, v do
    if not (value(k, depth) and value(x, depth)) then return false end
  end
  put(char(T_END))
  return true
end

-- v's encoding -> true, or false when v (or something in it) cannot be encoded; depth: of
-- the table holding v
value = function(v, depth)
  local tv = type(v)
  if tv == "string" then
    local i = book.index[v]
    if i then ref(T_DICT, i) return true end
    i = strs[v]
    if i then ref(T_SREF, i) return true end
    local n = #v
    if n == 34 and find(v, "^%u%u[0-9a-f]+$") then
      put(char(T_SID) .. sub(v, 1, 2) .. spack(">I4I4I4I4", tonumber(sub(v, 3, 10), 16),
        tonumber(sub(v, 11, 18), 16), tonumber(sub(v, 19, 26), 16), tonumber(sub(v, 27, 34), 16)))
    elseif n >= LEARN_MIN and n <= LEARN_MAX_LEN and learn(book, v, who) then
      ref(T_DICT, book.index[v])
      return true
    elseif n < 0x100 then
      put(char(T_STR1, n))
      put(v)
    else
      put(char(T_STR) .. spack("<s4", v))
    end
    if n >= SREF_MIN then nstrs = nstrs + 1 strs[v] = nstrs end
    return true
  elseif tv == "number" then
    if mtype(v) == "integer" then
      if v >= -128 and v < 128 then put(char(T_INT1, v & 0xff)) else put(char(T_INT) .. spack("<j", v)) end
    else
      put(char(T_FLOAT) .. spack("<n", v))
    end
    return true
  elseif tv == "boolean" then
    put(char(v and T_TRUE or T_FALSE))
    return true
  elseif tv == "table" then
    local i = book.tables[v]
    if i then ref(T_FLOWT, i) return true end
    i = tbls[v]
    if i then ref(T_TREF, i) return true end
    if depth >= MAX_DEPTH then return false end
    ntbls = ntbls + 1
    tbls[v] = ntbls
    local mt = getmetatable(v)
    if mt == nil then
      put(char(T_TABLE))
      return entries(v, depth + 1)
    elseif mt == array_mt then
      put(char(T_ARRAY))
      return entries(v, depth + 1)
    elseif type(mt) == "table" and keys_only(mt) then
      put(char(T_KEYS))
      return entries(v, depth + 1) and value(mt.__keys, depth + 1)
    end
    return false
  elseif v == null then
    put(char(T_NULL))
    return true
  end
  return false
end

-- exec's fields but sid and flow (the shell keeps them): HEAD's values, then the others'
-- names and values -> string | nil
local function encode(exec, b)
  buf, nbuf, strs, nstrs, tbls, ntbls, book, who = {}, 0, {}, 1, { [exec] = 1 }, 1, b, exec.sid
  strs[exec.sid] = 1
  local ok = true
  for _, k in ipairs(HEAD) do
    local x = rawget(exec, k)
    if x == nil then put(char(T_NIL))
    elseif not value(x, 1) then ok = false break end
  end
  if ok then
    for k, x in next, exec do
      if k ~= "sid" and k ~= "flow" and not HEAD_AT[k] and not (value(k, 1) and value(x, 1)) then
        ok = false
        break
      end
    end
  end
  put(char(T_END))
  local s = ok and concat(buf, "", 1, nbuf) or nil
  buf, strs, tbls, book, who = nil, nil, nil, nil, nil
  return s
end

-- ---- decoding ---------------------------------------------------------------------------

local s, pos, words, flowt, depth

-- a decoding error: the message names where (decode's caller adds which execution)
local function bad(what, at)
  error(format("%s at byte %d of %d", what, at or pos, #s), 0)
end

local function index(tag, base)
  local d, n = tag - base
  if d == 0 then
    n = byte(s, pos)
    pos = pos + 1
  elseif d == 1 then
    n, pos = sunpack("<I2", s, pos)
  else
    n, pos = sunpack("<I4", s, pos)
  end
  return n
end

-- what an index points at; an index out of its list is an error, not a silent nil
local function at(list, tag, base, what)
  local p = pos
  local v = list[index(tag, base)]
  if v == nil then bad("bad " .. what .. " reference", p) end
  return v
end

local read

local function body(t)
  while true do
    local c = byte(s, pos)
    if c == T_END then break end
    if c == nil then bad("truncated") end
    local k = read()
    local v = read()
    if k == nil or v == nil or k ~= k then bad("bad entry") end
    t[k] = v
  end
  pos = pos + 1
  return t
end

read = function()
  local tag = byte(s, pos)
  if tag == nil then bad("truncated") end
  pos = pos + 1
  if tag >= T_DICT and tag < T_DICT + 3 then return at(words, tag, T_DICT, "dictionary") end
  if tag == T_STR1 then
    local n = byte(s, pos)
    if n == nil or pos + n > #s then bad("truncated string") end
    local v = sub(s, pos + 1, pos + n)
    pos = pos + 1 + n
    if n >= SREF_MIN then nstrs = nstrs + 1 strs[nstrs] = v end
    return v
  end
  if tag == T_TABLE or tag == T_ARRAY or tag == T_KEYS then
    if depth >= MAX_DEPTH then bad("tables nested too deep") end
    depth = depth + 1
    local t = {}
    ntbls = ntbls + 1
    tbls[ntbls] = t
    body(t)
    if tag == T_ARRAY then setmetatable(t, array_mt)
    elseif tag == T_KEYS then
      local keys = read()
      if type(keys) ~= "table" then bad("bad key order") end
      setmetatable(t, { __keys = keys })
    end
    depth = depth - 1
    return t
  end
  if tag >= T_SREF and tag < T_SREF + 3 then return at(strs, tag, T_SREF, "string") end
  if tag == T_INT1 then
    local v = byte(s, pos)
    if v == nil then bad("truncated") end
    pos = pos + 1
    return v < 128 and v or v - 256
  end
  if tag == T_SID then
    if pos + 17 > #s then bad("truncated SID") end
    local v = format("%s%08x%08x%08x%08x", sub(s, pos, pos + 1), sunpack(">I4I4I4I4", s, pos + 2))
    pos = pos + 18
    nstrs = nstrs + 1
    strs[nstrs] = v
    return v
  end
  if tag == T_FLOAT or tag == T_INT then
    local v
    v, pos = sunpack(tag == T_FLOAT and "<n" or "<j", s, pos)
    return v
  end
  if tag == T_TRUE then return true end
  if tag == T_FALSE then return false end
  if tag >= T_TREF and tag < T_TREF + 3 then return at(tbls, tag, T_TREF, "table") end
  if tag >= T_FLOWT and tag < T_FLOWT + 3 then return at(flowt, tag, T_FLOWT, "flow table") end
  if tag == T_NULL then return null end
  if tag == T_STR then
    local v
    v, pos = sunpack("<s4", s, pos)
    nstrs = nstrs + 1
    strs[nstrs] = v
    return v
  end
  bad(format("bad tag %d", tag), pos - 1)
end

-- decodes str into t, the execution whose sid is `sid` (t stands for it where it refers to
-- itself): HEAD's first `upto` values, or (upto nil) all of it
local function decode(str, b, t, sid, upto)
  s, pos, words, flowt, depth = str, 1, b.words, b.tlist, 1
  strs, nstrs, tbls, ntbls = { sid }, 1, { t }, 1
  for i = 1, upto or #HEAD do
    if byte(s, pos) == T_NIL then pos = pos + 1
    else t[HEAD[i]] = read() end
  end
  if not upto then
    body(t)
    if pos ~= #s + 1 then bad("trailing bytes") end
  end
end

-- decode under a protected call: the module's state is cleared whatever happens, and an
-- error says which execution
local function decoded(str, b, t, sid, upto)
  local ok, err = pcall(decode, str, b, t, sid, upto)
  s, words, flowt, strs, tbls = nil, nil, nil, nil, nil
  if ok then return true end
  return false, format("rivulet.packed: execution %s does not decode: %s", tostring(sid), tostring(err))
end

-- ---- the shell ----------------------------------------------------------------------------

-- the packed string's key in the shell (the array part: the cheapest slot); an execution
-- holds no integer keys
local KEY = 1

-- exec's book when exec is packed, else nil
local function packed_book(exec)
  if type(rawget(exec, KEY)) ~= "string" then return nil end
  local mt = getmetatable(exec)
  local b = type(mt) == "table" and rawget(mt, "book")
  if b and b.mt == mt then return b end
  return nil
end

function M.is_packed(exec)
  return packed_book(exec) ~= nil
end

unpack_exec = function(exec)
  local b = packed_book(exec)
  if not b then return end
  local str = rawget(exec, KEY)
  rawset(exec, KEY, nil)
  setmetatable(exec, nil)
  local ok, err = decoded(str, b, exec, rawget(exec, "sid"))
  if not ok then
    -- back as it was: packed, and the same error at the next read
    for k in next, exec do
      if k ~= "sid" then exec[k] = nil end
    end
    rawset(exec, KEY, str)
    setmetatable(exec, b.mt)
    error(err, 0)
  end
  exec.flow = b.flow
end
M.unpack = unpack_exec

-- A decoded copy of packed exec: HEAD's first `upto` fields, or (upto nil) all of them.
-- The last one made is kept for the next read of the same execution packed the same way: a
-- host's loop asks its timers about the same execution at every turn.
local last_exec, last_str, last_upto, last_view

local function view(exec, b, upto)
  local str = rawget(exec, KEY)
  if exec == last_exec and str == last_str and (last_upto == nil or (upto and upto <= last_upto)) then
    return last_view
  end
  local sid = rawget(exec, "sid")
  local t = { sid = sid, flow = b.flow, status = "active" }
  local ok, err = decoded(str, b, t, sid, upto)
  if not ok then error(err, 0) end
  last_exec, last_str, last_upto, last_view = exec, str, upto, t
  return t
end

-- the value of HEAD[at] of packed exec, decoded from the string's front
peek_head = function(exec, b, i)
  return view(exec, b, i)[HEAD[i]]
end

local function fields(t, k, ...)
  if select("#", ...) == 0 then return t[k] end
  return t[k], fields(t, ...)
end

local SHELL = { sid = true, flow = true, status = true }

function M.peek(exec, ...)
  local b = packed_book(exec)
  if not b then return fields(exec, ...) end
  local upto = 0
  for i = 1, select("#", ...) do
    local k = select(i, ...)
    local a = HEAD_AT[k]
    if not a and not SHELL[k] then upto = nil break end
    if a and a > upto then upto = a end
  end
  if upto == 0 then return fields({ sid = rawget(exec, "sid"), flow = b.flow, status = "active" }, ...) end
  return fields(view(exec, b, upto), ...)
end

-- Clearing a table's fields leaves its hash part as large as it was: Lua resizes it only
-- when an insertion finds no free slot. The packed string goes in at key 1; the integer
-- keys 1 + j * SAME_SLOT hash to key 1's slot at every size up to 128 slots, so each one
-- inserted (and cleared) uses up a free slot, and within a table's size of them Lua
-- resizes the table to what it holds: key 1 in the array part, the sid and the last key
-- inserted in two hash slots. Lua 5.4.0-5.4.3 hash an integer modulo the hash part's size
-- (a power of 2), 5.4.4 and later modulo (size - 1) | 1 (ltable.c, hashint): SAME_SLOT is a
-- multiple of 128 and of every (2^k - 1) | 1 up to 127, so both land on key 1's slot.
-- The resize shows as a change in collectgarbage("count") (nothing else allocates or
-- frees in between: setting and clearing an integer key to true allocates nothing, and no
-- collector step runs in rawset); after COMPACT_TRIES the table is left as it is. Only
-- memory depends on it: the keys tried are never otherwise used, and none is left set.
local SAME_SLOT = 128 * 1240155          -- 2^7 * 3^2 * 5 * 7 * 31 * 127
local COMPACT_TRIES = 130
M.SAME_SLOT, M.COMPACT_TRIES = SAME_SLOT, COMPACT_TRIES

local function compact(t)
  local before = collectgarbage("count")
  for j = 1, COMPACT_TRIES do
    local k = 1 + j * SAME_SLOT
    rawset(t, k, true)
    rawset(t, k, nil)
    if collectgarbage("count") ~= before then break end
  end
end

function M.pack(exec)
  if rawget(exec, KEY) ~= nil or getmetatable(exec) ~= nil then return false, "packed already, or not plain" end
  if rawget(exec, "status") ~= "active" then return false, "not active" end
  local flow = rawget(exec, "flow")
  if type(flow) ~= "table" or type(rawget(exec, "sid")) ~= "string" then return false, "no flow or no sid" end
  local b = book_of(flow)
  local ok, str = pcall(encode, exec, b)
  if not ok then
    buf, strs, tbls, book, who = nil, nil, nil, nil, nil
    return false, tostring(str)
  end
  if not str then return false, "holds a value that cannot be encoded" end
  for k in next, exec do
    if k ~= "sid" then exec[k] = nil end     -- clearing fields while traversing is allowed
  end
  rawset(exec, KEY, str)
  compact(exec)
  setmetatable(exec, b.mt)
  return true
end

return M
