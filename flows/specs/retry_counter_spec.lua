-- flows/retry_counter.lua: a bounded retry. get_num's `fail` counts in flow.variables.count
-- and tries again until the count passes 3, so the function runs at most 4 times.
--
--   build/rivulet test flows/specs/retry_counter_spec.lua --coverage
local absent = require("rivulet.test").absent

return {
  flow = "../retry_counter.lua",
  live = false,                 -- every call is stubbed: an unstubbed one fails the case

  cases = {
    { name = "the first try succeeds",
      stubs = { get_num = { status = 200, json = { number = 3 } } },
      script = { "> Your random number is 3" },
      state = "send_num", path = { "get_num", "send_num" },
      context = { ["flow.variables.count"] = absent } },

    { name = "succeeds on the third try",
      -- replies in turn: two failures, then a number
      stubs = { get_num = { { status = 500 }, { status = 503 },
                            { status = 200, json = { number = 5 } } } },
      script = { "> Your random number is 5" },
      state = "send_num",
      context = { ["flow.variables.count"] = 2, ["widgets.get_num.status_code"] = 200 } },

    { name = "gives up after the fourth failure",
      stubs = { ["https://example-1234.twil.io/"] = { status = 500 } },
      script = { "> Sorry, the number service failed 4 times. Please try again later." },
      state = "give_up",
      path = { "get_num", "count", "check_count", "get_num", "count", "check_count",
               "get_num", "count", "check_count", "get_num", "count", "check_count", "give_up" },
      context = { ["flow.variables.count"] = 4, ["widgets.get_num.status_code"] = 500 } },

    { name = "a transport failure counts as a failure too",
      stubs = { get_num = { reason = "connect_failed", message = "connection refused" } },
      script = { { expect = { match = "failed 4 times" } } },
      reasons = { get_num = "connect_failed" } },

    { name = "REST trigger: the range comes from flow.data",
      trigger = { event = "incomingRequest", parameters = { min = "10", max = "20" } },
      stubs = { get_num = function(event)
        return { status = 200, json = { number = tonumber(event.parameters.min) + 1 } }
      end },
      -- the REST trigger's contact is `from` (+15550001111): the message goes there
      script = { { expect = "Your random number is 11", to = "+15550001111",
                   widget = "send_num" } },
      context = { ["flow.data.min"] = "10", ["trigger.request.parameters.max"] = "20" } },

    { name = "REST trigger with an empty range: the function refuses every time",
      trigger = { event = "incomingRequest", parameters = { min = "9", max = "1" } },
      stubs = { get_num = function(event)
        if tonumber(event.parameters.min) > tonumber(event.parameters.max) then
          return { status = 400, json = { error = "bad_input", field = "max" } }
        end
        return { status = 200, json = { number = 1 } }
      end },
      script = { "> Sorry, the number service failed 4 times. Please try again later." },
      context = { ["widgets.get_num.parsed.error"] = "bad_input",
                  ["flow.variables.count"] = 4 } },

    { name = "the default range is 1 to 6",
      stubs = { get_num = function(event)
        assert(event.parameters.min == "1" and event.parameters.max == "6",
          "min/max: " .. tostring(event.parameters.min) .. "/" .. tostring(event.parameters.max))
        return { status = 200, json = { number = 6 } }
      end },
      script = { "> Your random number is 6" } },
  },
}
