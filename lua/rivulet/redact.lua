-- rivulet.redact: the auth token never reaches an output (a log line, the store, an HTTP
-- answer), even when a flow echoes it back.
--
--   local scrub = redact.scrubber(token)   -- scrub(s) -> s with every copy of the token
--                                          -- replaced by "[auth token]"

local find, sub, concat, tostring = string.find, string.sub, table.concat, tostring

local M = {}

M.MARK = "[auth token]"
-- A token shorter than this is not scrubbed: replacing every "t" of a store written with
-- the token "t" would corrupt it, and such a token protects nothing (rivulet serve refuses
-- one; Twilio's are 32 hex digits).
M.MIN_LENGTH = 8

local function keep(s) return s end

function M.scrubber(token)
  if type(token) ~= "string" or #token < M.MIN_LENGTH then return keep end
  return function(s)
    if s == nil then return nil end
    s = tostring(s)
    local a, b = find(s, token, 1, true)
    if not a then return s end           -- the common case: nothing to replace, no garbage
    local out, i = {}, 1
    while a do
      out[#out + 1] = sub(s, i, a - 1)
      out[#out + 1] = M.MARK
      i = b + 1
      a, b = find(s, token, i, true)
    end
    out[#out + 1] = sub(s, i)
    return concat(out)
  end
end

return M
