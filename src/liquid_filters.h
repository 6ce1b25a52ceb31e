/*
** Liquid's standard filters (liquid_filters.c): the table the parser looks names up in.
** Not installed.
*/
#ifndef RIVULET_LIQUID_FILTERS_H
#define RIVULET_LIQUID_FILTERS_H

#include "liquid_tree.h"

/* Each filter takes the input in *v and replaces it with the result; the caller has
** checked the arity against min/max (max -1: any). */
typedef int (*lq_filter_fn)(lq_render *r, lq_value *v, int argc, const lq_value *argv,
                            int nkw, const lq_kwarg *kw, const lq_value *kwv);
struct lq_filter_def { const char *name; lq_filter_fn fn; int min, max; };
const lq_filter_def *lq_filter_find(const char *name, size_t n);

#endif
