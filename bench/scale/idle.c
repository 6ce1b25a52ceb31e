/* The resident size of an idle host: rivulet opened with one flow loaded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rivulet.h"

int main(int argc, char **argv) {
  rivulet *rv;
  rivulet_config cfg;
  char line[256];
  FILE *f;
  memset(&cfg, 0, sizeof cfg);
  cfg.version = RIVULET_CONFIG_VERSION;
  cfg.lua_path = getenv("RIVULET_LUA_PATH") ? getenv("RIVULET_LUA_PATH") : "lua";
  if (rivulet_open(&rv, &cfg) != RIVULET_OK ||
      rivulet_load_flow(rv, "flow", argc > 1 ? argv[1] : "flows/random_number.json") != RIVULET_OK) {
    fprintf(stderr, "idle: %s\n", rivulet_errmsg(rv));
    return 1;
  }
  rivulet_poll(rv, 0);
  f = fopen("/proc/self/status", "r");
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0) printf("idle host RSS with one flow loaded:%s", line + 6);
  if (f) fclose(f);
  rivulet_close(rv);
  return 0;
}
