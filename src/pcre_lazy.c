/*
** PCRE2, loaded when first used (see lazy.h): only Split Based On's regex condition needs
** it. lrv_regex.c asks rv_pcre_unavailable() before its first call.
*/
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "lazy.h"

RV_LAZY_HIDE

#ifndef RV_PCRE_SONAME
#define RV_PCRE_SONAME "libpcre2-8.so.0"
#endif

/* the names are pcre2.h's macros for the 8-bit functions (pcre2_compile_8, ...) */
#define PCRE_FUNCS(R, V)                                                                   \
  V(pcre2_code_free, (pcre2_code *c), (c))                                                 \
  R(pcre2_code *, pcre2_compile, (PCRE2_SPTR p, PCRE2_SIZE n, uint32_t o, int *e,          \
                                  PCRE2_SIZE *at, pcre2_compile_context *cc),              \
    (p, n, o, e, at, cc))                                                                  \
  R(int, pcre2_get_error_message, (int code, PCRE2_UCHAR *buf, PCRE2_SIZE n),              \
    (code, buf, n))                                                                        \
  R(int, pcre2_match, (const pcre2_code *c, PCRE2_SPTR s, PCRE2_SIZE n, PCRE2_SIZE from,   \
                       uint32_t o, pcre2_match_data *md, pcre2_match_context *mc),         \
    (c, s, n, from, o, md, mc))                                                            \
  R(pcre2_match_context *, pcre2_match_context_create, (pcre2_general_context *g), (g))    \
  V(pcre2_match_context_free, (pcre2_match_context *mc), (mc))                             \
  R(pcre2_match_data *, pcre2_match_data_create_from_pattern,                              \
    (const pcre2_code *c, pcre2_general_context *g), (c, g))                               \
  V(pcre2_match_data_free, (pcre2_match_data *md), (md))                                   \
  R(int, pcre2_set_depth_limit, (pcre2_match_context *mc, uint32_t n), (mc, n))            \
  R(int, pcre2_set_match_limit, (pcre2_match_context *mc, uint32_t n), (mc, n))

RV_LAZY_LIBRARY(PCRE_FUNCS, rv_pcre_unavailable, RV_PCRE_SONAME, "libpcre2-8 (regular expressions)")
