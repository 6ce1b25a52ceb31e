#!/bin/sh
# Cold `rivulet run` of a three-step flow: a new process each time, as a webhook script or
# a CI job would start it. Goal: <= 10 ms. Uses hyperfine when installed, else a loop.
cd "$(dirname "$0")/../.." || exit 2
bin=${RIVULET_BIN:-build/rivulet}
flow=bench/engine/three_steps.lua
n=${BENCH_N:-50}
if command -v hyperfine >/dev/null 2>&1; then
  hyperfine --warmup 5 -N -r "$n" "$bin run $flow --body world" 2>/dev/null | grep -E "Time|Range"
else
  start=$(date +%s%N)
  i=0
  while [ "$i" -lt "$n" ]; do "$bin" run "$flow" --body world >/dev/null 2>&1; i=$((i + 1)); done
  end=$(date +%s%N)
  echo "cold run: $(( (end - start) / n / 1000 )) us mean over $n runs"
fi
