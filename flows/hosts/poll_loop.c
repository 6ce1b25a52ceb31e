/* A host with its own event loop: it waits in poll(2) on rivulet's sockets and on stdin
** (one "FROM BODY" line per inbound SMS), for no longer than rivulet_timeout says, and
** calls rivulet_poll(rv, 0) when something is ready — rivulet adds no thread.
** Build: make (build/hosts/poll_loop); run from the repository root:
**   printf '+15550000001 41\n' | build/hosts/poll_loop */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rivulet.h"

#define MAX_FDS 32

static void on_message(void *ud, const char *sid, const char *from, const char *to, const char *body) {
  (void)ud; (void)sid; (void)from;
  printf("to %s: %s\n", to, body);
}

int main(void) {
  rivulet *rv;
  rivulet_config cfg;
  const char *dir = getenv("RIVULET_LUA_PATH");
  char sid[35], line[512];
  int open_input = 1;
  memset(&cfg, 0, sizeof cfg);
  cfg.version = RIVULET_CONFIG_VERSION;
  cfg.on_message = on_message;
  cfg.lua_path = dir ? dir : "lua";
  if (rivulet_open(&rv, &cfg) != RIVULET_OK || rivulet_load_flow(rv, "quiz", "flows/hosts/quiz.lua") != RIVULET_OK ||
      rivulet_start(rv, "quiz", "{\"event\":\"incomingMessage\",\"from\":\"+15550000001\","
                               "\"to\":\"+15559990000\",\"body\":\"play\"}", sid) != RIVULET_OK) {
    fprintf(stderr, "poll_loop: %s\n", rivulet_errmsg(rv));
    rivulet_close(rv);
    return 1;
  }
  while (rivulet_active(rv) > 0) {
    struct pollfd pfd[MAX_FDS + 1];
    int fds[MAX_FDS], n = 0, i, k = 0;
    short ev[MAX_FDS];
    long ms;
    if (open_input) { pfd[k].fd = 0; pfd[k].events = POLLIN; k++; }
    rivulet_fds(rv, fds, ev, MAX_FDS, &n);
    for (i = 0; i < n; i++, k++) { pfd[k].fd = fds[i]; pfd[k].events = ev[i]; }
    rivulet_timeout(rv, &ms);
    if (!open_input && n == 0 && ms < 0) break;   /* nothing can ever wake us */
    if (ms > 1000 || ms < 0) ms = 1000;
    if (poll(pfd, (nfds_t)k, (int)ms) > 0 && open_input && (pfd[0].revents & (POLLIN | POLLHUP))) {
      if (fgets(line, sizeof line, stdin)) {
        char *body = strchr(line, ' ');
        if (body) {
          *body++ = 0;
          body[strcspn(body, "\n")] = 0;
          if (rivulet_deliver(rv, line, "+15559990000", body) != RIVULET_OK)
            fprintf(stderr, "poll_loop: %s\n", rivulet_errmsg(rv));
        }
      } else open_input = 0;
    }
    rivulet_poll(rv, 0);
  }
  printf("done: %d active\n", rivulet_active(rv));
  rivulet_close(rv);
  return 0;
}
