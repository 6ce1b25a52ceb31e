#!/bin/sh
# The demo (`make demo`): the Run Function example flow against the real function.
#
# Installs twilio-run when missing (scripts/twilio-run.sh), serves
# flows/functions/functions/*.js on a free loopback port (spec/twilio_run.lua: picks the
# port, polls it with a deadline). When twilio-run cannot be had here (offline, npm's
# registry unreachable: twilio-run.sh exits 3), the same handlers are served by plain node
# (spec/browser/functions.js, no npm packages), saying so. Then it runs
#   build/rivulet run flows/random_number.lua --map-url https://example-1234.twil.io=URL
# as a conversation on a terminal, or scripted (--reply 1 --reply 6) otherwise, and stops
# the server afterwards, also when the run fails or is interrupted.
#
#   scripts/demo.sh            RIVULET_BIN overrides build/rivulet
#
# Exit status: the run's (0 ended normally, 1 failed, 2 bad input); 1 when the server
# could not start.
set -eu

me=scripts/demo.sh
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${RIVULET_BIN:-$root/build/rivulet}

if [ ! -x "$bin" ]; then
	echo "$me: $bin not found (run make first)" >&2
	exit 1
fi
if ! command -v node >/dev/null 2>&1; then
	echo "$me: node not found (scripts/deps.sh installs Node.js)" >&2
	exit 1
fi
fallback=0
sh "$root/scripts/twilio-run.sh" || {
	status=$?
	if [ "$status" -ne 3 ]; then exit "$status"; fi
	echo "$me: without twilio-run, node serves the function itself (spec/browser/functions.js: the same handler, no Functions runtime)" >&2
	fallback=1
}

# The Lua side writes the server's process group here while it runs, so this shell can
# still stop the server if the Lua side dies before it does (Ctrl-C during the start).
pgid_file=$(mktemp)
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	pgid=$(cat "$pgid_file" 2>/dev/null || true)
	if [ -n "$pgid" ]; then kill -TERM -"$pgid" 2>/dev/null || true; fi
	rm -f "$pgid_file"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The driver comes on fd 3 so stdin stays the terminal for the conversation.
status=0
"$bin" lua /dev/fd/3 "$root" "$bin" "$pgid_file" "$fallback" 3<<'EOF' || status=$?
local root, bin, pgid_file, fallback = ...
package.path = root .. "/?.lua;" .. package.path
local helper = require "spec.helper"

local server, err, what
if fallback == "1" then
  what = "node spec/browser/functions.js"
  local proc
  proc, err = require("spec.serve_helper").spawn{ name = what,
    argv = { "node", root .. "/spec/browser/functions.js" },
    ready = function(e) return e.event == "listening" end }
  if proc then
    server = { base_url = proc.ready.url, pgid = proc.pid, stop = function() proc:stop() end }
  end
else
  what = "twilio-run"
  server, err = require("spec.twilio_run").start{ deadline_s = 20 }
end
if not server then
  io.stderr:write("scripts/demo.sh: ", what, " did not start: ", tostring(err), "\n")
  os.exit(1)
end
helper.write_file(pgid_file, tostring(server.pgid) .. "\n")
io.stderr:write(("scripts/demo.sh: %s serves %s%s\n"):format(what, server.base_url,
  server.ready_s and (" (ready in %.1f s)"):format(server.ready_s) or ""))

local argv = { bin, "run", root .. "/flows/random_number.lua",
               "--map-url", "https://example-1234.twil.io=" .. server.base_url }
-- a terminal gets the conversation; anything else the seed's replies
if os.execute("test -t 0") ~= true then
  for _, r in ipairs{ "--reply", "1", "--reply", "6" } do argv[#argv + 1] = r end
end
for i, a in ipairs(argv) do argv[i] = helper.quote(a) end
-- os.execute: the run inherits the terminal, and Ctrl-C stops it, not this driver
local _, how, code = os.execute(table.concat(argv, " "))
server:stop()
helper.write_file(pgid_file, "")
if how == "signal" then os.exit(128 + code) end
os.exit(code or 1)
EOF
exit "$status"
