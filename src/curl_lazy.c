/*
** libcurl, loaded when first used. Linking libcurl pulls in some twenty libraries (TLS,
** Kerberos, LDAP, SSH, IDN, HTTP/2 ...) that the dynamic loader maps and relocates at every
** start, about 4 ms of a cold `rivulet run` on the 2-CPU machine, whether or not the flow
** makes an HTTP call. So the core is not linked against libcurl: these definitions of the
** libcurl functions it uses open libcurl (RV_CURL_SONAME) with dlopen on the first call and
** forward to it. A process that makes no HTTP call never maps it.
**
** When libcurl cannot be opened, curl_global_init and curl_easy_init fail (the HTTP client
** reports that libcurl could not be initialised) and the other functions, which are only
** reached after those succeeded, are never called.
**
** The variadic setopt/getinfo functions forward their one argument by its type, which the
** option number says (libcurl's own CURLOPTTYPE_* ranges): long, curl_off_t or a pointer.
*/
#define CURL_DISABLE_TYPECHECK 1       /* the type-checking macros would hide our definitions */
#include <curl/curl.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <stddef.h>

#include "lazy.h"

RV_LAZY_HIDE   /* lazy.h: why */

/* curl_url_get's and curl_url_dup's handle became const in libcurl 8 */
#if LIBCURL_VERSION_NUM >= 0x080000
#define URL_GET_CONST const
#else
#define URL_GET_CONST
#endif

#ifndef RV_CURL_SONAME
#define RV_CURL_SONAME "libcurl.so.4"  /* the ABI rivulet is built against (libcurl 7.x/8.x) */
#endif

/* every function forwarded, in the order of the table below */
#define CURL_FUNCS(X)                                                                    \
  X(global_init, CURLcode, (long))                                                       \
  X(global_cleanup, void, (void))                                                        \
  X(easy_init, CURL *, (void))                                                           \
  X(easy_cleanup, void, (CURL *))                                                        \
  X(easy_reset, void, (CURL *))                                                          \
  X(easy_setopt, CURLcode, (CURL *, CURLoption, ...))                                    \
  X(easy_getinfo, CURLcode, (CURL *, CURLINFO, ...))                                     \
  X(easy_strerror, const char *, (CURLcode))                                             \
  X(free, void, (void *))                                                                \
  X(multi_init, CURLM *, (void))                                                         \
  X(multi_cleanup, CURLMcode, (CURLM *))                                                 \
  X(multi_add_handle, CURLMcode, (CURLM *, CURL *))                                      \
  X(multi_remove_handle, CURLMcode, (CURLM *, CURL *))                                   \
  X(multi_assign, CURLMcode, (CURLM *, curl_socket_t, void *))                           \
  X(multi_info_read, CURLMsg *, (CURLM *, int *))                                        \
  X(multi_setopt, CURLMcode, (CURLM *, CURLMoption, ...))                                \
  X(multi_socket_action, CURLMcode, (CURLM *, curl_socket_t, int, int *))                \
  X(slist_append, struct curl_slist *, (struct curl_slist *, const char *))             \
  X(slist_free_all, void, (struct curl_slist *))                                         \
  X(url, CURLU *, (void))                                                                \
  X(url_cleanup, void, (CURLU *))                                                        \
  X(url_dup, CURLU *, (URL_GET_CONST CURLU *))                                           \
  X(url_get, CURLUcode, (URL_GET_CONST CURLU *, CURLUPart, char **, unsigned int))               \
  X(url_set, CURLUcode, (CURLU *, CURLUPart, const char *, unsigned int))                \
  X(version_info, curl_version_info_data *, (CURLversion))                               \
  X(easy_nextheader, struct curl_header *, (CURL *, unsigned int, int, struct curl_header *))

#define FIELD(name, ret, args) ret(*name) args;
static struct { CURL_FUNCS(FIELD) } fn;
#undef FIELD

static int state;   /* 0 not tried, 1 loaded, -1 cannot be loaded */

/* dlsym's void * to a function pointer: POSIX guarantees it works; C99 has no cast for it */
static void load_one(void *lib, const char *name, void *slot) {
  void *sym = dlsym(lib, name);
  *(void **)slot = sym;
  if (!sym) state = -1;
}

static int load(void) {
  void *lib;
  if (state) return state > 0;
  lib = dlopen(RV_CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    state = -1;
    return 0;
  }
  state = 1;
#define LOAD(name, ret, args) load_one(lib, "curl_" #name, &fn.name);
  CURL_FUNCS(LOAD)
#undef LOAD
  return state > 0;
}

CURLcode(curl_global_init)(long flags) {
  return load() ? fn.global_init(flags) : CURLE_FAILED_INIT;
}

void(curl_global_cleanup)(void) {
  if (state > 0) fn.global_cleanup();   /* nothing to clean up when never loaded */
}

CURL *(curl_easy_init)(void) { return load() ? fn.easy_init() : NULL; }
void(curl_easy_cleanup)(CURL *h) { fn.easy_cleanup(h); }
void(curl_easy_reset)(CURL *h) { fn.easy_reset(h); }
const char *(curl_easy_strerror)(CURLcode c) { return load() ? fn.easy_strerror(c) : "libcurl cannot be loaded"; }
void(curl_free)(void *p) { fn.free(p); }
CURLM *(curl_multi_init)(void) { return load() ? fn.multi_init() : NULL; }
CURLMcode(curl_multi_cleanup)(CURLM *m) { return fn.multi_cleanup(m); }
CURLMcode(curl_multi_add_handle)(CURLM *m, CURL *h) { return fn.multi_add_handle(m, h); }
CURLMcode(curl_multi_remove_handle)(CURLM *m, CURL *h) { return fn.multi_remove_handle(m, h); }
CURLMcode(curl_multi_assign)(CURLM *m, curl_socket_t s, void *p) { return fn.multi_assign(m, s, p); }
CURLMsg *(curl_multi_info_read)(CURLM *m, int *left) { return fn.multi_info_read(m, left); }
CURLMcode(curl_multi_socket_action)(CURLM *m, curl_socket_t s, int ev, int *running) {
  return fn.multi_socket_action(m, s, ev, running);
}
struct curl_slist *(curl_slist_append)(struct curl_slist *l, const char *s) {
  return load() ? fn.slist_append(l, s) : NULL;
}
void(curl_slist_free_all)(struct curl_slist *l) {
  if (l) fn.slist_free_all(l);
}
CURLU *(curl_url)(void) { return load() ? fn.url() : NULL; }
void(curl_url_cleanup)(CURLU *u) { fn.url_cleanup(u); }
CURLU *(curl_url_dup)(URL_GET_CONST CURLU *u) { return fn.url_dup(u); }
CURLUcode(curl_url_get)(URL_GET_CONST CURLU *u, CURLUPart what, char **part, unsigned int flags) {
  return fn.url_get(u, what, part, flags);
}
CURLUcode(curl_url_set)(CURLU *u, CURLUPart what, const char *part, unsigned int flags) {
  return fn.url_set(u, what, part, flags);
}
struct curl_header *(curl_easy_nextheader)(CURL *h, unsigned int origin, int request, struct curl_header *prev) {
  return fn.easy_nextheader(h, origin, request, prev);
}
curl_version_info_data *(curl_version_info)(CURLversion v) { return load() ? fn.version_info(v) : NULL; }

/* the option's argument type, from its number (curl.h's CURLOPTTYPE_* bases) */
#define ARG_LONG 0
#define ARG_POINTER 1
#define ARG_OFF_T 2
static int arg_type(int option) {
  if (option < CURLOPTTYPE_OBJECTPOINT) return ARG_LONG;
  if (option >= CURLOPTTYPE_OFF_T && option < CURLOPTTYPE_BLOB) return ARG_OFF_T;
  return ARG_POINTER;   /* objects, strings, lists, callbacks' data, functions, blobs */
}

CURLcode(curl_easy_setopt)(CURL *h, CURLoption option, ...) {
  va_list ap;
  CURLcode rc;
  va_start(ap, option);
  switch (arg_type((int)option)) {
    case ARG_LONG: rc = fn.easy_setopt(h, option, va_arg(ap, long)); break;
    case ARG_OFF_T: rc = fn.easy_setopt(h, option, va_arg(ap, curl_off_t)); break;
    default: rc = fn.easy_setopt(h, option, va_arg(ap, void *)); break;
  }
  va_end(ap);
  return rc;
}

CURLMcode(curl_multi_setopt)(CURLM *m, CURLMoption option, ...) {
  va_list ap;
  CURLMcode rc;
  va_start(ap, option);
  switch (arg_type((int)option)) {
    case ARG_LONG: rc = fn.multi_setopt(m, option, va_arg(ap, long)); break;
    case ARG_OFF_T: rc = fn.multi_setopt(m, option, va_arg(ap, curl_off_t)); break;
    default: rc = fn.multi_setopt(m, option, va_arg(ap, void *)); break;
  }
  va_end(ap);
  return rc;
}

/* every CURLINFO_* takes a pointer to where the answer goes */
CURLcode(curl_easy_getinfo)(CURL *h, CURLINFO info, ...) {
  va_list ap;
  CURLcode rc;
  va_start(ap, info);
  rc = fn.easy_getinfo(h, info, va_arg(ap, void *));
  va_end(ap);
  return rc;
}
