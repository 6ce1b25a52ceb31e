-- A store of N executions waiting for a reply, for bench/store/deliver.sh: the first one is
-- a real `rivulet deliver` run of bench/serve's appointment flow (contact +15550000001); the
-- others are SQL copies of its rows (execution and step) with their own SID and contact
-- +1555xxxxxxx (in the columns and the contexts), waiting as it does. Copies, because 100,000 real starts take minutes.
--
--   build/rivulet lua bench/store/fill.lua DB N FLOW
local store_mod = require "rivulet.store"

local db, n, flow = arg[1], tonumber(arg[2]), arg[3]
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local bin = os.getenv("RIVULET_BIN") or "build/rivulet"
assert(os.execute(string.format("%s deliver --store %s --flow %s --from +15550000001 --to +15559990000" ..
  " --body hi >/dev/null 2>&1", bin, db, flow)), "the first delivery failed")
local s = assert(store_mod.open(db, { synchronous = "normal" }))
local cols = {}
for _, c in ipairs(assert(s:all("PRAGMA table_info(executions)"))) do cols[#cols + 1] = c.name end
local sel = {}
for i, c in ipairs(cols) do
  sel[i] = c == "sid" and "'FN' || lower(hex(randomblob(16)))" or c == "contact" and "printf('+1555%07d', k)" or
    (c == "context" or c == "wait" or c == "trigger") and ("replace(e." .. c .. ", '+15550000001', printf('+1555%07d', k))") or "e." .. c
end
local list = table.concat(cols, ", ")
assert(s:run("BEGIN"))
assert(s:run(string.format([[
  WITH RECURSIVE seq(k) AS (SELECT 2 UNION ALL SELECT k + 1 FROM seq WHERE k < ?)
  INSERT INTO executions (%s) SELECT %s FROM seq, executions e WHERE e.contact = '+15550000001']],
  list, table.concat(sel, ", ")), n))
local scols = {}
for _, c in ipairs(assert(s:all("PRAGMA table_info(steps)"))) do scols[#scols + 1] = c.name end
local ssel = {}
for i, c in ipairs(scols) do
  ssel[i] = c == "execution_sid" and "e.sid" or c == "sid" and "'FT' || lower(hex(randomblob(16)))" or
    c == "context" and "replace(t.context, '+15550000001', e.contact)" or "t." .. c
end
assert(s:run(string.format([[
  INSERT INTO steps (%s) SELECT %s FROM executions e, steps t, executions o
  WHERE o.contact = '+15550000001' AND t.execution_sid = o.sid AND e.sid <> o.sid]],
  table.concat(scols, ", "), table.concat(ssel, ", "))))
assert(s:run("COMMIT"))
local count = s:first("SELECT count(*) AS n FROM executions WHERE status = 'active' AND wait_kind = 'reply'").n
s:close()
assert(count == n, string.format("%d executions waiting, not %d", count, n))
print(string.format("store %s: %d executions waiting for a reply", db, count))
