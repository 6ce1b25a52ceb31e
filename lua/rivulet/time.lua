-- rivulet.time: ISO 8601 date-times as people write them, to epoch seconds (UTC unless the
-- text names an offset), without the C library's local time zone.

local tonumber, type = tonumber, type

local M = {}

-- days since 1970-01-01 of a proleptic Gregorian date
function M.days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

-- parse("2024-05-01"), "2024-05-01T09:30[:00[.000]][Z]", "2024-05-01 09:30", "...+02:00", or a
-- number -> epoch seconds | nil
function M.parse(v)
  if type(v) == "number" then return v end
  if type(v) ~= "string" then return nil end
  local y, mo, d, rest = v:match("^(%d%d%d%d)-(%d%d)-(%d%d)(.*)$")
  if not y then return nil end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  if mo < 1 or mo > 12 or d < 1 or d > 31 then return nil end
  local h, mi, s, zone = 0, 0, 0, "Z"
  if rest ~= "" then
    local hh, mm, tail = rest:match("^[T ](%d%d):(%d%d)(.*)$")
    if not hh then return nil end
    h, mi = tonumber(hh), tonumber(mm)
    local ss, tail2 = tail:match("^:(%d%d)(.*)$")
    if ss then
      s, tail = tonumber(ss), tail2
      local frac, tail3 = tail:match("^(%.%d+)(.*)$")    -- "…:00.000Z", as JavaScript writes it
      if frac then s, tail = s + tonumber("0" .. frac), tail3 end
    end
    zone = tail
  end
  if h > 23 or mi > 59 or s >= 61 then return nil end
  local offset = 0
  if zone ~= "Z" and zone ~= "" then
    local sign, oh, om = zone:match("^([+-])(%d%d):?(%d%d)$")
    if not sign then return nil end
    offset = (tonumber(oh) * 3600 + tonumber(om) * 60) * (sign == "-" and -1 or 1)
  end
  return M.days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset
end

return M
