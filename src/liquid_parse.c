/*
** Liquid parser: source -> tree (liquid_tree.h). Tokens first ({{ }}, {% %}, text, with
** whitespace control and raw applied), then a recursive-descent parser over them. The
** expression grammar is Shopify's strict one; lax mode tolerates the junk Ruby's lax
** regexps skip over.
*/
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "liquid_filters.h"
#include "liquid_tree.h"
#include "liquid_value.h"

/* ---- tokens ---- */

enum { TK_TEXT, TK_OUTPUT, TK_TAG };

typedef struct token {
  int type, line;
  const char *p; size_t n;       /* text, or the markup inside the delimiters */
  const char *start;             /* where the token begins in the source (columns) */
  int inliquid;                  /* a line of a {% liquid %} tag */
  int raw;                       /* text of a raw block: never blank */
} token;

typedef struct parser {
  lq_template *t;
  lq_error *err;
  int failed;
  int strict;
  token *tk; size_t ntk, cap, pos;
  int depth;
  int edepth;                    /* expression nesting, against LQ_MAX_EXPR_DEPTH */
  int blank;                     /* the body parse_body returned last was blank */
  const char *src, *end;
  /* the template's keys while they are numbered (key_number): on the heap, then moved */
  lq_tkey *keys; int nkeys, keycap;
  int *kslot; size_t kcap;       /* open addressing: slot -> key number, 0 empty */
} parser;

static int at_line(parser *P, const char *at) {
  int line = 1;
  const char *s = P->src;
  if (!at || at < P->src || at > P->end) return 0;
  for (; s < at; s++) if (*s == '\n') line++;
  return line;
}

static int at_col(parser *P, const char *at) {
  const char *s = at;
  if (!at || at < P->src || at > P->end) return 0;
  while (s > P->src && s[-1] != '\n') s--;
  return (int)(at - s) + 1;
}

/* Record a parse error at `at` (a pointer into the source). Returns NULL for convenience. */
static void *perr(parser *P, const char *at, const char *fmt, ...) {
  va_list ap;
  if (P->failed) return NULL;
  P->failed = 1;
  P->err->line = at_line(P, at);
  P->err->col = at_col(P, at);
  va_start(ap, fmt);
  vsnprintf(P->err->msg, sizeof P->err->msg, fmt, ap);
  va_end(ap);
  return NULL;
}

static void *pnew(parser *P, size_t n) {
  void *p = lq_arena_alloc(&P->t->arena, n);
  if (!p) return perr(P, NULL, "out of memory");
  memset(p, 0, n);
  return p;
}

static int is_ws(int c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int push_token(parser *P, int type, int line, const char *p, size_t n, const char *start) {
  token *t;
  if (P->ntk == P->cap) {
    size_t cap = P->cap ? P->cap * 2 : 64;
    token *nt = realloc(P->tk, cap * sizeof *nt);
    if (!nt) { perr(P, NULL, "out of memory"); return -1; }
    P->tk = nt;
    P->cap = cap;
  }
  t = &P->tk[P->ntk++];
  t->type = type;
  t->line = line;
  t->p = p;
  t->n = n;
  t->start = start;
  t->inliquid = 0;
  t->raw = 0;
  return 0;
}

static int count_lines(const char *s, const char *e) {
  int n = 0;
  for (; s < e; s++) n += (*s == '\n');
  return n;
}

/* The tag name of a markup slice, skipping leading space. */
static size_t tag_name(const char *p, size_t n, const char **name) {
  size_t i = 0, j;
  while (i < n && is_ws((unsigned char)p[i])) i++;
  j = i;
  if (j < n && p[j] == '#') { *name = p + j; return 1; }
  while (j < n && (isalnum((unsigned char)p[j]) || p[j] == '_')) j++;
  *name = p + i;
  return j - i;
}

static int name_is(const char *p, size_t n, const char *s) {
  return strlen(s) == n && memcmp(p, s, n) == 0;
}

/* Find "{%-? END -?%}" from s; returns the start of the tag, sets *after. */
static const char *find_end(const char *s, const char *e, const char *end, const char **after) {
  for (; s + 1 < e; s++) {
    const char *q, *nm;
    size_t nl;
    if (s[0] != '{' || s[1] != '%') continue;
    q = s + 2;
    if (q < e && *q == '-') q++;
    nl = tag_name(q, (size_t)(e - q), &nm);
    if (!name_is(nm, nl, end)) continue;
    /* Ruby ignores whatever else the end tag says */
    for (q = nm + nl; q + 1 < e && !(q[0] == '%' && q[1] == '}'); q++) {}
    if (q + 1 < e) { *after = q + 2; return s; }
  }
  return NULL;
}

static int tokenize(parser *P) {
  const char *s = P->src, *e = P->end;
  int line = 1, lstrip = 0;
  while (s < e) {
    const char *o = s, *text_end, *q;
    int type;
    for (;;) {
      o = memchr(o, '{', (size_t)(e - o));
      if (!o || o + 1 >= e) { o = NULL; break; }
      if (o[1] == '{' || o[1] == '%') break;
      o++;
    }
    text_end = o ? o : e;
    {
      const char *ts = s, *te = text_end;
      int rstrip = o && o + 2 < e && o[2] == '-';
      if (lstrip) while (ts < te && is_ws((unsigned char)*ts)) ts++;
      if (rstrip) while (te > ts && is_ws((unsigned char)te[-1])) te--;
      if (te > ts && push_token(P, TK_TEXT, line + count_lines(s, ts), ts, (size_t)(te - ts), ts)) return -1;
      line += count_lines(s, text_end);
    }
    lstrip = 0;
    if (!o) break;
    type = o[1] == '{' ? TK_OUTPUT : TK_TAG;
    {
      const char *ms = o + 2, *me;
      if (ms < e && *ms == '-') ms++;
      if (type == TK_OUTPUT) {
        for (q = ms; q + 1 < e && !(q[0] == '}' && q[1] == '}'); q++) {}
        if (q + 1 >= e) {
          perr(P, o, "variable '{{' was not properly terminated with '}}'");
          return -1;
        }
      } else {
        for (q = ms; q + 1 < e && !(q[0] == '%' && q[1] == '}'); q++) {}
        if (q + 1 >= e) {
          perr(P, o, "tag '{%%' was not properly terminated with '%%}'");
          return -1;
        }
      }
      me = q;
      if (me > ms && me[-1] == '-') { me--; lstrip = 1; }
      else if (me == ms && ms > o + 2 && ms[-1] == '-') lstrip = 1;   /* {{-}} trims both sides */
      {
        /* errors about a tag point at its name */
        const char *at = o;
        if (type == TK_TAG) {
          const char *nm0;
          size_t nl0 = tag_name(ms, (size_t)(me - ms), &nm0);
          if (nl0) at = nm0;
        }
        if (push_token(P, type, line + count_lines(o, at), ms, (size_t)(me - ms), at)) return -1;
      }
      line += count_lines(o, q + 2);
      s = q + 2;
      if (type == TK_TAG) {
        const char *nm;
        size_t nl = tag_name(ms, (size_t)(me - ms), &nm);
        if (name_is(nm, nl, "doc")) {
          /* doc bodies are not parsed at all */
          const char *after, *dend = find_end(s, e, "enddoc", &after), *a = nm + nl;
          while (a < me && is_ws((unsigned char)*a)) a++;
          if (a < me) { perr(P, a, "syntax error in 'doc': it takes no arguments"); return -1; }
          if (!dend) { perr(P, o, "'doc' tag was never closed"); return -1; }
          P->ntk--;
          lstrip = after[-3] == '-';
          line += count_lines(s, after);
          s = after;
          continue;
        }
        if (name_is(nm, nl, "raw")) {
          const char *after, *rend = find_end(s, e, "endraw", &after);
          const char *ts = s, *te;
          if (!rend) { perr(P, nm, "'raw' tag was never closed"); return -1; }
          te = rend;
          if (lstrip) while (ts < te && is_ws((unsigned char)*ts)) ts++;
          if (rend + 2 < e && rend[2] == '-') while (te > ts && is_ws((unsigned char)te[-1])) te--;
          P->ntk--;                   /* the raw tag itself becomes its text */
          if (te > ts) {
            if (push_token(P, TK_TEXT, line, ts, (size_t)(te - ts), ts)) return -1;
            P->tk[P->ntk - 1].raw = 1;
          }
          lstrip = after[-3] == '-';
          line += count_lines(s, after);
          s = after;
        }
      }
    }
  }
  return 0;
}

/* ---- expression lexer ---- */

enum { L_END, L_ID, L_STR, L_INT, L_FLOAT, L_DOTDOT, L_DOT, L_LB, L_RB, L_LP, L_RP,
       L_COMMA, L_COLON, L_PIPE, L_CMP, L_EQ, L_BAD };

typedef struct lex {
  const char *p, *e;
  int t;                       /* current token */
  const char *ts; size_t tn;   /* its text */
  const char *at;              /* where it starts (a string's quote), for messages */
  int64_t i; double f;
  int op;
} lex;

static void lnext(lex *L) {
  const char *p = L->p, *e = L->e;
  while (p < e && is_ws((unsigned char)*p)) p++;
  L->ts = L->at = p;
  if (p >= e) { L->t = L_END; L->tn = 0; L->p = p; return; }
  if (isalpha((unsigned char)*p) || *p == '_') {
    const char *q = p + 1;
    while (q < e && (isalnum((unsigned char)*q) || *q == '_' || *q == '-')) q++;
    if (q < e && *q == '?') q++;
    L->t = L_ID; L->tn = (size_t)(q - p); L->p = q;
    return;
  }
  if (*p == '\'' || *p == '"') {
    const char *q = memchr(p + 1, *p, (size_t)(e - p - 1));
    if (!q) { L->t = L_BAD; L->tn = 1; L->p = p + 1; return; }
    L->t = L_STR; L->ts = p + 1; L->tn = (size_t)(q - p - 1); L->p = q + 1;
    return;
  }
  if (isdigit((unsigned char)*p) || (*p == '-' && p + 1 < e && isdigit((unsigned char)p[1]))) {
    const char *q = p + (*p == '-');
    int isf = 0;
    while (q < e && isdigit((unsigned char)*q)) q++;
    if (q + 1 < e && *q == '.' && isdigit((unsigned char)q[1])) {
      isf = 1;
      q++;
      while (q < e && isdigit((unsigned char)*q)) q++;
    }
    L->tn = (size_t)(q - p);
    L->p = q;
    {
      char tmp[64];
      size_t n = L->tn < 63 ? L->tn : 63;
      memcpy(tmp, p, n);
      tmp[n] = 0;
      if (isf) { L->t = L_FLOAT; L->f = strtod(tmp, NULL); }
      else {
        char *end;
        long long v = strtoll(tmp, &end, 10);
        if (L->tn > 18 && (v == LLONG_MAX || v == LLONG_MIN)) { L->t = L_FLOAT; L->f = strtod(tmp, NULL); }
        else { L->t = L_INT; L->i = v; }
      }
    }
    return;
  }
  L->tn = 1;
  L->p = p + 1;
  switch (*p) {
    case '.':
      if (p + 1 < e && p[1] == '.') { L->t = L_DOTDOT; L->tn = 2; L->p = p + 2; }
      else L->t = L_DOT;
      return;
    case '[': L->t = L_LB; return;
    case ']': L->t = L_RB; return;
    case '(': L->t = L_LP; return;
    case ')': L->t = L_RP; return;
    case ',': L->t = L_COMMA; return;
    case ':': L->t = L_COLON; return;
    case '|': L->t = L_PIPE; return;
    case '=':
      if (p + 1 < e && p[1] == '=') { L->t = L_CMP; L->op = OP_EQ; L->tn = 2; L->p = p + 2; }
      else L->t = L_EQ;
      return;
    case '!':
      if (p + 1 < e && p[1] == '=') { L->t = L_CMP; L->op = OP_NE; L->tn = 2; L->p = p + 2; return; }
      break;
    case '<':
      if (p + 1 < e && p[1] == '=') { L->t = L_CMP; L->op = OP_LE; L->tn = 2; L->p = p + 2; }
      else if (p + 1 < e && p[1] == '>') { L->t = L_CMP; L->op = OP_NE; L->tn = 2; L->p = p + 2; }
      else { L->t = L_CMP; L->op = OP_LT; }
      return;
    case '>':
      if (p + 1 < e && p[1] == '=') { L->t = L_CMP; L->op = OP_GE; L->tn = 2; L->p = p + 2; }
      else { L->t = L_CMP; L->op = OP_GT; }
      return;
    default: break;
  }
  L->t = L_BAD;
}

static void lstart(lex *L, const char *p, size_t n) {
  L->p = p;
  L->e = p + n;
  lnext(L);
}

static int lis_id(const lex *L, const char *s) {
  return L->t == L_ID && name_is(L->ts, L->tn, s);
}

static const char *tokname(const lex *L, char *buf, size_t cap) {
  if (L->t == L_END) return "end of markup";
  snprintf(buf, cap, "'%.*s'", (int)(L->tn > 40 ? 40 : L->tn), L->ts);
  return buf;
}

static void *unexpected(parser *P, lex *L, const char *what) {
  char b[64];
  return perr(P, L->at, "expected %s but found %s", what, tokname(L, b, sizeof b));
}

/* ---- expressions ---- */

static lq_expr *parse_expr(parser *P, lex *L);

static lq_expr *new_lit(parser *P, lq_value v) {
  lq_expr *x = pnew(P, sizeof *x);
  if (x) { x->kind = X_LIT; x->lit = v; }
  return x;
}

/* The number of the name (p, n) among the template's keys (1..), added when new; 0 when
** out of memory: the key is then looked up by its name, as a computed one is. */
static int key_number(parser *P, const char *p, size_t n) {
  size_t i, mask;
  if ((size_t)P->nkeys + 1 > P->kcap / 2) {     /* at most half full */
    size_t nc = P->kcap ? P->kcap * 2 : 64;
    int *ns = calloc(nc, sizeof *ns), k;
    if (!ns) return 0;
    for (k = 1; k <= P->nkeys; k++) {
      for (i = lq_hash(P->keys[k - 1].p, P->keys[k - 1].n) & (nc - 1); ns[i]; i = (i + 1) & (nc - 1)) {}
      ns[i] = k;
    }
    free(P->kslot);
    P->kslot = ns;
    P->kcap = nc;
  }
  mask = P->kcap - 1;
  for (i = lq_hash(p, n) & mask; P->kslot[i]; i = (i + 1) & mask) {
    const lq_tkey *k = &P->keys[P->kslot[i] - 1];
    if (k->n == n && memcmp(k->p, p, n) == 0) return P->kslot[i];
  }
  if (P->nkeys == P->keycap) {
    int nc = P->keycap ? P->keycap * 2 : 32;
    lq_tkey *nk = realloc(P->keys, (size_t)nc * sizeof *nk);
    if (!nk) return 0;
    P->keys = nk;
    P->keycap = nc;
  }
  P->keys[P->nkeys].p = p;
  P->keys[P->nkeys].n = n;
  P->kslot[i] = ++P->nkeys;
  return P->nkeys;
}

static int add_seg(parser *P, lq_expr *x, lq_seg s, int *cap) {
  if (s.kind == SEG_KEY) s.kid = key_number(P, s.key, s.klen);
  if (x->nseg == *cap) {
    int nc = *cap ? *cap * 2 : 4;
    lq_seg *ns = pnew(P, (size_t)nc * sizeof *ns);
    if (!ns) return -1;
    if (x->nseg) memcpy(ns, x->segs, (size_t)x->nseg * sizeof *ns);
    x->segs = ns;
    *cap = nc;
  }
  x->segs[x->nseg++] = s;
  return 0;
}

/* key segments that are `.size`, `.first`, `.last` get this flag in `index` */
#define SEG_COMMAND 1

static lq_expr *parse_var(parser *P, lex *L) {
  lq_expr *x = pnew(P, sizeof *x);
  int cap = 0;
  if (!x) return NULL;
  x->kind = X_VAR;
  x->src = L->ts;
  if (L->t == L_ID) {
    x->name = L->ts;
    x->nlen = L->tn;
    x->hash = lq_hash(x->name, x->nlen);
    x->kid = key_number(P, x->name, x->nlen);
    lnext(L);
  } else {                      /* [expr] at the root */
    lnext(L);
    x->root = parse_expr(P, L);
    if (!x->root) return NULL;
    if (L->t != L_RB) return unexpected(P, L, "']'");
    lnext(L);
  }
  for (;;) {
    lq_seg s;
    memset(&s, 0, sizeof s);
    if (L->t == L_DOT) {
      lnext(L);
      if (L->t == L_INT && !P->strict) {    /* lax: h.1 is the key "1", h.2x "2x" */
        const char *q = L->ts + L->tn;
        while (q < L->e && (isalnum((unsigned char)*q) || *q == '_' || *q == '-')) q++;
        s.kind = SEG_KEY;
        s.key = L->ts;
        s.klen = (size_t)(q - L->ts);
        L->p = q;
        lnext(L);
        if (add_seg(P, x, s, &cap)) return NULL;
        continue;
      }
      if (L->t != L_ID) return unexpected(P, L, "a name after '.'");
      s.kind = SEG_KEY;
      s.key = L->ts;
      s.klen = L->tn;
      if (name_is(s.key, s.klen, "size") || name_is(s.key, s.klen, "first") ||
          name_is(s.key, s.klen, "last"))
        s.index = SEG_COMMAND;
      lnext(L);
    } else if (L->t == L_LB) {
      lnext(L);
      if (L->t == L_STR && 1) {
        lex save = *L;
        lnext(L);
        if (L->t == L_RB) { s.kind = SEG_KEY; s.key = save.ts; s.klen = save.tn; }
        else { *L = save; s.kind = SEG_EXPR; s.e = parse_expr(P, L); if (!s.e) return NULL; }
      } else if (L->t == L_INT) {
        lex save = *L;
        lnext(L);
        if (L->t == L_RB) { s.kind = SEG_INDEX; s.index = save.i; }
        else { *L = save; s.kind = SEG_EXPR; s.e = parse_expr(P, L); if (!s.e) return NULL; }
      } else {
        s.kind = SEG_EXPR;
        s.e = parse_expr(P, L);
        if (!s.e) return NULL;
      }
      if (L->t != L_RB) return unexpected(P, L, "']'");
      lnext(L);
    } else break;
    if (add_seg(P, x, s, &cap)) return NULL;
  }
  x->srclen = (size_t)(L->ts - x->src);
  while (x->srclen && is_ws((unsigned char)x->src[x->srclen - 1])) x->srclen--;
  return x;
}

static lq_expr *parse_expr_in(parser *P, lex *L);

/* every nested value passes here, so the C stack stays bounded whatever the input */
static lq_expr *parse_expr(parser *P, lex *L) {
  lq_expr *x;
  if (++P->edepth > LQ_MAX_EXPR_DEPTH) {
    P->edepth--;
    return perr(P, L->ts, "expression nested too deeply (more than %d levels)", LQ_MAX_EXPR_DEPTH);
  }
  x = parse_expr_in(P, L);
  P->edepth--;
  return x;
}

static lq_expr *parse_expr_in(parser *P, lex *L) {
  lq_value v;
  switch (L->t) {
    case L_STR:
      v = lq_cstr(L->ts, L->tn);
      lnext(L);
      return new_lit(P, v);
    case L_INT:
      v = lq_int(L->i);
      lnext(L);
      return new_lit(P, v);
    case L_FLOAT:
      v = lq_float(L->f);
      lnext(L);
      return new_lit(P, v);
    case L_LP: {
      lq_expr *x = pnew(P, sizeof *x);
      if (!x) return NULL;
      x->kind = X_RANGE;
      x->src = L->ts;
      lnext(L);
      if (!(x->lo = parse_expr(P, L))) return NULL;
      if (L->t != L_DOTDOT) return unexpected(P, L, "'..'");
      lnext(L);
      if (!P->strict) while (L->t == L_DOT || L->t == L_DOTDOT) lnext(L);   /* (1...5) */
      if (!(x->hi = parse_expr(P, L))) return NULL;
      if (L->t != L_RP) return unexpected(P, L, "')'");
      x->srclen = (size_t)(L->p - x->src);
      lnext(L);
      return x;
    }
    case L_ID: {
      const char *s = L->ts;
      size_t n = L->tn;
      lex peek = *L;
      lnext(&peek);
      if (peek.t != L_DOT && peek.t != L_LB) {
        if (name_is(s, n, "nil") || name_is(s, n, "null")) { *L = peek; return new_lit(P, lq_nil()); }
        if (name_is(s, n, "true")) { *L = peek; return new_lit(P, lq_bool(1)); }
        if (name_is(s, n, "false")) { *L = peek; return new_lit(P, lq_bool(0)); }
        if (name_is(s, n, "empty")) { v.type = LQ_EMPTY; v.u.i = 0; *L = peek; return new_lit(P, v); }
        if (name_is(s, n, "blank")) { v.type = LQ_BLANK; v.u.i = 0; *L = peek; return new_lit(P, v); }
      }
      return parse_var(P, L);
    }
    case L_LB:
      return parse_var(P, L);
    default:
      return unexpected(P, L, "a value");
  }
}

/* Lax mode: Ruby's lax parsers pick out what they can and ignore the rest. This skips a
** token that cannot start a value so the parse can go on. */
static lq_expr *parse_expr_lax(parser *P, lex *L) {
  if (P->strict) return parse_expr(P, L);
  while (L->t == L_BAD || L->t == L_DOT || L->t == L_RB || L->t == L_RP || L->t == L_CMP ||
         L->t == L_EQ || L->t == L_DOTDOT)
    lnext(L);
  if (L->t == L_END || L->t == L_PIPE || L->t == L_COMMA || L->t == L_COLON)
    return new_lit(P, lq_nil());
  {
    lq_expr *x = parse_expr(P, L);
    return x;
  }
}

static int parse_filters(parser *P, lex *L, lq_fexpr *fx) {
  int cap = 0;
  while (L->t == L_PIPE) {
    lq_fcall fc;
    int acap = 0, kcap = 0;
    memset(&fc, 0, sizeof fc);
    lnext(L);
    if (L->t != L_ID) {
      if (P->strict) { unexpected(P, L, "a filter name"); return -1; }
      while (L->t != L_END && L->t != L_PIPE) lnext(L);
      continue;
    }
    fc.name = L->ts;
    fc.nlen = L->tn;
    fc.def = lq_filter_find(L->ts, L->tn);
    lnext(L);
    if (!P->strict) {
      /* lax: junk between a filter's name and its colon is skipped (Ruby's regexps) */
      while (L->t == L_BAD) lnext(L);
    }
    if (L->t == L_COLON) {
      lnext(L);
      for (;;) {
        lex peek;
        if (L->t == L_END || L->t == L_PIPE) break;    /* `upcase:` takes no arguments */
        peek = *L;
        lnext(&peek);
        if (L->t == L_ID && peek.t == L_COLON) {        /* keyword argument */
          lq_kwarg k;
          k.name = L->ts;
          k.nlen = L->tn;
          *L = peek;
          lnext(L);
          if (!(k.e = parse_expr_lax(P, L))) return -1;
          if (fc.nkw == kcap) {
            int nc = kcap ? kcap * 2 : 2;
            lq_kwarg *nk = pnew(P, (size_t)nc * sizeof *nk);
            if (!nk) return -1;
            if (fc.nkw) memcpy(nk, fc.kw, (size_t)fc.nkw * sizeof *nk);
            fc.kw = nk;
            kcap = nc;
          }
          fc.kw[fc.nkw++] = k;
        } else {
          lq_expr *a = parse_expr_lax(P, L);
          if (!a) return -1;
          if (fc.nargs == acap) {
            int nc = acap ? acap * 2 : 2;
            lq_expr **na = pnew(P, (size_t)nc * sizeof *na);
            if (!na) return -1;
            if (fc.nargs) memcpy(na, fc.args, (size_t)fc.nargs * sizeof *na);
            fc.args = na;
            acap = nc;
          }
          fc.args[fc.nargs++] = a;
        }
        if (L->t == L_COMMA) {
          lnext(L);
          if (L->t == L_END || L->t == L_PIPE) break;   /* a trailing comma is tolerated */
          continue;
        }
        if (L->t == L_END || L->t == L_PIPE) break;
        if (P->strict) { unexpected(P, L, "',' or '|'"); return -1; }
        /* lax: an argument list ends at the next comma or pipe */
        while (L->t != L_END && L->t != L_PIPE && L->t != L_COMMA) lnext(L);
        if (L->t == L_COMMA) { lnext(L); continue; }
        break;
      }
    } else if (L->t != L_END && L->t != L_PIPE) {
      if (P->strict) { unexpected(P, L, "':' or '|'"); return -1; }
      while (L->t != L_END && L->t != L_PIPE) lnext(L);
    }
    if (fx->nf == cap) {
      int nc = cap ? cap * 2 : 2;
      lq_fcall *nf = pnew(P, (size_t)nc * sizeof *nf);
      if (!nf) return -1;
      if (fx->nf) memcpy(nf, fx->f, (size_t)fx->nf * sizeof *nf);
      fx->f = nf;
      cap = nc;
    }
    fx->f[fx->nf++] = fc;
  }
  return 0;
}

/* expr | filter: args | ... up to the end of the markup */
static lq_fexpr *parse_fexpr(parser *P, const char *p, size_t n) {
  lex L;
  lq_fexpr *fx = pnew(P, sizeof *fx);
  if (!fx) return NULL;
  lstart(&L, p, n);
  if (L.t == L_END || L.t == L_PIPE) {
    if (P->strict && L.t == L_PIPE) return unexpected(P, &L, "a value");
    fx->e = new_lit(P, lq_nil());
  } else {
    fx->e = P->strict ? parse_expr(P, &L) : parse_expr_lax(P, &L);
  }
  if (!fx->e) return NULL;
  if (!P->strict) {
    /* lax: anything between the value and the first pipe is ignored */
    while (L.t != L_END && L.t != L_PIPE) lnext(&L);
  }
  if (parse_filters(P, &L, fx)) return NULL;
  if (L.t != L_END) return unexpected(P, &L, "end of markup");
  return fx;
}

/* ---- conditions ---- */

static lq_cond *parse_cond_in(parser *P, lex *L);

static lq_cond *parse_cond(parser *P, lex *L) {
  lq_cond *c;
  if (++P->edepth > LQ_MAX_EXPR_DEPTH) {
    P->edepth--;
    return perr(P, L->ts, "condition has too many terms (more than %d)", LQ_MAX_EXPR_DEPTH);
  }
  c = parse_cond_in(P, L);
  P->edepth--;
  return c;
}

static lq_cond *parse_cond_in(parser *P, lex *L) {
  lq_cond *c = pnew(P, sizeof *c);
  if (!c) return NULL;
  c->kind = C_EXPR;
  if (!(c->l = parse_expr_lax(P, L))) return NULL;
  if (L->t == L_CMP || lis_id(L, "contains")) {
    c->kind = C_CMP;
    c->op = L->t == L_CMP ? L->op : OP_CONTAINS;
    lnext(L);
    if (!(c->r = parse_expr_lax(P, L))) return NULL;
  }
  if (!P->strict && L->t == L_BAD && !strchr("=!<>", *L->ts)) {
    /* lax: Ruby's condition regexp sees only [=!<>a-z_] operators; the rest is dropped */
    return c;
  }
  if ((L->t == L_ID && !lis_id(L, "and") && !lis_id(L, "or")) || L->t == L_BAD ||
      L->t == L_EQ) {
    /* strict: a parse error; lax: Ruby raises when the condition is evaluated */
    const char *op = L->ts, *e = op;
    lq_expr *x;
    while (e < L->e && !is_ws((unsigned char)*e)) e++;
    if (P->strict) return perr(P, op, "unknown operator '%.*s'", (int)(e - op), op);
    x = pnew(P, sizeof *x);
    if (!x) return NULL;
    x->src = op;
    x->srclen = (size_t)(e - op);
    c->kind = C_BAD;
    c->l = x;
    return c;
  }
  if (lis_id(L, "and") || lis_id(L, "or")) {
    lq_cond *j = pnew(P, sizeof *j);
    if (!j) return NULL;
    j->kind = lis_id(L, "and") ? C_AND : C_OR;
    lnext(L);
    j->a = c;
    if (!(j->b = parse_cond(P, L))) return NULL;
    return j;
  }
  if (L->t != L_END) {
    if (P->strict) return unexpected(P, L, "end of markup");
  }
  return c;
}

static lq_cond *parse_condition(parser *P, const char *p, size_t n) {
  lex L;
  lstart(&L, p, n);
  if (L.t == L_END) return perr(P, p, "missing condition");
  return parse_cond(P, &L);
}

/* ---- blocks ---- */

#include <stddef.h>

static lq_node *new_node(parser *P, int kind, const token *t) {
  int simple = kind == N_TEXT || kind == N_OUTPUT || kind == N_ASSIGN || kind == N_BREAK ||
               kind == N_CONTINUE || kind == N_INCREMENT || kind == N_DECREMENT;
  lq_node *nd = pnew(P, simple ? offsetof(lq_node, br) : sizeof *nd);
  if (nd) { nd->kind = kind; nd->line = t ? t->line : 0; }
  return nd;
}

typedef struct endset { const char *const *names; } endset;

/* Parse until a tag whose name is in `ends` (returned through *which as its index, with
** the token in *at), or to the end of input when ends is NULL. */
static lq_node *parse_body(parser *P, const char *const *ends, int *which, const token **at,
                           const char *opener, const token *otok);

static const char *const ENDS_IF[] = { "elsif", "else", "endif", NULL };
static const char *const ENDS_UNLESS[] = { "elsif", "else", "endunless", NULL };
static const char *const ENDS_CASE[] = { "when", "else", "endcase", NULL };
static const char *const ENDS_FOR[] = { "else", "endfor", NULL };
static const char *const ENDS_TABLEROW[] = { "endtablerow", NULL };
static const char *const ENDS_CAPTURE[] = { "endcapture", NULL };
static const char *const ENDS_IFCHANGED[] = { "endifchanged", NULL };

static void markup_after_name(const token *t, const char **mp, size_t *mn) {
  const char *nm;
  size_t nl = tag_name(t->p, t->n, &nm);
  const char *s = nm + nl, *e = t->p + t->n;
  while (s < e && is_ws((unsigned char)*s)) s++;
  while (e > s && is_ws((unsigned char)e[-1])) e--;
  *mp = s;
  *mn = (size_t)(e - s);
}

static int expect_end(parser *P, lex *L) {
  if (L->t != L_END && P->strict) { unexpected(P, L, "end of markup"); return -1; }
  return 0;
}

/* Ruby drops the whitespace-only text of a block whose bodies are all blank, so tags that
** only assign leave no empty lines behind. */
static lq_node *strip_blank(lq_node *body) {
  lq_node *head = body, **pp = &head;
  while (*pp) {
    if ((*pp)->kind == N_TEXT && (*pp)->blank) *pp = (*pp)->next;
    else pp = &(*pp)->next;
  }
  return head;
}

static lq_node *parse_if(parser *P, const token *t, int unless) {
  lq_node *nd = new_node(P, unless ? N_UNLESS : N_IF, t);
  lq_branch **tail;
  const token *cur = t;
  int which = -1;
  const char *mp;
  size_t mn;
  if (!nd) return NULL;
  nd->blank = 1;
  tail = &nd->br;
  markup_after_name(t, &mp, &mn);
  for (;;) {
    lq_branch *b = pnew(P, sizeof *b);
    const token *at = NULL;
    if (!b) return NULL;
    if (which != 1) {           /* if/elsif: a condition */
      if (!(b->cond = parse_condition(P, mp, mn))) return NULL;
    } else if (mn && P->strict) {
      return perr(P, mp, "'else' takes no arguments");
    }
    b->body = parse_body(P, unless ? ENDS_UNLESS : ENDS_IF, &which, &at,
                         unless ? "unless" : "if", t);
    if (P->failed) return NULL;
    nd->blank &= P->blank;
    *tail = b;
    tail = &b->next;
    if (which == 2) break;
    if (cur && which == 1 && b->cond == NULL) {
      /* a second else: Ruby ignores what follows it until endif */
    }
    cur = at;
    markup_after_name(at, &mp, &mn);
    if (which == 1) {
      /* after else, only endif may follow; further elsif/else bodies are dropped */
      lq_branch *eb = pnew(P, sizeof *eb);
      if (!eb) return NULL;
      eb->body = parse_body(P, unless ? ENDS_UNLESS : ENDS_IF, &which, &at,
                            unless ? "unless" : "if", t);
      if (P->failed) return NULL;
      nd->blank &= P->blank;
      *tail = eb;
      tail = &eb->next;
      while (which != 2) {
        lq_node *junk = parse_body(P, unless ? ENDS_UNLESS : ENDS_IF, &which, &at,
                                   unless ? "unless" : "if", t);
        (void)junk;
        if (P->failed) return NULL;
      }
      break;
    }
  }
  if (nd->blank) {
    lq_branch *b;
    for (b = nd->br; b; b = b->next) b->body = strip_blank(b->body);
  }
  return nd;
}

static lq_node *parse_case(parser *P, const token *t) {
  lq_node *nd = new_node(P, N_CASE, t);
  lq_branch **tail;
  const token *at = NULL;
  int which = -1;
  const char *mp;
  size_t mn;
  lex L;
  if (!nd) return NULL;
  nd->blank = 1;
  tail = &nd->br;
  markup_after_name(t, &mp, &mn);
  lstart(&L, mp, mn);
  if (L.t == L_END) return perr(P, mp, "syntax error in 'case': missing subject");
  if (!(nd->subject = parse_expr_lax(P, &L))) return NULL;
  if (expect_end(P, &L)) return NULL;
  /* text before the first when is ignored (Ruby only allows blank text there) */
  (void)parse_body(P, ENDS_CASE, &which, &at, "case", t);
  if (P->failed) return NULL;
  while (which != 2) {
    lq_branch *b = pnew(P, sizeof *b);
    if (!b) return NULL;
    markup_after_name(at, &mp, &mn);
    if (which == 0) {
      int cap = 0;
      lstart(&L, mp, mn);
      if (L.t == L_END) return perr(P, at->start, "syntax error in 'when': missing value");
      for (;;) {
        lq_expr *v = parse_expr_lax(P, &L);
        if (!v) return NULL;
        if (b->nvals == cap) {
          int nc = cap ? cap * 2 : 2;
          lq_expr **nv = pnew(P, (size_t)nc * sizeof *nv);
          if (!nv) return NULL;
          if (b->nvals) memcpy(nv, b->vals, (size_t)b->nvals * sizeof *nv);
          b->vals = nv;
          cap = nc;
        }
        b->vals[b->nvals++] = v;
        if (L.t == L_COMMA || lis_id(&L, "or")) { lnext(&L); continue; }
        if (L.t == L_END) break;
        if (P->strict) return unexpected(P, &L, "',' or 'or'");
        break;
      }
    } else if (mn && P->strict) {
      return perr(P, mp, "'else' takes no arguments");
    }
    b->body = parse_body(P, ENDS_CASE, &which, &at, "case", t);
    if (P->failed) return NULL;
    nd->blank &= P->blank;
    *tail = b;
    tail = &b->next;
  }
  if (nd->blank) {
    lq_branch *b;
    for (b = nd->br; b; b = b->next) b->body = strip_blank(b->body);
  }
  return nd;
}

static int parse_attrs(parser *P, lex *L, lq_node *nd, int tablerow) {
  while (L->t != L_END) {
    if (L->t == L_COMMA) { lnext(L); continue; }
    if (L->t == L_ID) {
      lex peek = *L;
      const char *n = L->ts;
      size_t nl = L->tn;
      lnext(&peek);
      if (peek.t == L_COLON) {
        *L = peek;
        lnext(L);
        if (name_is(n, nl, "offset") && lis_id(L, "continue") && !tablerow) {
          nd->offset_continue = 1;
          lnext(L);
          continue;
        }
        {
          lq_expr *v = parse_expr_lax(P, L);
          if (!v) return -1;
          if (name_is(n, nl, "limit")) nd->limit = v;
          else if (name_is(n, nl, "offset")) nd->offset = v;
          else if (tablerow && name_is(n, nl, "cols")) { nd->cols = v; nd->cols_set = 1; }
          else if (P->strict) { perr(P, n, "invalid attribute '%.*s' in %s loop", (int)nl, n, tablerow ? "tablerow" : "for"); return -1; }
        }
        continue;
      }
      if (name_is(n, nl, "reversed") && !P->strict) { lnext(L); continue; }
    }
    if (P->strict) { unexpected(P, L, "a loop attribute"); return -1; }
    lnext(L);
  }
  return 0;
}

static lq_node *parse_for(parser *P, const token *t, int tablerow) {
  lq_node *nd = new_node(P, tablerow ? N_TABLEROW : N_FOR, t);
  const char *mp;
  size_t mn;
  lex L;
  int which = -1;
  const token *at = NULL;
  if (!nd) return NULL;
  markup_after_name(t, &mp, &mn);
  lstart(&L, mp, mn);
  if (L.t != L_ID) return perr(P, L.ts, "syntax error in '%s': expected a variable name", tablerow ? "tablerow" : "for");
  nd->var = L.ts;
  nd->vlen = L.tn;
  lnext(&L);
  if (!lis_id(&L, "in")) return perr(P, L.ts, "syntax error in '%s': expected 'in'", tablerow ? "tablerow" : "for");
  lnext(&L);
  {
    const char *cs = L.ts;
    if (!(nd->subject = parse_expr(P, &L))) return NULL;
    nd->loopname = cs;
    nd->lnlen = nd->subject->kind == X_RANGE || nd->subject->kind == X_VAR ? nd->subject->srclen : 0;
    if (!nd->lnlen) {
      nd->lnlen = (size_t)(L.ts - cs);
      while (nd->lnlen && is_ws((unsigned char)cs[nd->lnlen - 1])) nd->lnlen--;
    }
  }
  {
    /* the loop's name, "var-collection": forloop.name and the offset: continue key */
    char *nm = pnew(P, nd->vlen + 1 + nd->lnlen);
    if (!nm) return NULL;
    memcpy(nm, nd->var, nd->vlen);
    nm[nd->vlen] = '-';
    memcpy(nm + nd->vlen + 1, nd->loopname, nd->lnlen);
    nd->text = nm;
    nd->tlen = nd->vlen + 1 + nd->lnlen;
  }
  if (lis_id(&L, "reversed")) { nd->reversed = 1; lnext(&L); }
  if (parse_attrs(P, &L, nd, tablerow)) return NULL;
  if (tablerow) {
    nd->body = parse_body(P, ENDS_TABLEROW, &which, &at, "tablerow", t);
    return P->failed ? NULL : nd;
  }
  nd->body = parse_body(P, ENDS_FOR, &which, &at, "for", t);
  if (P->failed) return NULL;
  nd->blank = P->blank;
  if (which == 0) {
    nd->alt = parse_body(P, ENDS_FOR, &which, &at, "for", t);
    if (P->failed) return NULL;
    nd->blank &= P->blank;
    while (which == 0) {       /* a second else: ignored as Ruby does */
      (void)parse_body(P, ENDS_FOR, &which, &at, "for", t);
      if (P->failed) return NULL;
    }
  }
  if (nd->blank) {
    nd->body = strip_blank(nd->body);
    nd->alt = strip_blank(nd->alt);
  }
  return nd;
}

static lq_node *parse_cycle(parser *P, const token *t) {
  lq_node *nd = new_node(P, N_CYCLE, t);
  const char *mp;
  size_t mn;
  int cap = 0;
  lex L;
  if (!nd) return NULL;
  markup_after_name(t, &mp, &mn);
  lstart(&L, mp, mn);
  if (L.t == L_END) return perr(P, t->start, "syntax error in 'cycle': expected values");
  {
    lex save = L;
    lq_expr *first = parse_expr(P, &L);
    if (!first) return NULL;
    if (L.t == L_COLON) {
      nd->group = first;
      lnext(&L);
    } else {
      L = save;
    }
  }
  for (;;) {
    lq_expr *v = parse_expr_lax(P, &L);
    if (!v) return NULL;
    if (nd->nvals == cap) {
      int nc = cap ? cap * 2 : 4;
      lq_expr **nv = pnew(P, (size_t)nc * sizeof *nv);
      if (!nv) return NULL;
      if (nd->nvals) memcpy(nv, nd->vals, (size_t)nd->nvals * sizeof *nv);
      nd->vals = nv;
      cap = nc;
    }
    nd->vals[nd->nvals++] = v;
    if (L.t == L_COMMA) {
      lnext(&L);
      if (L.t == L_END) break;             /* a trailing comma is allowed */
      continue;
    }
    if (L.t == L_END) break;
    if (P->strict) return unexpected(P, &L, "','");
    break;
  }
  /* Without a group name, the values' markup names the group (as Ruby does). */
  nd->text = mp;
  nd->tlen = mn;
  if (!nd->group) {
    int i, literal = 1;
    for (i = 0; i < nd->nvals; i++) literal &= nd->vals[i]->kind == X_LIT;
    if (!literal) {
      /* a cycle over variables counts on its own (Liquid 5.13) */
      char *k = pnew(P, 32);
      if (!k) return NULL;
      nd->tlen = (size_t)snprintf(k, 32, "\001%p", (void *)nd);
      nd->text = k;
      return nd;
    }
  }
  if (!nd->group) {
    /* the markup of the values without spaces after commas */
    char *k = pnew(P, mn + 1);
    size_t i, j = 0;
    if (!k) return NULL;
    for (i = 0; i < mn; i++) if (!is_ws((unsigned char)mp[i])) k[j++] = mp[i];
    nd->text = k;
    nd->tlen = j;
  }
  return nd;
}

static int parse_kwargs(parser *P, lex *L, lq_node *nd) {
  int cap = 0;
  while (L->t != L_END) {
    lex peek;
    if (L->t == L_COMMA) { lnext(L); continue; }
    peek = *L;
    lnext(&peek);
    if (L->t == L_ID && peek.t == L_COLON) {
      lq_kwarg k;
      k.name = L->ts;
      k.nlen = L->tn;
      *L = peek;
      lnext(L);
      if (!(k.e = parse_expr_lax(P, L))) return -1;
      if (nd->nkw == cap) {
        int nc = cap ? cap * 2 : 4;
        lq_kwarg *nk = pnew(P, (size_t)nc * sizeof *nk);
        if (!nk) return -1;
        if (nd->nkw) memcpy(nk, nd->kw, (size_t)nd->nkw * sizeof *nk);
        nd->kw = nk;
        cap = nc;
      }
      nd->kw[nd->nkw++] = k;
      continue;
    }
    if (P->strict) { unexpected(P, L, "a keyword argument"); return -1; }
    lnext(L);
  }
  return 0;
}

static lq_node *parse_partial(parser *P, const token *t, int include) {
  lq_node *nd = new_node(P, include ? N_INCLUDE : N_RENDER, t);
  const char *mp;
  size_t mn;
  lex L;
  if (!nd) return NULL;
  markup_after_name(t, &mp, &mn);
  lstart(&L, mp, mn);
  if (!include && L.t != L_STR)
    return perr(P, L.ts, "syntax error in 'render': template name must be a quoted string");
  if (L.t == L_END) return perr(P, t->start, "syntax error in 'include': missing template name");
  if (!(nd->tname = parse_expr(P, &L))) return NULL;
  if (lis_id(&L, "with") || lis_id(&L, "for")) {
    nd->is_for = lis_id(&L, "for");
    lnext(&L);
    if (!(nd->subject = parse_expr(P, &L))) return NULL;
  }
  if (lis_id(&L, "as")) {
    lnext(&L);
    if (L.t != L_ID) return unexpected(P, &L, "a name after 'as'");
    nd->alias = L.ts;
    nd->alen = L.tn;
    lnext(&L);
  }
  if (parse_kwargs(P, &L, nd)) return NULL;
  return nd;
}

static int valid_name(const char *p, size_t n) {
  size_t i;
  if (!n) return 0;
  for (i = 0; i < n; i++)
    if (!(isalnum((unsigned char)p[i]) || p[i] == '_' || p[i] == '-')) return 0;
  return 1;
}

/* Skip a comment's tokens up to its matching endcomment (nested comments count). */
static int skip_until(parser *P, const token *t, const char *open, const char *close) {
  int level = 1;
  while (P->pos < P->ntk) {
    const token *k = &P->tk[P->pos++];
    const char *nm;
    size_t nl;
    if (k->type != TK_TAG) continue;
    nl = tag_name(k->p, k->n, &nm);
    if (name_is(nm, nl, open)) level++;
    else if (name_is(nm, nl, close) && --level == 0) return 0;
  }
  perr(P, t->start, "'%s' tag was never closed", open);
  return -1;
}

static lq_node *parse_liquid_tag(parser *P, const token *t);

/* One tag token → node (NULL and no error for tags that produce nothing). */
static lq_node *parse_tag(parser *P, const token *t, const char *nm, size_t nl) {
  const char *mp;
  size_t mn;
  lex L;
  markup_after_name(t, &mp, &mn);
  if (name_is(nm, nl, "#")) {
    /* each line of an inline comment starts with # */
    const char *q = t->p, *e = t->p + t->n;
    while (q < e) {
      const char *le = memchr(q, '\n', (size_t)(e - q));
      if (!le) le = e;
      while (q < le && is_ws((unsigned char)*q)) q++;
      if (q < le && *q != '#') return perr(P, q, "every line of an inline comment must start with '#'");
      q = le + 1;
    }
    return NULL;
  }
  if (name_is(nm, nl, "if")) return parse_if(P, t, 0);
  if (name_is(nm, nl, "unless")) return parse_if(P, t, 1);
  if (name_is(nm, nl, "case")) return parse_case(P, t);
  if (name_is(nm, nl, "for")) return parse_for(P, t, 0);
  if (name_is(nm, nl, "tablerow")) return parse_for(P, t, 1);
  if (name_is(nm, nl, "cycle")) return parse_cycle(P, t);
  if (name_is(nm, nl, "render")) return parse_partial(P, t, 0);
  if (name_is(nm, nl, "include")) return parse_partial(P, t, 1);
  if (name_is(nm, nl, "liquid")) return parse_liquid_tag(P, t);
  if (name_is(nm, nl, "echo")) {
    lq_node *nd = new_node(P, N_OUTPUT, t);
    if (!nd || !(nd->fx = parse_fexpr(P, mp, mn))) return NULL;
    return nd;
  }
  if (name_is(nm, nl, "assign")) {
    lq_node *nd = new_node(P, N_ASSIGN, t);
    const char *eq = memchr(mp, '=', mn);
    const char *ne;
    if (!nd) return NULL;
    if (!eq) return perr(P, t->start, "syntax error in 'assign': expected name = value");
    ne = eq;
    while (ne > mp && is_ws((unsigned char)ne[-1])) ne--;
    nd->text = mp;
    nd->tlen = (size_t)(ne - mp);
    if (!nd->tlen || (P->strict && !valid_name(mp, nd->tlen)))
      return perr(P, mp, "syntax error in 'assign': invalid variable name '%.*s'", (int)nd->tlen, mp);
    if (!(nd->fx = parse_fexpr(P, eq + 1, (size_t)(mp + mn - eq - 1)))) return NULL;
    return nd;
  }
  if (name_is(nm, nl, "capture")) {
    lq_node *nd = new_node(P, N_CAPTURE, t);
    int which;
    const token *at;
    if (!nd) return NULL;
    lstart(&L, mp, mn);
    if (L.t != L_ID && L.t != L_STR && L.t != L_INT) return perr(P, t->start, "syntax error in 'capture': expected a variable name");
    nd->text = L.ts;
    nd->tlen = L.tn;
    lnext(&L);
    if (expect_end(P, &L)) return NULL;
    nd->body = parse_body(P, ENDS_CAPTURE, &which, &at, "capture", t);
    return P->failed ? NULL : nd;
  }
  if (name_is(nm, nl, "increment") || name_is(nm, nl, "decrement")) {
    lq_node *nd = new_node(P, nm[0] == 'i' ? N_INCREMENT : N_DECREMENT, t);
    if (!nd) return NULL;
    lstart(&L, mp, mn);
    if (L.t == L_END && !P->strict) {     /* lax: a counter with no name */
      nd->text = "";
      nd->tlen = 0;
      return nd;
    }
    if (L.t != L_ID) return perr(P, t->start, "syntax error in '%.*s': expected a variable name", (int)nl, nm);
    nd->text = L.ts;
    nd->tlen = L.tn;
    lnext(&L);
    if (expect_end(P, &L)) return NULL;
    return nd;
  }
  if (name_is(nm, nl, "break") || name_is(nm, nl, "continue")) {
    if (mn && P->strict) return perr(P, mp, "'%.*s' takes no arguments", (int)nl, nm);
    return new_node(P, nm[0] == 'b' ? N_BREAK : N_CONTINUE, t);
  }
  if (name_is(nm, nl, "ifchanged")) {
    lq_node *nd = new_node(P, N_IFCHANGED, t);
    int which;
    const token *at;
    if (!nd) return NULL;
    nd->body = parse_body(P, ENDS_IFCHANGED, &which, &at, "ifchanged", t);
    return P->failed ? NULL : nd;
  }
  if (name_is(nm, nl, "comment")) {
    if (t->inliquid) { skip_until(P, t, "comment", "endcomment"); return NULL; }
    skip_until(P, t, "comment", "endcomment");
    return NULL;
  }
  if (name_is(nm, nl, "doc")) {
    skip_until(P, t, "doc", "enddoc");
    return NULL;
  }
  if (name_is(nm, nl, "raw")) {
    if (t->inliquid) return perr(P, t->start, "'raw' is not allowed inside 'liquid'");
    return NULL;
  }
  return perr(P, t->start, "unknown tag '%.*s'", (int)nl, nm);
}

static int ws_only(const char *p, size_t n) {
  while (n--) if (!is_ws((unsigned char)*p++)) return 0;
  return 1;
}

static lq_node *parse_body(parser *P, const char *const *ends, int *which, const token **at,
                           const char *opener, const token *otok) {
  lq_node *head = NULL, **tail = &head;
  int blank = 1;
  if (++P->depth > LQ_MAX_NESTING) {
    perr(P, otok ? otok->start : NULL, "nesting too deep (depth limit %d)", LQ_MAX_NESTING);
    return NULL;
  }
  while (P->pos < P->ntk && !P->failed) {
    const token *t = &P->tk[P->pos++];
    lq_node *nd = NULL;
    if (t->type == TK_TEXT) {
      nd = new_node(P, N_TEXT, t);
      if (nd) { nd->text = t->p; nd->tlen = t->n; nd->blank = !t->raw && ws_only(t->p, t->n); }
      blank &= !t->raw && ws_only(t->p, t->n);
    } else if (t->type == TK_OUTPUT) {
      blank = 0;
      nd = new_node(P, N_OUTPUT, t);
      if (nd) {
        const char *s = t->p;
        size_t n = t->n;
        if (!(nd->fx = parse_fexpr(P, s, n))) nd = NULL;
      }
    } else {
      const char *nm;
      size_t nl = tag_name(t->p, t->n, &nm);
      int i;
      if (nl == 0) {
        perr(P, t->start, "tag name expected");
        break;
      }
      if (ends) {
        for (i = 0; ends[i]; i++) {
          if (name_is(nm, nl, ends[i])) {
            *which = i;
            *at = t;
            P->depth--;
            P->blank = blank;
            return head;
          }
        }
      }
      if (nl > 3 && memcmp(nm, "end", 3) == 0) {
        if (opener) perr(P, t->start, "'%.*s' is not a valid delimiter for '%s' tags", (int)nl, nm, opener);
        else perr(P, t->start, "unexpected '%.*s'", (int)nl, nm);
        break;
      }
      if (name_is(nm, nl, "else") || name_is(nm, nl, "elsif") || name_is(nm, nl, "when")) {
        if (opener) perr(P, t->start, "'%.*s' is not valid inside '%s'", (int)nl, nm, opener);
        else perr(P, t->start, "unexpected '%.*s' outside a block", (int)nl, nm);
        break;
      }
      nd = parse_tag(P, t, nm, nl);
      if (nd) {
        switch (nd->kind) {
          case N_ASSIGN: case N_CAPTURE: nd->blank = 1; break;
          case N_IF: case N_UNLESS: case N_CASE: case N_FOR: case N_BLOCK:
            blank &= nd->blank;
            break;
          default: blank = 0;
        }
      }
    }
    if (P->failed) break;
    if (nd) {
      *tail = nd;
      while (nd->next) nd = nd->next;
      tail = &nd->next;
    }
  }
  P->depth--;
  P->blank = blank;
  if (!P->failed && ends) {
    perr(P, otok ? otok->start : NULL, "'%s' tag was never closed", opener);
  }
  return P->failed ? NULL : head;
}

/* {% liquid %}: each non-blank line is a tag; parse them as tokens of their own. */
static lq_node *parse_liquid_tag(parser *P, const token *t) {
  const char *mp, *s, *e;
  size_t mn;
  token *saved_tk = P->tk;
  size_t saved_n = P->ntk, saved_cap = P->cap, saved_pos = P->pos;
  lq_node *body, *nd;
  int line = t->line;
  markup_after_name(t, &mp, &mn);
  P->tk = NULL;
  P->ntk = P->cap = P->pos = 0;
  {
    /* lines before the markup (the tag name line) */
    const char *q;
    for (q = t->p; q < mp; q++) if (*q == '\n') line++;
  }
  s = mp;
  e = mp + mn;
  while (s < e) {
    const char *le = memchr(s, '\n', (size_t)(e - s));
    const char *ls = s, *lend;
    if (!le) le = e;
    lend = le;
    while (ls < lend && is_ws((unsigned char)*ls)) ls++;
    while (lend > ls && is_ws((unsigned char)lend[-1])) lend--;
    if (lend > ls) {
      if (push_token(P, TK_TAG, line, ls, (size_t)(lend - ls), ls)) break;
      P->tk[P->ntk - 1].inliquid = 1;
    }
    line++;
    s = le + 1;
  }
  body = P->failed ? NULL : parse_body(P, NULL, NULL, NULL, NULL, t);
  {
    int blank = P->blank;
    free(P->tk);
    P->blank = blank;
  }
  P->tk = saved_tk;
  P->ntk = saved_n;
  P->cap = saved_cap;
  P->pos = saved_pos;
  if (P->failed) return NULL;
  nd = new_node(P, N_BLOCK, t);
  if (nd) { nd->body = body; nd->blank = P->blank; }
  return nd;
}

/* ---- public ---- */

lq_template *lq_compile(const char *src, size_t len, int mode, lq_error *err) {
  parser P;
  lq_template *t;
  lq_error dummy;
  if (!err) err = &dummy;
  memset(err, 0, sizeof *err);
  if (len > LQ_MAX_SOURCE) {
    snprintf(err->msg, sizeof err->msg, "template is larger than %u bytes", (unsigned)LQ_MAX_SOURCE);
    return NULL;
  }
  t = calloc(1, sizeof *t);
  if (!t) { snprintf(err->msg, sizeof err->msg, "out of memory"); return NULL; }
  lq_arena_init(&t->arena, 0);
  t->mode = mode;
  t->len = len;
  t->src = lq_arena_alloc(&t->arena, len + 1);
  if (!t->src) { free(t); snprintf(err->msg, sizeof err->msg, "out of memory"); return NULL; }
  if (len) memcpy(t->src, src, len);
  t->src[len] = 0;
  memset(&P, 0, sizeof P);
  P.t = t;
  P.err = err;
  P.strict = mode == LQ_MODE_STRICT;
  P.src = t->src;
  P.end = t->src + len;
  P.depth = -1;                    /* the document itself is not a nesting level */
  if (tokenize(&P) == 0) t->body = parse_body(&P, NULL, NULL, NULL, NULL, NULL);
  free(P.tk);
  free(P.kslot);
  if (!P.failed && P.nkeys) {
    if (!(t->keys = lq_arena_alloc(&t->arena, (size_t)P.nkeys * sizeof *t->keys))) perr(&P, NULL, "out of memory");
    else {
      memcpy(t->keys, P.keys, (size_t)P.nkeys * sizeof *t->keys);
      t->nkeys = P.nkeys;
    }
  }
  free(P.keys);
  if (P.failed) {
    lq_template_free(t);
    return NULL;
  }
  return t;
}

void lq_template_free(lq_template *t) {
  if (!t) return;
  lq_arena_free(&t->arena);
  free(t);
}

int lq_template_mode(const lq_template *t) {
  return t->mode;
}

size_t lq_template_size(const lq_template *t) {
  return sizeof *t + t->arena.used;
}

int lq_template_nkeys(const lq_template *t) {
  return t->nkeys;
}

const char *lq_template_key(const lq_template *t, int k, size_t *len) {
  if (k < 1 || k > t->nkeys) { *len = 0; return NULL; }
  *len = t->keys[k - 1].n;
  return t->keys[k - 1].p;
}
