-- luacheck configuration (make lint). Modules define no globals (STYLE.md habit 13).
std = "lua54"
max_line_length = 120
-- Methods and widget functions keep the shared signature (self, step) even when one
-- implementation does not need it.
ignore = { "212/self", "212/step" }
exclude_files = { "build/", "build-asan/", "bench/liquid/node_modules/" }

-- Specs: LuaUnit discovers global Test* tables, so spec files may define top-level globals
-- (131: "unused global" is what defining one for LuaUnit looks like); test methods need
-- not use `self`.
files["spec/"] = { allow_defined_top = true, ignore = { "131", "542" }, self = false,
                   max_line_length = false }

-- Flows and scripts run by the host (`rivulet lua`) see the `rivulet` global it sets.
files["flows/"] = { read_globals = { "rivulet" } }

-- Conversation specs (rivulet test) of the example flows and of the shared corpus:
-- conversation lines are quoted as the flows send them (613: messages end in spaces).
files["flows/specs/"] = { max_line_length = false, ignore = { "613" } }
files["spec/corpus/"] = { ignore = { "613" } }
