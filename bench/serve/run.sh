#!/bin/bash
# The HTTP server layer (src/server.c via rivulet.core.server_listen), measured alone:
#   1. requests/s and latency (p50/p99) of a trivial immediate answer, 50 concurrent
#      keep-alive clients: wrk -t1 -c50 -d${BENCH_SECONDS:-10}s --latency (Debian's wrk)
#   2. memory per idle connection: the server's RSS before and after $IDLE (1000)
#      keep-alive connections that made one request each and then sit idle
# Run from the repository root with the checkout's modules on the Lua path (make bench does);
# RIVULET_BIN is the host (default build/rivulet).
set -eu
BIN=${RIVULET_BIN:-build/rivulet}
SECS=${BENCH_SECONDS:-10}
IDLE=${IDLE:-1000}
command -v wrk >/dev/null || { echo "bench/serve: wrk is not installed (apt-get install wrk)"; exit 1; }

out=$(mktemp)
"$BIN" lua bench/serve/serve.lua > "$out" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -f "$out"' EXIT
for _ in $(seq 50); do grep -q '^port ' "$out" && break; sleep 0.1; done
port=$(sed -n 's/^port //p' "$out")
[ -n "$port" ] || { echo "bench/serve: the server did not start"; exit 1; }

echo "serve: trivial answer, 50 keep-alive clients (wrk -t1 -c50 -d${SECS}s --latency)"
wrk -t1 -c50 -d"${SECS}s" --latency "http://127.0.0.1:$port/" |
  awk '/Requests\/sec/ {print "  requests/s " $2} / 50%/ {print "  p50 " $2} / 99%/ {print "  p99 " $2}
       /Non-2xx|Socket errors/ {print "  " $0}'

rss() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
before=$(rss)
fifo=$(mktemp -u)
mkfifo "$fifo"
lua5.4 bench/serve/idle.lua "$port" "$IDLE" < "$fifo" > "$out.idle" &
cpid=$!
exec 3> "$fifo"
for _ in $(seq 300); do grep -q '^idle ' "$out.idle" 2>/dev/null && break; sleep 0.1; done
after=$(rss)
exec 3>&-
wait $cpid || true
rm -f "$fifo" "$out.idle"
echo "serve: $IDLE idle keep-alive connections: RSS ${before} kB -> ${after} kB," \
  "$(( (after - before) * 1024 / IDLE )) bytes per connection"
