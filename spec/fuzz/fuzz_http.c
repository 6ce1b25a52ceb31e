/* libFuzzer target: any bytes as the raw HTTP response a server sends (status line,
** headers, body), through the client the engine uses: rivulet.http's Client (Run Function
** and Make HTTP Request) over rivulet.core's binding over src/http.c and libcurl, and then
** Call:outcome, in one lua_State set up as the host does (standard libraries, rivulet.core
** preloaded, the checkout's lua/ first on package.path).
**
** No network. libcurl's connect() is replaced here by one that hands libcurl one end of a
** socketpair whose other end already holds the input and is shut for writing, so every
** connection (redirects, retries) reads the same bytes and then end of file; a datagram
** socket (a DNS query) is refused. http_proxy and https_proxy name 127.0.0.1, so libcurl
** never resolves a name: fuzz.invalid and every http Location go "through the proxy", that
** is into the socketpair; an https Location is refused (connect_failed). (http.c has no
** seam for a socket of our own; libcurl reads the proxy variables itself, and the
** executable's connect() wins over libc's and ASan's.)
**
** Each input makes one Run Function call (POST, success on 2xx/3xx) and one Make HTTP
** Request call (GET, success on 2xx), both on a fresh client. Checked for each outcome:
** outcome() raises nothing and returns the same table twice; event is success or
** fail/failed, success exactly when the status is in range and no transport failure
** happened; every failure has a reason and a message; a transport failure has status 0,
** an empty body and content type; status_code is 0 or in 100..999, and the input holds a
** status line with exactly it (http.c refuses the lines libcurl misreads: "HTTP/2 -5",
** "HTTP/ x" taken for 200, see README); the body is at most 65,536 bytes and,
** unless chunked or encoded, part of the input; so is the content type; `parsed` is there
** exactly when the body is a JSON object (checked with a cjson of our own; depth limit 64)
** under a JSON content type, equal to it, with every integral number below 2^53 an
** integer; reasons invalid_json / not_json_object agree with that decoder. Both calls see
** the same status, body, content type and transport failure.
**
** A too_large failure names the limit and its number in its message.
**
** At start-up, bodies of 65,536 bytes (accepted) and 65,537 bytes (too_large) are checked
** with a Content-Length, chunked, and ended by the connection closing; the limits on a
** reply's fields at their edges (head bytes, trailer lines); and, too big for seeds, a header
** line over libcurl's 100 KiB and 70 KB of empty deflate blocks as a Transfer-Encoding gzip
** (nothing is decoded: the body limit counts them).
**
** libFuzzer sees only C coverage, and neither liblua nor libcurl is instrumented. So while
** outcome() runs, a Lua line hook feeds (chunk, previous line, line) into libFuzzer's extra
** counters; and each outcome's shape (event, status class, reason, libcurl's message
** without its numbers, parsed or not, kind of content type) counts too, standing in for
** libcurl's paths.
**
** The modules come from RIVULET_LUA_PATH if set (a Lua path or a directory), else from the
** lua/ directory of the checkout holding this binary (build/fuzz/fuzz_http -> ../../lua). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "fuzz_lua.h"

#define STR_(x) #x
#define STR(x) STR_(x)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define MAX_RESPONSE (128 * 1024)   /* must fit a socketpair's buffer: nobody drains it */
/* The "proxies": what goes to HTTP_PORT reads the input, what goes to HTTPS_PORT (a
** redirect to https) is refused. A TLS handshake could only fail on these bytes, and
** libcurl loads the whole CA bundle for each one (0.25 s a call). */
#define HTTP_PORT 9
#define HTTPS_PORT 10
#define MAX_CONNS 64             /* per input; 2 calls x (1 + 2 redirects) x a retry is 12 */

/* ---- the fake server: connect() gets a socketpair already holding the response */

static const char *resp;
static size_t resp_len;
static int peers[MAX_CONNS];
static int npeers;

int connect(int fd, const struct sockaddr *addr, socklen_t addrlen) {
  int sv[2], type = 0, sndbuf = 4 << 20, flags;
  socklen_t tl = sizeof type;
  size_t off = 0;
  (void)addrlen;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_STREAM ||
      npeers == MAX_CONNS || (addr->sa_family == AF_INET &&
      ((const struct sockaddr_in *)(const void *)addr)->sin_port == htons(HTTPS_PORT))) {
    errno = ECONNREFUSED;
    return -1;
  }
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return -1;
  setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  fcntl(sv[1], F_SETFL, O_NONBLOCK);
  while (off < resp_len) {
    ssize_t n = write(sv[1], resp + off, resp_len - off);
    if (n <= 0) { fprintf(stderr, "fuzz_http: the socketpair took only %zu bytes\n", off); abort(); }
    off += (size_t)n;
  }
  shutdown(sv[1], SHUT_WR);
  /* libcurl's descriptor becomes our end, with its flags (O_NONBLOCK) */
  flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(sv[0], F_SETFL, flags) != 0 || dup2(sv[0], fd) < 0) abort();
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  close(sv[0]);
  peers[npeers++] = sv[1];
  return 0;
}

/* respond(bytes): what every connection from now on reads; the string stays on the caller's
** stack while the calls run */
static int l_respond(lua_State *L) {
  resp = luaL_checklstring(L, 1, &resp_len);
  return 0;
}

/* hangup(): close the server's ends (after the client has closed its own) */
static int l_hangup(lua_State *L) {
  (void)L;
  while (npeers) close(peers[--npeers]);
  resp = NULL;
  resp_len = 0;
  return 0;
}

/* ---- Lua coverage, only while outcome() runs */

#define LUA_EDGES 65536
#define OUTCOMES 4096            /* after the Lua edges: kinds of outcome (see feature) */
__attribute__((used, section("__libfuzzer_extra_counters")))
static uint8_t lua_edges[LUA_EDGES + OUTCOMES];

static void line_hook(lua_State *L1, lua_Debug *ar) {
  fuzz_lua_line(lua_edges, LUA_EDGES, L1, ar);
}

static int l_cov(lua_State *L) {
  fuzz_lua_prev_line = 0;
  lua_sethook(L, lua_toboolean(L, 1) ? line_hook : NULL, LUA_MASKLINE, 0);
  return 0;
}

/* feature(s): s (an outcome's shape and libcurl's message) counts as coverage */
static int l_feature(lua_State *L) {
  size_t n, i;
  const char *s = luaL_checklstring(L, 1, &n);
  uint32_t h = 2166136261u;                    /* FNV-1a */
  for (i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
  lua_edges[LUA_EDGES + h % OUTCOMES]++;
  return 0;
}

static int l_fail(lua_State *L) {
  fprintf(stderr, "fuzz_http: %s\n", luaL_tolstring(L, 1, NULL));
  abort();
}

static const char harness[] =
  "local fail, respond, hangup, cov, feature = ...\n"
  "local http = require 'rivulet.http'\n"
  "local cjson = require('cjson.safe').new()\n"
  "local type, pairs, pcall, tostring = type, pairs, pcall, tostring\n"
  "local math_type, floor = math.type, math.floor\n"
  "local find, lower, rep, format, gsub = string.find, string.lower, string.rep, string.format, string.gsub\n"
  "cjson.decode_invalid_numbers(false)\n"
  "cjson.decode_max_depth(1000)\n"
  "local MAX_BODY = 65536\n"
  "local MAX_HEADER_BYTES, MAX_HEADER_LINES = http.MAX_HEADER_BYTES, http.MAX_HEADER_LINES\n"
  "local OPTS = { timeout_ms = 2000, max_redirects = 2 }\n"
  "local URL = 'http://fuzz.invalid/fn'\n"
  "local PRINT = os.getenv('FUZZ_HTTP_PRINT')   -- to see what an input does\n"
  "local OWN = { http_status = true, invalid_json = true, not_json_object = true }\n"
  "local TRANSPORT = { timeout = true, too_large = true, connect_failed = true, tls = true,\n"
  "  bad_url = true, protocol = true, too_many_redirects = true, transport = true, out_of_memory = true }\n"
  "\n"
  "-- nesting depth of a decoded value (a scalar is 0)\n"
  "local function depth(v)\n"
  "  if type(v) ~= 'table' then return 0 end\n"
  "  local d = 0\n"
  "  for _, x in pairs(v) do local e = depth(x); if e > d then d = e end end\n"
  "  return d + 1\n"
  "end\n"
  "\n"
  "-- parsed equals ref (cjson's floats) with integral numbers below 2^53 as integers\n"
  "local function same(p, r, path)\n"
  "  if type(r) == 'number' then\n"
  "    if r == floor(r) and r > -2^53 and r < 2^53 then\n"
  "      if math_type(p) ~= 'integer' or p ~= r then fail(path .. ': ' .. tostring(r) .. ' became ' .. tostring(p)) end\n"
  "    elseif p ~= r then fail(path .. ': ' .. tostring(r) .. ' became ' .. tostring(p)) end\n"
  "  elseif type(r) == 'table' then\n"
  "    if type(p) ~= 'table' then fail(path .. ': a table became a ' .. type(p)) end\n"
  "    for k, x in pairs(r) do same(p[k], x, path .. '.' .. tostring(k)) end\n"
  "    for k in pairs(p) do if r[k] == nil then fail(path .. ': extra key ' .. tostring(k)) end end\n"
  "  elseif p ~= r then fail(path .. ': ' .. tostring(r) .. ' became ' .. tostring(p)) end\n"
  "end\n"
  "\n"
  "-- the media type, strictly: up to ';', trimmed, lower case\n"
  "local function strict_json(ct)\n"
  "  local mime = lower(ct:match('^([^;]*)')):match('^[ \\t]*(.-)[ \\t]*$')\n"
  "  return mime == 'application/json' or mime:match('^application/[%w%.%-]+%+json$') ~= nil\n"
  "end\n"
  "\n"
  "local function check(o, kind, input)\n"
  "  local okstatus = kind == 'run_function' and 400 or 300\n"
  "  local failev = kind == 'run_function' and 'fail' or 'failed'\n"
  "  local function bad(what) fail(kind .. ': ' .. what) end\n"
  "  if type(o) ~= 'table' then bad('outcome is a ' .. type(o)) end\n"
  "  local ev, st, body, ct, reason = o.event, o.status_code, o.body, o.content_type, o.reason\n"
  "  if ev ~= 'success' and ev ~= failev then bad('event ' .. tostring(ev)) end\n"
  "  if math_type(st) ~= 'integer' then bad('status_code ' .. tostring(st)) end\n"
  "  if st ~= 0 and (st < 100 or st > 999) then bad('status_code ' .. st) end\n"
  "  if type(body) ~= 'string' or #body > MAX_BODY then bad('body of ' .. (type(body) == 'string' and #body or type(body))) end\n"
  "  if type(ct) ~= 'string' then bad('content_type is a ' .. type(ct)) end\n"
  "  if reason ~= nil and (type(reason) ~= 'string' or not (OWN[reason] or TRANSPORT[reason])) then bad('reason ' .. tostring(reason)) end\n"
  "  if reason ~= nil and type(o.message) ~= 'string' then bad('reason ' .. reason .. ' without a message') end\n"
  "  if reason == 'too_large' and not (find(o.message, 'over %d+ [bl][yi][tn]') or find(o.message, 'larger than %d+ bytes')\n"
  "     or find(o.message, '^Too large response headers')) then bad('too_large without its limit: ' .. o.message) end\n"
  "  if ev ~= 'success' and reason == nil then bad('a failure without a reason') end\n"
  "  -- libcurl is not instrumented: its messages stand for the paths it took\n"
  "  feature(format('%s|%s|%s|%s|%s|%s|%s', kind, ev, (st >= 0 and st <= 999) and st // 100 or 'x', tostring(reason),\n"
  "    gsub(tostring(o.message), '%d+', '#'),\n"
  "    o.parsed and 'parsed' or '', strict_json(ct) and 'json' or ct == '' and 'none' or 'other'))\n"
  "  if TRANSPORT[reason] then\n"
  "    if ev == 'success' then bad('success with reason ' .. reason) end\n"
  "    if st ~= 0 or body ~= '' or ct ~= '' then bad(reason .. ' with a response') end\n"
  "    if o.parsed ~= nil then bad(reason .. ' with parsed') end\n"
  "    return\n"
  "  end\n"
  "  local in_range = st >= 200 and st < okstatus\n"
  "  if (ev == 'success') ~= in_range then bad(ev .. ' on status ' .. st) end\n"
  "  if ev ~= 'success' and reason ~= 'http_status' then bad(ev .. ' on status ' .. st .. ' with reason ' .. reason) end\n"
  "  if ev == 'success' and reason == 'http_status' then bad('success with reason http_status') end\n"
  "  -- the status line itself decides (src/http.c): its three digits are in the input\n"
  "  if not find(input, 'HTTP/%d%.?%d* ' .. st) then bad('status ' .. st .. ' is not a status line of the input') end\n"
  "  if ct ~= '' and not find(input, ct, 1, true) then bad('content type not in the input: ' .. ct) end\n"
  "  local low = lower(input)\n"
  "  if body ~= '' and not find(low, 'chunked', 1, true) and not find(low, 'encoding', 1, true)\n"
  "     and not find(input, body, 1, true) then bad('body not in the input') end\n"
  "  -- JSON: what our own decoder makes of the body\n"
  "  local ref, decoded = nil, false\n"
  "  if body ~= '' then ref = cjson.decode(body); decoded = ref ~= nil end   -- JSON false is false\n"
  "  local object = type(ref) == 'table' and body:match('^[ \\t\\r\\n]*{') ~= nil\n"
  "  local d = depth(ref)\n"
  "  local p = o.parsed\n"
  "  if p ~= nil then\n"
  "    if not find(lower(ct), 'json', 1, true) then bad('parsed under content type ' .. ct) end\n"
  "    if not object then bad('parsed, but the body is not a JSON object') end\n"
  "    if d > 64 then bad('parsed at depth ' .. d) end\n"
  "    same(p, ref, 'parsed')\n"
  "  elseif object and d <= 64 and strict_json(ct) then\n"
  "    bad('a JSON object under ' .. ct .. ' not parsed')\n"
  "  end\n"
  "  if reason == 'invalid_json' and decoded and d <= 64 then bad('invalid_json, but it decodes') end\n"
  "  if reason == 'not_json_object' and (not decoded or object) then bad('not_json_object on ' .. (object and 'an object' or 'invalid JSON')) end\n"
  "  if (reason == 'invalid_json' or reason == 'not_json_object') and not find(lower(ct), 'json', 1, true) then\n"
  "    bad(reason .. ' under content type ' .. ct)\n"
  "  end\n"
  "end\n"
  "\n"
  "local function outcome_of(call, kind, input)\n"
  "  cov(true)\n"
  "  local ok, o = pcall(call.outcome, call)\n"
  "  cov(false)\n"
  "  if not ok then fail(kind .. ': outcome raised: ' .. tostring(o)) end\n"
  "  check(o, kind, input)\n"
  "  if call:outcome() ~= o then fail(kind .. ': a second outcome() differs') end\n"
  "  return o\n"
  "end\n"
  "\n"
  "local function run(input)\n"
  "  respond(input)\n"
  "  local client = http.client(OPTS)\n"
  "  local rf = client:run_function{ url = URL, parameters = { Fuzz = 'yes' } }\n"
  "  local hr = client:http_request{ url = URL }\n"
  "  while client:running() > 0 do client:poll(100) end\n"
  "  local a = outcome_of(rf, 'run_function', input)\n"
  "  local b = outcome_of(hr, 'http_request', input)\n"
  "  client:close()\n"
  "  hangup()\n"
  "  if a.status_code ~= b.status_code or a.body ~= b.body or a.content_type ~= b.content_type\n"
  "     or (TRANSPORT[a.reason] and a.reason) ~= (TRANSPORT[b.reason] and b.reason) then\n"
  "    fail(format('the calls disagree: %s %s %q / %s %s %q', a.status_code, a.reason, a.content_type,\n"
  "      b.status_code, b.reason, b.content_type))\n"
  "  end\n"
  "  if PRINT then\n"
  "    for _, o in pairs{ a, b } do\n"
  "      io.stderr:write(format('%s %d %q %d bytes%s%s\\n', o.event, o.status_code, o.content_type, #o.body,\n"
  "        o.parsed and ' parsed' or '', o.reason and (' ' .. o.reason .. ': ' .. tostring(o.message)) or ''))\n"
  "    end\n"
  "  end\n"
  "  return a, b\n"
  "end\n"
  "\n"
  "-- bodies at the limit and one byte over, too big for seeds\n"
  "local function expect(input, what, len)\n"
  "  local a, b = run(input)\n"
  "  for _, o in pairs{ a, b } do\n"
  "    if (len and (o.event ~= 'success' or #o.body ~= len)) or (not len and o.reason ~= 'too_large') then\n"
  "      fail(format('self-test %s: %s %s, %d bytes', what, o.event, tostring(o.reason), #o.body))\n"
  "    end\n"
  "  end\n"
  "end\n"
  "for _, n in pairs{ MAX_BODY, MAX_BODY + 1 } do\n"
  "  local body = '{\"a\":\"' .. rep('x', n - 8) .. '\"}'\n"
  "  local len = n <= MAX_BODY and n or nil\n"
  "  expect('HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: ' .. n .. '\\r\\n\\r\\n' .. body,\n"
  "    n .. ' with a length', len)\n"
  "  expect('HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n'\n"
  "    .. format('%x\\r\\n', 1000) .. body:sub(1, 1000) .. format('\\r\\n%x\\r\\n', n - 1000) .. body:sub(1001)\n"
  "    .. '\\r\\n0\\r\\n\\r\\n', n .. ' chunked', len)\n"
  "  expect('HTTP/1.0 200 OK\\r\\nContent-Type: application/json\\r\\n\\r\\n' .. body, n .. ' until close', len)\n"
  "end\n"
  "-- the limits on a reply's fields at their edges, and libcurl's cap on a header line\n"
  "local head = 'HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n'\n"
  "for _, n in pairs{ MAX_HEADER_BYTES, MAX_HEADER_BYTES + 1 } do\n"
  "  expect(head .. 'X-Pad: ' .. rep('p', n - #head - 11) .. '\\r\\n\\r\\nok', n .. ' head bytes', n <= MAX_HEADER_BYTES and 2 or nil)\n"
  "end\n"
  "local chunked = 'HTTP/1.1 200 OK\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n2\\r\\nok\\r\\n0\\r\\n'\n"
  "for _, n in pairs{ MAX_HEADER_LINES, MAX_HEADER_LINES + 1 } do\n"
  "  expect(chunked .. rep('X-T: t\\r\\n', n - 1) .. '\\r\\n', n .. ' field lines', n <= MAX_HEADER_LINES and 2 or nil)\n"
  "end\n"
  "expect('HTTP/1.1 200 OK\\r\\nX-Long: ' .. rep('a', 110 * 1024), 'a 110 KiB header line')\n"
  "local blocks = '\\31\\139\\8\\0\\0\\0\\0\\0\\0\\3' .. rep('\\0\\0\\0\\255\\255', 14000)\n"
  "expect('HTTP/1.1 200 OK\\r\\nTransfer-Encoding: gzip, chunked\\r\\n\\r\\n' .. format('%x\\r\\n', #blocks) .. blocks\n"
  "  .. '\\r\\n0\\r\\n\\r\\n', 'empty deflate blocks')\n"
  "return run\n";

static lua_State *L;
static int run_ref = LUA_NOREF;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  static const char *const unset[] = { "no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY", "HTTPS_PROXY" };
  size_t i;
  (void)argc; (void)argv;
  /* every request goes to the "proxy", which is the socketpair: no name is ever resolved */
  for (i = 0; i < sizeof unset / sizeof unset[0]; i++) unsetenv(unset[i]);
  setenv("http_proxy", "http://127.0.0.1:" STR(HTTP_PORT), 1);
  setenv("https_proxy", "http://127.0.0.1:" STR(HTTPS_PORT), 1);
  L = fuzz_lua_open("fuzz_http");
  if (luaL_loadbuffer(L, harness, sizeof harness - 1, "=fuzz_http") != LUA_OK) goto fail;
  lua_pushcfunction(L, l_fail);
  lua_pushcfunction(L, l_respond);
  lua_pushcfunction(L, l_hangup);
  lua_pushcfunction(L, l_cov);
  lua_pushcfunction(L, l_feature);
  if (lua_pcall(L, 5, 1, 0) != LUA_OK) goto fail;
  run_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_gc(L, LUA_GCCOLLECT);
  return 0;
fail:
  fprintf(stderr, "fuzz_http: setup: %s\n", lua_tostring(L, -1));
  exit(1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int top = lua_gettop(L);
  if (size > MAX_RESPONSE) return 0;
  lua_rawgeti(L, LUA_REGISTRYINDEX, run_ref);
  lua_pushlstring(L, (const char *)data, size);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {       /* only fail()'s checks raise in the harness */
    fprintf(stderr, "fuzz_http: %s\n", luaL_tolstring(L, -1, NULL));
    abort();
  }
  lua_settop(L, top);
  lua_gc(L, LUA_GCCOLLECT);     /* the calls are freed now: what is left over is a leak */
  return 0;
}
