-- `rivulet serve` with settings it has no option for, for the benchmark only:
--   rivulet lua bench/serve/serve_with.lua [synchronous=full|normal] [max_connections=N]
--     [max_per_ip=N] -- SERVE ARGUMENTS...
-- synchronous: the store's mode (serve uses FULL: a commit survives a power cut; NORMAL
-- survives a crash of the process only). max_connections / max_per_ip: the server's
-- limits (serve keeps libmicrohttpd's at RV_SERVER_MAX_CONNECTIONS = 512 and
-- RV_SERVER_MAX_PER_IP = 256; 1,000 idle connections from 127.0.0.1 need more). Anything
-- not given stays as serve has it; serve's own code runs unchanged.
local core = require "rivulet.core"
local serve = require "rivulet.serve"

local set, rest = {}, nil
for i, a in ipairs(arg) do
  if a == "--" then rest = i + 1 break end
  local k, v = a:match("^([%w_]+)=(.+)$")
  assert(k == "synchronous" or k == "max_connections" or k == "max_per_ip", "unknown setting " .. a)
  set[k] = k == "synchronous" and v or assert(math.tointeger(tonumber(v)), a)
end
assert(rest, "usage: serve_with.lua [KEY=VALUE]... -- SERVE ARGUMENTS...")
assert(set.synchronous == nil or set.synchronous == "full" or set.synchronous == "normal",
  "synchronous: full or normal")

if set.synchronous then
  local new = serve.new
  serve.new = function(opts)
    opts.synchronous = set.synchronous
    return new(opts)
  end
end
if set.max_connections or set.max_per_ip then
  local listen = core.server_listen
  core.server_listen = function(host, port, opts)
    opts = opts or {}
    opts.max_connections = set.max_connections or opts.max_connections
    opts.max_per_ip = set.max_per_ip or opts.max_per_ip
    return listen(host, port, opts)
  end
end
os.exit(require("rivulet.cli.serve").main({ table.unpack(arg, rest) }))
