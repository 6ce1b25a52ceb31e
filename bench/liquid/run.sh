#!/usr/bin/env bash
# Liquid benchmark: rivulet vs LiquidJS vs Shopify Liquid (Ruby) on the same templates and
# data, single core, TZ=UTC. See bench/README.md.
#
#   bench/liquid/run.sh            (what `make bench` runs)
#   BENCH_SECONDS=0.3 bench/liquid/run.sh      shorter run
#   BENCH_ENGINES="liquidjs ruby" bench/liquid/run.sh   peers only
#   BENCH_ROUNDS=3 (default): the engines run in turns, round after round; the table shows
#   the last round, and the render ratio to Ruby Liquid of every round goes to make bench's
#   table (bench/lib/rows.lua) when $BENCH_TABLE is set
#   BENCH_QUICK=1: 0.2 s per measure (development)
#
# Exit status: 1 when rivulet cannot run or its output differs from Ruby Liquid's (or from
# the studio md5 in the fixtures' README), or when a peer of the default set cannot run
# (a peer missing must not pass unnoticed); never for speed.
set -u

cd "$(dirname "$0")/../.." || exit 2
SHARED=${RIVULET_SHARED:-../shared}
BENCH_DIR=$SHARED/liquid/bench
STUDIO_MD5=eff3fa5723a12a532189fbba9a64ec0f   # Shopify Liquid's studio output, TZ=UTC
WORKLOADS="studio theme"

if [ ! -f "$BENCH_DIR/studio/data.json" ]; then
  echo "bench: $BENCH_DIR not found (set RIVULET_SHARED); skipped"
  exit 0
fi

export TZ=UTC
if [ -n "${BENCH_QUICK:-}" ]; then : "${BENCH_SECONDS:=0.2}"; fi
export BENCH_SECONDS=${BENCH_SECONDS:-0.5}
ROUNDS=${BENCH_ROUNDS:-3}
PEERS_REQUIRED=1
[ -n "${BENCH_ENGINES:-}" ] && PEERS_REQUIRED=0
export BENCH_WORKLOADS=$WORKLOADS
ENGINES=${BENCH_ENGINES:-"rivulet liquidjs ruby"}
OUT=$(mktemp -d "${TMPDIR:-/tmp}/rivulet-bench.XXXXXX") || exit 2
trap 'rm -rf "$OUT"' EXIT

PIN=()
if command -v taskset >/dev/null 2>&1 && taskset -c 0 true 2>/dev/null; then
  PIN=(taskset -c 0)
fi
HAVE_TIME=0
if [ -x /usr/bin/time ] && /usr/bin/time -f %M -o /dev/null true 2>/dev/null; then HAVE_TIME=1; fi

LUA=$(command -v lua5.4 || command -v lua || true)

engine_cmd() {   # prints nothing and returns 1 when the engine cannot run here
  case $1 in
    rivulet)
      if [ -n "${BENCH_RIVULET_CMD:-}" ]; then
        CMD=($BENCH_RIVULET_CMD bench/liquid/rivulet.lua)
      elif [ -n "${RIVULET_BIN:-}" ] && [ -x "$RIVULET_BIN" ]; then
        CMD=("$RIVULET_BIN" lua bench/liquid/rivulet.lua)
      elif [ -x build/rivulet ]; then
        CMD=(build/rivulet lua bench/liquid/rivulet.lua)
      elif [ -n "$LUA" ]; then
        # `make bench` already sets LUA_PATH_5_4/LUA_CPATH_5_4; otherwise point at the tree
        if [ -z "${LUA_PATH_5_4:-}" ]; then
          export LUA_PATH_5_4="./lua/?.lua;./lua/?/init.lua;;"
          export LUA_CPATH_5_4="./build/lib/?.so;./build/?.so;;"
        fi
        CMD=("$LUA" bench/liquid/rivulet.lua)
      else
        WHY="neither build/rivulet nor lua5.4 found"; return 1
      fi ;;
    liquidjs)
      command -v node >/dev/null 2>&1 || { WHY="node not found"; return 1; }
      [ -d bench/liquid/node_modules/liquidjs ] ||
        { WHY="liquidjs not installed (scripts/deps.sh --bench, or npm ci in bench/liquid)"; return 1; }
      CMD=(node bench/liquid/liquidjs.js) ;;
    ruby)
      command -v ruby >/dev/null 2>&1 || { WHY="ruby not found (apt-get install ruby ruby-liquid)"; return 1; }
      ruby -e 'require "liquid"' 2>/dev/null || { WHY="ruby liquid not found (apt-get install ruby-liquid)"; return 1; }
      CMD=(ruby bench/liquid/ruby.rb) ;;
    *) WHY="unknown engine"; return 1 ;;
  esac
}

echo "Liquid benchmark: $ROUNDS rounds, BENCH_SECONDS=$BENCH_SECONDS per measure (median of 5), TZ=UTC, ${PIN[*]:-no taskset}"
MISSING=0
for round in $(seq 1 "$ROUNDS"); do
for e in $ENGINES; do
  WHY=""
  if ! engine_cmd "$e"; then
    printf '{"engine":"%s","error":"%s"}\n' "$e" "$WHY" > "$OUT/$e.json"
    [ "$round" = 1 ] && echo "  $e: NOT RUN ($WHY)"
    MISSING=1
    continue
  fi
  echo "  $e: running ${CMD[*]}" >&2
  if [ $HAVE_TIME = 1 ]; then
    "${PIN[@]}" /usr/bin/time -f %M -o "$OUT/$e.rss" "${CMD[@]}" "$BENCH_DIR" "$OUT" > "$OUT/$e.json" 2> "$OUT/$e.err"
  else
    "${PIN[@]}" "${CMD[@]}" "$BENCH_DIR" "$OUT" > "$OUT/$e.json" 2> "$OUT/$e.err"
  fi
  rc=$?
  if [ $rc != 0 ] || ! grep -q '_render' "$OUT/$e.json"; then
    msg=$(grep -o '"error":"[^"]*"' "$OUT/$e.json" | head -n 1 | sed 's/^"error":"//; s/"$//')
    [ -n "$msg" ] || msg=$(tail -n 3 "$OUT/$e.err" | tr '\n' ' ' | tr -d '"\\' | cut -c1-300)
    printf '{"engine":"%s","error":"exit %s: %s"}\n' "$e" "$rc" "$msg" > "$OUT/$e.json"
  fi
  cp "$OUT/$e.json" "$OUT/$e.round$round.json"
done
done

WHY=""
engine_cmd rivulet && CMD_RIV=("${CMD[@]:0:${#CMD[@]}-1}")
# The table, ratios and goals (plain Lua; no JSON library needed for these flat lines).
if [ -z "$LUA" ]; then echo "bench: lua5.4 not found, raw results:"; cat "$OUT"/*.json; exit 1; fi
"$LUA" - "$OUT" $ENGINES <<'LUA'
local out, engines = arg[1], { table.unpack(arg, 2) }
local function read(p) local f = io.open(p) if not f then return nil end local s = f:read("a") f:close() return s end
local cols = { "studio_parse", "studio_render", "studio_parse_render", "theme_parse", "theme_render", "theme_parse_render" }
local heads = { "studio parse", "studio render", "studio p+r", "theme parse", "theme render", "theme p+r" }
local names = { rivulet = "rivulet", liquidjs = "LiquidJS", ruby = "Ruby Liquid" }
local R = {}
for _, e in ipairs(engines) do
  local s = read(out .. "/" .. e .. ".json") or ""
  local r = { error = s:match('"error":"([^"]*)"'), version = s:match('"version":"([^"]*)"') }
  for k, v in s:gmatch('"([%w_]+)":(%-?[%d.eE+-]+)') do r[k] = tonumber(v) end
  local rss = tonumber((read(out .. "/" .. e .. ".rss") or ""):match("(%d+)%s*$") or "")
  r.rss = rss or r.vmhwm_kb
  R[e] = r
end
local function fmt(v)
  if not v then return "-" end
  if v >= 100 then return string.format("%.0f", v) end
  return string.format("%.1f", v)
end
print("")
print("ops/s (higher is better)")
io.write(string.format("%-12s", "engine"))
for _, h in ipairs(heads) do io.write(string.format("%14s", h)) end
print(string.format("%12s", "peak RSS"))
for _, e in ipairs(engines) do
  local r = R[e]
  io.write(string.format("%-12s", names[e] or e))
  if r.error then
    print("  not run: " .. r.error)
  else
    for _, c in ipairs(cols) do io.write(string.format("%14s", fmt(r[c]))) end
    print(string.format("%12s", r.rss and string.format("%.1f MB", r.rss / 1024) or "-"))
  end
end
local riv = R.rivulet
local function ratio_row(peer)
  local p = R[peer]
  if not riv or riv.error or not p or p.error then return end
  io.write(string.format("%-12s", "riv/" .. (peer == "ruby" and "Ruby" or "LJS")))
  for _, c in ipairs(cols) do
    io.write(string.format("%14s", (riv[c] and p[c]) and string.format("%.2fx", riv[c] / p[c]) or "-"))
  end
  print("")
end
ratio_row("liquidjs")
ratio_row("ruby")
for _, e in ipairs(engines) do if R[e].version then print(string.format("  %-12s %s", names[e] or e, R[e].version)) end end
print("")
print("goals (informational): render >= 30x LiquidJS, >= 50x Ruby Liquid")
for _, g in ipairs({ { "liquidjs", 30 }, { "ruby", 50 } }) do
  local p = R[g[1]]
  for _, w in ipairs({ "studio", "theme" }) do
    local c = w .. "_render"
    if riv and not riv.error and p and not p.error and riv[c] and p[c] then
      local x = riv[c] / p[c]
      print(string.format("  %-7s render vs %-11s %8.1fx  (goal %dx)  %s", w, names[g[1]], x, g[2], x >= g[2] and "met" or "not met"))
    else
      print(string.format("  %-7s render vs %-11s        -   (goal %dx)  not measured", w, names[g[1]], g[2]))
    end
  end
end
LUA

# Output checks: rivulet must match Ruby Liquid byte for byte (and studio the README md5).
echo ""
echo "output checks"
FAIL=0
md5() { md5sum "$1" | cut -d' ' -f1; }
case " $ENGINES " in *" rivulet "*) WANT_RIV=1 ;; *) WANT_RIV=0 ;; esac
if [ $WANT_RIV = 1 ] && grep -q '"error"' "$OUT/rivulet.json"; then
  echo "  rivulet: FAILED to run: $(grep -o '"error":"[^"]*"' "$OUT/rivulet.json" | sed 's/^"error":"//; s/"$//')"
  FAIL=1
fi
for w in $WORKLOADS; do
  riv=$OUT/rivulet-$w.out ruby=$OUT/ruby-$w.out ljs=$OUT/liquidjs-$w.out
  if [ -f "$riv" ] && [ -f "$ruby" ]; then
    if cmp -s "$ruby" "$riv"; then
      echo "  $w: rivulet == Ruby Liquid ($(wc -c < "$riv") bytes): OK"
    else
      echo "  $w: rivulet differs from Ruby Liquid: FAIL"
      diff -u --label ruby-$w --label rivulet-$w "$ruby" "$riv" | head -n 40 | sed 's/^/    /'
      FAIL=1
    fi
  elif [ -f "$riv" ]; then
    echo "  $w: Ruby Liquid output not available; not compared"
  fi
  if [ "$w" = studio ]; then
    for e in rivulet ruby liquidjs; do
      f=$OUT/$e-$w.out
      [ -f "$f" ] || continue
      if [ "$(md5 "$f")" = $STUDIO_MD5 ]; then
        echo "  studio: $e md5 matches the fixtures README ($STUDIO_MD5)"
      else
        echo "  studio: $e md5 $(md5 "$f") != fixtures README $STUDIO_MD5"
        [ $e = rivulet ] && FAIL=1
      fi
    done
  fi
  if [ -f "$ljs" ] && [ -f "$ruby" ]; then
    if cmp -s "$ruby" "$ljs"; then
      echo "  $w: LiquidJS == Ruby Liquid"
    else
      n=$(diff "$ruby" "$ljs" | grep -c '^[<>]')
      echo "  $w: LiquidJS differs from Ruby Liquid ($n diff lines; informational)"
    fi
  fi
done
if [ -n "${BENCH_TABLE:-}" ] && [ -f "$OUT/rivulet.round1.json" ] && [ -f "$OUT/ruby.round1.json" ]; then
  "${CMD_RIV[@]}" bench/liquid/rows.lua "$OUT" "$ROUNDS" || FAIL=1
fi
if [ "$MISSING" = 1 ] && [ "$PEERS_REQUIRED" = 1 ]; then
  echo "bench/liquid/run.sh: a peer could not run (see NOT RUN above); scripts/deps.sh --bench installs them" >&2
  FAIL=1
fi
exit $FAIL
