/* What the step loop would reach in C over C data: bench/engine/steps.lua's flow (Trigger,
 * then Set Variables `n = {{ flow.variables.n | default: 0 | plus: 1 }}` and Split Based On
 * `{{ flow.variables.n }}` less than 10, ten times, then Send Message `{{ flow.variables.n }}`)
 * run by a loop written for it: the same Liquid renderer (src/liquid.h, the context reached
 * through lq_host callbacks), a step record per step (a Twilio-shaped SID made as
 * rivulet.sid makes it, the event, the states, the clock, the widget's outputs and the
 * variables as they stood), Set Variables making a new variables map (a step's snapshot
 * keeps the old one), Studio's limits (10 runs of one widget in a row, 1,000 steps), and
 * every execution's message and step count checked. Nothing of it is rivulet: it is the
 * ceiling of a redesign that keeps executions in C and makes Lua tables only when read,
 * measured on the same machine as the engine (bench/engine/run.sh prints it beside it).
 *
 *   build/bench/ceiling [EXECUTIONS [LOOPS]]   prints {"impl":"c-loop",...} like steps.lua
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "liquid.h"

#define MAX_STEPS 1000     /* Studio: an execution ends after 1,000 steps */
#define MAX_REPEATS 10     /* Studio: one widget run 10 times in a row ends it */
#define VAR_BYTES 32

/* flow.variables: Studio's are strings; one map per Set Variables run (snapshots share them) */
typedef struct vars {
  int has_n;
  char n[VAR_BYTES];
  size_t n_len;
} vars;

typedef struct step {
  char sid[35];
  const char *event, *type, *from, *to;
  double date_created;
  const char *widget;
  const char *output;        /* the widget's one output (Send Message's body), or NULL */
  const vars *variables;
} step;

typedef struct execution {
  char sid[35];
  const vars *variables;
  int nsteps, repeats;
  const char *last_state;
  step steps[MAX_STEPS];
  vars pool[MAX_STEPS];      /* the variables maps this execution made */
  int npool;
  char sent[VAR_BYTES];
} execution;

enum { H_ROOT = 1, H_FLOW, H_VARS };

static int host_get(void *ud, intptr_t obj, const char *key, size_t klen, lq_value *out) {
  const execution *x = (const execution *)ud;
  out->type = LQ_NIL;
  if (obj == H_ROOT && klen == 4 && memcmp(key, "flow", 4) == 0) { out->type = LQ_HOSTHASH; out->u.h = H_FLOW; }
  else if (obj == H_FLOW && klen == 9 && memcmp(key, "variables", 9) == 0) { out->type = LQ_HOSTHASH; out->u.h = H_VARS; }
  else if (obj == H_VARS && klen == 1 && key[0] == 'n' && x->variables->has_n) {
    out->type = LQ_STR;
    out->u.s.p = x->variables->n;
    out->u.s.n = x->variables->n_len;
  }
  return 0;
}

static int host_index(void *ud, intptr_t obj, int64_t i, lq_value *out) {
  (void)ud; (void)obj; (void)i;
  out->type = LQ_NIL;
  return 0;
}

static int64_t host_len(void *ud, const lq_value *obj) {
  (void)ud; (void)obj;
  return 0;
}

static int host_keys(void *ud, intptr_t obj, lq_value *out, int *ordered) {
  (void)ud; (void)obj;
  out->type = LQ_NIL;
  *ordered = 1;
  return 0;
}

/* SIDs as rivulet.sid makes them: a prefix, 24 hex of this process, an 8-hex counter */
static char sid_base[25];
static unsigned sid_counter;

static void make_sid(char *out, const char *prefix) {
  static const char hex[] = "0123456789abcdef";
  unsigned c = ++sid_counter;
  int i;
  out[0] = prefix[0];
  out[1] = prefix[1];
  memcpy(out + 2, sid_base, 24);
  for (i = 7; i >= 0; i--, c >>= 4) out[26 + i] = hex[c & 15];
  out[34] = '\0';
}

static double now_s(clockid_t c) {
  struct timespec t;
  clock_gettime(c, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static lq_template *compile(const char *src) {
  lq_error err;
  lq_template *t = lq_compile(src, strlen(src), LQ_MODE_LAX, &err);
  if (!t) {
    fprintf(stderr, "ceiling: %s: %s\n", src, err.msg);
    exit(1);
  }
  return t;
}

static lq_render *render_state;
static lq_options options;
static lq_host host = { NULL, host_get, host_index, host_len, host_keys, NULL, NULL, NULL };

/* a property rendered against the execution's context; the text stays valid until the next render */
static const char *render(execution *x, const lq_template *t, size_t *len) {
  lq_value root;
  root.type = LQ_HOSTHASH;
  root.u.h = H_ROOT;
  host.ud = x;
  lq_render_free(render_state);
  lq_render_init(render_state);
  if (lq_render_run(render_state, t, &host, &options, root) != 0) {
    fprintf(stderr, "ceiling: render: %s\n", lq_render_error(render_state)->msg);
    exit(1);
  }
  return lq_render_output(render_state, len);
}

/* record a step out of `from`; 0 when the execution must end (a limit) */
static int record(execution *x, const char *event, const char *type, const char *from, const char *to,
                  const char *output) {
  step *s;
  if (x->nsteps >= MAX_STEPS) return 0;
  x->repeats = x->last_state == from ? x->repeats + 1 : 1;
  x->last_state = from;
  if (x->repeats > MAX_REPEATS) return 0;
  s = &x->steps[x->nsteps++];
  make_sid(s->sid, "FT");
  s->event = event;
  s->type = type;
  s->from = from;
  s->to = to;
  s->date_created = now_s(CLOCK_REALTIME);
  s->widget = from;
  s->output = output;
  s->variables = x->variables;
  return 1;
}

static const vars no_vars;

static int run(execution *x, const lq_template *count_t, const lq_template *check_t, const lq_template *done_t,
               long loops) {
  enum { COUNT, CHECK, DONE } state = COUNT;
  size_t len;
  make_sid(x->sid, "FN");
  x->variables = &no_vars;
  x->nsteps = x->repeats = x->npool = 0;
  x->last_state = NULL;
  if (!record(x, "incomingMessage", "trigger", "Trigger", "count", NULL)) return 0;
  for (;;) {
    if (state == COUNT) {                         /* count: Set Variables */
      const char *v = render(x, count_t, &len);
      vars *nv = &x->pool[x->npool++];
      *nv = *x->variables;
      if (len >= VAR_BYTES) return 0;
      memcpy(nv->n, v, len);
      nv->n_len = len;
      nv->has_n = 1;
      x->variables = nv;
      if (!record(x, "next", "set-variables", "count", "check", NULL)) return 0;
      state = CHECK;
    } else if (state == CHECK) {                  /* check: Split Based On, less_than LOOPS */
      const char *v = render(x, check_t, &len);
      char buf[VAR_BYTES], *end;
      double n;
      if (len >= VAR_BYTES) return 0;
      memcpy(buf, v, len);
      buf[len] = '\0';
      n = strtod(buf, &end);
      if (end != buf && n < (double)loops) {
        if (!record(x, "match", "split-based-on", "check", "count", NULL)) return 0;
        state = COUNT;
      } else {
        if (!record(x, "noMatch", "split-based-on", "check", "done", NULL)) return 0;
        state = DONE;
      }
    } else {                                       /* done: Send Message, then the end */
      const char *v = render(x, done_t, &len);
      if (len >= VAR_BYTES) return 0;
      memcpy(x->sent, v, len);
      x->sent[len] = '\0';
      return record(x, "sent", "send-message", "done", "Ended", x->sent);
    }
  }
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 20000, loops = argc > 2 ? atol(argv[2]) : 10, i, bad = 0, pass;
  long steps_each = 2 * loops + 2;
  char expect[VAR_BYTES];
  double w0 = 0, c0 = 0;
  lq_template *count_t, *check_t, *done_t;
  execution *x = malloc(sizeof *x);
  if (!x || n < 1 || loops < 1 || steps_each > MAX_STEPS) {
    fprintf(stderr, "usage: ceiling [EXECUTIONS [LOOPS <= %d]]\n", (MAX_STEPS - 2) / 2);
    return 2;
  }
  snprintf(sid_base, sizeof sid_base, "%08x%08x%08x", (unsigned)rand(), (unsigned)time(NULL), (unsigned)clock());
  snprintf(expect, sizeof expect, "%ld", loops);
  lq_options_init(&options);
  options.objects = LQ_OBJECTS_STUDIO;
  render_state = malloc(lq_render_size());
  if (!render_state) return 1;
  lq_render_init(render_state);
  count_t = compile("{{ flow.variables.n | default: 0 | plus: 1 }}");
  check_t = compile("{{ flow.variables.n }}");
  done_t = compile("{{ flow.variables.n }}");
  for (pass = 0; pass < 2; pass++) {              /* a warm-up pass, then the timed one */
    if (pass == 1) {
      w0 = now_s(CLOCK_MONOTONIC);
      c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
    }
    for (i = 0; i < n; i++) {
      if (!run(x, count_t, check_t, done_t, loops) || x->nsteps != steps_each || strcmp(x->sent, expect) != 0)
        bad++;
    }
  }
  if (bad) {
    fprintf(stderr, "ceiling: %ld executions did not send %s after %ld steps\n", bad, expect, steps_each);
    return 1;
  }
  printf("{\"impl\":\"c-loop\",\"executions\":%ld,\"steps\":%ld,\"cpu_s\":%.4f,\"wall_s\":%.4f}\n", n, n * steps_each,
         now_s(CLOCK_PROCESS_CPUTIME_ID) - c0, now_s(CLOCK_MONOTONIC) - w0);
  lq_render_free(render_state);
  free(render_state);
  lq_template_free(count_t);
  lq_template_free(check_t);
  lq_template_free(done_t);
  free(x);
  return 0;
}
