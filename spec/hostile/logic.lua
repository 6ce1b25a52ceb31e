-- A hostile flow file (issue #12): each `lua` widget is an attack on the host that loads
-- and runs it. The trigger's message names the attack; anything else goes to `remember`,
-- whose function keeps the last message in a local of the file (which another call must
-- never see). specs/hostile_logic_spec.lua runs each one, and `make memcheck` runs that spec
-- under valgrind.
local last
local loop = function() while true do end end

local ATTACKS = {
  { "finalizer", function() setmetatable({}, { __gc = loop }) return "ok" end },
  { "error_tostring", function() error(setmetatable({}, { __tostring = loop })) end },
  { "outputs_meta", function()
      return "ok", setmetatable({ x = "plain" }, { __index = loop, __pairs = loop, __len = loop,
                                                  __lt = loop, __eq = loop, __tostring = loop })
    end },
  { "key_lt", function() return "ok", { [setmetatable({}, { __lt = loop })] = 1 } end },
  { "close", function()
      local x <close> = setmetatable({}, { __close = loop })
      return "ok", { x = x }
    end },
  { "xpcall", function() xpcall(loop, loop) return "ok" end },
  { "weak", function() return "ok", setmetatable({}, { __mode = "k" }) end },
  { "rep", function() return "ok", { s = ("").rep("", math.maxinteger) } end },
  { "move", function() table.move({}, 1, math.maxinteger - 1, 2) return "ok" end },
  { "find", function()
      local hay = ("a"):rep(200000)
      return "ok", { at = hay:find(("a"):rep(100000) .. "b", 1, true) or "none" }
    end },
  { "backtrack", function() return "ok", { (("a"):rep(300)):find((".-"):rep(4) .. "b") } end },
  { "insert", function()
      table.insert(setmetatable({}, { __len = function() return math.maxinteger - 1 end }), 1, "x")
      return "ok"
    end },
  { "memory", function() return "ok", { s = ("x"):rep(1 << 26) } end },
  { "cycle", function() local t = {} t.t = t return "ok", t end },
}

local states = {
  { name = "Trigger", type = "trigger", on = { incomingMessage = "pick" } },
  { name = "pick", type = "split-based-on", input = "{{trigger.message.Body}}", match = {},
    on = { noMatch = "remember" } },
  { name = "remember", type = "lua",
    fn = function(ctx)
      local seen = last
      last = ctx.trigger.message.Body
      return "ok", { seen = seen or "nothing" }
    end,
    on = { ok = "said" } },
  { name = "said", type = "send-message",
    body = "saw {{widgets.remember.seen}} {{widgets.outputs_meta.x}}{{widgets.find.at}}{{widgets.rep.s}}" },
}
for _, a in ipairs(ATTACKS) do
  local m = states[2].match
  m[#m + 1] = { type = "equal_to", value = a[1], next = a[1] }
  states[#states + 1] = { name = a[1], type = "lua", fn = a[2], on = { ok = "said" } }
end
states.description = "hostile custom logic"
return states
