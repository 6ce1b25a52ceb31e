-- rivulet.sid: Twilio-shaped SIDs, a two-letter prefix and 32 hex digits (FN… executions,
-- FT… steps, FW… flows, SM… messages, CA… calls). 96 random bits per Lua state (from the
-- system's generator, on first use: SIDs in a shared store must not repeat across
-- processes) and a counter: unique, and cheap enough to make one per step.
--
--   local sid = require "rivulet.sid"
--   sid.new("FN")   --> "FN3f9c…"

local core = require "rivulet.core"

local M = {}

M.LENGTH = 34

-- new(prefix) -> prefix, 24 hex digits of this Lua state, an 8-hex counter (src/lrv_step.c:
-- a step makes one, so it is C: no format, no concatenation)
M.new = core.sid

-- whether s has the shape of a SID with that prefix (any prefix when nil)
function M.valid(s, prefix)
  if type(s) ~= "string" or #s ~= M.LENGTH then return false end
  if prefix and s:sub(1, 2) ~= prefix then return false end
  return s:match("^%u%u%x+$") ~= nil
end

return M
