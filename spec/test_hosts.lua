-- The example C hosts (flows/hosts/*.c, built by make) run the quiz flow through rivulet.h.
local lu = require "luaunit"
local helper = require "spec.helper"

local function host(name)
  return helper.root .. "/" .. helper.build .. "/hosts/" .. name
end

local function sh(cmd)
  local p = io.popen("cd " .. helper.quote(helper.root) .. " && " .. cmd .. " 2>&1; echo \"exit=$?\"")
  local out = p:read("a")
  p:close()
  return out
end

TestHosts = {}

function TestHosts:test_game_loop_answers_each_player_on_its_frame()
  local out = sh(helper.quote(host("game_loop")))
  lu.assertStrContains(out, "frame  10  to +15550000000: Right! 42 it is.")
  lu.assertStrContains(out, "frame  20  to +15550000001: No, 42 (41 is not).")
  lu.assertStrContains(out, "frame  30  to +15550000002: Right! 42 it is.")
  lu.assertStrContains(out, "0 executions still active")
  lu.assertStrContains(out, "exit=0")
end

function TestHosts:test_poll_loop_takes_replies_from_stdin()
  local out = sh("printf '+15550000001 42\\n' | " .. helper.quote(host("poll_loop")))
  lu.assertEquals(out, "to +15550000001: What is 6 x 7?\nto +15550000001: Right! 42 it is.\ndone: 0 active\nexit=0\n")
end
