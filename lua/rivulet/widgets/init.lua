-- rivulet.widgets: the widget types, one module each (rivulet.widgets.<type with - as _>).
-- A widget module is a table:
--   type      the Studio type string
--   events    its transition events, in the order Studio lists them
--   required  property keys a state of this type must have
--   run(step)            starts the widget; returns event, outputs (done now) or step:wait(...)
--   resume(step, input)  finishes a widget that waited; returns event, outputs
--   render    optional: which properties are Liquid (default: every string, deeply)
--   renders_own  optional, true: step.props are the properties as written and the widget
--             renders what it reads (step:render); a widget on most steps then copies no
--             properties (Set Variables, Split Based On)
-- Widgets whose outcome the call or the outside world decides (voice widgets, Flex,
-- conversations) wait with step:call or step:outcome, and may also have:
--   timeout_event  the event when nobody answers in time (else a call's wait ends the
--                  execution: "call ended")
--   hangup(input, wait)  the event (and outputs) a call's status callback means here
--                  (input = {status, fields}); nil: the engine's rule (`hangup` if the
--                  widget has it, else the execution ends)
--   simulated(event, props, context, new_sid)  the outputs a simulated call hands back when
--                  the console or a spec picks `event` (rivulet.voice)
-- Every type rivulet knows runs; a type missing run would end its execution with a reason.

local M = {}

local cache = {}

-- every type rivulet knows, to its module name
M.TYPES = {
  ["trigger"] = "trigger",
  ["split-based-on"] = "split_based_on",
  ["set-variables"] = "set_variables",
  ["run-function"] = "run_function",
  ["make-http-request"] = "make_http_request",
  ["run-subflow"] = "run_subflow",
  ["send-message"] = "send_message",
  ["send-and-wait-for-reply"] = "send_and_wait_for_reply",
  ["lua"] = "lua",
  ["say-play"] = "say_play",
  ["gather-input-on-call"] = "gather_input_on_call",
  ["record-voicemail"] = "record_voicemail",
  ["connect-call-to"] = "connect_call_to",
  ["make-outgoing-call-v2"] = "make_outgoing_call_v2",
  ["make-outgoing-call-v1"] = "make_outgoing_call_v1",
  ["record-call"] = "record_call",
  ["enqueue-call"] = "enqueue_call",
  ["capture-payments"] = "capture_payments",
  ["fork-stream"] = "fork_stream",
  ["connect-virtual-agent"] = "connect_virtual_agent",
  ["connect-virtual-agent-v2"] = "connect_virtual_agent_v2",
  ["run-conversation-relay"] = "run_conversation_relay",
  ["add-twiml-redirect"] = "add_twiml_redirect",
  ["send-to-flex"] = "send_to_flex",
  ["send-to-auto-pilot"] = "send_to_auto_pilot",
  ["start-conversation"] = "start_conversation",
  ["resume-conversation"] = "resume_conversation",
}

-- the module for a type, or nil when rivulet does not know the type
function M.get(t)
  local m = cache[t]
  if m ~= nil then return m end
  local name = M.TYPES[t]
  if not name then return nil end
  m = require("rivulet.widgets." .. name)   -- a module that fails to load raises every time
  cache[t] = m
  return m
end

return M
