#!/usr/bin/env bash
# make bench: every benchmark, then ONE table of the figures with their goals
# (bench/README.md, "The table"). Each part measures in rounds with its peer or floor in
# turns, checks its results, and appends its rows to $BENCH_TABLE (bench/lib/rows.lua);
# bench/table.lua prints them at the end. About 8-10 minutes on the 2-CPU machine.
#
#   bench/run.sh                 (make bench)
#   BENCH_QUICK=1 bench/run.sh   smaller runs for development, about 3 minutes; its figures
#                                are noisier and are not the ones to quote
#   BENCH_ONLY="engine cold"     only those parts (liquid http engine cold logic deliver
#                                scale serve studio cluster)
#
# Exit status 1 when a part failed: a wrong result, a peer or tool missing, a build
# failure. Speed never fails it.
set -u
cd "$(dirname "$0")/.." || exit 2
export RIVULET_BIN=${RIVULET_BIN:-build/rivulet}
mkdir -p build/bench
export BENCH_TABLE=${BENCH_TABLE:-$PWD/build/bench/table.jsonl}
: > "$BENCH_TABLE"
PARTS=${BENCH_ONLY:-"liquid http engine cold logic deliver scale serve studio cluster"}
failed=""
part() {    # name, command...
  local name=$1 t0 t1
  shift
  case " $PARTS " in *" $name "*) ;; *) return 0 ;; esac
  echo ""
  echo "==== $name: $*"
  t0=$(date +%s)
  if ! "$@"; then failed="$failed $name"; fi
  t1=$(date +%s)
  echo "==== $name took $((t1 - t0)) s"
}
if [ -n "${BENCH_QUICK:-}" ]; then
  studio=(env BENCH_ROUNDS=1 BENCH_CONVERSATIONS=300 BENCH_CREATES=600 BENCH_RATE_REQUESTS=600 BENCH_IDLE=300
          BENCH_WAITING=300 bash bench/serve/studio.sh)
  serve=(env BENCH_SECONDS=2 IDLE=300 bash bench/serve/run.sh)
else
  # fewer requests than studio.sh's own defaults (3 to 8 minutes alone), 3 rounds still
  studio=(env BENCH_CONVERSATIONS=1000 BENCH_CREATES=2000 BENCH_RATE_REQUESTS=2000 bash bench/serve/studio.sh)
  serve=(env BENCH_SECONDS=5 bash bench/serve/run.sh)
fi
start=$(date +%s)
part liquid bash bench/liquid/run.sh
part http bash bench/http/run.sh
part engine bash bench/engine/run.sh
part cold sh bench/engine/cold.sh
part logic "$RIVULET_BIN" lua bench/logic/calls.lua
part deliver sh bench/store/deliver.sh
part scale bash bench/scale/run.sh
part serve "${serve[@]}"
part studio "${studio[@]}"
if [ -n "${BENCH_QUICK:-}" ]; then cluster_n=300; else cluster_n=2000; fi
part cluster "$RIVULET_BIN" lua bench/serve/cluster.lua "$cluster_n"
echo ""
echo "==== make bench: $(( $(date +%s) - start )) s${BENCH_QUICK:+ (BENCH_QUICK: development figures)}"
"$RIVULET_BIN" lua bench/table.lua "$BENCH_TABLE"
if [ -n "$failed" ]; then
  echo "make bench: these parts FAILED (see above):$failed" >&2
  exit 1
fi
