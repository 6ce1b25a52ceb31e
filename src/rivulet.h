/*
** rivulet: Studio-style conversational flows, embedded. The public C API.
**
** Shaped like SQLite's: an opaque handle, calls that return an int code, the last error's
** message on the handle. Nothing here blocks longer than asked: rivulet_poll runs whatever
** is due (HTTP transfers, timers, steps) and returns within its timeout, so a game's frame
** loop or an IoT event loop keeps the thread. No Lua types appear in this header.
**
**   rivulet *rv;
**   rivulet_config cfg = { RIVULET_CONFIG_VERSION };
**   cfg.on_message = send_sms;                      (outbound messages)
**   if (rivulet_open(&rv, &cfg) != RIVULET_OK) ...  (rivulet_errmsg(rv) says why)
**   rivulet_load_flow(rv, "dice", "flows/random_number.json");
**   rivulet_start(rv, "dice", "{\"event\":\"incomingMessage\",\"from\":\"+1555…\",\"to\":\"+1999…\",\"body\":\"hi\"}", sid);
**   each frame:  rivulet_poll(rv, 0);
**   on an SMS:   rivulet_deliver(rv, from, to, body);
**   rivulet_close(rv);
**
** A handle is used from one thread at a time. Callbacks run inside rivulet_poll,
** rivulet_start and rivulet_deliver; they must not call back into the same handle.
*/
#ifndef RIVULET_H
#define RIVULET_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RIVULET_OK          0
#define RIVULET_ERROR       1   /* see rivulet_errmsg */
#define RIVULET_NOMEM       2   /* the memory budget (or the machine) ran out */
#define RIVULET_MISUSE      3   /* a NULL handle, a call from inside a callback, ... */
#define RIVULET_NOTFOUND    4   /* no such flow, or no execution waiting for that contact */
#define RIVULET_BUSY        5   /* the contact already has an active execution (start), or
                                   another process sharing the store is running it (deliver) */
#define RIVULET_BADINPUT    6   /* a flow or trigger that does not parse or validate */

#define RIVULET_CONFIG_VERSION 1

typedef struct rivulet rivulet;

/* Zero-initialised fields mean the defaults. New fields are only ever added at the end,
** with a new RIVULET_CONFIG_VERSION. */
typedef struct rivulet_config {
  int version;                /* RIVULET_CONFIG_VERSION; 0 (a zeroed struct) means all defaults */
  void *userdata;             /* handed to every callback */
  void (*on_message)(void *userdata, const char *sid, const char *from, const char *to, const char *body);
  void (*on_end)(void *userdata, const char *sid, const char *status, const char *reason);
  const char *store_path;     /* NULL: in memory. An SQLite file (created if missing): every
                                 step is committed there, and rivulet_open resumes the active
                                 executions it holds (due timeouts fire on the first poll) */
  /* version 1 */
  const char *auth_token;     /* signs function and HTTP calls (X-Twilio-Signature) */
  const char *timezone;       /* IANA name for Liquid's date; default America/Los_Angeles */
  const char *const *url_map; /* "FROM=TO" prefix rewrites, NULL-terminated */
  long http_timeout_ms;       /* default 10000 */
  long same_widget_limit;     /* default 10 */
  long step_limit;            /* default 1000 per execution */
  size_t memory_limit;        /* bytes for the whole engine; default 0 = unlimited */
  const char *lua_path;       /* where the rivulet Lua modules are: a directory or a Lua path
                                 ("/x/?.lua;/x/?/init.lua"); default: $RIVULET_LUA_PATH (the
                                 same forms), then the installed ones */
} rivulet_config;

int  rivulet_open(rivulet **out, const rivulet_config *config);   /* config may be NULL */
void rivulet_close(rivulet *rv);                                   /* NULL is fine */

/* Loads a Studio Flow JSON or Lua flow file and registers it under `name`. */
int  rivulet_load_flow(rivulet *rv, const char *name, const char *path);

/* Starts an execution of a loaded flow. trigger_json: {"event": "incomingMessage",
** "from": …, "to": …, "body": …} or {"event": "incomingRequest", "from": …, "to": …,
** "parameters": {…}}. The new execution's sid ("FN" + 32 hex) is written to sid_out. */
int  rivulet_start(rivulet *rv, const char *flow_name, const char *trigger_json, char sid_out[35]);

/* Hands an inbound message to the contact's waiting execution (with a store: the store's
** latest copy of it, whichever process moved it last). */
int  rivulet_deliver(rivulet *rv, const char *from, const char *to, const char *body);

/* Runs what is due, waiting at most timeout_ms (0: not at all) for something to happen.
** Returns RIVULET_OK or an error code. */
int  rivulet_poll(rivulet *rv, int timeout_ms);

/* Active executions (running or waiting). */
int  rivulet_active(rivulet *rv);

/* For hosts with their own event loop: the file descriptors rivulet's transfers wait on
** (up to max; *n gets how many; events as poll(2)'s POLLIN/POLLOUT) and the longest the host
** may wait before calling rivulet_poll again (-1: no deadline). On Linux that is a single
** descriptor (an epoll set of all the transfers' sockets) that polls readable when any of
** them is ready, whatever the number of transfers; none while no transfer runs. */
int  rivulet_fds(rivulet *rv, int *fds, short *events, int max, int *n);
int  rivulet_timeout(rivulet *rv, long *ms);

/* The last error's message; valid until the next call on the handle. */
const char *rivulet_errmsg(rivulet *rv);

#ifdef __cplusplus
}
#endif

#endif
