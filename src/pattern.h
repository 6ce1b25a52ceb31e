/* Lua 5.4 patterns (reference manual §6.4.1) with a step count, for custom logic: Lua's own
** matcher has no limit, and `(".-"):rep(4) .. "b"` over 300 characters already takes seconds
** inside one C call, where no instruction hook can stop it.
**
** A pattern is compiled once into items (single characters and sets become 256-bit maps)
** and matched by backtracking over an explicit stack of choices. Every step (a character
** tested, a choice taken back) is counted, and every PAT_CHARGE_EVERY steps the caller's
** charge function is told; when it answers nonzero the match stops with PAT_BUDGET.
**
** Malformed parts of a pattern become error items, raised only when matching reaches them,
** as Lua does: ("x"):find("y[") is nil, ("y"):find("y[") an error.
**
** Pure C: no lua.h. */
#ifndef RIVULET_PATTERN_H
#define RIVULET_PATTERN_H

#include <stddef.h>

#define PAT_MAXCAPTURES 32       /* Lua's LUA_MAXCAPTURES */
#define PAT_MAXCHOICES 200       /* open choices at once, as Lua's matcher allows 200 nested
                                    calls (MAXCCALLS): "pattern too complex" past it */
#define PAT_CHARGE_EVERY 1024    /* steps between two calls of the charge function */
#define PAT_BYTES_PER_STEP 16    /* bytes compared by memcmp/memmem that count as one step */

#define PAT_CAP_UNFINISHED (-1)
#define PAT_CAP_POSITION (-2)

/* pat_match results */
enum { PAT_MATCH, PAT_NOMATCH, PAT_ERROR, PAT_BUDGET };

/* error codes (pat_state.error) */
enum {
  PAT_E_ENDS_WITH_ESC = 1, PAT_E_MISSING_BRACKET, PAT_E_FRONTIER, PAT_E_BALANCE,
  PAT_E_CAPTURE, PAT_E_TOO_MANY, PAT_E_CAPTURE_INDEX, PAT_E_COMPLEX, PAT_E_UNFINISHED
};

typedef struct pat_item {
  unsigned char kind, quant;     /* see pattern.c */
  unsigned char a, b;            /* a character, a capture, balance delimiters, an error */
  unsigned set;                  /* index of the item's 256-bit set */
} pat_item;

typedef struct pattern {
  pat_item *items;
  unsigned char (*sets)[32];
  size_t nitems, nsets;
  int anchor;                    /* the pattern began with '^' (and anchors were asked for) */
  int close_item[PAT_MAXCAPTURES];  /* item closing each capture (or a big number) */
} pattern;

typedef struct pat_capture {
  size_t init;
  ptrdiff_t len;                 /* or PAT_CAP_UNFINISHED, PAT_CAP_POSITION */
} pat_capture;

typedef struct pat_state {
  const pattern *p;
  const char *src;
  size_t len;
  int level;                     /* captures after a match */
  pat_capture cap[PAT_MAXCAPTURES];
  size_t steps;                  /* steps not yet charged */
  int (*charge)(void *ud, size_t steps);   /* nonzero: stop */
  void *ud;
  int error, error_arg;          /* after PAT_ERROR */
} pat_state;

/* the sets of the classes %a %c %d %g %l %p %s %u %w %x %z and their complements, made
** once from <ctype.h> as patterns need them (each takes 256 calls); zero it before use */
typedef struct pat_classes {
  unsigned char set[22][32];
  unsigned long have;
} pat_classes;

/* bytes a compiled pattern of plen characters needs (memory handed to pat_compile, aligned
** for pointers); 0 when that would overflow */
size_t pat_size(size_t plen);

/* compiles pat into mem (pat_size(plen) bytes); with anchor, a leading '^' anchors the match.
** Never fails: malformed parts become error items. Returns the steps it took. */
size_t pat_compile(pattern *p, void *mem, const char *pat, size_t plen, int anchor,
                   pat_classes *classes);

/* pattern p has none of Lua's special characters ^$*+?.([%- (a plain find will do) */
int pat_is_plain(const char *pat, size_t plen);

/* prepares ms for matching p against src */
void pat_begin(pat_state *ms, const pattern *p, const char *src, size_t len,
               int (*charge)(void *ud, size_t steps), void *ud);

/* matches at position start: PAT_MATCH (*end set, ms->level and ms->cap hold the captures),
** PAT_NOMATCH, PAT_ERROR (ms->error) or PAT_BUDGET */
int pat_match(pat_state *ms, size_t start, size_t *end);

/* counts steps; PAT_BUDGET when the charge function says stop, else PAT_MATCH */
int pat_steps(pat_state *ms, size_t steps);

/* hands the steps not yet charged to the charge function: PAT_BUDGET or PAT_MATCH */
int pat_flush(pat_state *ms);

/* the message for ms->error (buf holds at least 64 bytes) */
const char *pat_message(const pat_state *ms, char *buf, size_t size);

/* the first occurrence of needle in hay (memmem: linear in both lengths): PAT_MATCH with *at
** its offset, PAT_NOMATCH or PAT_BUDGET; counts its steps */
int pat_find_plain(pat_state *ms, const char *hay, size_t hlen, const char *needle,
                   size_t nlen, size_t *at);

#endif
