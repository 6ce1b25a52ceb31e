/* libFuzzer target: any bytes as Lua source written by a hostile flow author, run as custom
** logic through the real path, in one lua_State set up as the host does (standard
** libraries, rivulet.core preloaded, the checkout's lua/ first on package.path). Byte 0
** picks the path, the rest is the source:
**
**   even  a lua widget's `source`, in a flow started on rivulet.engine (the widget compiles
**         it, calls the function it returns with the execution context, takes its event and
**         outputs back);
**   odd   a Lua flow file: rivulet.flow.from_lua (the file runs in a logic state and comes
**         back as data), then rivulet.validate and `rivulet graph`'s dot, and, when it is
**         valid and holds only widgets that stay off the network, an execution of it.
**
** Budgets are small so inputs stay quick (100,000 instructions, 4 MiB, 100 ms of wall clock);
** libFuzzer's -timeout (FUZZ_TIMEOUT, 10 s) is the hang detector: an input that keeps the
** host past it escaped the budgets. Anything else that is a finding: a crash or sanitizer
** report, a leak (a full GC after every input keeps LeakSanitizer on), a Lua error raised
** out of from_lua, validate, dot or the engine (they report, they do not raise), an error
** or failure reason that is not a string, an execution in no known status, and a host that
** no longer serves: every 64 inputs a known execution (custom logic counting the
** characters of the message) must still end with its message.
**
** libFuzzer sees the C coverage of the logic state, its libraries and the pattern matcher
** (src/lrv_logic*.c, src/pattern.c are instrumented; liblua is not).
**
** The modules come from RIVULET_LUA_PATH if set (a Lua path), else from the lua/ directory
** of the checkout holding this binary (build/fuzz/fuzz_logic -> ../../lua). */
#include "fuzz_lua.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define SERVE_EVERY 64            /* inputs between two checks that the host still serves */

static lua_State *L;
static int check_ref = LUA_NOREF, served_ref = LUA_NOREF;
static unsigned long inputs;

static int l_fail(lua_State *L1) {
  fprintf(stderr, "fuzz_logic: %s\n", luaL_tolstring(L1, 1, NULL));
  abort();
}

static const char harness[] =
  "local fail = ...\n"
  "local rivulet = require 'rivulet'\n"
  "local sandbox = require 'rivulet.sandbox'\n"
  "local flowlib = require 'rivulet.flow'\n"
  "local validate = require 'rivulet.validate'\n"
  "local graph = require 'rivulet.cli.graph'\n"
  "local type, pcall, tostring, ipairs = type, pcall, tostring, ipairs\n"
  "sandbox.INSTRUCTIONS = 100000\n"     /* loading a flow file: the engine's limit is for calls */
  "sandbox.MEMORY = 4 * 1024 * 1024\n"
  "sandbox.TIME_MS = 100\n"
  "local http = rivulet.http.client()\n"
  "local OFFLINE = { trigger = true, lua = true, ['set-variables'] = true, ['split-based-on'] = true,\n"
  "  ['send-message'] = true, ['send-and-wait-for-reply'] = true }\n"
  "local sent, contact = {}, 0\n"
  "local function engine()\n"
  "  return rivulet.engine{ http = http, keep_ended = false, limits = { instructions = 100000 },\n"
  "                         on_message = function(_, m) sent[#sent + 1] = m.body end }\n"
  "end\n"
  "local function trigger(body)\n"
  "  contact = contact + 1\n"
  "  return { event = 'incomingMessage', from = '+1555' .. contact, to = '+15559990000', body = body }\n"
  "end\n"
  "local STATUS = { ended = true, active = true }\n"
  "local function start(e, flow, what)\n"
  "  local ok, exec = pcall(e.start, e, flow, trigger('hi there'))\n"
  "  if not ok then fail(what .. ': start raised: ' .. tostring(exec)) end\n"
  "  if type(exec) ~= 'table' or not STATUS[exec.status] then fail(what .. ': no execution') end\n"
  "  if exec.failed and type(exec.reason) ~= 'string' then fail(what .. ': the reason is a ' .. type(exec.reason)) end\n"
  "  return exec\n"
  "end\n"
  "local function check(mode, text)\n"
  "  sent = {}\n"
  "  if mode % 2 == 0 then\n"
  "    start(engine(), { { name = 'Trigger', type = 'trigger', on = { incomingMessage = 'logic' } },\n"
  "                      { name = 'logic', type = 'lua', source = text } }, 'source')\n"
  "    return\n"
  "  end\n"
  "  local ok, f, err = pcall(flowlib.from_lua, text, 'fuzz.lua')\n"
  "  if not ok then fail('from_lua raised: ' .. tostring(f)) end\n"
  "  if not f then\n"
  "    if type(err) ~= 'string' then fail('from_lua: the error is a ' .. type(err)) end\n"
  "    return\n"
  "  end\n"
  "  local vok, valid, problems = pcall(validate.validate, f)\n"
  "  if not vok then fail('validate raised: ' .. tostring(valid)) end\n"
  "  if type(problems) ~= 'table' then fail('validate returned no problems') end\n"
  "  local gok, dot = pcall(graph.dot, f)\n"
  "  if not gok or type(dot) ~= 'string' then fail('graph raised: ' .. tostring(dot)) end\n"
  "  if not valid then return end\n"
  "  for _, s in ipairs(f.states) do if not OFFLINE[s.type] then return end end\n"
  "  start(engine(), f, 'flow file')\n"
  "end\n"
  "local GOOD = {\n"
  "  { name = 'Trigger', type = 'trigger', on = { incomingMessage = 'logic' } },\n"
  "  { name = 'logic', type = 'lua', on = { ok = 'said' },\n"
  "    source = 'return function(ctx) return \"ok\", { n = #ctx.trigger.message.Body } end' },\n"
  "  { name = 'said', type = 'send-message', body = 'n={{widgets.logic.n}}' },\n"
  "}\n"
  "local function served()\n"
  "  sent = {}\n"
  "  local exec = start(engine(), GOOD, 'served')\n"
  "  if exec.status ~= 'ended' or exec.failed or sent[1] ~= 'n=8' then\n"
  "    fail('the host no longer serves: ' .. tostring(exec.reason))\n"
  "  end\n"
  "end\n"
  "served()\n"
  "return check, served\n";

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc; (void)argv;
  (void)fuzz_lua_line;          /* Lua line coverage is for targets whose Lua is the subject */
  L = fuzz_lua_open("fuzz_logic");
  if (luaL_loadbuffer(L, harness, sizeof harness - 1, "=fuzz_logic") != LUA_OK) goto fail;
  lua_pushcfunction(L, l_fail);
  if (lua_pcall(L, 1, 2, 0) != LUA_OK) goto fail;
  served_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  check_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  return 0;
fail:
  fprintf(stderr, "fuzz_logic: setup: %s\n", lua_tostring(L, -1));
  exit(1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int top = lua_gettop(L);
  if (size == 0) return 0;
  lua_rawgeti(L, LUA_REGISTRYINDEX, check_ref);
  lua_pushinteger(L, data[0]);
  lua_pushlstring(L, (const char *)data + 1, size - 1);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {       /* only l_fail's checks raise in the harness */
    fprintf(stderr, "fuzz_logic: %s\n", lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(not a string)");
    abort();
  }
  if (++inputs % SERVE_EVERY == 0) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, served_ref);
    if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
      fprintf(stderr, "fuzz_logic: %s\n", lua_tostring(L, -1));
      abort();
    }
  }
  lua_settop(L, top);
  lua_gc(L, LUA_GCCOLLECT);     /* every input: what it allocated is freed, so leak checking stays on */
  return 0;
}
