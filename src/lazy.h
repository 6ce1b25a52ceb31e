/*
** Libraries opened when first used (lazy.c, and one *_lazy.c file per library). Linking
** them would make the dynamic loader map and relocate them, and their own dependencies, at
** every start of every program built on the core, whether or not it uses them. Each
** *_lazy.c defines the library's functions the core calls; the first call that needs the
** library opens it.
** Not thread-safe: the core opens them from the thread that runs Lua.
*/
#ifndef RV_LAZY_H
#define RV_LAZY_H

#include <stddef.h>

/* Longest reason kept for a library that cannot be opened (dlerror's text, cut). */
#define RV_LAZY_WHY_MAX 256

typedef struct rv_lazy {
  const char *soname;        /* what dlopen opens */
  const char *what;          /* how messages name it: "libpq (PostgreSQL)" */
  void *handle;
  int state;                 /* 0 not tried, 1 open, -1 cannot be opened */
  char why[RV_LAZY_WHY_MAX]; /* when state is -1 */
} rv_lazy;

/* Opens lib once; 1 when open, 0 when it cannot be (lib->why says why). */
int rv_lazy_open(rv_lazy *lib);

/* Stores the address of symbol name in *slot (a function pointer's storage); a missing
** symbol makes the library unusable (state -1, why names the symbol). */
void rv_lazy_sym(rv_lazy *lib, const char *name, void *slot);

/* A *_lazy.c file lists its functions once, as LIB_FUNCS(R, V): R(ret, name, params, args)
** for those that return a value, V(name, params, args) for void ones. These expand that
** list into the table of pointers (static struct { LIB_FUNCS(RV_LAZY_FIELD_R,
** RV_LAZY_FIELD_V) } fn;), its loading (with an rv_lazy named lib) and the definitions
** the core links against. Names are parenthesised so a function-like macro of the
** library's header stays out of the way; RV_LAZY_STR expands an object-like one (PCRE2's
** pcre2_compile is pcre2_compile_8) before it is looked up. Each definition opens the
** library if nothing has yet (rv_lazy_ready_(), the file's rv_*_unavailable): a program that
** links the core statically and calls the library itself reaches these too, and so does a
** library's call to its own function when the library was opened by another one first.
**
** The definitions are hidden (RV_LAZY_HIDE, after the library's headers): the host exports
** its symbols for C modules (-Wl,-E), and exported, they would stand in for the library's
** own functions inside any library that loads it (libcurl loads libcrypto: each of
** libcrypto's calls to its own CRYPTO_memcmp would take a detour through here). */
#define RV_LAZY_STR_(x) #x
#define RV_LAZY_STR(x) RV_LAZY_STR_(x)
#define RV_LAZY_FIELD_R(ret, name, params, args) ret(*name) params;
#define RV_LAZY_FIELD_V(name, params, args) void(*name) params;
#define RV_LAZY_LOAD_R(ret, name, params, args) rv_lazy_sym(&lib, RV_LAZY_STR(name), &fn.name);
#define RV_LAZY_LOAD_V(name, params, args) rv_lazy_sym(&lib, RV_LAZY_STR(name), &fn.name);
#define RV_LAZY_DEF_R(ret, name, params, args) \
  ret(name) params { (void)rv_lazy_ready_(); return fn.name args; }
#define RV_LAZY_DEF_V(name, params, args) void(name) params { (void)rv_lazy_ready_(); fn.name args; }

/* A whole library: its table, its rv_lazy, its `unavailable` function and the definitions.
** A file with more to do (mhd_lazy.c: variadic functions) spells these out itself. */
#define RV_LAZY_LIBRARY(FUNCS, unavailable, soname, what)                                  \
  static struct { FUNCS(RV_LAZY_FIELD_R, RV_LAZY_FIELD_V) } fn;                           \
  static rv_lazy lib = { soname, what, NULL, 0, "" };                                      \
  const char *unavailable(void) {                                                          \
    if (lib.state == 0 && rv_lazy_open(&lib)) { FUNCS(RV_LAZY_LOAD_R, RV_LAZY_LOAD_V) }    \
    return lib.state > 0 ? NULL : lib.why;                                                 \
  }                                                                                        \
  static const char *rv_lazy_ready_(void) { return unavailable(); }                        \
  FUNCS(RV_LAZY_DEF_R, RV_LAZY_DEF_V)
#if defined(__GNUC__) || defined(__clang__)
#define RV_LAZY_HIDE _Pragma("GCC visibility push(hidden)")
#else
#define RV_LAZY_HIDE
#endif

/* NULL once the library is open (opening it now if needed), else why it cannot be. */
const char *rv_pq_unavailable(void);
const char *rv_mhd_unavailable(void);
const char *rv_crypto_unavailable(void);
const char *rv_pcre_unavailable(void);
const char *rv_sqlite_unavailable(void);

#endif
