-- rivulet: the public Lua API. Users require this module only.
local core = require "rivulet.core"
local liquid = require "rivulet.liquid"
local http = require "rivulet.http"

local M = {}

M._VERSION = core._VERSION
M.core = core
M.liquid = liquid
M.http = http
M.run_function = http.run_function
M.http_request = http.http_request

return M
