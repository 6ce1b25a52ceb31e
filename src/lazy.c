/* Opening a library on first use (see lazy.h). */
#include <dlfcn.h>
#include <stdio.h>

#include "lazy.h"

int rv_lazy_open(rv_lazy *lib) {
  const char *err;
  if (lib->state)
    return lib->state > 0;
  lib->handle = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
  if (lib->handle == NULL) {
    err = dlerror();
    snprintf(lib->why, sizeof lib->why, "%s cannot be loaded: %s", lib->what,
             err != NULL ? err : lib->soname);
    lib->state = -1;
    return 0;
  }
  lib->state = 1;
  return 1;
}

/* dlsym's void * to a function pointer: POSIX guarantees it works; C99 has no cast for it */
void rv_lazy_sym(rv_lazy *lib, const char *name, void *slot) {
  void *sym = dlsym(lib->handle, name);
  *(void **)slot = sym;
  if (sym == NULL && lib->state > 0) {
    snprintf(lib->why, sizeof lib->why, "%s cannot be loaded: %s has no %s", lib->what,
             lib->soname, name);
    lib->state = -1;
  }
}
