/*
** The WAL checkpointer thread (sqlite_ckpt.h). The owner's commits reach wal_hook, which
** only raises a flag under the mutex; the thread waits for it and checkpoints with a
** connection of its own (SQLite connections are not shared between threads here: both are
** opened NOMUTEX and each is used by one thread). PASSIVE never waits for the writer or the
** readers: it copies what it can, and SQLite starts the WAL over at the next write once
** everything in it is in the database.
*/
#include "sqlite_ckpt.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

struct rv_ckpt {
  sqlite3 *owner;             /* the connection whose commits it follows */
  sqlite3 *db;                /* its own, used by the thread only */
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int pages;                  /* a checkpoint once the WAL holds this many frames */
  int auto_pages;             /* the owner's automatic checkpoint, given back at stop */
  int want, stop;             /* under mu */
  unsigned long runs;         /* under mu */
  int last_rc;                /* under mu */
};

static int wal_hook(void *ud, sqlite3 *db, const char *name, int frames) {
  rv_ckpt *c = (rv_ckpt *)ud;
  /* the thread does not keep up (a writer that never pauses, a busy disk): the owner
  ** checkpoints itself, as SQLite's own hook would, so the WAL stays bounded */
  if (frames >= c->pages * RV_CKPT_BEHIND) {
    sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return SQLITE_OK;
  }
  if (frames >= c->pages) {
    pthread_mutex_lock(&c->mu);
    if (!c->want) {
      c->want = 1;
      pthread_cond_signal(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
  }
  return SQLITE_OK;
}

static void *run(void *ud) {
  rv_ckpt *c = (rv_ckpt *)ud;
  pthread_mutex_lock(&c->mu);
  for (;;) {
    int rc;
    while (!c->want && !c->stop) pthread_cond_wait(&c->cv, &c->mu);
    if (c->stop) break;
    c->want = 0;
    pthread_mutex_unlock(&c->mu);
    rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    pthread_mutex_lock(&c->mu);
    c->runs++;
    c->last_rc = rc;
  }
  pthread_mutex_unlock(&c->mu);
  return NULL;
}

/* the owner's wal_autocheckpoint setting (SQLite's default, 1000, if it cannot be read) */
static int auto_pages(sqlite3 *db) {
  sqlite3_stmt *st;
  int n = 1000;
  if (sqlite3_prepare_v2(db, "PRAGMA wal_autocheckpoint", -1, &st, NULL) == SQLITE_OK) {
    if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
  }
  return n;
}

rv_ckpt *rv_ckpt_start(sqlite3 *owner, const char *path, int pages, char *err, size_t errlen) {
  rv_ckpt *c = (rv_ckpt *)calloc(1, sizeof *c);
  int rc;
  if (c == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  c->owner = owner;
  c->pages = pages > 0 ? pages : 1;
  rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK) {
    snprintf(err, errlen, "the checkpointer cannot open the store: %s",
             c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
    sqlite3_close_v2(c->db);
    free(c);
    return NULL;
  }
  /* its connection never checkpoints on its own (it writes nothing, but a last close of a
  ** WAL database checkpoints: the owner's close does that) */
  sqlite3_wal_autocheckpoint(c->db, 0);
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->cv, NULL);
  if ((rc = pthread_create(&c->thread, NULL, run, c)) != 0) {
    snprintf(err, errlen, "cannot start the checkpointer thread (error %d)", rc);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    sqlite3_close_v2(c->db);
    free(c);
    return NULL;
  }
  c->auto_pages = auto_pages(owner);
  sqlite3_wal_hook(owner, wal_hook, c);        /* replaces the automatic checkpoint */
  return c;
}

unsigned long rv_ckpt_runs(rv_ckpt *c, int *last_rc) {
  unsigned long n;
  pthread_mutex_lock(&c->mu);
  n = c->runs;
  if (last_rc) *last_rc = c->last_rc;
  pthread_mutex_unlock(&c->mu);
  return n;
}

void rv_ckpt_stop(rv_ckpt *c) {
  if (c == NULL) return;
  sqlite3_wal_autocheckpoint(c->owner, c->auto_pages);   /* its own hook again */
  pthread_mutex_lock(&c->mu);
  c->stop = 1;
  pthread_cond_signal(&c->cv);
  pthread_mutex_unlock(&c->mu);
  pthread_join(c->thread, NULL);
  pthread_cond_destroy(&c->cv);
  pthread_mutex_destroy(&c->mu);
  sqlite3_close_v2(c->db);
  free(c);
}
