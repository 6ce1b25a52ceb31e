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

/* NULL once the library is open (opening it now if needed), else why it cannot be. */
const char *rv_pq_unavailable(void);
const char *rv_mhd_unavailable(void);

#endif
