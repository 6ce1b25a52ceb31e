-- `rivulet graph FLOW`: the flow as Graphviz DOT on stdout.
--
--   rivulet graph flows/random_number.lua | dot -Tsvg > random_number.svg
--
-- One node per state, labelled "name\ntype" (the trigger an ellipse, widgets boxes); one
-- edge per transition, labelled with its event, or for a split's `match` with its
-- conditions ("match: equal_to yes"). Transitions without `next` go to an "Ended" node; a
-- `next` that names no state goes to a red dashed node, so broken flows still draw.
-- Exit status: 0, or 2 when FLOW cannot be loaded or the arguments are wrong.

local rivulet = require "rivulet"

local dot = require "rivulet.dot"

local ipairs, format = ipairs, string.format

local M = {}

local USAGE = "usage: rivulet graph FLOW\n" ..
  "Run 'rivulet graph --help' for details.\n"

M.quote = dot.quote

-- flow -> DOT text
function M.dot(flow)
  local desc = flow.description
  return dot.graph("flow", { { flow = flow, label = desc ~= nil and desc ~= "" and desc or nil } })
end

function M.main(args)
  args = args or {}
  local path
  for i, a in ipairs(args) do
    if a == "--" and i == 1 and args[2] then path = args[2] if args[3] then path = nil end break end
    if a:sub(1, 1) == "-" and a ~= "-" then
      io.stderr:write(format("rivulet graph: unknown option '%s'\n", a), USAGE)
      return 2
    end
  end
  if not path then
    if #args ~= 1 then
      local why = #args == 0 and "missing FLOW" or "one FLOW only"
      io.stderr:write("rivulet graph: ", why, "\n", USAGE)
      return 2
    end
    path = args[1]
  end
  local flow, err = rivulet.load_flow(path)
  if not flow then
    err = require("rivulet.cli.args").load_error(path, err)
    if not err:find(path, 1, true) then err = path .. ": " .. err end
    io.stderr:write("rivulet graph: ", err, "\n")
    return 2
  end
  io.stdout:write(M.dot(flow))
  return 0
end

return M
