/* Lua 5.4 patterns with a step count: see pattern.h. Written from the reference manual
** (§6.4.1); where the manual leaves a case open (a range next to a class inside a set, a
** ']' first in a set) it reads the pattern left to right as Lua does, and the differential
** test in spec/test_sandbox.lua holds it to the real string library. */
#define _GNU_SOURCE            /* memmem */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "pattern.h"

/* item kinds */
enum {
  K_END,        /* the pattern matched */
  K_ERROR,      /* a malformed part: a = error code, b = its argument */
  K_EOS,        /* '$' at the end: the subject's end */
  K_OPEN,       /* '(': capture a begins */
  K_POSITION,   /* '()': capture a is the position */
  K_CLOSE,      /* ')': capture a ends */
  K_BACKREF,    /* %1-%9: capture a again (b: it is a position capture, which never matches) */
  K_BALANCE,    /* %bxy: a = x, b = y */
  K_FRONTIER,   /* %f[set] */
  K_CHAR,       /* one character a, with quant */
  K_ANY,        /* '.', with quant */
  K_SET         /* a class or [set], with quant */
};

/* quantifiers */
enum { Q_ONE, Q_STAR, Q_PLUS, Q_MINUS, Q_OPT };

#define NO_CLOSE 0x7fffffff

size_t pat_size(size_t plen) {
  /* each item takes at least one character, plus the end; each set at least two */
  size_t items = plen + 2, sets = plen / 2 + 1;
  if (plen > ((size_t)-1) / 64) return 0;
  return items * sizeof(pat_item) + sets * 32;
}

int pat_is_plain(const char *pat, size_t plen) {
  size_t i;
  for (i = 0; i < plen; i++) {
    switch (pat[i]) {
    case '^': case '$': case '*': case '+': case '?': case '.': case '(': case '[': case '%':
    case '-':
      return 0;
    default:
      break;
    }
  }
  return 1;
}

/* ---- compiling ---------------------------------------------------------------------------- */

typedef struct compiler {
  pattern *p;
  const unsigned char *pat;
  size_t plen;
  size_t steps;
  pat_classes *classes;
} compiler;

static const char CLASSES[] = "acdglpsuwxz";

static int in_class(int c, int cl) {
  int r;
  switch (tolower(cl)) {
  case 'a': r = isalpha(c); break;
  case 'c': r = iscntrl(c); break;
  case 'd': r = isdigit(c); break;
  case 'g': r = isgraph(c); break;
  case 'l': r = islower(c); break;
  case 'p': r = ispunct(c); break;
  case 's': r = isspace(c); break;
  case 'u': r = isupper(c); break;
  case 'w': r = isalnum(c); break;
  case 'x': r = isxdigit(c); break;
  case 'z': r = c == 0; break;        /* Lua 5.1's class, still read by 5.4 (not in its manual) */
  default: return cl == c;            /* %x for any other x: x itself */
  }
  if (isupper(cl)) r = !r;            /* %A: the complement of %a */
  return r != 0;
}

static void set_bit(unsigned char *set, int c) {
  set[(unsigned char)c >> 3] |= (unsigned char)(1u << (c & 7));
}

static int has_bit(const unsigned char *set, int c) {
  return (set[(unsigned char)c >> 3] >> (c & 7)) & 1;
}

static void add_class(compiler *cp, unsigned char *set, int cl) {
  const char *k = cl ? strchr(CLASSES, tolower(cl)) : NULL;
  int c, i;
  if (!k) {                                          /* %x for any other x: x itself */
    set_bit(set, cl);
    return;
  }
  i = (int)(k - CLASSES) + (isupper(cl) ? 11 : 0);
  if (!(cp->classes->have & (1ul << i))) {
    memset(cp->classes->set[i], 0, 32);
    for (c = 0; c < 256; c++) if (in_class(c, cl)) set_bit(cp->classes->set[i], c);
    cp->classes->have |= 1ul << i;
    cp->steps += 32;
  }
  for (c = 0; c < 32; c++) set[c] |= cp->classes->set[i][c];
}

static unsigned new_set(compiler *cp) {
  unsigned i = (unsigned)cp->p->nsets++;
  memset(cp->p->sets[i], 0, 32);
  return i;
}

static pat_item *emit(compiler *cp, int kind) {
  pat_item *it = &cp->p->items[cp->p->nitems++];
  memset(it, 0, sizeof *it);
  it->kind = (unsigned char)kind;
  cp->steps++;
  return it;
}

static void emit_error(compiler *cp, int code, int arg) {
  pat_item *it = emit(cp, K_ERROR);
  it->a = (unsigned char)code;
  it->b = (unsigned char)arg;
}

/* the set that starts at pat[q] == '[': fills set, returns the index after its ']', or 0
** when the ']' is missing. The first character after '[' or '[^' belongs to the set even
** when it is ']'; "%x" inside is the class (or the character) x. */
static size_t compile_set(compiler *cp, size_t q, unsigned char *set) {
  const unsigned char *pat = cp->pat;
  size_t r = q + 1, first, close;
  int negate = 0, c;
  if (r < cp->plen && pat[r] == '^') { negate = 1; r++; }
  first = r;
  for (;;) {                                /* find the closing ']' */
    if (r >= cp->plen) return 0;
    if (pat[r++] == '%' && r < cp->plen) r++;
    if (r < cp->plen && pat[r] == ']') break;
  }
  close = r;
  for (r = first; r < close; r++) {
    cp->steps++;
    if (pat[r] == '%') {
      r++;
      add_class(cp, set, pat[r]);
    } else if (pat[r + 1] == '-' && r + 2 < close) {
      for (c = pat[r]; c <= pat[r + 2]; c++) set_bit(set, c);
      r += 2;
    } else {
      set_bit(set, pat[r]);
    }
  }
  if (negate) for (c = 0; c < 32; c++) set[c] = (unsigned char)~set[c];
  return close + 1;
}

size_t pat_compile(pattern *p, void *mem, const char *pat, size_t plen, int anchor,
                   pat_classes *classes) {
  compiler cp;
  size_t q = 0;
  int level = 0, open[PAT_MAXCAPTURES], nopen = 0, position[PAT_MAXCAPTURES], i;
  p->items = (pat_item *)mem;
  p->sets = (unsigned char (*)[32])(void *)((char *)mem + (plen + 2) * sizeof(pat_item));
  p->nitems = p->nsets = 0;
  p->anchor = 0;
  for (i = 0; i < PAT_MAXCAPTURES; i++) p->close_item[i] = NO_CLOSE;
  cp.p = p;
  cp.pat = (const unsigned char *)pat;
  cp.plen = plen;
  cp.steps = 0;
  cp.classes = classes;
  if (anchor && plen > 0 && pat[0] == '^') { p->anchor = 1; q = 1; }
  while (q < plen) {
    int c = cp.pat[q];
    pat_item *it;
    if (c == '(') {
      if (level >= PAT_MAXCAPTURES) { emit_error(&cp, PAT_E_TOO_MANY, 0); return cp.steps; }
      if (q + 1 < plen && pat[q + 1] == ')') {
        emit(&cp, K_POSITION)->a = (unsigned char)level;
        position[level++] = 1;
        q += 2;
      } else {
        emit(&cp, K_OPEN)->a = (unsigned char)level;
        position[level] = 0;
        open[nopen++] = level++;
        q++;
      }
      continue;
    }
    if (c == ')') {
      if (nopen == 0) { emit_error(&cp, PAT_E_CAPTURE, 0); return cp.steps; }
      nopen--;
      p->close_item[open[nopen]] = (int)p->nitems;
      emit(&cp, K_CLOSE)->a = (unsigned char)open[nopen];
      q++;
      continue;
    }
    if (c == '$' && q + 1 == plen) { emit(&cp, K_EOS); q++; continue; }
    if (c == '%' && q + 1 < plen) {
      int d = cp.pat[q + 1];
      if (d == 'b') {
        if (q + 3 >= plen) { emit_error(&cp, PAT_E_BALANCE, 0); return cp.steps; }
        it = emit(&cp, K_BALANCE);
        it->a = cp.pat[q + 2];
        it->b = cp.pat[q + 3];
        q += 4;
        continue;
      }
      if (d == 'f') {
        unsigned s;
        size_t end;
        q += 2;
        if (q >= plen || pat[q] != '[') { emit_error(&cp, PAT_E_FRONTIER, 0); return cp.steps; }
        s = new_set(&cp);
        end = compile_set(&cp, q, p->sets[s]);
        if (!end) { emit_error(&cp, PAT_E_MISSING_BRACKET, 0); return cp.steps; }
        emit(&cp, K_FRONTIER)->set = s;
        q = end;
        continue;
      }
      if (d >= '0' && d <= '9') {
        int l = d - '1', k, unfinished = 0;
        for (k = 0; k < nopen; k++) if (open[k] == l) unfinished = 1;
        if (l < 0 || l >= level || unfinished) {
          emit_error(&cp, PAT_E_CAPTURE_INDEX, l + 1);
          return cp.steps;
        }
        it = emit(&cp, K_BACKREF);
        it->a = (unsigned char)l;
        it->b = (unsigned char)position[l];
        q += 2;
        continue;
      }
    }
    /* one character class, then maybe a quantifier */
    if (c == '%') {
      if (q + 1 >= plen) { emit_error(&cp, PAT_E_ENDS_WITH_ESC, 0); return cp.steps; }
      it = emit(&cp, K_SET);
      it->set = new_set(&cp);
      add_class(&cp, p->sets[it->set], cp.pat[q + 1]);
      q += 2;
    } else if (c == '[') {
      unsigned s = new_set(&cp);
      size_t end = compile_set(&cp, q, p->sets[s]);
      if (!end) { emit_error(&cp, PAT_E_MISSING_BRACKET, 0); return cp.steps; }
      it = emit(&cp, K_SET);
      it->set = s;
      q = end;
    } else if (c == '.') {
      it = emit(&cp, K_ANY);
      q++;
    } else {
      it = emit(&cp, K_CHAR);
      it->a = (unsigned char)c;
      q++;
    }
    if (q < plen) {
      switch (pat[q]) {
      case '*': it->quant = Q_STAR; q++; break;
      case '+': it->quant = Q_PLUS; q++; break;
      case '-': it->quant = Q_MINUS; q++; break;
      case '?': it->quant = Q_OPT; q++; break;
      default: break;
      }
    }
  }
  emit(&cp, K_END);
  return cp.steps;
}

/* ---- matching ----------------------------------------------------------------------------- */

void pat_begin(pat_state *ms, const pattern *p, const char *src, size_t len,
               int (*charge)(void *ud, size_t steps), void *ud) {
  ms->p = p;
  ms->src = src;
  ms->len = len;
  ms->level = 0;
  ms->steps = 0;
  ms->charge = charge;
  ms->ud = ud;
  ms->error = ms->error_arg = 0;
}

int pat_steps(pat_state *ms, size_t steps) {
  ms->steps += steps;
  if (ms->steps >= PAT_CHARGE_EVERY) return pat_flush(ms);
  return PAT_MATCH;
}

int pat_flush(pat_state *ms) {
  size_t n = ms->steps;
  ms->steps = 0;
  if (n > 0 && ms->charge && ms->charge(ms->ud, n)) return PAT_BUDGET;
  return PAT_MATCH;
}

static int single(const pattern *p, const pat_item *it, unsigned char c) {
  switch (it->kind) {
  case K_CHAR: return c == it->a;
  case K_ANY: return 1;
  default: return has_bit(p->sets[it->set], c);
  }
}

typedef struct choice {
  int item, level;
  size_t s;           /* where the item began (Q_MINUS: where it stands now) */
  size_t n;           /* Q_STAR, Q_PLUS: characters it takes in the current try */
} choice;

#define STEP(k) do { if (pat_steps(ms, (k)) != PAT_MATCH) return PAT_BUDGET; } while (0)

int pat_match(pat_state *ms, size_t start, size_t *end) {
  const pattern *p = ms->p;
  const unsigned char *src = (const unsigned char *)ms->src;
  size_t len = ms->len, s = start, n;
  choice stack[PAT_MAXCHOICES];
  int sp = 0, i = 0, k;
  ms->level = 0;
  for (;;) {
    const pat_item *it = &p->items[i];
    STEP(1);
    switch (it->kind) {
    case K_END:
      *end = s;
      return PAT_MATCH;
    case K_ERROR:
      ms->error = it->a;
      ms->error_arg = it->b;
      return PAT_ERROR;
    case K_EOS:
      if (s != len) goto fail;
      i++;
      continue;
    case K_OPEN:
    case K_POSITION:
      ms->cap[ms->level].init = s;
      ms->cap[ms->level].len = it->kind == K_OPEN ? PAT_CAP_UNFINISHED : PAT_CAP_POSITION;
      ms->level++;
      i++;
      continue;
    case K_CLOSE:
      ms->cap[it->a].len = (ptrdiff_t)(s - ms->cap[it->a].init);
      i++;
      continue;
    case K_BACKREF: {
      const pat_capture *c = &ms->cap[it->a];
      if (it->b) goto fail;                          /* a position is not text */
      STEP((size_t)c->len / PAT_BYTES_PER_STEP);
      if (len - s < (size_t)c->len || memcmp(src + c->init, src + s, (size_t)c->len) != 0) goto fail;
      s += (size_t)c->len;
      i++;
      continue;
    }
    case K_BALANCE: {
      size_t t;
      int depth = 1;
      if (s >= len || src[s] != it->a) goto fail;
      for (t = s + 1; t < len; t++) {
        if (src[t] == it->b) {
          if (--depth == 0) break;
        } else if (src[t] == it->a) {
          depth++;
        }
      }
      STEP(t - s);
      if (t >= len) goto fail;
      s = t + 1;
      i++;
      continue;
    }
    case K_FRONTIER: {
      const unsigned char *set = p->sets[it->set];
      int prev = s == 0 ? 0 : src[s - 1], cur = s < len ? src[s] : 0;
      if (has_bit(set, prev) || !has_bit(set, cur)) goto fail;
      i++;
      continue;
    }
    default:
      break;
    }
    /* a single character class */
    switch (it->quant) {
    case Q_ONE:
      if (s >= len || !single(p, it, src[s])) goto fail;
      s++;
      i++;
      continue;
    case Q_OPT:
      if (s < len && single(p, it, src[s])) {
        if (sp == PAT_MAXCHOICES) goto complex;
        stack[sp].item = i; stack[sp].level = ms->level; stack[sp].s = s; stack[sp].n = 0;
        sp++;
        s++;
      }
      i++;
      continue;
    case Q_STAR:
    case Q_PLUS:
      n = 0;
      while (s + n < len && single(p, it, src[s + n])) n++;
      STEP(n);
      if (it->quant == Q_PLUS && n == 0) goto fail;
      if (n > (it->quant == Q_PLUS ? 1u : 0u)) {
        if (sp == PAT_MAXCHOICES) goto complex;
        stack[sp].item = i; stack[sp].level = ms->level; stack[sp].s = s; stack[sp].n = n;
        sp++;
      }
      s += n;
      i++;
      continue;
    case Q_MINUS:
      if (sp == PAT_MAXCHOICES) goto complex;
      stack[sp].item = i; stack[sp].level = ms->level; stack[sp].s = s; stack[sp].n = 0;
      sp++;
      i++;
      continue;
    default:
      break;
    }
  fail:
    /* take back the latest choice that has another try */
    for (;;) {
      choice *c;
      const pat_item *ci;
      if (sp == 0) return PAT_NOMATCH;
      STEP(1);
      c = &stack[sp - 1];
      ci = &p->items[c->item];
      /* the captures as they stood at the choice: later ones dropped, those closed
         since reopened */
      ms->level = c->level;
      for (k = 0; k < ms->level; k++)
        if (p->close_item[k] > c->item && ms->cap[k].len != PAT_CAP_POSITION)
          ms->cap[k].len = PAT_CAP_UNFINISHED;
      i = c->item + 1;
      if (ci->quant == Q_OPT) {                       /* now without the character */
        s = c->s;
        sp--;
        break;
      }
      if (ci->quant == Q_MINUS) {                     /* one character more */
        if (c->s < len && single(p, ci, src[c->s])) {
          s = ++c->s;
          break;
        }
        sp--;
        continue;
      }
      c->n--;                                         /* Q_STAR, Q_PLUS: one fewer */
      s = c->s + c->n;
      if (c->n == (ci->quant == Q_PLUS ? 1u : 0u)) sp--;
      break;
    }
  }
complex:
  ms->error = PAT_E_COMPLEX;
  return PAT_ERROR;
}

const char *pat_message(const pat_state *ms, char *buf, size_t size) {
  switch (ms->error) {
  case PAT_E_ENDS_WITH_ESC: return "malformed pattern (ends with '%')";
  case PAT_E_MISSING_BRACKET: return "malformed pattern (missing ']')";
  case PAT_E_FRONTIER: return "missing '[' after '%f' in pattern";
  case PAT_E_BALANCE: return "malformed pattern (missing arguments to '%b')";
  case PAT_E_CAPTURE: return "invalid pattern capture";
  case PAT_E_TOO_MANY: return "too many captures";
  case PAT_E_CAPTURE_INDEX:
    snprintf(buf, size, "invalid capture index %%%d", ms->error_arg);
    return buf;
  case PAT_E_COMPLEX: return "pattern too complex";
  case PAT_E_UNFINISHED: return "unfinished capture";
  default: return "malformed pattern";
  }
}

int pat_find_plain(pat_state *ms, const char *hay, size_t hlen, const char *needle,
                   size_t nlen, size_t *at) {
  const char *f;
  if (pat_steps(ms, (hlen + nlen) / PAT_BYTES_PER_STEP + 1) != PAT_MATCH) return PAT_BUDGET;
  if (nlen == 0) f = hay;
  else if (nlen > hlen) f = NULL;
  else f = (const char *)memmem(hay, hlen, needle, nlen);
  if (!f) return PAT_NOMATCH;
  *at = (size_t)(f - hay);
  return PAT_MATCH;
}
