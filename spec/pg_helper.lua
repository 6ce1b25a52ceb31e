-- A real PostgreSQL server for the specs (scripts/pg-cluster.sh): one throwaway cluster per
-- spec run, started on first use in a temp directory on a free port and stopped when the
-- run ends; a fresh database for each store a spec asks for.
--
--   local pg = require "spec.pg_helper"
--   local url = pg.new_db()       -- a new empty database's URL; skips the test (LuaUnit)
--                                 -- with the reason when PostgreSQL cannot be had
--   pg.stop() / pg.start()        -- the database goes away and comes back (same data)
--   pg.kill()                     -- SIGKILL its postmaster (a crash)

local core = require "rivulet.core"
local helper = require "spec.helper"

local M = {}

local state = { base = nil, dir = nil, port = nil, failed = nil, n = 0 }
local script = helper.root .. "/scripts/pg-cluster.sh"

-- a free TCP port on 127.0.0.1
local function free_port()
  local srv = assert(core.server_listen("127.0.0.1", 0))
  local port = srv:port()
  srv:close()
  return port
end

local function sh(args)
  local p = assert(io.popen("sh " .. helper.quote(script) .. " " .. args .. " 2>&1; echo \"exit $?\""))
  local out = p:read("a")
  p:close()
  local status = tonumber(out:match("exit (%d+)%s*$"))
  return status, (out:gsub("exit %d+%s*$", ""))
end

-- the run's cluster stops with the Lua state (spec/run.lua exits with close = true)
local sentinel = setmetatable({}, { __gc = function()
  if state.dir then
    sh("stop " .. helper.quote(state.dir))
    os.execute("rm -rf " .. helper.quote(state.dir))
  end
end })
M._sentinel = sentinel

-- the cluster's maintenance URL | nil, why PostgreSQL cannot be had
function M.url()
  if state.base then return state.base end
  if state.failed then return nil, state.failed end
  local p = assert(io.popen("mktemp -d"))
  state.dir = p:read("l")
  p:close()
  state.port = free_port()
  local status, out = sh("start " .. helper.quote(state.dir) .. " " .. state.port)
  if status ~= 0 then
    state.failed = "PostgreSQL: " .. out:gsub("%s+$", "")
    os.execute("rm -rf " .. helper.quote(state.dir))
    state.dir = nil
    return nil, state.failed
  end
  state.base = out:match("(postgresql://%S+)")
  return state.base
end

-- the URL of a new database (skips the calling test when there is no PostgreSQL)
function M.new_db()
  local base, why = M.url()
  if not base then require("luaunit").skip(why) end
  state.n = state.n + 1
  local name = string.format("t%d_%d", core.pid(), state.n)
  local c = assert(core.pg_connect(base, 5000))
  assert(c:exec("CREATE DATABASE " .. name))
  c:close()
  return (base:gsub("/postgres$", "/" .. name))
end

function M.stop() assert(sh("stop " .. helper.quote(state.dir)) == 0) end
function M.kill() assert(sh("kill " .. helper.quote(state.dir)) == 0) end
function M.start()
  local status, out = sh("start " .. helper.quote(state.dir) .. " " .. state.port)
  assert(status == 0, out)
end

return M
