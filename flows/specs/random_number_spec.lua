-- flows/random_number.lua (and its Studio export, random_number.json): the Run Function
-- example. The function is stubbed by widget name; the last two cases call the real
-- function, served by twilio-run on loopback (skipped when node or twilio-run is missing).
--
--   build/rivulet test flows/specs/random_number_spec.lua
local spec = {
  flow = "../random_number.lua",                                  -- relative to this file
  stubs = { get_num = { status = 200, json = { number = 4 } } },  -- the function, by widget name

  cases = {
    { name = "texts back the function's number",
      script = { "> What is the minimum number?", "< 1",
                 "> What is the maximum number?", "< 6",
                 "> Your random number is 4" },
      state = "send_num",
      context = { ["widgets.get_num.parsed.number"] = 4 } },

    { name = "apologises when the function fails",
      stubs = { get_num = { status = 500 } },
      script = { "> What is the minimum number?", "< 1",
                 "> What is the maximum number?", "< 6",
                 { expect = { match = "^Sorry, we could not pick a number" } } },
      state = "send_error" },

    { name = "ends quietly when nobody answers within the hour",
      script = { "> What is the minimum number?", { timeout = true } },   -- no sleeping
      state = "min_value" },
  },
}

local absent = require("rivulet.test").absent
local here = (...):match("^(.*)/[^/]*$") or "."
local cases = spec.cases

local ASK = { "> What is the minimum number?", "< 1", "> What is the maximum number?", "< 6" }
local SORRY = "> Sorry, we could not pick a number between %s and %s just now. " ..
  "Please try again later."

-- ASK, then more steps
local function with(list, ...)
  local out = {}
  for _, s in ipairs(list) do out[#out + 1] = s end
  for _, s in ipairs{ ... } do out[#out + 1] = s end
  return out
end

local function add(case) cases[#cases + 1] = case end

add{ name = "passes the replies to the function as min and max",
     stubs = { get_num = function(event)
       assert(event.method == "POST", event.method)
       assert(event.url == "https://example-1234.twil.io/generate-random-number", event.url)
       local sum = tonumber(event.parameters.min) + tonumber(event.parameters.max)
       return { status = 200, json = { number = sum } }
     end },
     script = { "> What is the minimum number?", "< 2", "> What is the maximum number?", "< 40",
                "> Your random number is 42" },
     context = { ["widgets.get_num.status_code"] = 200,
                 ["widgets.max_value.inbound.Body"] = "40" } }

add{ name = "the apology names the range, and nothing was parsed",
     stubs = { get_num = { status = 500, body = "boom" } },
     script = with(ASK, SORRY:format(1, 6)),
     context = { ["widgets.get_num.status_code"] = 500, ["widgets.get_num.parsed"] = absent },
     reasons = { get_num = "http_status" } }

add{ name = "apologises when the function times out",
     stubs = { get_num = { reason = "timeout" } },
     script = with(ASK, { expect = { match = "^Sorry, we could not pick a number" } }),
     -- no reply: Studio's outputs are an empty map; why it failed is the step's
     state = "send_error", reasons = { get_num = "timeout" },
     context = { ["widgets.get_num.status_code"] = absent } }

add{ name = "a function reply over 64 KiB is a failure",
     stubs = { get_num = { status = 200, body = string.rep("x", 65537) } },
     script = with(ASK, { expect = { match = "^Sorry" } }),
     reasons = { get_num = { reason = "too_large", note = { match = "larger than 65536 bytes" } } },
     context = { ["widgets.get_num.body"] = absent } }

add{ name = "the Studio export behaves the same",
     flow = "../random_number.json",
     script = with(ASK, "> Your random number is 4"),
     path = { "min_value", "max_value", "get_num", "send_num" } }

add{ name = "a timeout ends the flow where it waited",
     script = { "> What is the minimum number?", { timeout = true } },
     reason = { match = "ended the flow on 'timeout'" },
     context = { ["widgets.min_value.inbound"] = absent } }

-- ---- live: the real function under twilio-run ------------------------------------------------

local server, no_server

-- spec/twilio_run.lua starts the real function on a free port (it requires "spec.helper",
-- so the checkout's root, two folders up, goes on package.path while it loads)
local function twilio_run()
  local saved = package.path
  package.path = here .. "/../../?.lua;" .. package.path
  local ok, mod = pcall(require, "spec.twilio_run")
  package.path = saved
  if not ok then return nil, tostring(mod) end
  local available, why = mod.available()
  if not available then return nil, why end
  if not mod.installed() then
    return nil, "twilio-run is not installed (sh scripts/twilio-run.sh)"
  end
  return mod
end

-- started once, before the cases; the stubbed cases ignore the url_map
function spec.setup(s)
  local mod, why = twilio_run()
  if not mod then no_server = why return end
  local err
  server, err = mod.start{ deadline_s = 20 }
  if not server then no_server = "twilio-run did not start: " .. tostring(err) return end
  s.url_map = { ["https://example-1234.twil.io"] = server.base_url }
end

function spec.teardown()
  if server then server:stop() end
end

add{ name = "live: twilio-run picks a number between 1 and 6",
     skip = function() return no_server end,
     stubs = { get_num = false },                 -- no stub: the call goes out
     script = with(ASK, { expect = { match = "^Your random number is [1-6]$" } }),
     state = "send_num",
     context = { ["widgets.get_num.status_code"] = 200,
                 ["widgets.get_num.parsed.number"] = function(n) return n >= 1 and n <= 6 end } }

add{ name = "live: twilio-run refuses an empty range",
     skip = function() return no_server end,
     stubs = { get_num = false },
     script = { "> What is the minimum number?", "< 9", "> What is the maximum number?", "< 1",
                SORRY:format(9, 1) },
     context = { ["widgets.get_num.status_code"] = 400,
                 ["widgets.get_num.parsed.error"] = "bad_input" } }

return spec
