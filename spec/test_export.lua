-- rivulet export: a Lua flow becomes Studio's Flow Definition JSON, which reads back
-- (load_flow) as the same flow, validates, and passes the same conversation specs; flows
-- Studio cannot hold (lua widgets, Lua functions) are refused, saying where and why.
local lu = require "luaunit"
local helper = require "spec.helper"
local json = require "rivulet.json"
local rivulet = require "rivulet"

local FLOWS = helper.root .. "/flows/"

-- a definition without the canvas positions export adds, for comparing flows
local function without_offsets(def)
  for _, s in ipairs(def.states) do s.properties.offset = nil end
  return def
end

local function export(path)
  local out = helper.tmpdir() .. "/flow.json"
  local code, stdout, err = helper.run({ "export", path, "-o", out })
  return code, helper.read_file(out), stdout, err
end

TestExport = {}

function TestExport.tearDown()
  helper.cleanup()
end

function TestExport.test_each_lua_example_reads_back_as_the_same_flow()
  for _, name in ipairs{ "random_number", "retry_counter", "feedback", "phone_menu" } do
    local code, text, _, err = export(FLOWS .. name .. ".lua")
    lu.assertEquals(code, 0, name .. ": " .. err)
    local back = assert(rivulet.flow.from_json(text, name .. ".json"))
    local ok, problems = rivulet.validate(back)
    lu.assertTrue(ok, name .. ": " .. json.encode(problems))
    local orig = assert(rivulet.load_flow(FLOWS .. name .. ".lua"))
    lu.assertEquals(without_offsets(back:definition()), without_offsets(orig:definition()), name)
  end
end

function TestExport.test_studio_shapes_arrays_and_a_layout()
  local _, text = export(FLOWS .. "random_number.lua")
  local def = json.decode(text)
  lu.assertEquals(def.initial_state, "Trigger")
  local by = {}
  for _, s in ipairs(def.states) do by[s.name] = s end
  -- Studio's {key, value} list for the parameters; every state has transitions as an array
  lu.assertEquals(by.get_num.properties.parameters,
    { { key = "max", value = "{{widgets.max_value.inbound.Body}}" },
      { key = "min", value = "{{widgets.min_value.inbound.Body}}" } })
  lu.assertStrContains(text, '"transitions": [')
  -- laid out top to bottom by distance from the trigger, side by side within a row
  lu.assertEquals(by.Trigger.properties.offset, { x = 0, y = 0 })
  lu.assertTrue(by.min_value.properties.offset.y > by.Trigger.properties.offset.y)
  lu.assertTrue(by.get_num.properties.offset.y > by.max_value.properties.offset.y)
  lu.assertEquals(by.send_num.properties.offset.y, by.send_error.properties.offset.y)
  lu.assertNotEquals(by.send_num.properties.offset.x, by.send_error.properties.offset.x)
end

function TestExport.test_a_studio_export_keeps_its_own_layout()
  local code, text = export(FLOWS .. "random_number.json")
  lu.assertEquals(code, 0)
  local orig = json.decode(helper.read_file(FLOWS .. "random_number.json"))
  local def = json.decode(text)
  for i, s in ipairs(def.states) do
    lu.assertEquals(s.properties.offset, orig.states[i].properties.offset, s.name)
  end
end

function TestExport.test_the_export_passes_the_flows_conversation_specs()
  local code, text = export(FLOWS .. "feedback.lua")
  lu.assertEquals(code, 0)
  local path = helper.tmpdir() .. "/feedback.json"
  helper.write_file(path, text)
  local spec = dofile(FLOWS .. "specs/feedback_spec.lua")
  spec.flow = path
  local r = assert(rivulet.test.run(spec))
  lu.assertEquals(r.failed, 0)
  lu.assertTrue(r.passed >= 5)
end

function TestExport.test_stdout_by_default()
  local code, out = helper.run({ "export", FLOWS .. "retry_counter.lua" })
  lu.assertEquals(code, 0)
  lu.assertNotNil(rivulet.flow.from_json(out, "stdout"))
end

function TestExport.test_lua_widgets_cannot_become_studio_json()
  local code, text, stdout, err = export(FLOWS .. "custom_logic.lua")
  lu.assertEquals(code, 1)
  lu.assertNil(text)                     -- nothing written
  lu.assertEquals(stdout, "")
  lu.assertStrContains(err, "rivulet export: " .. FLOWS .. "custom_logic.lua: #/states/2: error: 'score' is a lua " ..
    "widget (custom logic in Lua): Studio has no such widget, so this flow cannot become Studio JSON")
  lu.assertStrContains(err, "#/states/4: error: 'rescore' is a lua widget")
end

function TestExport.test_a_lua_function_elsewhere_is_refused_with_its_path()
  local flow = helper.tmpdir() .. "/f.lua"
  helper.write_file(flow, [[return {
    { name = "Trigger", type = "trigger", on = { incomingMessage = "say" } },
    { name = "say", type = "send-message", body = "hi", extra = { fn = function() end }, on = { sent = false } },
  }]])
  local code, text, _, err = export(flow)
  lu.assertEquals(code, 1)
  lu.assertNil(text)
  lu.assertStrContains(err, "#/states/1/properties/extra/fn: error: a Lua function has no JSON form")
end

function TestExport.test_bad_input()
  local code, _, _, err = export(FLOWS .. "nope.lua")
  lu.assertEquals(code, 2)
  lu.assertStrContains(err, "nope.lua")
  code, _, err = helper.run({ "export" })
  lu.assertEquals(code, 2)
  lu.assertStrContains(err, "rivulet export: missing FLOW\n")
  -- a flow with validation errors is one that cannot be exported (1), with the errors
  local flow = helper.tmpdir() .. "/bad.lua"
  helper.write_file(flow, [[return { { name = "Trigger", type = "trigger", on = { incomingMessage = "nowhere" } } }]])
  code, _, _, err = export(flow)
  lu.assertEquals(code, 1)
  lu.assertStrContains(err, "error:")
end
