#!/usr/bin/env bash
# The engine's figures (make bench runs it; see bench/README.md "The table"):
#   non-I/O steps/s of realistic executions (bench/engine/steps.lua) against Node-RED running
#   the same flow (node-red-steps.js), per CPU-second, and beside them the same flow run by a
#   loop in C over C data (ceiling.c: what a redesign of the engine's data could reach); steps/s with an SQLite store
#   (synchronous NORMAL) against in memory (bench/store/steps.lua), and bare SQLite making the
#   same commits (bench/store/floor.c, the store's floor); memory per execution waiting at a
#   Send & Wait (waiting.lua). BENCH_ROUNDS rounds, the engines in turns.
#
#   bench/engine/run.sh                 BENCH_ROUNDS=3 BENCH_EXECUTIONS=20000 (the defaults)
#   BENCH_QUICK=1 bench/engine/run.sh   fewer executions: for development, not for figures
#
# Exit status 1 when an execution did not end as it should, or a peer is missing.
set -u
cd "$(dirname "$0")/../.." || exit 2
me=bench/engine/run.sh
BIN=${RIVULET_BIN:-build/rivulet}
ROUNDS=${BENCH_ROUNDS:-3}
if [ -n "${BENCH_QUICK:-}" ]; then N=${BENCH_EXECUTIONS:-4000} STORE_N=300 WAITING=2000
else N=${BENCH_EXECUTIONS:-20000} STORE_N=1000 WAITING=10000; fi
LOOPS=10
NR=bench/serve/node-red
command -v node >/dev/null 2>&1 || { echo "$me: node not found (scripts/deps.sh --bench installs it)" >&2; exit 1; }
[ -f "$NR/node_modules/node-red/package.json" ] ||
  { echo "$me: Node-RED is not installed in $NR (scripts/deps.sh --bench installs it)" >&2; exit 1; }
mkdir -p build/bench
# shellcheck disable=SC2046
${CC:-cc} -std=c99 -O2 -Wall -Wextra -o build/bench/store-floor bench/store/floor.c \
  $(pkg-config --cflags --libs sqlite3 2>/dev/null || echo -lsqlite3) ||
  { echo "$me: cannot build bench/store/floor.c" >&2; exit 1; }
# shellcheck disable=SC2046
${CC:-cc} -std=c99 -O2 -Wall -Wextra -Isrc -o build/bench/ceiling bench/engine/ceiling.c build/librivulet.a \
  $(pkg-config --libs lua5.4 libcurl libcrypto libpcre2-8 sqlite3 libmicrohttpd) -lm ||
  { echo "$me: cannot build bench/engine/ceiling.c (make builds build/librivulet.a)" >&2; exit 1; }
OUT=$(mktemp "${TMPDIR:-/tmp}/rivulet-bench-engine.XXXXXX") || exit 2
FLOOR_DIR=$(mktemp -d "${TMPDIR:-/tmp}/rivulet-bench-floor.XXXXXX") || exit 2
trap 'rm -rf "$OUT" "$FLOOR_DIR"' EXIT
PIN=()
if command -v taskset >/dev/null 2>&1 && taskset -c 0 true 2>/dev/null; then PIN=(taskset -c 0); fi

echo "engine: $ROUNDS rounds; each: $N executions of $((2 * LOOPS + 2)) steps (rivulet, Node-RED 4.1.8, the C loop)," \
  "$STORE_N three-question executions (in memory, SQLite NORMAL, bare SQLite), $WAITING executions waiting"
fail=0
run() {
  if ! "${PIN[@]}" "$@" >>"$OUT"; then echo "$me: failed: $*" >&2; fail=1; fi
}
for _ in $(seq 1 "$ROUNDS"); do
  run "$BIN" lua bench/engine/steps.lua "$N" "$LOOPS"
  run node bench/engine/node-red-steps.js "$N" "$LOOPS"
  run build/bench/ceiling "$N" "$LOOPS"
  run "$BIN" lua bench/store/steps.lua memory "$STORE_N"
  run "$BIN" lua bench/store/steps.lua normal "$STORE_N"
  run build/bench/store-floor "$FLOOR_DIR" "$STORE_N"
  rm -f "$FLOOR_DIR"/*
  run "$BIN" lua bench/engine/waiting.lua "$WAITING"
  [ "$fail" = 0 ] || break
done
[ "$fail" = 0 ] && "$BIN" lua bench/engine/report.lua "$OUT"
exit "$fail"
