-- rivulet.step: the one door a widget has. A widget module's run(step) and
-- resume(step, input) get everything through the step: the state's rendered properties,
-- the execution context, the limits, the clock, SIDs, and the actions that reach the world
-- (messages, HTTP calls, subflows, waits). A widget never requires the engine or reads its
-- fields; the engine builds a step for each run and each resume.
--
--   step.name  step.state  step.props  step.context  step.limits  step.data (resume)
--   step.flow (the loaded flow: a Lua flow file's custom logic runs from it)
--   step:render(text)                  Liquid against the execution context
--   step:now()  step:sid(prefix)       the engine's clock; a fresh SID
--   step:previous()                    this widget's outputs from an earlier run, or nil
--   step:why(reason, message)          why the widget fails (its failure event): the step
--                                      log's reason and note, not outputs a template reads
--   step:send{body=, from=, to=, media_url=, expect_reply=}  -> Studio's outbound fields, or
--                                      (with the engine option twilio) a wait for the Messages
--                                      API: resume gets it as input.kind "http" (and, with
--                                      expect_reply, a reply that came meanwhile as
--                                      input.early); step:sent(input) reads it
--   step:say(text)                     what a caller hears (printed in the console)
--   step:run_function{url=, function_sid=, parameters=}  -> a wait for the call | nil, reason,
--                                      message (nothing was sent: no URL to call)
--   step:http_request{method=, url=, content_type=, body=, parameters=, twilio_auth=}
--                                      -> a wait for the call | nil, reason, message
--                                      (twilio_auth: the account's credentials, for
--                                      Twilio's API only; refused before sending)
--   step:start_subflow(flow_sid, parameters) -> a wait for the child | nil, reason, message
--   step:wait_reply(timeout_s, data, watch)   a wait for the contact's reply (or the timeout;
--                                      watch: the SID of a message whose delivery failing
--                                      ends the wait, input.kind "delivery_failure")
--   step:call(verbs, {lines =, timeout =, token =, data =})   a wait for the call to come
--                                      back: verbs (rivulet.twiml) say what Twilio does with
--                                      the call meanwhile, lines are what the caller hears
--                                      (announced now). resume gets input.kind "call"
--                                      {callback = the callback's kind, fields = what Twilio
--                                      posted}; an outcome chosen outside (FlowEvent, the
--                                      console, a spec) and the wait's timeout never reach the
--                                      widget: the engine takes the event (or the widget's
--                                      timeout_event) itself
--   step:outcome{timeout =, token =, data =}  a wait for the outside world to decide (no
--                                      call to talk to: a Flex task from a message, a call
--                                      still ringing); as step:call otherwise
--   step:token()                       a fresh callback token (the wait's, so a callback
--                                      meant for an earlier wait is told apart)
--   step:call_sid()  step:in_call()    the call the execution talks to (its SID), or nil
--   step:twilio(path, params)          a wait for a POST to Twilio's 2010-04-01 API (the
--                                      engine option twilio), or nil without one
--   step:callback_url(token, kind)     the absolute URL bringing a call back to this wait
--                                      (the engine option twilio's callback_url), or nil
--
-- A wait is returned by run/resume as is; the engine stores it, and resume(step, input)
-- gets the answer with step.data set to the wait's data.

local sid = require("rivulet.sid").new
local twilio = require "rivulet.twilio"
local core = require "rivulet.core"

local type, ipairs, io_open = type, ipairs, io.open

local M = {}

local Step = {}
Step.__index = Step
M.Step = Step

-- new(engine, exec, state, props, data) -> step (the engine's side of the door)
function M.new(engine, exec, state, props, data)
  return setmetatable({ _engine = engine, _exec = exec, name = state.name, state = state, props = props,
                        data = data, context = exec.context, limits = engine.limits, flow = exec.flow }, Step)
end

-- reuse(step, engine, exec, state, props) -> step, made over for this run: for widgets that
-- keep nothing of their step once run returns (the engine's hot ones, renders_own), so a
-- step makes no new object; step nil: a new one
function M.reuse(st, engine, exec, state, props)
  if not st then return M.new(engine, exec, state, props) end
  st._engine, st._exec, st.name, st.state, st.props, st.data = engine, exec, state.name, state, props, nil
  st.context, st.limits, st.flow, st.failure = exec.context, engine.limits, exec.flow, nil
  return st
end

function Step:render(s)
  return self._engine:render(s, self._exec, self.name)
end

function Step:now()
  return self._engine.now()
end

function Step:sid(prefix)
  return sid(prefix)
end

function Step:previous()
  return self.context.widgets[self.name]
end

-- why the widget takes its failure event: a reason code (timeout, connect_failed, ...) and a
-- message for people. The engine records them on the step (step.reason, step.note), where
-- `rivulet logs`, the console and the REST Step resource show them; Studio's outputs after
-- such a failure hold no such fields (REFERENCE.md §3).
function Step:why(reason, message)
  self.failure = { reason = reason, message = message }
end

local function announce(self, m)
  self._engine:tell("on_message", self._exec, m)
end

-- a message to the contact (or whoever `to` says): Studio's outbound fields, or a wait for
-- Twilio's Messages API when the engine has one (option twilio)
function Step:send(msg)
  local ctx, e = self.context, self._engine
  local from, to = msg.from or ctx.flow.channel.address, msg.to or ctx.contact.channel.address
  local body = msg.body or ""
  announce(self, { from = from, to = to, body = body, media_url = msg.media_url, widget = self.name })
  local api = e.opts.twilio
  if api then
    self._exec.http_request = { kind = "twilio", method = "POST", parameters = { To = to, From = from, Body = body },
      url = string.format("%s/2010-04-01/Accounts/%s/Messages.json", api.url, tostring(api.account_sid)) }
    local call = twilio.send_message(e.http, api, {
      to = to, from = from, body = body, media_url = msg.media_url, widget = self.name,
      status_callback = api.status_callback and api.status_callback(self._exec) or nil,
    }, self._exec.sid)
    -- a prompt (expect_reply): a reply that comes before Twilio answered the send is held
    -- for the widget (resume's input.early), not dropped as a reply to nothing
    return { wait = "http", call = call, takes_reply = msg.expect_reply }
  end
  return { Body = body, From = from, To = to, Sid = sid("SM"), Status = "sent", MediaUrl = msg.media_url }
end

-- the outbound fields of a send that waited on the Messages API | nil, failure outputs
function Step:sent(input)
  return twilio.outcome(input.outcome)
end

-- what the caller hears on a call, announced (on_message kind "voice"): the console prints it,
-- specs expect it; on a real call the widget's TwiML says it (step:call)
function Step:say(text)
  announce(self, { from = self.context.flow.channel.address, to = self.context.contact.channel.address,
                   body = text, widget = self.name, kind = "voice" })
end

function Step:wait_reply(timeout_s, data, watch)
  return { wait = "reply", timeout = timeout_s, data = data, watch = watch }
end

-- ---- voice ------------------------------------------------------------------------------

-- 8 random bytes: a callback carrying another token is a retry or a late one
function Step:token()
  return core.random_hex(8)
end

local function outside(self, kind, opts, twiml_verbs)
  opts = opts or {}
  local data = opts.data or {}
  data.token = opts.token or data.token or self:token()
  data.twiml = twiml_verbs
  return { wait = kind, timeout = opts.timeout, data = data }
end

function Step:call(verbs, opts)
  if not self._engine:call_is_over(self._exec) then      -- nobody hears a call that ended
    for _, line in ipairs(opts and opts.lines or {}) do self:say(line) end
  end
  return outside(self, "call", opts, verbs)
end

function Step:outcome(opts)
  return outside(self, "event", opts, nil)
end

function Step:call_sid()
  return self._engine:call_sid(self._exec)
end

function Step:in_call()
  return self:call_sid() ~= nil
end

function Step:twilio(path, params)
  local e = self._engine
  local api = e.opts.twilio
  if not api then return nil end
  self._exec.http_request = { kind = "twilio", method = "POST", parameters = params,
    url = string.format("%s/2010-04-01/Accounts/%s/%s", api.url, tostring(api.account_sid), path) }
  return { wait = "http", call = twilio.post(e.http, api, path, params, self._exec.sid, self.name) }
end

function Step:callback_url(token, kind)
  local api = self._engine.opts.twilio
  local f = api and api.callback_url
  if not f then return nil end
  return f(self._exec, self.name, token, kind)
end

-- HTTP calls go through the engine's client: the URL mapped (url_map), signed with the
-- auth token, the engine's timeout, and the call tagged with its execution
local function call(self, kind, args)
  local e = self._engine
  args.widget = self.name
  local asked = args.url or ""
  args.url = e:map_url(asked)
  -- what is sent, for the step's context (the engine adds the outcome): never the
  -- credentials, which the client adds below this (the signature, Basic auth)
  self._exec.http_request = { kind = kind, method = kind == "run_function" and "POST" or (args.method or "GET"),
    url = asked, mapped_url = args.url ~= asked and args.url or nil, parameters = args.parameters,
    content_type = args.content_type, body = args.body }
  args.auth_token = e.opts.auth_token
  args.timeout_ms = e.opts.timeout_ms
  args.tag = self._exec.sid
  return { wait = "http", call = e.http[kind](e.http, args) }
end

-- Studio finds a Run Function's function by its SID (function_sid, ZH…) when the export
-- has no url; a local run finds it in the engine's function_map ({ZH… = url}), which also
-- wins over the url when it names the function (the user said where it runs).
-- Without either, the client answers the call at once with reason no_url (a test's stub by
-- widget name may still answer it).
function Step:run_function(args)
  local map = self._engine.opts.function_map
  local mapped = type(args.function_sid) == "string" and type(map) == "table" and map[args.function_sid]
  if mapped then args.url = mapped end
  if type(args.function_sid) ~= "string" or args.function_sid == "" then args.function_sid = nil end
  return call(self, "run_function", args)
end

-- add_twilio_auth (args.twilio_auth): the account SID and auth token as HTTP Basic, to
-- Twilio's API only; anywhere else the widget fails without sending anything (REFERENCE.md
-- §4, S-HTTP). The URL is judged as the flow wrote it, before url_map; its own user:password
-- gives way to the account's.
function Step:http_request(args)
  if args.twilio_auth then
    local e = self._engine
    local api = e.opts.twilio
    if not require("rivulet.http").is_twilio_api(args.url, api and api.url) then
      return nil, "not_twilio_url", string.format("'%s' sends Twilio credentials (add_twilio_auth) only to " ..
        "Twilio's API (https://*.twilio.com), not to %s: nothing was sent", self.name, tostring(args.url))
    end
    local account = e.opts.account_sid or (api and api.account_sid)
    local token = e.opts.auth_token or (api and api.auth_token)
    if not (account and token) then
      return nil, "no_credentials", string.format("'%s' sends the account's credentials (add_twilio_auth), " ..
        "but no %s is set (--account-sid and --auth-token, or RIVULET_ACCOUNT_SID and RIVULET_AUTH_TOKEN)",
        self.name, account and "auth token" or "account SID")
    end
    args.url = require("rivulet.http").strip_userinfo(args.url)
    args.basic_auth = account .. ":" .. token
  end
  args.twilio_auth = nil
  return call(self, "http_request", args)
end

-- ---- subflows ----------------------------------------------------------------------------

local function exists(path)
  local f = io_open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- the engine's `subflows` option: a map of sid or name to a flow or file, a function, or a
-- folder holding FLOW_SID.lua or FLOW_SID.json
local function resolve(subflows, id)
  if type(subflows) == "function" then return subflows(id) end
  if type(subflows) == "table" then return subflows[id] end
  if type(subflows) == "string" and type(id) == "string" and id:match("^[%w_%-]+$") then
    for _, ext in ipairs{ ".lua", ".json" } do
      local path = subflows .. "/" .. id .. ext
      if exists(path) then return path end
    end
  end
  return nil
end

-- starts the subflow named flow_sid for this execution's contact, with
-- trigger.parent.parameters: a wait for the child | nil, reason, message
function Step:start_subflow(flow_sid, parameters)
  local e, exec = self._engine, self._exec
  local sub = resolve(e.opts.subflows, flow_sid)
  if not sub then
    return nil, "no_subflow", string.format("no subflow '%s' (set the engine's subflows)", tostring(flow_sid))
  end
  local ctx = self.context
  local child, err = e:start_child(sub, { event = "incomingParent", parameters = parameters,
                                          from = ctx.contact.channel.address, to = ctx.flow.channel.address,
                                          parent_trigger = ctx.trigger, parent_sid = exec.sid })
  if not child then return nil, "subflow", err end
  return { wait = "subflow", child = child }
end

return M
