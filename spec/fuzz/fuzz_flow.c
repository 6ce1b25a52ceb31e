/* libFuzzer target: any bytes as Studio Flow JSON, through rivulet.flow.from_json (the JSON
** branch of load_flow) and rivulet.validate, in one lua_State set up as the host does
** (standard libraries, rivulet.core preloaded, the checkout's lua/ first on package.path).
**
** Bad input may make from_json return nil, message; anything else is a finding: a crash or
** sanitizer report, a hang, a Lua error raised out of from_json or validate (they report
** problems, they do not raise), an error that is not a string, or a result that breaks
** validate's contract (ok, problems; each problem a path, a level and a message; ok false
** iff some problem is an error).
**
** libFuzzer sees only C coverage and liblua is not instrumented, so a Lua line hook feeds
** (chunk, previous line, line) into libFuzzer's extra counters: new Lua paths of the loader
** and the validator count as new coverage.
**
** The modules come from RIVULET_LUA_PATH if set (a Lua path or a directory), else from the
** lua/ directory of the checkout holding this binary (build/fuzz/fuzz_flow -> ../../lua). */
#include "fuzz_lua.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define LUA_EDGES 65536
__attribute__((used, section("__libfuzzer_extra_counters"))) static uint8_t lua_edges[LUA_EDGES];

static lua_State *L;
static int check_ref = LUA_NOREF;

static void line_hook(lua_State *L1, lua_Debug *ar) {
  fuzz_lua_line(lua_edges, LUA_EDGES, L1, ar);
}

static int l_fail(lua_State *L1) {
  fprintf(stderr, "fuzz_flow: %s\n", luaL_tolstring(L1, 1, NULL));
  abort();
}

static const char harness[] =
  "local fail = ...\n"
  "local flow = require 'rivulet.flow'\n"
  "local validate = require 'rivulet.validate'\n"
  "local type, ipairs, pcall, tostring = type, ipairs, pcall, tostring\n"
  "local LEVELS = { error = true, warning = true }\n"
  "return function(text)\n"
  "  local ok, f, err = pcall(flow.from_json, text, 'fuzz')\n"
  "  if not ok then fail('from_json raised: ' .. tostring(f)) end\n"
  "  if not f then\n"
  "    if type(err) ~= 'string' then fail('from_json: the error is a ' .. type(err)) end\n"
  "    return\n"
  "  end\n"
  "  local vok, valid, problems = pcall(validate.validate, f)\n"
  "  if not vok then fail('validate raised: ' .. tostring(valid)) end\n"
  "  if type(valid) ~= 'boolean' or type(problems) ~= 'table' then\n"
  "    fail('validate returned ' .. type(valid) .. ', ' .. type(problems))\n"
  "  end\n"
  "  local errors = false\n"
  "  for i, p in ipairs(problems) do\n"
  "    if type(p) ~= 'table' or type(p.path) ~= 'string' or type(p.message) ~= 'string'\n"
  "       or not LEVELS[p.level] then fail('problem ' .. i .. ' is malformed') end\n"
  "    if p.level == 'error' then errors = true end\n"
  "  end\n"
  "  if valid == errors then fail('validate says ' .. tostring(valid) .. ' but errors = ' .. tostring(errors)) end\n"
  "end\n";

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc; (void)argv;
  L = fuzz_lua_open("fuzz_flow");
  if (luaL_loadbuffer(L, harness, sizeof harness - 1, "=fuzz_flow") != LUA_OK) goto fail;
  lua_pushcfunction(L, l_fail);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) goto fail;
  check_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_sethook(L, line_hook, LUA_MASKLINE, 0);
  return 0;
fail:
  fprintf(stderr, "fuzz_flow: setup: %s\n", lua_tostring(L, -1));
  exit(1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int top = lua_gettop(L);
  fuzz_lua_prev_line = 0;
  lua_rawgeti(L, LUA_REGISTRYINDEX, check_ref);
  lua_pushlstring(L, (const char *)data, size);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {       /* only l_fail's checks raise in the harness */
    if (lua_type(L, -1) != LUA_TSTRING) {
      fprintf(stderr, "fuzz_flow: an error that is not a string (%s)\n", luaL_typename(L, -1));
      abort();
    }
    fprintf(stderr, "fuzz_flow: %s\n", lua_tostring(L, -1));
    abort();
  }
  lua_settop(L, top);
  lua_gc(L, LUA_GCCOLLECT);     /* every input: what it allocated is freed, so leak checking stays on */
  return 0;
}
