-- Run Function: POSTs its parameters to the function's URL through the engine's HTTP client
-- (never blocking). Success on 2xx/3xx, fail otherwise. Outputs status_code, content_type,
-- body and, for a JSON object reply, parsed, merged into the parsed of an earlier run of the
-- same widget (as Studio does); a reply that is not JSON leaves the old parsed in place.
local W = {
  type = "run-function",
  events = { "success", "fail" },
  required = { "url" },
  properties = { url = "string", service_sid = "string", environment_sid = "string", function_sid = "string",
                 parameters = "kv_list" },
}

function W.run(step)
  local p = step.props
  return step:run_function{ url = p.url, parameters = p.parameters }
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
  local prev = step:previous()
  local parsed = o.parsed
  if parsed ~= nil or (prev and prev.parsed) then parsed = merge(prev and prev.parsed, parsed) end
  return o.event, {
    status_code = o.status_code, content_type = o.content_type, body = o.body,
    parsed = parsed, reason = o.reason, message = o.message,
  }
end

return W
