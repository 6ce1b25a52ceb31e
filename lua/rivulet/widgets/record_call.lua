-- Call Recording: starts (record_call = true) or stops recording the call. Simulated:
-- nothing to record, so it always succeeds.
local W = {
  type = "record-call",
  events = { "success", "failed" },
  required = {},
  properties = {
    record_call = "boolean",  -- a real boolean: Studio rejects "true"
    recording_status_callback = "string", recording_status_callback_method = "string",
    recording_status_callback_events = "string", recording_channels = "string", trim = "string",
  },
}

function W.run()
  return "success", {}
end

return W
