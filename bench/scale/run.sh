#!/usr/bin/env bash
# Scale: 10,000 executions on one thread, each calling a function that answers after
# 100 ms (goal <= 1.0 s wall), and the RSS of an idle embedding host. make bench runs it.
#   BENCH_SCALE_N=2000 bench/scale/run.sh     fewer executions
set -u
cd "$(dirname "$0")/../.." || exit 2
N=${BENCH_SCALE_N:-10000}
BIN=${RIVULET_BIN:-build/rivulet}
if ! command -v node >/dev/null 2>&1; then echo "bench/scale: node not found; skipped"; exit 0; fi
# one socket per execution: lift the descriptor limit as far as allowed
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
OUT=$(mktemp -d "${TMPDIR:-/tmp}/rivulet-scale.XXXXXX") || exit 2
cleanup() { exec 3>&-; rm -rf "$OUT"; }
trap cleanup EXIT
exec 3> >(exec node bench/http/server.js >"$OUT/server.out" 2>&1)
PORT=
for _ in $(seq 50); do
  PORT=$(sed -n 's/^PORT \([0-9]*\)$/\1/p' "$OUT/server.out" 2>/dev/null)
  [ -n "$PORT" ] && break
  sleep 0.1
done
[ -n "$PORT" ] || { echo "bench/scale: the server did not start"; exit 1; }
echo "scale: $N executions calling a 100 ms function on one thread (goal <= 1.0 s wall), descriptors $(ulimit -n)"
"$BIN" lua bench/scale/scale.lua "http://127.0.0.1:$PORT" "$N"
mkdir -p build/bench
cc -O2 -Isrc -o build/bench/idle bench/scale/idle.c build/librivulet.a \
  $(pkg-config --libs lua5.4 libcurl libcrypto libpcre2-8 sqlite3 libmicrohttpd) -lm && build/bench/idle
