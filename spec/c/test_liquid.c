/* The Liquid core from C, without Lua: compile errors with line:col, rendering through a
** mock host, each named limit at its edge, a host that unwinds mid-render. Prints one line
** per failure and a summary. */
#include <malloc.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "liquid_mock.h"

static int passed, failed;

static const lq_template *partial_tpl;
static int the_partial(void *ud, const char *name, size_t n, const lq_template **out) {
  (void)ud;
  *out = (n == 4 && memcmp(name, "self", 4) == 0) ? partial_tpl : NULL;
  return 0;
}

/* render src; returns a malloc'd string "OK:<output>" or "ERR:<message>" */
static char *render(const char *src, int mode, const lq_options *o) {
  lq_error err;
  lq_template *t = lq_compile(src, strlen(src), mode, &err);
  lq_host host;
  lq_render *r;
  char *res;
  if (!t) {
    res = malloc(strlen(err.msg) + 64);
    sprintf(res, "PARSE:%d:%d:%s", err.line, err.col, err.msg);
    return res;
  }
  partial_tpl = t;
  mock_host(&host, the_partial, NULL);
  r = malloc(lq_render_size());
  lq_render_init(r);
  if (lq_render_run(r, t, &host, o, mock_root()) == 0) {
    size_t n;
    const char *s = lq_render_output(r, &n);
    res = malloc(n + 4);
    memcpy(res, "OK:", 3);
    memcpy(res + 3, s, n);
    res[n + 3] = 0;
  } else {
    const lq_error *e = lq_render_error(r);
    res = malloc(strlen(e->msg) + 8);
    sprintf(res, "ERR:%s", e->msg);
  }
  lq_render_free(r);
  free(r);
  lq_template_free(t);
  return res;
}

static void check(const char *name, const char *src, int mode, const lq_options *o, const char *want) {
  char *got = render(src, mode, o);
  int ok = want[strlen(want) - 1] == '*' ? strncmp(got, want, strlen(want) - 1) == 0 : strcmp(got, want) == 0;
  if (ok) passed++;
  else {
    failed++;
    printf("FAIL %s\n  template: %s\n  want: %s\n  got:  %s\n", name, src, want, got);
  }
  free(got);
}

/* ---- a host that unwinds ----
** A Lua host's callbacks can raise (a memory error under a budget): a longjmp through the
** renderer and the filters. Whatever they hold must be reachable from the render state, so
** that lq_render_free releases it. This host longjmps out of its Nth callback, for every N
** until a render gets through, and the heap must be as it was. */

static jmp_buf unwind_to;
static long calls_left;

static void maybe_unwind(void) {
  if (calls_left-- == 0) longjmp(unwind_to, 1);
}
static int unwinding_get(void *ud, intptr_t obj, const char *key, size_t klen, lq_value *out) {
  maybe_unwind();
  return mock_get(ud, obj, key, klen, out);
}
static int unwinding_index(void *ud, intptr_t obj, int64_t i, lq_value *out) {
  maybe_unwind();
  return mock_index(ud, obj, i, out);
}
static int64_t unwinding_len(void *ud, const lq_value *v) {
  maybe_unwind();
  return mock_len(ud, v);
}
static int unwinding_keys(void *ud, intptr_t obj, lq_value *out, int *ordered) {
  maybe_unwind();
  return mock_keys(ud, obj, out, ordered);
}

static size_t heap_in_use(void) {
  struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

/* returns how many renders unwound; *leaked: heap bytes not given back */
static long unwind_everywhere(const lq_template *t, const lq_options *o, long *leaked) {
  lq_host host;
  long n;
  volatile long unwound = 0;
  size_t before;
  mock_host(&host, NULL, NULL);
  host.get = unwinding_get;
  host.index = unwinding_index;
  host.len = unwinding_len;
  host.keys = unwinding_keys;
  before = heap_in_use();
  for (n = 0;; n++) {
    lq_render *volatile r = malloc(lq_render_size());
    volatile int done = 0;
    lq_render_init(r);
    calls_left = n;
    if (setjmp(unwind_to) == 0) {
      lq_render_run(r, t, &host, o, mock_root());
      done = 1;
    } else unwound++;
    lq_render_free(r);
    free(r);
    if (done) break;
  }
  *leaked = (long)(heap_in_use() - before);
  return unwound;
}

/* ---- a host with much data ----
** root = {"big": [0, 1, 2, ... BIG_N - 1]}, made up on the fly: a filter over it runs long,
** and the time limit must stop it from inside. */

#define BIG_N 300000        /* items of "big": sorting them takes longer than TIME_LIMIT_MS */
#define TIME_LIMIT_MS 20    /* the limit the long render gets */
#define TIME_MARGIN_MS 75   /* CPU it may spend past the limit here (valgrind runs this too) */

static int big_get(void *ud, intptr_t obj, const char *key, size_t klen, lq_value *out) {
  (void)ud; (void)obj;
  if (klen == 3 && memcmp(key, "big", 3) == 0) *out = mock_h(LQ_HOSTARR, 2);
  else out->type = LQ_NIL;
  return 0;
}
static int big_index(void *ud, intptr_t obj, int64_t i, lq_value *out) {
  (void)ud; (void)obj;
  *out = mock_i(BIG_N - i);
  return 0;
}
static int64_t big_len(void *ud, const lq_value *v) {
  (void)ud;
  return v->u.h == 2 ? BIG_N : 1;
}

static void check_stops_in_time(const char *name, const char *src) {
  lq_host host;
  lq_options o;
  lq_error err;
  lq_template *t = lq_compile(src, strlen(src), LQ_MODE_LAX, &err);
  lq_render *r = malloc(lq_render_size());
  clock_t t0;
  double ms;
  int rc;
  mock_host(&host, NULL, NULL);
  host.get = big_get;
  host.index = big_index;
  host.len = big_len;
  lq_options_init(&o);
  o.limits.time_ms = TIME_LIMIT_MS;
  lq_render_init(r);
  t0 = clock();
  rc = lq_render_run(r, t, &host, &o, mock_h(LQ_HOSTHASH, 1));
  ms = (double)(clock() - t0) * 1000 / CLOCKS_PER_SEC;
  if (rc != 0 && strstr(lq_render_error(r)->msg, "time_ms limit exceeded") && ms < TIME_LIMIT_MS + TIME_MARGIN_MS)
    passed++;
  else {
    failed++;
    printf("FAIL %s: rc %d, \"%s\" after %.0f ms of CPU\n", name, rc, rc ? lq_render_error(r)->msg : "", ms);
  }
  lq_render_free(r);
  free(r);
  lq_template_free(t);
}

int main(void) {
  lq_options o, lim;
  mock_init();
  lq_options_init(&o);
  o.timezone = "UTC";
  o.has_now = 1;
  o.now = 1700000000;

  check("output", "{{ n | plus: 1 }} {{ s | upcase }} {{ f }}", LQ_MODE_LAX, &o, "OK:8 HÉLLO 2.5");
  check("arrays from 0", "{{ arr[0] }}{{ arr[1] }}{{ arr[-2] }}{{ arr.size }}", LQ_MODE_LAX, &o, "OK:1two3.54");
  check("hash printing", "{{ h }}", LQ_MODE_LAX, &o, "OK:{\"n\"=>1, \"x\"=>\"y\"}");
  check("hash iteration", "{% for p in h %}{{ p[0] }}={{ p[1] }};{% endfor %}", LQ_MODE_LAX, &o, "OK:n=1;x=y;");
  {
    /* Studio prints an object as {key=value, key2=value2} (no quotes, ", " between pairs:
    ** the format twilio-labs/function-templates' outreach-pcp-followup save-response parses),
    ** nested hashes and arrays in the same notation; to_json is JSON either way */
    lq_options st = o;
    st.objects = LQ_OBJECTS_STUDIO;
    check("studio hash printing", "{{ h }}", LQ_MODE_LAX, &st, "OK:{n=1, x=y}");
    check("studio nested", "{{ people }}|{{ nested | append: '' }}|{{ people | append: '!' }}", LQ_MODE_LAX, &st,
          "OK:{name=Ann}{name=Bo}|[[1, 2], [3]]|[{name=Ann}, {name=Bo}]!");
    check("studio to_json", "{{ h | to_json }}", LQ_MODE_LAX, &st, "OK:{\"n\":1,\"x\":\"y\"}");
    check("shopify nested", "{{ people | append: '!' }}", LQ_MODE_LAX, &o, "OK:[{\"name\"=>\"Ann\"}, {\"name\"=>\"Bo\"}]!");
  }
  check("map join", "{{ people | map: 'name' | join: ', ' }}", LQ_MODE_LAX, &o, "OK:Ann, Bo");
  check("nested sum", "{{ nested | sum }}", LQ_MODE_LAX, &o, "OK:6");
  check("date", "{{ 0 | date: '%Y-%m-%d %H:%M %Z' }}", LQ_MODE_LAX, &o, "OK:1970-01-01 00:00 UTC");
  check("now", "{{ 'now' | date: '%s' }}", LQ_MODE_LAX, &o, "OK:1700000000");
  check("decimal floats", "{{ 0.1 | plus: 0.2 }} {{ 1.1 | times: 3 }} {{ 9.99 | times: 100 }}", LQ_MODE_LAX, &o, "OK:0.3 3.3 999.0");
  check("ruby float printing", "{{ 1000000000000000.0 }} {{ 0.00001 }} {{ 2.0 }}", LQ_MODE_LAX, &o, "OK:1.0e+15 1.0e-05 2.0");
  check("inline render error", "a{{ 1 | divided_by: 0 }}b", LQ_MODE_LAX, &o, "OK:aLiquid error: divided by 0b");

  /* fuzzer findings: extreme numbers must not overflow */
  check("huge range window", "{% for i in (-9223372036854775807..9223372036854775807) limit: 2 offset: 5 %}{{ i }},{% endfor %}",
        LQ_MODE_LAX, &o, "OK:-9223372036854775802,-9223372036854775801,");
  check("huge float ceil", "{{ 6666666666666666666666666666.5 | ceil }}", LQ_MODE_LAX, &o, "OK:6.666666666666667e+27");
  check("huge float range end", "{{ (1..99999999999999999999.0) | size }}", LQ_MODE_LAX, &o, "OK:9223372036854775807");

  {
    /* expressions nest at most LQ_MAX_EXPR_DEPTH deep: at the limit fine, over it an error
    ** (the innermost arr[0] is one level: a literal index is not an expression of its own) */
    size_t k, n = LQ_MAX_EXPR_DEPTH;
    char *src = malloc(5 * (LQ_MAX_EXPR_DEPTH + 2) + 32), *p = src;
    p += sprintf(p, "{{ ");
    for (k = 0; k < n; k++) p += sprintf(p, "arr[");
    p += sprintf(p, "0");
    for (k = 0; k < n; k++) *p++ = ']';
    sprintf(p, " }}");
    check("expression depth at the limit", src, LQ_MODE_LAX, &o, "OK:");
    p = src;
    p += sprintf(p, "{{ ");
    for (k = 0; k <= n; k++) p += sprintf(p, "arr[");
    p += sprintf(p, "0");
    for (k = 0; k <= n; k++) *p++ = ']';
    sprintf(p, " }}");
    check("expression depth over the limit", src, LQ_MODE_LAX, &o, "PARSE:1:1028:expression nested too deeply (more than 256 levels)");
    free(src);
  }

  check("unknown tag line:col", "ok\n  {% nope %}", LQ_MODE_LAX, &o, "PARSE:2:6:unknown tag 'nope'");
  check("unclosed block", "{% if n %}x", LQ_MODE_LAX, &o, "PARSE:1:4:'if' tag was never closed");
  check("unterminated output", "x {{ n", LQ_MODE_LAX, &o, "PARSE:1:3:*");
  check("strict garbage", "{{ n n }}", LQ_MODE_STRICT, &o, "PARSE:1:6:*");
  check("lax garbage", "{{ n n }}", LQ_MODE_LAX, &o, "OK:7");

  {
    char deep[(LQ_MAX_NESTING + 1) * 26 + 64], *p = deep;
    int i;
    for (i = 0; i < LQ_MAX_NESTING; i++) p += sprintf(p, "{%% if t %%}");
    p += sprintf(p, "x");
    for (i = 0; i < LQ_MAX_NESTING; i++) p += sprintf(p, "{%% endif %%}");
    check("nesting at the limit", deep, LQ_MODE_LAX, &o, "OK:x");
    p = deep;
    for (i = 0; i <= LQ_MAX_NESTING; i++) p += sprintf(p, "{%% if t %%}");
    for (i = 0; i <= LQ_MAX_NESTING; i++) p += sprintf(p, "{%% endif %%}");
    check("nesting over the limit", deep, LQ_MODE_LAX, &o, "PARSE:*");
  }

  lim = o;
  lim.limits.output_bytes = 5;
  check("output at the limit", "{{ 'abcde' }}", LQ_MODE_LAX, &lim, "OK:abcde");
  check("output over the limit", "{{ 'abcdef' }}", LQ_MODE_LAX, &lim, "ERR:output_bytes limit exceeded (5 bytes)");
  lim = o;
  lim.limits.loop_iterations = 10;
  check("loops at the limit", "{% for i in (1..10) %}{% endfor %}ok", LQ_MODE_LAX, &lim, "OK:ok");
  check("loops over the limit", "{% for i in (1..11) %}{% endfor %}ok", LQ_MODE_LAX, &lim, "ERR:loop_iterations limit exceeded (10)");
  lim = o;
  lim.limits.depth = 3;
  lim.strict_errors = 1;
  check("include depth over the limit", "{% include 'self' %}", LQ_MODE_LAX, &lim, "ERR:depth limit exceeded (3): nesting too deep");
  lim = o;
  lim.limits.render_score = 11;
  check("render score at the limit", "{% for i in (1..10) %}x{% endfor %}", LQ_MODE_LAX, &lim, "OK:xxxxxxxxxx");
  lim.limits.render_score = 10;
  check("render score over the limit", "{% for i in (1..10) %}x{% endfor %}", LQ_MODE_LAX, &lim, "ERR:render_score limit exceeded (10)");
  lim = o;
  lim.limits.assign_score = 5;
  check("assign score at the limit", "{% assign a = 'abcde' %}ok", LQ_MODE_LAX, &lim, "OK:ok");
  check("assign score over the limit", "{% assign a = 'abcdef' %}ok", LQ_MODE_LAX, &lim, "ERR:assign_score limit exceeded (5)");
  lim = o;
  lim.limits.memory = 1 << 16;
  check("memory limit", "{% assign a = 'x' %}{% for i in (1..20) %}{% assign a = a | append: a %}{% endfor %}", LQ_MODE_LAX, &lim, "ERR:memory limit exceeded*");

  {
    /* every filter and tag that gathers text or items in a scratch buffer */
    static const char src[] =
      "{{ people | map: 'name' | join: ', ' }}{{ nested | join: '-' }}{{ arr | join }}"
      "{% capture c %}{% for p in people %}{{ p.name | upcase }}{% endfor %}{% endcapture %}{{ c }}"
      "{% for i in arr %}{% ifchanged %}{{ i }}{% endifchanged %}{% endfor %}"
      "{{ s | split: 'l' | join: '|' }}{{ s | replace: 'l', 'LL' | escape }}{{ h | to_json }}"
      "{{ nested | concat: arr | compact | uniq | reverse | size }}{{ people | sort: 'name' | first | to_json }}"
      "{{ h }}{{ s | url_encode | newline_to_br | strip_html }}{{ arr | slice: 1, 2 | join: '+' }}";
    lq_error err;
    lq_template *t = lq_compile(src, sizeof src - 1, LQ_MODE_LAX, &err);
    long unwound, leaked;
    char *warm = render(src, LQ_MODE_LAX, &o);   /* one-time allocations (stdio, locales) first */
    free(warm);
    unwind_everywhere(t, &o, &leaked);          /* the allocator's caches settle */
    unwound = unwind_everywhere(t, &o, &leaked);
    if (unwound > 20 && leaked == 0) passed++;
    else {
      failed++;
      printf("FAIL a host that unwinds: %ld renders unwound, %ld heap bytes not given back\n", unwound, leaked);
    }
    lq_template_free(t);
  }

  check_stops_in_time("time limit inside sort", "{% for i in (1..100) %}{{ big | sort | size }}{% endfor %}");
  check_stops_in_time("time limit inside uniq and join", "{% for i in (1..100) %}{{ big | uniq | join | size }}{% endfor %}");

  printf("liquid (C): %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
