#!/bin/sh
# Cold `rivulet run` of a three-step flow (a new process each time, as a webhook script or a
# CI job starts it) against the floor `lua5.4 -e ''`: the interpreter rivulet embeds,
# starting and doing nothing. BENCH_ROUNDS rounds; in each, hyperfine times both (its own
# warm-up, then BENCH_N runs each) and the ratio of the means is that round's figure. The
# run's output is checked. With $BENCH_TABLE set the row goes to make bench's table.
#   bench/engine/cold.sh                  BENCH_ROUNDS=3 BENCH_N=50 (the defaults)
#   BENCH_QUICK=1 bench/engine/cold.sh    20 runs a round
cd "$(dirname "$0")/../.." || exit 2
me=bench/engine/cold.sh
bin=${RIVULET_BIN:-build/rivulet}
flow=bench/engine/three_steps.lua
if [ -n "${BENCH_QUICK:-}" ]; then n=${BENCH_N:-20}; else n=${BENCH_N:-50}; fi
rounds=${BENCH_ROUNDS:-3}
command -v hyperfine >/dev/null 2>&1 || { echo "$me: hyperfine not found (scripts/deps.sh --bench installs it)" >&2; exit 1; }
command -v lua5.4 >/dev/null 2>&1 || { echo "$me: lua5.4 not found (scripts/deps.sh installs it)" >&2; exit 1; }
out=$("$bin" run "$flow" --body world 2>&1)
case $out in
  *"Hello world"*) ;;
  *) echo "$me: rivulet run did not send 'Hello world':" >&2; echo "$out" >&2; exit 1 ;;
esac
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rivulet-cold.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
echo "cold start: $rounds rounds of $n runs each of '$bin run $flow' and 'lua5.4 -e \"\"'"
i=1
while [ "$i" -le "$rounds" ]; do
  hyperfine -N --warmup 5 -r "$n" --export-json "$tmp/r$i.json" "$bin run $flow --body world" "lua5.4 -e ''" \
    >/dev/null 2>&1 || { echo "$me: hyperfine failed" >&2; exit 1; }
  i=$((i + 1))
done
"$bin" lua bench/engine/cold_rows.lua "$tmp"/r*.json
