-- Run Function: POSTs its parameters to the function's URL through the engine's HTTP client
-- (never blocking). Success on 2xx/3xx, fail otherwise. Outputs status_code, content_type,
-- body, headers (the reply's, e.g. x-twilio-function-concurrency) and, for a JSON object
-- reply, parsed, merged into the parsed of an earlier run of the same widget (as Studio
-- does); a reply that is not JSON leaves the old parsed in place (REFERENCE.md §1a, §4;
-- ../shared/seed/run-function-widget.txt).
--
-- When no reply came (a timeout, a refused connection, a reply over 64 KiB) the outputs are
-- Studio's empty map: status_code renders empty, not 0 (REFERENCE.md §3, §4). Why it failed
-- goes to the step (step:why), never into the outputs. A parameter named with a reserved word
-- (error 81014) or a function with neither url nor mapping fails before anything is sent.
local http = require "rivulet.http"

local W = {
  type = "run-function",
  events = { "success", "fail" },
  required = { "url" },
  properties = { url = "string", service_sid = "string", environment_sid = "string", function_sid = "string",
                 parameters = "kv_list" },
}

function W.run(step)
  local p = step.props
  local refused = http.reserved_refusal(p.parameters)
  if refused then
    step:why("reserved_parameter", refused)
    return "fail", {}
  end
  local wait, reason, message = step:run_function{ url = p.url, function_sid = p.function_sid,
                                                   parameters = p.parameters }
  if not wait then
    step:why(reason, message)
    return "fail", {}
  end
  return wait
end

local function merge(old, new)
  if type(old) ~= "table" then return new end
  if type(new) ~= "table" then return old end
  local m = {}
  for k, v in pairs(old) do m[k] = v end
  for k, v in pairs(new) do m[k] = v end
  return m
end

function W.resume(step, input)
  local o = input.outcome
  if o.reason then step:why(o.reason, o.message) end
  if not o.status_code or o.status_code == 0 then return o.event, {} end   -- no reply
  local prev = step:previous()
  local parsed = o.parsed
  if parsed ~= nil or (prev and prev.parsed) then parsed = merge(prev and prev.parsed, parsed) end
  return o.event, {
    status_code = o.status_code, content_type = o.content_type, body = o.body, headers = o.headers or {},
    parsed = parsed,
  }
end

return W
