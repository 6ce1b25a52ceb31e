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
** rivulet_start and rivulet_deliver. From inside a callback, every call into the handle that
** runs it is refused with RIVULET_MISUSE (rivulet_active: -1), except rivulet_errmsg and
** rivulet_close; other handles may be used freely. rivulet_close from inside a callback is
** deferred, like sqlite3_close_v2: no callback runs after it, the running call stops at its
** next step (with a store, as if the process had stopped there: the executions stay as last
** committed, and the work cut off runs again at the next open, so a message may be handed
** over a second time), and the handle is freed when that call returns, with RIVULET_OK
** (the handle is gone: do not read rivulet_errmsg).
**
** Strings have no length limits of their own: what they cost counts against memory_limit
** (RIVULET_NOMEM past it, and the handle goes on). Every string in and out is UTF-8.
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
#define RIVULET_MISUSE      3   /* a NULL handle or argument, a bad config, a call from inside
                                   a callback, a call on a handle that did not open */
#define RIVULET_NOTFOUND    4   /* no such flow, or no execution waiting for that contact */
#define RIVULET_BUSY        5   /* the contact already has an active execution (start), or
                                   another process sharing the store is running it (deliver) */
#define RIVULET_BADINPUT    6   /* a flow or trigger that does not parse or validate */

#define RIVULET_CONFIG_VERSION 2

typedef struct rivulet rivulet;

/* Zero-initialised fields mean the defaults. New fields are only ever added at the end,
** with a new RIVULET_CONFIG_VERSION. */
typedef struct rivulet_config {
  int version;                /* RIVULET_CONFIG_VERSION; 0 (a zeroed struct) means all defaults */
  void *userdata;             /* handed to every callback */
  void (*on_message)(void *userdata, const char *sid, const char *from, const char *to, const char *body);
  void (*on_end)(void *userdata, const char *sid, const char *status, const char *reason);
  const char *store_path;     /* NULL: in memory. An SQLite file (created if missing): every
                                 step is committed there before any callback tells of it (a
                                 run commits before each callback and at its wait), and
                                 rivulet_open resumes the active executions it holds (due
                                 timeouts fire on the first poll) */
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
  /* version 2 */
  const char *account_sid;    /* AC + 32 hex digits: trigger.*.AccountSid, and with auth_token
                                 the credentials Make HTTP Request's add_twilio_auth sends
                                 (HTTP Basic) to Twilio's API only */
  const char *const *function_map; /* "ZH...=URL": a Run Function naming that function SID
                                 calls URL (Studio exports often have no url); NULL-terminated */
} rivulet_config;

/* config may be NULL (all defaults). *out gets a handle even when the open fails (for
** rivulet_errmsg; every other call on it is RIVULET_MISUSE), which must still be closed;
** only without out (RIVULET_MISUSE) or memory for a handle (RIVULET_NOMEM) is *out NULL.
** RIVULET_MISUSE: a config version this library does not know, a negative limit, an unknown
** timezone, a url_map entry that is not FROM=TO. RIVULET_ERROR: the Lua modules are not
** where lua_path says, or the store cannot be opened. */
int  rivulet_open(rivulet **out, const rivulet_config *config);

/* NULL is fine. From inside a callback: deferred (see the top of this file); closing there
** twice is one close. Outside callbacks the handle is gone at once: using or closing it
** again is undefined, as for free(). */
void rivulet_close(rivulet *rv);

/* Loads a Studio Flow JSON or Lua flow file and registers it under `name` (a name loaded
** again is replaced, for the executions started after). RIVULET_MISUSE: name or path NULL;
** RIVULET_BADINPUT: a file that cannot be read, parsed or validated (the message says
** where). */
int  rivulet_load_flow(rivulet *rv, const char *name, const char *path);

/* Starts an execution of a loaded flow. trigger_json is a JSON object with only these
** fields, all optional:
**   "event"       "incomingMessage" (the default), "incomingCall",
**                 "incomingConversationMessage" or "incomingRequest" ("incomingParent" is
**                 Run Subflow's own and is refused)
**   "from", "to"  strings: the contact and the flow's address (for incomingRequest, as in
**                 Studio's REST API, "from" is the flow's address and "to" the contact)
**   "body"        a string; incomingMessage and incomingConversationMessage only
**   "parameters"  an object (flow.data); incomingRequest only
** Strings are UTF-8; from, to and body hold no NUL (\u0000). Anything else is
** RIVULET_BADINPUT, with a message naming the field. RIVULET_NOTFOUND: no flow of that name;
** RIVULET_BUSY: the contact has an active execution; RIVULET_MISUSE: flow_name or
** trigger_json NULL. sid_out may be NULL; otherwise it is emptied, and on RIVULET_OK holds
** the new execution's sid ("FN" + 32 hex). */
int  rivulet_start(rivulet *rv, const char *flow_name, const char *trigger_json, char sid_out[35]);

/* Hands an inbound message to the contact's waiting execution (with a store: the store's
** latest copy of it, whichever process moved it last). from and to must not be NULL
** (RIVULET_MISUSE); a NULL body is the empty message; strings that are not UTF-8 are
** RIVULET_BADINPUT. RIVULET_NOTFOUND: no execution of that contact waits for a message. */
int  rivulet_deliver(rivulet *rv, const char *from, const char *to, const char *body);

/* Runs what is due, waiting at most timeout_ms (0 or negative: not at all) for something to
** happen. Returns RIVULET_OK or an error code. */
int  rivulet_poll(rivulet *rv, int timeout_ms);

/* Active executions (running or waiting); -1 when the call is refused (RIVULET_MISUSE's
** cases: see rivulet_errmsg). */
int  rivulet_active(rivulet *rv);

/* For hosts with their own event loop: the file descriptors rivulet's transfers wait on
** (up to max; *n gets how many; events as poll(2)'s POLLIN/POLLOUT) and the longest the host
** may wait before calling rivulet_poll again (-1: no deadline). On Linux that is a single
** descriptor (an epoll set of all the transfers' sockets) that polls readable when any of
** them is ready, whatever the number of transfers; none while no transfer runs.
** RIVULET_MISUSE: n or ms NULL, max negative, fds or events NULL while max > 0. Whatever
** the result, *n is set (0 on failure) and so is *ms (-1 on failure). */
int  rivulet_fds(rivulet *rv, int *fds, short *events, int max, int *n);
int  rivulet_timeout(rivulet *rv, long *ms);

/* The last error's message (empty after a call that succeeded); valid until the next call on
** the handle. Never NULL (for a NULL handle, a fixed text). Messages longer than 511 bytes
** are cut at a UTF-8 character and end in "...". */
const char *rivulet_errmsg(rivulet *rv);

#ifdef __cplusplus
}
#endif

#endif
