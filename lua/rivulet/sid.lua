-- rivulet.sid: Twilio-shaped SIDs, a two-letter prefix and 32 hex digits (FN… executions,
-- FT… steps, FW… flows, SM… messages, CA… calls). 96 random bits per process (from the
-- system's generator: SIDs in a shared store must not repeat across processes) and a
-- counter: unique, and cheap enough to make one per step.
--
--   local sid = require "rivulet.sid"
--   sid.new("FN")   --> "FN3f9c…"

local core = require "rivulet.core"

local format, tonumber = string.format, tonumber

local M = {}

M.LENGTH = 34

local base = core.random_hex(12)
local count = tonumber(core.random_hex(3), 16)

-- prefix .. base, made once per prefix: a step's SID formats only its counter
local heads = setmetatable({}, { __index = function(t, prefix)
  local h = prefix .. base
  t[prefix] = h
  return h
end })

function M.new(prefix)
  count = (count + 1) & 0xffffffff
  return heads[prefix] .. format("%08x", count)
end

-- whether s has the shape of a SID with that prefix (any prefix when nil)
function M.valid(s, prefix)
  if type(s) ~= "string" or #s ~= M.LENGTH then return false end
  if prefix and s:sub(1, 2) ~= prefix then return false end
  return s:match("^%u%u%x+$") ~= nil
end

return M
