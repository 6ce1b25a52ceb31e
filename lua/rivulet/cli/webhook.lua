-- `rivulet webhook URL --from A --to B --body TEXT`: posts what Twilio posts to a number's
-- webhook when a message (or, with --call, a call) comes in: the fields of SERVING.md §2.2,
-- form-encoded and signed with X-Twilio-Signature over URL (or --public-url's, when the
-- server sits behind a proxy). For trying `rivulet serve` (or any Twilio webhook) from a
-- shell: prints the HTTP status and the answer (TwiML).
--
-- Exit status: 0 a 2xx answer, 1 another answer or no answer, 2 bad usage.

local http = require "rivulet.http"
local sidlib = require "rivulet.sid"
local args_lib = require "rivulet.cli.args"

local format, ipairs = string.format, ipairs
local stdout, stderr = io.stdout, io.stderr

local M = {}

local USAGE = "usage: rivulet webhook URL --from ADDR --to ADDR [--body TEXT] [--call] [--sid SID]\n" ..
  "         [--field NAME=VALUE]... [--auth-token TOKEN] [--account-sid AC...] [--sign-url URL]\n" ..
  "Run 'rivulet webhook --help' for details.\n"

local SPEC = {
  ["--from"] = { value = true }, ["--to"] = { value = true }, ["--body"] = { value = true },
  ["--call"] = {}, ["--sid"] = { value = true }, ["--field"] = { list = true },
  ["--auth-token"] = { value = true }, ["--account-sid"] = { value = true }, ["--sign-url"] = { value = true },
}

-- the fields Twilio posts, in its order (a captured payload, SERVING.md §2.2)
local function message_fields(o, account)
  local sid = o.sid or sidlib.new("SM")
  return {
    { "ToCountry", "US" }, { "ToState", "" }, { "SmsMessageSid", sid }, { "NumMedia", "0" }, { "ToCity", "" },
    { "FromZip", "" }, { "SmsSid", sid }, { "FromState", "" }, { "SmsStatus", "received" }, { "FromCity", "" },
    { "Body", o.body or "" }, { "FromCountry", "US" }, { "To", o.to }, { "ToZip", "" }, { "NumSegments", "1" },
    { "MessageSid", sid }, { "AccountSid", account }, { "From", o.from }, { "ApiVersion", "2010-04-01" },
  }
end

local function call_fields(o, account)
  return {
    { "CallSid", o.sid or sidlib.new("CA") }, { "AccountSid", account }, { "From", o.from }, { "To", o.to },
    { "Caller", o.from }, { "Called", o.to }, { "CallStatus", "ringing" }, { "Direction", "inbound" },
    { "ApiVersion", "2010-04-01" },
  }
end

function M.main(argv)
  local scrub = args_lib.scrubber(args_lib.early_token(argv or {}))
  local function usage(msg)
    stderr:write("rivulet webhook: ", scrub(msg), "\n", USAGE)
    return 2
  end
  local o, pos = args_lib.parse(argv or {}, SPEC)
  if not o then return usage(pos) end
  if #pos ~= 1 then return usage(#pos == 0 and "missing URL" or "one URL only") end
  local url = pos[1]
  if not url:match("^https?://") then return usage(format("URL must be http:// or https://, got '%s'", url)) end
  if not o.from or not o.to then return usage("--from and --to are required") end
  local token = args_lib.token(o)
  if not token then return usage("--auth-token TOKEN (or $RIVULET_AUTH_TOKEN) signs the request") end
  local account = o["account-sid"] or os.getenv("RIVULET_ACCOUNT_SID") or url:match("/Accounts/(AC%x+)")
    or "AC" .. ("0"):rep(32)
  local fields = o.call and call_fields(o, account) or message_fields(o, account)
  for _, f in ipairs(o.field) do
    local k, v = args_lib.split_eq(f)
    if not k then return usage(format("--field wants NAME=VALUE, got '%s'", f)) end
    fields[#fields + 1] = { k, v }
  end
  local params = {}
  for i, f in ipairs(fields) do params[i] = { key = f[1], value = f[2] } end
  local client = http.client{}
  -- signed over the URL Twilio would call: --sign-url, else the URL itself
  local outcome = client:wait(client:http_request{
    method = "POST", url = url, parameters = params, auth_token = token, sign_url = o["sign-url"],
  })
  if outcome.reason and outcome.status_code == 0 then
    stderr:write(format("rivulet webhook: %s: %s\n", url, scrub(outcome.message or outcome.reason)))
    return 1
  end
  stdout:write(format("HTTP %d\n%s", outcome.status_code, scrub(outcome.body or "")))
  if (outcome.body or ""):sub(-1) ~= "\n" then stdout:write("\n") end
  return (outcome.status_code >= 200 and outcome.status_code < 300) and 0 or 1
end

return M
