/* A host written like a game: a fixed 60 Hz frame loop that gives rivulet a slice each
** frame (rivulet_poll(rv, 0) never waits) and a scripted "phone" whose players answer a
** few frames after being asked. Build: make (build/hosts/game_loop); run from the
** repository root: build/hosts/game_loop */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rivulet.h"

#define PLAYERS 3
#define FRAME_NS (1000000000L / 60)

typedef struct phone {
  int frame;
  int asked_at[PLAYERS];          /* frame a player got the question, or -1 */
} phone;

static const char *const answers[PLAYERS] = { "42", "41", "42" };

static int player_of(const char *to) {
  return atoi(to + strlen(to) - 1);  /* +1555000000N */
}

static void on_message(void *ud, const char *sid, const char *from, const char *to, const char *body) {
  phone *p = ud;
  (void)sid; (void)from;
  printf("frame %3d  to %s: %s\n", p->frame, to, body);
  if (strstr(body, "?")) p->asked_at[player_of(to)] = p->frame;
}

static void on_end(void *ud, const char *sid, const char *status, const char *reason) {
  phone *p = ud;
  printf("frame %3d  %s %s (%s)\n", p->frame, sid, status, reason);
}

int main(void) {
  phone p;
  rivulet *rv;
  rivulet_config cfg;
  const char *dir = getenv("RIVULET_LUA_PATH");
  struct timespec tick = { 0, FRAME_NS };
  char sid[35], trig[160], from[32];
  int i;
  memset(&p, 0, sizeof p);
  for (i = 0; i < PLAYERS; i++) p.asked_at[i] = -1;
  memset(&cfg, 0, sizeof cfg);
  cfg.version = RIVULET_CONFIG_VERSION;
  cfg.userdata = &p;
  cfg.on_message = on_message;
  cfg.on_end = on_end;
  cfg.lua_path = dir ? dir : "lua";
  if (rivulet_open(&rv, &cfg) != RIVULET_OK || rivulet_load_flow(rv, "quiz", "flows/hosts/quiz.lua") != RIVULET_OK) {
    fprintf(stderr, "game_loop: %s\n", rivulet_errmsg(rv));
    rivulet_close(rv);
    return 1;
  }
  for (i = 0; i < PLAYERS; i++) {
    snprintf(trig, sizeof trig, "{\"event\":\"incomingMessage\",\"from\":\"+1555000000%d\",\"to\":\"+15559990000\",\"body\":\"play\"}", i);
    if (rivulet_start(rv, "quiz", trig, sid) != RIVULET_OK) fprintf(stderr, "game_loop: %s\n", rivulet_errmsg(rv));
  }
  for (p.frame = 0; p.frame < 120 && rivulet_active(rv) > 0; p.frame++) {
    for (i = 0; i < PLAYERS; i++) {          /* player i answers 10 * (i + 1) frames later */
      if (p.asked_at[i] >= 0 && p.frame == p.asked_at[i] + 10 * (i + 1)) {
        snprintf(from, sizeof from, "+1555000000%d", i);
        printf("frame %3d  from %s: %s\n", p.frame, from, answers[i]);
        rivulet_deliver(rv, from, "+15559990000", answers[i]);
        p.asked_at[i] = -1;
      }
    }
    if (rivulet_poll(rv, 0) != RIVULET_OK) fprintf(stderr, "game_loop: %s\n", rivulet_errmsg(rv));
    nanosleep(&tick, NULL);                  /* the rest of the frame belongs to the game */
  }
  printf("%d frames, %d executions still active\n", p.frame, rivulet_active(rv));
  rivulet_close(rv);
  return 0;
}
