-- Fork Stream: starts or stops streaming the call's audio to `stream_url`. Simulated: no
-- audio to stream, so it goes straight on (`next`).
local W = {
  type = "fork-stream",
  events = { "next" },
  required = {},
  properties = {
    stream_action = "string", stream_name = "string", stream_transport_type = "string",
    stream_url = "string", stream_track = "string", stream_connector = "string",
    stream_parameters = "kv_list",
  },
}

function W.run()
  return "next", {}
end

return W
