/*
** A WAL checkpointer on a thread of its own, for a long-lived SQLite connection whose
** commits must not wait: SQLite's automatic checkpoint runs inside the commit that crosses
** its threshold (copying the WAL into the database and syncing both: milliseconds), which
** in `rivulet serve` is a turn of the event loop every request waits behind. This one
** follows the connection's commits through its WAL hook and runs a PASSIVE checkpoint on
** its own connection when the WAL holds `pages` frames, while the owner goes on writing.
** Pure C: no Lua.
*/
#ifndef RIVULET_SQLITE_CKPT_H
#define RIVULET_SQLITE_CKPT_H

#include <stddef.h>
#include <sqlite3.h>

/* The WAL at this many times `pages` frames: the owner checkpoints in its own commit. */
#define RV_CKPT_BEHIND 4

typedef struct rv_ckpt rv_ckpt;

/* Starts the thread for `db` (the database file at `path`, in WAL mode) and replaces db's
** automatic checkpoint. NULL on failure, with the reason in err. */
rv_ckpt *rv_ckpt_start(sqlite3 *db, const char *path, int pages, char *err, size_t errlen);

/* How many checkpoints the thread has run, and the result code of the last one. */
unsigned long rv_ckpt_runs(rv_ckpt *c, int *last_rc);

/* Stops and joins the thread (a checkpoint under way finishes first), closes its
** connection and gives db SQLite's automatic checkpoint back. Call before closing db. */
void rv_ckpt_stop(rv_ckpt *c);

#endif
