-- rivulet: the public Lua API. Users require this module only.
local core = require "rivulet.core"
local liquid = require "rivulet.liquid"
local flow = require "rivulet.flow"
local engine = require "rivulet.engine"

local M = {}

M._VERSION = core._VERSION
M.core = core
M.liquid = liquid
M.flow = flow
M.load_flow = flow.load
M.engine = engine.new
M.record = engine.record

-- validate(flow) -> true, problems | false, problems (see rivulet.validate)
function M.validate(f)
  return require("rivulet.validate").validate(f)
end

-- Fields whose module loads on first use: rivulet.http (the HTTP client; libcurl itself is
-- opened by the first call, src/curl_lazy.c) and rivulet.test (conversation specs, `rivulet
-- test`). A run whose flow calls nothing needs neither, and loading them would cost every
-- cold start. __lazy names them for the REPL's completion (rivulet.repl), which lists
-- them without loading them.
local LAZY = {
  http = function() return require "rivulet.http" end,
  run_function = function() return require("rivulet.http").run_function end,
  http_request = function() return require("rivulet.http").http_request end,
  test = function() return require "rivulet.test" end,
}

setmetatable(M, { __lazy = LAZY, __index = function(t, k)
  local load = LAZY[k]
  if load then
    local v = load()
    rawset(t, k, v)
    return v
  end
end })

return M
