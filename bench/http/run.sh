#!/usr/bin/env bash
# HTTP benchmark: Run Function through rivulet against a bare libcurl floor, and 1,000
# concurrent calls on one thread. See bench/http/README.md.
#
#   bench/http/run.sh                      (make bench runs it)
#   BENCH_SECONDS=0.3 bench/http/run.sh    shorter rounds
#   BENCH_N=2000 bench/http/run.sh         a fixed number of calls per round instead
#   BENCH_ROUNDS=3 BENCH_WARMUP=200 BENCH_CONCURRENCY=1000 BENCH_CONCURRENT_RUNS=3
#   BENCH_PIN=same                         (the defaults)
#
#   BENCH_QUICK=1                          shorter rounds, 300 concurrent calls (development)
#
# Server: bench/http/server.c (C, epoll, 127.0.0.1, keep-alive, {"number":4}; /slow answers
# after 100 ms), built here into build/bench/server, so the server costs every client the
# same and little. Client programs: build/bench/bare (bench/http/bare.c, built here) and
# bench/http/rivulet.lua (client calls and Run Function steps). BENCH_PIN=same|split|none
# places them on CPUs (see below). With $BENCH_TABLE set, the Run Function step's row goes
# to make bench's table (bench/lib/rows.lua).
#
# Exit status: 1 when rivulet cannot run, a call fails or bare.c does not build; 0
# otherwise. The goals are printed for information and never fail the run.
set -u

cd "$(dirname "$0")/../.." || exit 2
me=bench/http/run.sh

if [ -n "${BENCH_QUICK:-}" ]; then
  : "${BENCH_SECONDS:=0.3}" "${BENCH_CONCURRENCY:=300}" "${BENCH_WARMUP:=100}"
fi
export BENCH_SECONDS=${BENCH_SECONDS:-1}
BENCH_N=${BENCH_N:-0}
ROUNDS=${BENCH_ROUNDS:-3}
WARMUP=${BENCH_WARMUP:-200}
CONCURRENCY=${BENCH_CONCURRENCY:-1000}
CONC_RUNS=${BENCH_CONCURRENT_RUNS:-3}
unset RIVULET_AUTH_TOKEN            # the unsigned rows must be unsigned

if ! command -v node >/dev/null 2>&1; then
  echo "$me: node not found (scripts/deps.sh --bench installs it)" >&2
  exit 1
fi

OUT=$(mktemp -d "${TMPDIR:-/tmp}/rivulet-bench-http.XXXXXX") || exit 2
SERVER_PID=
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
  exec 3>&-                           # closing the server's stdin stops it
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null; fi
  rm -rf "$OUT"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- build bare.c
mkdir -p build/bench
if ! CURL_FLAGS=$(pkg-config --cflags --libs libcurl 2>/dev/null); then
  CURL_FLAGS=-lcurl
fi
# shellcheck disable=SC2086 # word splitting of the flags is wanted
if ! ${CC:-cc} -std=c99 -O2 -Wall -Wextra -o build/bench/bare bench/http/bare.c $CURL_FLAGS; then
  echo "$me: cannot build bench/http/bare.c (needs libcurl4-openssl-dev)" >&2
  exit 1
fi
if ! ${CC:-cc} -std=c99 -O2 -Wall -Wextra -o build/bench/server bench/http/server.c; then
  echo "$me: cannot build bench/http/server.c" >&2
  exit 1
fi

# ---- how rivulet runs (as bench/liquid/run.sh): the host binary, else lua5.4 + paths
LUA=$(command -v lua5.4 || command -v lua || true)
if [ -n "${RIVULET_BIN:-}" ] && [ -x "$RIVULET_BIN" ]; then
  RIV=("$RIVULET_BIN" lua)
elif [ -x build/rivulet ]; then
  RIV=(build/rivulet lua)
elif [ -n "$LUA" ]; then
  if [ -z "${LUA_PATH_5_4:-}" ]; then
    export LUA_PATH_5_4="./lua/?.lua;./lua/?/init.lua;;"
    export LUA_CPATH_5_4="./build/lib/?.so;;"
  fi
  RIV=("$LUA")
else
  echo "$me: neither build/rivulet nor lua5.4 found (run make first)" >&2
  exit 1
fi
if ! "${RIV[@]}" - <<<'local r = require "rivulet"; assert(type(r.run_function) == "function" and type(r.http.client) == "function")' \
  >/dev/null 2>"$OUT/probe.err"; then
  echo "$me: rivulet.run_function is not available through ${RIV[*]}:" >&2
  sed 's/^/  /' "$OUT/probe.err" >&2
  exit 1
fi

# ---- CPUs (BENCH_PIN): the server on CPU 0; the latency clients on CPU 0 too ("same",
# the default: a one-at-a-time ping-pong stays on one CPU, as the scheduler does unpinned,
# whereas a cross-CPU wake-up costs ~50 us on a VM and drowns the comparison) or on CPU 1
# ("split"); the concurrent client on CPU 1. BENCH_PIN=none pins nothing.
PIN_MODE=${BENCH_PIN:-same}
SRV_PIN=() LAT_PIN=() CONC_PIN=() PIN_NOTE="not pinned"
if [ "$PIN_MODE" != none ] && command -v taskset >/dev/null 2>&1 &&
  [ "$(nproc 2>/dev/null || echo 1)" -ge 2 ] && taskset -c 1 true 2>/dev/null; then
  SRV_PIN=(taskset -c 0) CONC_PIN=(taskset -c 1)
  if [ "$PIN_MODE" = split ]; then LAT_PIN=(taskset -c 1); else LAT_PIN=(taskset -c 0); fi
  PIN_NOTE="server on CPU 0, (a) clients on CPU ${LAT_PIN[2]}, (b) client on CPU 1"
fi

# 1,000 sockets on each side
ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ---- the server: its stdin is fd 3 of this script
exec 3> >(exec "${SRV_PIN[@]}" build/bench/server >"$OUT/server.out" 2>&1)
SERVER_PID=$!
PORT=
for _ in $(seq 1 100); do
  PORT=$(sed -n 's/^PORT \([0-9]*\)$/\1/p' "$OUT/server.out" 2>/dev/null)
  [ -n "$PORT" ] && break
  sleep 0.05
done
if [ -z "$PORT" ]; then
  echo "$me: the server did not start within 5 s:" >&2
  sed 's/^/  /' "$OUT/server.out" >&2
  exit 1
fi
BASE=http://127.0.0.1:$PORT

if [ "$BENCH_N" -gt 0 ] 2>/dev/null; then
  HOW="$BENCH_N calls per round"
else
  BENCH_N=0
  HOW="${BENCH_SECONDS} s per round"
fi
echo "HTTP benchmark: loopback C server (keep-alive, {\"number\":4}), ${PIN_NOTE}"
echo "  (a) ${ROUNDS} interleaved rounds × ${HOW} per implementation, ${WARMUP} warm-up calls each"
echo "  (b) ${CONC_RUNS} runs × ${CONCURRENCY} calls to ${BASE}/slow (100 ms)"
echo "  rivulet: ${RIV[*]}"

fail=0
run_client() {   # file, then the command (with its taskset); appends its JSON line to $OUT/$file
  local file=$1; shift
  if ! "$@" >>"$OUT/$file" 2>"$OUT/client.err"; then
    echo "$me: failed: $*" >&2
    sed 's/^/  /' "$OUT/client.err" >&2
    fail=1
    return 1
  fi
}

# (a) latency: bare, rivulet, rivulet signed, a Run Function step, interleaved so drift hits
# all alike
for _ in $(seq 1 "$ROUNDS"); do
  run_client lat.jsonl "${LAT_PIN[@]}" build/bench/bare "$BASE/number" "$BENCH_N" "$BENCH_SECONDS" "$WARMUP" || break
  run_client lat.jsonl "${LAT_PIN[@]}" "${RIV[@]}" bench/http/rivulet.lua latency "$BASE/number" "$BENCH_N" \
    "$BENCH_SECONDS" "$WARMUP" || break
  run_client lat.jsonl "${LAT_PIN[@]}" "${RIV[@]}" bench/http/rivulet.lua latency "$BASE/number" "$BENCH_N" \
    "$BENCH_SECONDS" "$WARMUP" 0123456789abcdef0123456789abcdef || break
  run_client lat.jsonl "${LAT_PIN[@]}" "${RIV[@]}" bench/http/rivulet.lua step "$BASE/number" "$BENCH_N" \
    "$BENCH_SECONDS" "$WARMUP" || break
done

# (b) concurrency: a fresh process (so fresh connections) per run
if [ "$fail" = 0 ]; then
  for _ in $(seq 1 "$CONC_RUNS"); do
    run_client conc.jsonl "${CONC_PIN[@]}" "${RIV[@]}" bench/http/rivulet.lua concurrent "$BASE/slow" "$CONCURRENCY" || break
  done
fi

node bench/http/report.js "$OUT/lat.jsonl" "$OUT/conc.jsonl" "$CONCURRENCY"
if [ "$fail" = 0 ]; then "${RIV[@]}" bench/http/rows.lua "$OUT/lat.jsonl" || fail=1; fi
exit "$fail"
