/*
** Liquid (Shopify Liquid 5 semantics) in pure C: parse a template once, render it many
** times against data that the embedder owns. No lua.h here: the data is reached through
** an lq_host table of callbacks, so the Lua binding (lrv_liquid.c) reads Lua tables in
** place and C tests or fuzzers can supply their own.
*/
#ifndef RIVULET_LIQUID_H
#define RIVULET_LIQUID_H

#include <stddef.h>
#include <stdint.h>

/* Named limits (defaults; each overridable per render through lq_limits). */
#define LQ_MAX_SOURCE          (16u << 20)  /* template source bytes (liquid-c's cap) */
#define LQ_MAX_NESTING         100          /* block nesting at parse time (Ruby: "Nesting too deep") */
#define LQ_MAX_EXPR_DEPTH      256          /* brackets, parentheses and and/or terms in one expression */
#define LQ_MAX_VALUE_DEPTH     100          /* arrays and hashes within each other, when compared or printed */
#define LQ_DEF_OUTPUT_BYTES    16384        /* Studio: a rendered value is at most 16 KiB */
#define LQ_DEF_LOOP_ITERATIONS 100000       /* for/tablerow iterations per render */
#define LQ_DEF_DEPTH           100          /* include/render nesting at render time */
#define LQ_DEF_MEMORY          (64u << 20)  /* bytes of temporaries one render may hold */
#define LQ_DEF_TIME_MS         10000        /* wall-clock milliseconds one render may take */
#define LQ_MAX_WIDTH           1024         /* widths in date formats, padding and the like */

typedef enum {
  LQ_NIL, LQ_BOOL, LQ_INT, LQ_FLOAT, LQ_STR, LQ_RANGE,
  LQ_ARRAY,     /* an array built during the render (filters, ranges, hash pairs) */
  LQ_HOSTARR,   /* an array owned by the host */
  LQ_HOSTHASH,  /* a hash owned by the host */
  LQ_EMPTY, LQ_BLANK,  /* the literals `empty` and `blank` */
  LQ_LOOP       /* forloop / tablerowloop drop */
} lq_type;

typedef struct lq_array lq_array;

typedef struct lq_value {
  int type;
  union {
    int b;
    int64_t i;
    double f;
    struct { const char *p; size_t n; } s;   /* not NUL-terminated */
    struct { int64_t lo, hi; } r;
    lq_array *a;
    intptr_t h;       /* host handle */
    void *loop;
  } u;
} lq_value;

struct lq_array { size_t n; lq_value *v; };

/* The host: how the renderer reaches data it does not own. Handles are the host's. Each
** callback returns 0, or -1 when the host failed (then lq_host_error names why). Strings a
** host hands out must stay valid for the rest of the render. */
typedef struct lq_template lq_template;
typedef struct lq_host {
  void *ud;
  /* obj[key] for a hash (key is a string) */
  int (*get)(void *ud, intptr_t obj, const char *key, size_t klen, lq_value *out);
  /* obj[i] for an array, 0-based; i is within 0..len-1 */
  int (*index)(void *ud, intptr_t obj, int64_t i, lq_value *out);
  /* element count of an array or hash */
  int64_t (*len)(void *ud, const lq_value *obj);
  /* the keys of a hash, as an array value (LQ_HOSTARR or LQ_ARRAY), with *ordered set when
  ** they are in the hash's own iteration order; otherwise (strings only) the renderer sorts
  ** them bytewise, under the render's time limit */
  int (*keys)(void *ud, intptr_t obj, lq_value *out, int *ordered);
  /* a partial by name: a template compiled in the current mode, owned by the host */
  int (*partial)(void *ud, const char *name, size_t n, const lq_template **out);
  /* the last failure's message (optional) */
  const char *(*error)(void *ud);
  /* obj[key] as get, for key number kid of template t (lq_template_key) (optional): a
  ** host can prepare a template's keys once and find each faster than by its text */
  int (*get_key)(void *ud, intptr_t obj, const lq_template *t, int kid, lq_value *out);
} lq_host;

enum { LQ_MODE_LAX = 0, LQ_MODE_STRICT = 1 };

/* How a hash prints ({{ h }}, and an array where Ruby inspects it: append, a hash inside).
** SHOPIFY: Ruby's inspect, {"a"=>1, "b"=>[1, 2]}, as Shopify Liquid. STUDIO: Twilio
** Studio's {a=1, b=[1, 2]}: keys and strings bare, ", " between pairs, document order
** (a Function template's comment documents this shape: twilio-labs/function-templates,
** outreach-pcp-followup/functions/save-response.protected.js). */
enum { LQ_OBJECTS_SHOPIFY = 0, LQ_OBJECTS_STUDIO = 1 };

typedef struct lq_error {
  int line, col;
  char msg[256];
} lq_error;

typedef struct lq_limits {
  int64_t output_bytes;     /* <= 0: no limit */
  int64_t loop_iterations;
  int64_t depth;
  int64_t render_score;     /* Ruby's render_score_limit; 0: none */
  int64_t assign_score;     /* Ruby's assign_score_limit; 0: none */
  int64_t memory;           /* bytes of temporaries */
  int64_t time_ms;          /* wall-clock milliseconds */
} lq_limits;

typedef struct lq_options {
  int strict_errors;        /* a render error aborts the render (else it is written inline) */
  int strict_variables;     /* an undefined variable is an error */
  int strict_filters;       /* an unknown filter is an error */
  int line_numbers;         /* inline errors say "(line N)" */
  const char *timezone;     /* IANA name; NULL means "America/Los_Angeles" */
  int has_now;              /* use `now` instead of the clock */
  int64_t now;              /* epoch seconds for "now"/"today" */
  const char *name;         /* template name in messages; NULL means "template" */
  lq_limits limits;
  int objects;              /* LQ_OBJECTS_SHOPIFY (the default) or LQ_OBJECTS_STUDIO */
} lq_options;

void lq_options_init(lq_options *o);

/* Compile. NULL on failure with err filled in ("line:col: message" parts). */
lq_template *lq_compile(const char *src, size_t len, int mode, lq_error *err);
void lq_template_free(lq_template *t);
int  lq_template_mode(const lq_template *t);
size_t lq_template_size(const lq_template *t);   /* bytes it holds */
/* The names a template looks up in the host's data (variables, and keys after a dot or in
** brackets), each once, numbered 1..lq_template_nkeys; NULL past the end. */
int lq_template_nkeys(const lq_template *t);
const char *lq_template_key(const lq_template *t, int k, size_t *len);

/* Render. The state is caller-allocated (lq_render_size bytes) so a garbage-collected
** host can own it and free it even if the host itself unwinds past lq_render_run. */
typedef struct lq_render lq_render;
size_t lq_render_size(void);
void   lq_render_init(lq_render *r);
/* 0: ok (output via lq_render_output). -1: failed; lq_render_error says why. */
int    lq_render_run(lq_render *r, const lq_template *t, const lq_host *host,
                     const lq_options *o, lq_value root);
const char *lq_render_output(const lq_render *r, size_t *len);
const lq_error *lq_render_error(const lq_render *r);
void   lq_render_free(lq_render *r);   /* idempotent */

#endif
