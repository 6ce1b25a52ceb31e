/*
** Regular expressions for Split Based On's `regex` condition, over PCRE2: the whole
** subject must match, case-insensitively, UTF-8 aware. A match limit bounds the work a
** pattern from a flow file can make one subject cost.
*/
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "lazy.h"
#include "lrv.h"

#define LRV_REGEX_MATCH_LIMIT 1000000     /* backtracking steps per match */
#define LRV_REGEX_DEPTH_LIMIT 10000

static void push_pcre_error(lua_State *L, const char *what, int code, PCRE2_SIZE at) {
  PCRE2_UCHAR msg[160];
  pcre2_get_error_message(code, msg, sizeof msg);
  if (at != (PCRE2_SIZE)-1) lua_pushfstring(L, "%s at offset %d: %s", what, (int)at, (const char *)msg);
  else lua_pushfstring(L, "%s: %s", what, (const char *)msg);
}

/* regex_match(pattern, subject) -> true | false | nil, err (a bad pattern, or a match that
** ran out of its limits) */
static int l_regex_match(lua_State *L) {
  size_t plen, slen;
  const char *pat = luaL_checklstring(L, 1, &plen), *subj = luaL_checklstring(L, 2, &slen);
  int code, rc;
  PCRE2_SIZE off;
  pcre2_code *re;
  pcre2_match_data *md;
  pcre2_match_context *mc;
  const char *why = rv_pcre_unavailable();     /* PCRE2 is opened on first use */
  if (why != NULL) {
    luaL_pushfail(L);
    lua_pushstring(L, why);
    return 2;
  }
  re = pcre2_compile((PCRE2_SPTR)pat, plen,
                     PCRE2_CASELESS | PCRE2_UTF | PCRE2_UCP | PCRE2_ANCHORED | PCRE2_ENDANCHORED,
                     &code, &off, NULL);
  if (!re) {
    luaL_pushfail(L);
    push_pcre_error(L, "invalid regular expression", code, off);
    return 2;
  }
  md = pcre2_match_data_create_from_pattern(re, NULL);
  mc = pcre2_match_context_create(NULL);
  if (!md || !mc) {
    pcre2_match_data_free(md);
    pcre2_match_context_free(mc);
    pcre2_code_free(re);
    return luaL_error(L, "out of memory");
  }
  pcre2_set_match_limit(mc, LRV_REGEX_MATCH_LIMIT);
  pcre2_set_depth_limit(mc, LRV_REGEX_DEPTH_LIMIT);
  rc = pcre2_match(re, (PCRE2_SPTR)subj, slen, 0, 0, md, mc);
  pcre2_match_data_free(md);
  pcre2_match_context_free(mc);
  pcre2_code_free(re);
  if (rc >= 0) { lua_pushboolean(L, 1); return 1; }
  if (rc == PCRE2_ERROR_NOMATCH) { lua_pushboolean(L, 0); return 1; }
  luaL_pushfail(L);
  push_pcre_error(L, "regular expression failed", rc, (PCRE2_SIZE)-1);
  return 2;
}

void lrv_open_regex(lua_State *L) {
  lua_pushcfunction(L, l_regex_match);
  lua_setfield(L, -2, "regex_match");
}
