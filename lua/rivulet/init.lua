-- rivulet: the public Lua API. Users require this module only.
local core = require "rivulet.core"
local liquid = require "rivulet.liquid"

local M = {}

M._VERSION = core._VERSION
M.core = core
M.liquid = liquid

return M
