/* src/pattern.c from C: matches and captures, errors raised only where matching reaches
** them, and the charge function: told every PAT_CHARGE_EVERY steps, and a nonzero answer
** stops even a pattern that would backtrack for hours. (Differential tests against Lua's
** own string library are in spec/test_sandbox.lua.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pattern.h"

static int passed, failed;

static void check(const char *name, int ok) {
  if (ok) passed++;
  else {
    failed++;
    printf("FAIL %s\n", name);
  }
}

static size_t charged, allowed;

/* stops once more than `allowed` steps were charged */
static int charge(void *ud, size_t steps) {
  (void)ud;
  charged += steps;
  return charged > allowed;
}

/* matches pat at every position from 0 as string.find does: the result of the last try */
static int find(const char *src, const char *pat, size_t *start, size_t *end, pat_state *ms) {
  static pat_classes classes;
  size_t plen = strlen(pat), len = strlen(src), s;
  pattern *p = (pattern *)malloc(sizeof(pattern) + pat_size(plen));
  int r = PAT_NOMATCH;
  pat_compile(p, p + 1, pat, plen, 1, &classes);
  pat_begin(ms, p, src, len, charge, NULL);
  for (s = 0; s <= len; s++) {
    r = pat_match(ms, s, end);
    if (r != PAT_NOMATCH) break;
    if (p->anchor) break;
  }
  if (r == PAT_MATCH) *start = s;
  if (r == PAT_MATCH || r == PAT_NOMATCH) r = pat_flush(ms) == PAT_BUDGET ? PAT_BUDGET : r;
  free(p);
  return r;
}

int main(void) {
  pat_state ms;
  size_t s = 0, e = 0;
  char buf[64];
  int r;
  char *big;

  allowed = (size_t)-1;
  r = find("key = value", "(%w+)%s*=%s*(%w+)", &s, &e, &ms);
  check("captures", r == PAT_MATCH && s == 0 && e == 11 && ms.level == 2 && ms.cap[1].init == 6 &&
        ms.cap[1].len == 5);
  r = find("1f(x) g(y)", "%f[%a]%a%b()", &s, &e, &ms);
  check("frontier, balance", r == PAT_MATCH && s == 1 && e == 5);
  r = find("say (hi) now", "%a+ %b()", &s, &e, &ms);
  check("balance", r == PAT_MATCH && s == 0 && e == 8);
  r = find("abab", "^(ab)%1$", &s, &e, &ms);
  check("back reference, anchors", r == PAT_MATCH && s == 0 && e == 4);
  r = find("aaa", "a-()", &s, &e, &ms);
  check("lazy, position", r == PAT_MATCH && e == 0 && ms.cap[0].len == PAT_CAP_POSITION);
  r = find("x", "y[", &s, &e, &ms);
  check("an error not reached is no error", r == PAT_NOMATCH);
  r = find("y", "y[", &s, &e, &ms);
  check("an error reached", r == PAT_ERROR && strcmp(pat_message(&ms, buf, sizeof buf), "malformed pattern (missing ']')") == 0);
  r = find("a", "(a)%2", &s, &e, &ms);
  check("capture index", r == PAT_ERROR && strcmp(pat_message(&ms, buf, sizeof buf), "invalid capture index %2") == 0);

  /* ".-.-.-.-b" over 300 characters: billions of steps in Lua's matcher */
  big = (char *)malloc(301);
  memset(big, 'a', 300);
  big[300] = '\0';
  charged = 0;
  allowed = 1000000;
  r = find(big, ".-.-.-.-b", &s, &e, &ms);
  check("backtracking stops at the budget", r == PAT_BUDGET && charged > allowed &&
        charged <= allowed + PAT_CHARGE_EVERY + 300);
  /* and with room enough, the same search ends without a match: every step was counted */
  charged = 0;
  allowed = (size_t)-1;
  big[40] = '\0';
  r = find(big, ".-.-.-.-b", &s, &e, &ms);
  check("counted steps", r == PAT_NOMATCH && charged > 40 * 40 * 40);
  free(big);

  printf("pattern: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
