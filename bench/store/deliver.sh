#!/bin/sh
# `rivulet deliver` at BIG stored executions (100,000) against its cost at 1,000: two stores
# of executions waiting for a reply (bench/store/fill.lua), and in each round BENCH_N
# replies (yes) delivered to contacts of each store in turn, every one a fresh process timed
# by hyperfine (no shell in between). Each reply must end its execution ("confirmed"). The
# round's figure is the mean at BIG over the mean at 1,000. With $BENCH_TABLE set the row
# goes to make bench's table.
#   bench/store/deliver.sh                 BENCH_ROUNDS=3 BENCH_N=20 BENCH_BIG=100000
#   BENCH_QUICK=1 bench/store/deliver.sh   10 replies a round
cd "$(dirname "$0")/../.." || exit 2
me=bench/store/deliver.sh
BIN=${RIVULET_BIN:-build/rivulet}
if [ -n "${BENCH_QUICK:-}" ]; then n=${BENCH_N:-10}; else n=${BENCH_N:-20}; fi
rounds=${BENCH_ROUNDS:-3}
big=${BENCH_BIG:-100000}
flow=bench/serve/flows/appointment.json
command -v hyperfine >/dev/null 2>&1 || { echo "$me: hyperfine not found (scripts/deps.sh --bench installs it)" >&2; exit 1; }
# a disk, not tmpfs, as a store would be (TMPDIR may say where)
tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/rivulet-deliver.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
export RIVULET_BIN="$BIN"
"$BIN" lua bench/store/fill.lua "$tmp/small.db" 1000 "$flow" || exit 1
"$BIN" lua bench/store/fill.lua "$tmp/big.db" "$big" "$flow" || exit 1
echo "deliver: $rounds rounds of $n replies to each store, in turns"
i=1 first=2
while [ "$i" -le "$rounds" ]; do
  last=$((first + n - 1))
  contacts=$(seq -f '+1555%07g' "$first" "$last" | paste -sd, -)
  for s in small big; do
    hyperfine -N -r 1 --export-json "$tmp/$s$i.json" --parameter-list c "$contacts" \
      "$BIN deliver --store $tmp/$s.db --flow $flow --from {c} --to +15559990000 --body yes" \
      >/dev/null 2>&1 || { echo "$me: hyperfine failed" >&2; exit 1; }
  done
  first=$((last + 1)) i=$((i + 1))
done
# every reply above ended its execution: as many fewer waiting in each store
"$BIN" lua - "$tmp/small.db" "$tmp/big.db" $((rounds * n)) 1000 "$big" <<'LUA' || exit 1
local store = require "rivulet.store"
for i = 1, 2 do
  local s = assert(store.open(arg[i], { readonly = true }))
  local row = s:first("SELECT count(*) AS n FROM executions WHERE status = 'ended' AND reason LIKE '%confirmed%'")
  s:close()
  if row.n ~= tonumber(arg[3]) then
    io.stderr:write(string.format("bench/store/deliver.sh: %s: %d executions confirmed, not %s\n", arg[i], row.n, arg[3]))
    os.exit(1)
  end
end
LUA
"$BIN" lua bench/store/deliver_rows.lua "$big" "$tmp"/small*.json -- "$tmp"/big*.json
