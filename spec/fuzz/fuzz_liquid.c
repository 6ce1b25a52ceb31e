/* libFuzzer target: any bytes as a template, compiled in lax or strict mode (first byte)
** and rendered against a fixed data set; every partial is the template itself, so
** include/render recursion meets the depth limit. Tight limits keep each run short. */
#include <stdint.h>
#include <stdlib.h>

#include "../c/liquid_mock.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const lq_template *self;

static int self_partial(void *ud, const char *name, size_t n, const lq_template **out) {
  (void)ud; (void)name; (void)n;
  *out = self;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int inited;
  lq_error err;
  lq_template *t;
  lq_host host;
  lq_options o;
  lq_render *r;
  int mode;
  if (!inited) { mock_init(); inited = 1; }
  if (size == 0) return 0;
  mode = data[0] & 1 ? LQ_MODE_STRICT : LQ_MODE_LAX;
  t = lq_compile((const char *)data + 1, size - 1, mode, &err);
  if (!t) return 0;
  self = t;
  mock_host(&host, self_partial, NULL);
  lq_options_init(&o);
  o.timezone = "UTC";
  o.has_now = 1;
  o.now = 1700000000;
  o.strict_errors = data[0] & 2;
  o.limits.output_bytes = 1 << 16;
  o.limits.loop_iterations = 10000;
  o.limits.depth = 20;
  o.limits.memory = 8 << 20;
  r = malloc(lq_render_size());
  if (r) {
    lq_render_init(r);
    lq_render_run(r, t, &host, &o, mock_root());
    lq_render_free(r);
    free(r);
  }
  lq_template_free(t);
  return 0;
}
