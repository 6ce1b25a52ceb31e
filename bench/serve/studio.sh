#!/usr/bin/env bash
# rivulet serve as Studio, under load (issue #14 "Speed"): see bench/README.md, section
# "rivulet serve". make bench runs it. Four figures, every answer checked and the store
# verified after each rivulet run:
#   1. webhook messages/s: 50 keep-alive clients post signed incoming-message webhooks
#      (a conversation = a first message that starts a Send & Wait + the reply that ends
#      it), rivulet serve (store FULL = serve's default, and NORMAL) against Node-RED's
#      http-in -> switch -> change -> http-response flow; ratio per round. The floor: the
#      same posts to a server that answers at once (bench/serve/serve.lua), what the
#      machine, the HTTP layer and the load client alone allow
#   2. answer latency p50/p90/p99/max at a fixed 1,000 messages/s (open loop); the floor:
#      a server that answers at once (bench/serve/serve.lua), same CPU, same load
#   3. REST executions.create/s (POST /v2/Flows/{FW}/Executions, Basic auth, new contacts,
#      the flow waits at its first widget)
#   4. RSS per idle keep-alive connection and per execution waiting at a Send & Wait
#
#   bench/serve/studio.sh
#   BENCH_ROUNDS=3 BENCH_CONVERSATIONS=2000 BENCH_CREATES=4000 BENCH_RATE=1000
#   BENCH_RATE_REQUESTS=4000 BENCH_IDLE=1000 BENCH_WAITING=1000   (the defaults)
#
# Servers run on CPU 0, the load client (build/bench/load, from bench/serve/load.c) on
# CPU 1. Exit status 1 when a request got a wrong answer, a store does not hold what the
# requests imply, or a server cannot start; never for speed (the goals are printed).
set -u
cd "$(dirname "$0")/../.." || exit 2
me=bench/serve/studio.sh
BIN=${RIVULET_BIN:-build/rivulet}
ROUNDS=${BENCH_ROUNDS:-3}
CONV=${BENCH_CONVERSATIONS:-2000}
CREATES=${BENCH_CREATES:-4000}
RATE=${BENCH_RATE:-1000}
RATE_N=${BENCH_RATE_REQUESTS:-4000}
IDLE=${BENCH_IDLE:-1000}
WAITING=${BENCH_WAITING:-1000}
CONNS=50
AC=AC0123456789abcdef0123456789abcdef
TOKEN=fedcba9876543210fedcba9876543210
PUBLIC=http://rivulet-bench.invalid         # what signatures cover, whatever the port
TWIML='<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
NR=bench/serve/node-red
export NODE_RED_DISABLE_TELEMETRY=1
unset RIVULET_ACCOUNT_SID RIVULET_AUTH_TOKEN

if ! command -v node >/dev/null 2>&1; then echo "$me: node not found (scripts/deps.sh --bench); skipped"; exit 0; fi
[ -x "$BIN" ] || { echo "$me: $BIN not found (run make)" >&2; exit 1; }
if [ ! -f "$NR/node_modules/node-red/red.js" ]; then
  echo "$me: installing Node-RED (npm ci in $NR)"
  (cd "$NR" && npm ci --no-audit --no-fund --loglevel=error) || { echo "$me: npm ci in $NR failed" >&2; exit 1; }
fi
mkdir -p build/bench
# shellcheck disable=SC2086
${CC:-cc} -std=c99 -O2 -Wall -Wextra -o build/bench/load bench/serve/load.c ||
  { echo "$me: cannot build bench/serve/load.c" >&2; exit 1; }

# idle connections and both ends of 1,000 sockets
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

OUT=$(mktemp -d "${TMPDIR:-/tmp}/rivulet-bench-studio.XXXXXX") || exit 2
PIDS=()
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  rm -rf "$OUT"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

SRV_PIN=() CLI_PIN=() PIN_NOTE="not pinned (fewer than 2 CPUs or no taskset)"
if command -v taskset >/dev/null 2>&1 && [ "$(nproc 2>/dev/null || echo 1)" -ge 2 ] && taskset -c 1 true 2>/dev/null; then
  SRV_PIN=(taskset -c 0) CLI_PIN=(taskset -c 1) PIN_NOTE="servers on CPU 0, load client on CPU 1"
fi
FS=$(stat -f -c %T "$OUT" 2>/dev/null || echo "?")

fail=0
RES=$OUT/results.jsonl
note_fail() { echo "$me: $*" >&2; fail=1; }
cpu_s() { awk '{printf "%.3f", ($14 + $15) / 100}' "/proc/$1/stat" 2>/dev/null || echo 0; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# ---- servers -------------------------------------------------------------------------------

# start_serve MODE DB: rivulet serve -> SPID, SPORT, FW. MODE full: the command as shipped;
# normal: through serve_with.lua, store NORMAL; memory: serve_with.lua, connection limits
# raised (serve takes 512 connections, 256 from one address) and nothing else changed
# `rivulet serve` runs itself again with GLIBC_TUNABLES set (its heap on huge pages, src/main.c);
# serve_with.lua, run by `rivulet lua`, gets what the last `rivulet serve` here ran with
SERVE_TUNABLES=
start_serve() {
  local mode=$1 db=$2 cmd
  local with=(env ${SERVE_TUNABLES:+"GLIBC_TUNABLES=$SERVE_TUNABLES"})
  case $mode in
    full) cmd=("$BIN" serve) ;;
    normal) cmd=("${with[@]}" "$BIN" lua bench/serve/serve_with.lua synchronous=normal --) ;;
    memory) cmd=("${with[@]}" "$BIN" lua bench/serve/serve_with.lua max_connections=$((IDLE + 2 * CONNS)) max_per_ip=0 --) ;;
  esac
  rm -f "$OUT/serve.out" "$OUT/serve.err"     # the last serve's lines must not be read as this one's
  "${SRV_PIN[@]}" "${cmd[@]}" --listen 127.0.0.1:0 --store "$db" --flows bench/serve/flows \
    --public-url "$PUBLIC" --account-sid "$AC" --auth-token "$TOKEN" >"$OUT/serve.out" 2>"$OUT/serve.err" &
  SPID=$!
  PIDS+=("$SPID")
  SPORT='' FW=''
  for _ in $(seq 400); do     # 20 s: opening the store and publishing commit (fsync)
    FW=$(awk '/^flow FW/ {print $2}' "$OUT/serve.out" 2>/dev/null)
    [ -n "$FW" ] && break
    sleep 0.05
  done
  SPORT=$(sed -n 's|^rivulet serve: listening on http://127.0.0.1:\([0-9]*\)$|\1|p' "$OUT/serve.out")
  if [ "$mode" = full ] && [ -r "/proc/$SPID/environ" ]; then
    SERVE_TUNABLES=$(tr '\0' '\n' <"/proc/$SPID/environ" | sed -n 's/^GLIBC_TUNABLES=//p')
  fi
  if [ -z "$SPORT" ] || [ -z "$FW" ]; then
    note_fail "rivulet serve did not start: $(cat "$OUT/serve.out" "$OUT/serve.err")"
    return 1
  fi
}

# stop_serve: SIGTERM, serve drains and closes the store; exit 0 wanted
stop_serve() {
  kill -TERM "$SPID" 2>/dev/null
  if ! wait "$SPID"; then note_fail "rivulet serve did not stop cleanly: $(tail -3 "$OUT/serve.err")"; fi
}

# sent messages serve printed ("> TO: BODY"), one per Send & Wait or Send Message
sent_count() { grep -c '^> +1' "$OUT/serve.out"; }

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

start_node_red() {
  local ud
  ud=$OUT/node-red-userdir
  mkdir -p "$ud"
  cp "$NR/flows.json" "$ud/flows.json"
  NRPORT=$(free_port)
  NODE_RED_PORT=$NRPORT "${SRV_PIN[@]}" node "$NR/node_modules/node-red/red.js" --userDir "$ud" \
    --settings "$PWD/$NR/settings.js" flows.json >"$OUT/node-red.out" 2>&1 &
  NRPID=$!
  PIDS+=("$NRPID")
  for _ in $(seq 200); do
    if node -e 'require("http").request({host:"127.0.0.1",port:+process.argv[1],method:"POST",path:"/v1/Accounts/x/Flows/y"},
      r=>process.exit(r.statusCode===200?0:1)).on("error",()=>process.exit(1)).end("Body=yes")' "$NRPORT" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  note_fail "Node-RED did not start: $(tail -5 "$OUT/node-red.out")"
  return 1
}

# the latency floor: bench/serve/serve.lua, a server on rivulet's C server layer that answers
# every request at once, on the same CPU; what the machine and the load client alone take
start_floor() {
  "${SRV_PIN[@]}" "$BIN" lua bench/serve/serve.lua >"$OUT/floor.out" 2>&1 &
  FLPID=$!
  PIDS+=("$FLPID")
  FLPORT=''
  for _ in $(seq 100); do
    FLPORT=$(sed -n 's/^port //p' "$OUT/floor.out" 2>/dev/null)
    [ -n "$FLPORT" ] && return 0
    sleep 0.05
  done
  note_fail "the floor server did not start: $(cat "$OUT/floor.out")"
  return 1
}

# load NAME FILE ARGS... : runs the client on CPU 1, appends {"name", round, load...} to RES
load() {
  local name=$1 file=$2 port=$3; shift 3
  local line cpu0 cpu1 pid=$LOAD_PID
  cpu0=$(cpu_s "$pid")
  line=$("${CLI_PIN[@]}" build/bench/load "$@" "$port" "$file") || note_fail "$name (round $ROUND): $line"
  cpu1=$(cpu_s "$pid")
  [ -n "$line" ] || line='{"requests":0,"ok":0,"bad":1}'
  printf '{"name":"%s","round":%s,"cpu_s":%s,"load":%s}\n' "$name" "$ROUND" \
    "$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN {printf "%.3f", b - a}')" "$line" >>"$RES"
}

verify() {   # verify.lua's arguments
  local v
  if ! v=$("$BIN" lua bench/serve/verify.lua "$@"); then note_fail "round $ROUND: $v"; fi
}

gen() { node bench/serve/gen.js "$@" || note_fail "gen.js $1 failed"; }

# what one durable commit costs on the store's disk now (other load on the machine moves
# it): 100 synchronous 4 KiB writes (O_DSYNC, as a WAL commit's fdatasync), ms each
disk_probe() {
  local s
  s=$(dd if=/dev/zero of="$OUT/dsync.probe" bs=4k count=100 oflag=dsync 2>&1 |
    awk '/copied/ {for (i = 1; i <= NF; i++) if ($(i + 1) == "s,") print $i}')
  rm -f "$OUT/dsync.probe"
  [ -n "$s" ] && printf '{"name":"dsync","round":%s,"ms":%s}\n' "$ROUND" \
    "$(awk -v s="$s" 'BEGIN {printf "%.3f", s * 10}')" >>"$RES"
}

# ---- the run -------------------------------------------------------------------------------

echo "rivulet serve as Studio: $ROUNDS rounds, $PIN_NOTE, stores on $FS ($OUT)"
echo "  webhook: $CONV conversations (2 signed messages each) per run, $CONNS keep-alive clients;" \
  "latency: $RATE_N messages at $RATE/s; create: $CREATES executions; memory: $IDLE idle connections," \
  "$WAITING waiting executions"
[ "$FS" = tmpfs ] && echo "  (the stores are on tmpfs: FULL costs no fsync here; set TMPDIR to a disk for the real figure)"

start_node_red || exit 1
start_floor || exit 1
ROUND=0 LOAD_PID=$NRPID
gen webhook "$OUT/warm.req" "$CONV" 9000000 "$AC" FW00000000000000000000000000000000 "$TOKEN" "$PUBLIC"
for _ in 1 2 3; do        # its JIT warms up (the first pass runs at half speed)
  load warmup-node-red "$OUT/warm.req" "$NRPORT" -c "$CONNS" -b "$TWIML"
done

FW=
for ROUND in $(seq 1 "$ROUNDS"); do
  first=$((ROUND * 1000000))
  # the flow's SID is the same in every store (it comes from the file's name)
  if [ -z "$FW" ]; then start_serve full "$OUT/probe.db" && stop_serve; fi
  gen webhook "$OUT/msg.req" "$CONV" "$first" "$AC" "$FW" "$TOKEN" "$PUBLIC"
  gen webhook "$OUT/rate.req" $((RATE_N / 2)) $((first + 500000)) "$AC" "$FW" "$TOKEN" "$PUBLIC"
  gen rest "$OUT/create.req" "$CREATES" "$first" "$AC" "$FW" "$TOKEN"
  disk_probe

  # 1. throughput: the floor, Node-RED, then rivulet with each synchronous mode, same requests
  LOAD_PID=$FLPID
  load webhook/floor "$OUT/msg.req" "$FLPORT" -c "$CONNS" -b $'ok\n'
  LOAD_PID=$NRPID
  load webhook/node-red "$OUT/msg.req" "$NRPORT" -c "$CONNS" -b "$TWIML"
  for mode in full normal; do
    db=$OUT/r$ROUND-$mode.db
    start_serve "$mode" "$db" || break
    LOAD_PID=$SPID
    load "webhook/rivulet-$mode" "$OUT/msg.req" "$SPORT" -c "$CONNS" -b "$TWIML"
    stop_serve
    [ "$(sent_count)" -eq $((2 * CONV)) ] || note_fail "rivulet-$mode sent $(sent_count) messages, not $((2 * CONV))"
    verify conversations "$db" "$CONV" "$first"
    rm -f "$db"*
  done

  # 2. latency at a fixed rate (open loop), the same order, after the floor
  LOAD_PID=$FLPID
  load rate/floor "$OUT/rate.req" "$FLPORT" -c "$CONNS" -r "$RATE" -b $'ok\n'
  LOAD_PID=$NRPID
  load rate/node-red "$OUT/rate.req" "$NRPORT" -c "$CONNS" -r "$RATE" -b "$TWIML"
  for mode in full normal; do
    db=$OUT/r$ROUND-$mode-rate.db
    start_serve "$mode" "$db" || break
    LOAD_PID=$SPID
    load "rate/rivulet-$mode" "$OUT/rate.req" "$SPORT" -c "$CONNS" -r "$RATE" -b "$TWIML"
    stop_serve
    verify conversations "$db" $((RATE_N / 2)) $((first + 500000))
    rm -f "$db"*
  done

  # 3. REST executions.create
  for mode in full normal; do
    db=$OUT/r$ROUND-$mode-create.db
    start_serve "$mode" "$db" || break
    LOAD_PID=$SPID
    load "create/rivulet-$mode" "$OUT/create.req" "$SPORT" -c "$CONNS" -s 201 -m '"status":"active"'
    stop_serve
    [ "$(sent_count)" -eq "$CREATES" ] || note_fail "create/rivulet-$mode sent $(sent_count) messages, not $CREATES"
    verify waiting "$db" "$CREATES" +1666 incomingRequest
    rm -f "$db"*
  done
done

# 4. memory (store FULL as shipped, connection limits raised), each in a fresh serve:
# idle keep-alive connections; executions waiting at the Send & Wait (after 50 connections
# made a request and closed, so the memory of the load's own connections is already there
# before the first measure and is not counted as the executions')
ROUND=0
gen get "$OUT/get.req" "$IDLE" "$AC" "$FW" "$TOKEN"
gen webhook "$OUT/wait.req" "$WAITING" 7000000 "$AC" "$FW" "$TOKEN" "$PUBLIC" 1
if start_serve memory "$OUT/idle.db"; then
  sleep 0.3
  r0=$(rss_kb "$SPID")
  fifo=$OUT/idle.fifo
  mkfifo "$fifo"
  "${CLI_PIN[@]}" build/bench/load -i -c "$IDLE" -s 200 -m '"sid"' "$SPORT" "$OUT/get.req" <"$fifo" >"$OUT/idle.out" &
  ipid=$!
  PIDS+=("$ipid")
  exec 4>"$fifo"
  for _ in $(seq 600); do grep -q '^idle ' "$OUT/idle.out" && break; sleep 0.05; done
  grep -q '^idle ' "$OUT/idle.out" || note_fail "the idle connections did not open: $(cat "$OUT/idle.out")"
  sleep 0.2
  r1=$(rss_kb "$SPID")
  exec 4>&-
  wait "$ipid" || note_fail "idle client: $(head -1 "$OUT/idle.out")"
  stop_serve
fi
if start_serve memory "$OUT/waiting.db"; then
  LOAD_PID=$SPID
  load memory/warm "$OUT/get.req" "$SPORT" -c "$CONNS" -s 200 -m '"sid"'
  sleep 0.3
  r2=$(rss_kb "$SPID")
  load memory/waiting "$OUT/wait.req" "$SPORT" -c "$CONNS" -b "$TWIML"
  sleep 0.3
  r3=$(rss_kb "$SPID")
  stop_serve
  [ "$(sent_count)" -eq "$WAITING" ] || note_fail "memory: serve sent $(sent_count) messages, not $WAITING"
  verify waiting "$OUT/waiting.db" "$WAITING" +1555 incomingMessage
fi
printf '{"name":"memory","idle":%d,"rss0_kb":%d,"rss_idle_kb":%d,"waiting":%d,"rss1_kb":%d,"rss_waiting_kb":%d}\n' \
  "$IDLE" "${r0:-0}" "${r1:-0}" "$WAITING" "${r2:-0}" "${r3:-0}" >>"$RES"

kill "$NRPID" "$FLPID" 2>/dev/null
wait "$NRPID" "$FLPID" 2>/dev/null

"$BIN" lua bench/serve/report.lua "$RES" "$RATE" || fail=1
exit "$fail"
