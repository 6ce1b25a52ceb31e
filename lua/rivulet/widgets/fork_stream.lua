-- Fork Stream: starts or stops streaming the call's audio (`stream_action` start | stop) to
-- `stream_url` (a WebSocket; `stream_transport_type` siprec goes to `stream_connector`),
-- with its name, track and parameters. On a call it is TwiML: <Start><Stream>…</Stream>
-- </Start> (or <Siprec>, or <Stop>), then a <Redirect> back: `next` when Twilio follows it.
local twiml = require "rivulet.twiml"

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

local str = twiml.str

function W.verbs(p)
  local params = twiml.parameters(p.stream_parameters)
  local siprec = str(p.stream_transport_type) == "siprec"
  local stream = twiml.verb(siprec and "Siprec" or "Stream", {
    name = str(p.stream_name), track = str(p.stream_track),
    url = not siprec and str(p.stream_url) or nil, connectorName = siprec and str(p.stream_connector) or nil,
  }, params)
  local action = str(p.stream_action) == "stop" and "Stop" or "Start"
  return { twiml.verb(action, {}, { stream }),
           twiml.verb("Redirect", { method = "POST" }, twiml.callback("next")) }
end

function W.run(step)
  return step:call(W.verbs(step.props))
end

function W.resume()
  return "next", {}
end

return W
