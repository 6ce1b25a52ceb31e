/* A fixed data set for C-level Liquid tests and the fuzzer, reached through lq_host:
** {"n": 7, "f": 2.5, "s": "héllo", "t": true, "arr": [1, "two", 3.5, nil],
**  "h": {"x": "y", "n": 1}, "nested": [[1, 2], [3]], "people": [{"name": "Ann"}, {"name": "Bo"}]} */
#ifndef RIVULET_LIQUID_MOCK_H
#define RIVULET_LIQUID_MOCK_H

#include <string.h>

#include "liquid.h"

typedef struct mock_obj {
  int is_hash;
  int n;
  const char *const *keys;    /* hashes */
  lq_value vals[8];
} mock_obj;

enum { M_ROOT = 1, M_ARR, M_H, M_NESTED, M_N1, M_N2, M_PEOPLE, M_P1, M_P2, M_KEYS_ROOT, M_KEYS_H, M_KEYS_P, M_COUNT };

static const char *const mock_root_keys[] = { "arr", "f", "h", "n", "nested", "people", "s", "t" };
static const char *const mock_h_keys[] = { "n", "x" };
static const char *const mock_p_keys[] = { "name" };
static mock_obj mock_objs[M_COUNT];

static lq_value mock_s(const char *s) { lq_value v; v.type = LQ_STR; v.u.s.p = s; v.u.s.n = strlen(s); return v; }
static lq_value mock_i(int64_t i) { lq_value v; v.type = LQ_INT; v.u.i = i; return v; }
static lq_value mock_h(int type, intptr_t h) { lq_value v; v.type = type; v.u.h = h; return v; }

static void mock_init(void) {
  mock_obj *o;
  int i;
  memset(mock_objs, 0, sizeof mock_objs);
  o = &mock_objs[M_ROOT]; o->is_hash = 1; o->n = 8; o->keys = mock_root_keys;
  o->vals[0] = mock_h(LQ_HOSTARR, M_ARR);
  o->vals[1].type = LQ_FLOAT; o->vals[1].u.f = 2.5;
  o->vals[2] = mock_h(LQ_HOSTHASH, M_H);
  o->vals[3] = mock_i(7);
  o->vals[4] = mock_h(LQ_HOSTARR, M_NESTED);
  o->vals[5] = mock_h(LQ_HOSTARR, M_PEOPLE);
  o->vals[6] = mock_s("h\xc3\xa9llo");
  o->vals[7].type = LQ_BOOL; o->vals[7].u.b = 1;
  o = &mock_objs[M_ARR]; o->n = 4;
  o->vals[0] = mock_i(1); o->vals[1] = mock_s("two");
  o->vals[2].type = LQ_FLOAT; o->vals[2].u.f = 3.5; o->vals[3].type = LQ_NIL;
  o = &mock_objs[M_H]; o->is_hash = 1; o->n = 2; o->keys = mock_h_keys;
  o->vals[0] = mock_i(1); o->vals[1] = mock_s("y");
  o = &mock_objs[M_NESTED]; o->n = 2;
  o->vals[0] = mock_h(LQ_HOSTARR, M_N1); o->vals[1] = mock_h(LQ_HOSTARR, M_N2);
  o = &mock_objs[M_N1]; o->n = 2; o->vals[0] = mock_i(1); o->vals[1] = mock_i(2);
  o = &mock_objs[M_N2]; o->n = 1; o->vals[0] = mock_i(3);
  o = &mock_objs[M_PEOPLE]; o->n = 2;
  o->vals[0] = mock_h(LQ_HOSTHASH, M_P1); o->vals[1] = mock_h(LQ_HOSTHASH, M_P2);
  o = &mock_objs[M_P1]; o->is_hash = 1; o->n = 1; o->keys = mock_p_keys; o->vals[0] = mock_s("Ann");
  o = &mock_objs[M_P2]; o->is_hash = 1; o->n = 1; o->keys = mock_p_keys; o->vals[0] = mock_s("Bo");
  o = &mock_objs[M_KEYS_ROOT]; o->n = 8;
  for (i = 0; i < 8; i++) o->vals[i] = mock_s(mock_root_keys[i]);
  o = &mock_objs[M_KEYS_H]; o->n = 2;
  for (i = 0; i < 2; i++) o->vals[i] = mock_s(mock_h_keys[i]);
  o = &mock_objs[M_KEYS_P]; o->n = 1; o->vals[0] = mock_s("name");
}

static int mock_get(void *ud, intptr_t obj, const char *key, size_t klen, lq_value *out) {
  const mock_obj *o = &mock_objs[obj];
  int i;
  (void)ud;
  out->type = LQ_NIL;
  for (i = 0; o->is_hash && i < o->n; i++)
    if (strlen(o->keys[i]) == klen && memcmp(o->keys[i], key, klen) == 0) { *out = o->vals[i]; break; }
  return 0;
}

static int mock_index(void *ud, intptr_t obj, int64_t i, lq_value *out) {
  (void)ud;
  *out = mock_objs[obj].vals[i];
  return 0;
}

static int64_t mock_len(void *ud, const lq_value *v) {
  (void)ud;
  return mock_objs[v->u.h].n;
}

static int mock_keys(void *ud, intptr_t obj, lq_value *out, int *ordered) {
  (void)ud;
  *ordered = 1;
  *out = mock_h(LQ_HOSTARR, obj == M_ROOT ? M_KEYS_ROOT : obj == M_H ? M_KEYS_H : M_KEYS_P);
  return 0;
}

static void mock_host(lq_host *h, int (*partial)(void *, const char *, size_t, const lq_template **), void *ud) {
  memset(h, 0, sizeof *h);
  h->ud = ud;
  h->get = mock_get;
  h->index = mock_index;
  h->len = mock_len;
  h->keys = mock_keys;
  h->partial = partial;
}

static lq_value mock_root(void) { return mock_h(LQ_HOSTHASH, M_ROOT); }

#endif
