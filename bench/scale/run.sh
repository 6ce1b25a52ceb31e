#!/usr/bin/env bash
# Scale: N executions (10,000) on one thread, each Trigger -> Run Function (a function that
# answers after 100 ms) -> Send Message, started at once (bench/scale/scale.lua), against
# two floors on the same C server (bench/http/server.c): bare libcurl multi (socket
# interface, sharded as rivulet's is) and raw non-blocking sockets (bench/scale/multi.c),
# the three in turns for BENCH_ROUNDS rounds; in the same turns the same executions in
# Node-RED (node-red-scale.js, its http request node) and rivulet at Node-RED's size
# (BENCH_SCALE_NR_N, 2,000: Node-RED takes ~2 ms of CPU an execution, 10,000 would add
# minutes a round); then the RSS of an idle embedding host (idle.c). Every reply is
# checked. make bench runs it; with $BENCH_TABLE set the rows go to its table.
#   bench/scale/run.sh                  BENCH_ROUNDS=3 BENCH_SCALE_N=10000 (the defaults)
#   BENCH_QUICK=1 bench/scale/run.sh    2,000 executions, 500 for Node-RED
set -u
cd "$(dirname "$0")/../.." || exit 2
me=bench/scale/run.sh
if [ -n "${BENCH_QUICK:-}" ]; then N=${BENCH_SCALE_N:-2000} NR_N=${BENCH_SCALE_NR_N:-500}
else N=${BENCH_SCALE_N:-10000} NR_N=${BENCH_SCALE_NR_N:-2000}; fi
NR=bench/serve/node-red
if ! command -v node >/dev/null 2>&1 || [ ! -f "$NR/node_modules/node-red/package.json" ]; then
  echo "$me: Node-RED is not installed in $NR (scripts/deps.sh --bench installs it)" >&2
  exit 1
fi
ROUNDS=${BENCH_ROUNDS:-3}
BIN=${RIVULET_BIN:-build/rivulet}
# one socket per execution on each side: lift the descriptor limit as far as allowed
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
if [ "$(ulimit -n)" -lt $((N + 100)) ]; then
  echo "$me: $N executions need $((N + 100)) descriptors; the limit is $(ulimit -n)" >&2
  exit 1
fi
mkdir -p build/bench
CURL_FLAGS=$(pkg-config --cflags --libs libcurl 2>/dev/null || echo -lcurl)
# shellcheck disable=SC2086
${CC:-cc} -std=c99 -O2 -Wall -Wextra -o build/bench/server bench/http/server.c &&
  ${CC:-cc} -std=c99 -O2 -Wall -Wextra -o build/bench/multi bench/scale/multi.c $CURL_FLAGS ||
  { echo "$me: cannot build the server or the floors" >&2; exit 1; }
OUT=$(mktemp -d "${TMPDIR:-/tmp}/rivulet-scale.XXXXXX") || exit 2
cleanup() { exec 3>&-; rm -rf "$OUT"; }
trap cleanup EXIT
SRV_PIN=() CLI_PIN=()
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then SRV_PIN=(taskset -c 0) CLI_PIN=(taskset -c 1); fi
exec 3> >(exec "${SRV_PIN[@]}" build/bench/server >"$OUT/server.out" 2>&1)
PORT=
for _ in $(seq 50); do
  PORT=$(sed -n 's/^PORT \([0-9]*\)$/\1/p' "$OUT/server.out" 2>/dev/null)
  [ -n "$PORT" ] && break
  sleep 0.1
done
[ -n "$PORT" ] || { echo "$me: the server did not start" >&2; exit 1; }
URL=http://127.0.0.1:$PORT
echo "scale: $ROUNDS rounds of $N executions calling a 100 ms function on one thread; floors: raw sockets," \
  "libcurl multi; peer: Node-RED 4.1.8 at $NR_N; server on CPU 0, clients on CPU 1"
# The peers' heaps as rivulet's: `rivulet lua` runs itself again with glibc's
# glibc.malloc.hugetlb=1 (src/main.c), so the floors and Node-RED get the same tunable. On
# 4 KiB pages libcurl's 10,000 transfers alone take ~42,000 page faults (~10 us each on a
# virtual machine) that rivulet would not pay: a floor without it flatters us.
PEER_HEAP=(env GLIBC_TUNABLES=glibc.malloc.hugetlb=1)
fail=0
for _ in $(seq 1 "$ROUNDS"); do
  "${CLI_PIN[@]}" "${PEER_HEAP[@]}" build/bench/multi raw "$URL/slow" "$N" >>"$OUT/scale.jsonl" || { fail=1; break; }
  "${CLI_PIN[@]}" "${PEER_HEAP[@]}" build/bench/multi curl "$URL/slow" "$N" >>"$OUT/scale.jsonl" || { fail=1; break; }
  "${CLI_PIN[@]}" "$BIN" lua bench/scale/scale.lua "$URL" "$N" >>"$OUT/scale.jsonl" || { fail=1; break; }
  "${CLI_PIN[@]}" "${PEER_HEAP[@]}" node bench/scale/node-red-scale.js "$URL/slow" "$NR_N" >>"$OUT/scale.jsonl" ||
    { fail=1; break; }
  "${CLI_PIN[@]}" "$BIN" lua bench/scale/scale.lua "$URL" "$NR_N" rivulet-nr >>"$OUT/scale.jsonl" || { fail=1; break; }
done
cat "$OUT/scale.jsonl"
if [ "$fail" = 1 ]; then echo "$me: a run failed" >&2; exit 1; fi
"$BIN" lua bench/scale/rows.lua "$OUT/scale.jsonl" || exit 1
# shellcheck disable=SC2046
cc -O2 -Isrc -o build/bench/idle bench/scale/idle.c build/librivulet.a \
  $(pkg-config --libs lua5.4 libcurl libcrypto libpcre2-8 sqlite3 libmicrohttpd) -lm && build/bench/idle
