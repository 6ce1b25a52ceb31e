-- rivulet: the public Lua API. Users require this module only.
local core = require "rivulet.core"
local liquid = require "rivulet.liquid"
local http = require "rivulet.http"
local flow = require "rivulet.flow"
local engine = require "rivulet.engine"

local M = {}

M._VERSION = core._VERSION
M.core = core
M.liquid = liquid
M.http = http
M.run_function = http.run_function
M.http_request = http.http_request
M.flow = flow
M.load_flow = flow.load
M.engine = engine.new
M.record = engine.record

-- validate(flow) -> true, problems | false, problems (see rivulet.validate)
function M.validate(f)
  return require("rivulet.validate").validate(f)
end

-- rivulet.test (conversation specs, `rivulet test`) loads on first use: running flows does
-- not need it, and loading it would cost every cold start about a millisecond
setmetatable(M, { __index = function(t, k)
  if k == "test" then
    local v = require "rivulet.test"
    rawset(t, k, v)
    return v
  end
end })

return M
