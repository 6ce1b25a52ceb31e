-- spec/hostile/logic.lua: every attack of issue #12 ends its execution with the budget's
-- failure or runs harmlessly, and what a call leaves in the file's locals never reaches the
-- next call. Under `make memcheck` valgrind watches the logic states come and go.
local FAILS = {
  finalizer = "may not set __gc",
  error_tostring = "instruction budget exceeded",
  key_lt = "a table as a table key",
  close = "instruction budget exceeded",
  xpcall = "instruction budget exceeded",
  weak = "may not make weak tables",
  move = "instruction budget exceeded",
  backtrack = "instruction budget exceeded",
  insert = "instruction budget exceeded",
  memory = "memory budget exceeded",
  cycle = "a table inside itself",
}

local spec = {
  flow = "logic.lua",
  limits = { instructions = 200000 },
  cases = {
    { name = "the file's locals start afresh for each call",
      trigger = "first", script = { "> saw nothing " } },
    { name = "and for the next contact too",
      trigger = { from = "+15550002222", body = "second" }, script = { "> saw nothing " } },
    { name = "metamethods of outputs stay behind", trigger = "outputs_meta", script = { "> saw  plain" } },
    { name = "an empty repeat is immediate", trigger = "rep", script = { "> saw  " } },
    { name = "a long plain find is linear", trigger = "find", script = { "> saw  none" } },
  },
}
local names = {}
for name in pairs(FAILS) do names[#names + 1] = name end
table.sort(names)
for _, name in ipairs(names) do
  spec.cases[#spec.cases + 1] = { name = name .. " fails its step, nothing more", trigger = name,
                                  status = "failed", state = name,
                                  reason = function(r) return r:find(FAILS[name], 1, true) ~= nil end }
end
return spec
