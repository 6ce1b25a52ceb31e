/* The floor under bench/store/steps.lua: bare SQLite making the commits rivulet's store
 * makes for the same executions, and nothing else (no engine, no JSON, no Lua). Each of
 * the three-question executions commits 8 times, as the engine must (rivulet.store's write
 * before each outside effect, then the wait: `Engine:tell`, DESIGN.md's at-least-once
 * message contract): its first step, its first wait, then per answer the answer's step and
 * the next wait (the last answer: the summary's step, then the end). Rows have the sizes
 * rivulet writes (the context grows by a widget's outputs per answer), the same WAL and
 * synchronous NORMAL, and the indexes a store needs to find a contact's execution and due
 * work without a scan. Phases as in steps.lua: every execution starts, then each answer
 * round goes to every execution.
 *
 *   build/bench/store-floor DIR [N]      prints {"impl":"floor",...} like steps.lua
 */
#define _POSIX_C_SOURCE 200809L
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TRIGGER_BYTES 560   /* trigger.message.* of an incoming message, as rivulet stores it */
#define BASE_BYTES 330      /* flow.* and contact.* */
#define ANSWER_BYTES 300    /* widgets.qN.{outbound,inbound} once answered */
#define WAIT_BYTES 110      /* the wait's JSON */
#define STEP_BYTES 200      /* a Step Context */

static sqlite3 *db;
static sqlite3_stmt *begin_st, *commit_st, *insert_exec, *update_exec, *end_exec, *insert_step;

static void die(const char *what) {
  fprintf(stderr, "store-floor: %s: %s\n", what, sqlite3_errmsg(db));
  exit(1);
}

static sqlite3_stmt *prepare(const char *sql) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) die(sql);
  return st;
}

static void run(sqlite3_stmt *st, const char *what) {
  if (sqlite3_step(st) != SQLITE_DONE) die(what);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
}

static double now_s(clockid_t c) {
  struct timespec t;
  clock_gettime(c, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static char filler[8192];

static void step(const char *sid, int idx, double t) {
  sqlite3_bind_text(insert_step, 1, sid, -1, SQLITE_STATIC);
  sqlite3_bind_int(insert_step, 2, idx);
  sqlite3_bind_double(insert_step, 3, t);
  sqlite3_bind_text(insert_step, 4, filler, STEP_BYTES, SQLITE_STATIC);
  run(insert_step, "insert step");
}

/* one execution's row: its context grown by `answers`, waiting or not */
static void update(sqlite3_stmt *st, const char *sid, int answers, int waits, double t) {
  sqlite3_bind_text(st, 1, filler, TRIGGER_BYTES + BASE_BYTES + answers * ANSWER_BYTES, SQLITE_STATIC);
  if (waits) {
    sqlite3_bind_text(st, 2, filler, WAIT_BYTES, SQLITE_STATIC);
    sqlite3_bind_double(st, 3, t + 3600);
  }
  sqlite3_bind_double(st, 4, t);
  sqlite3_bind_text(st, 5, sid, -1, SQLITE_STATIC);
  run(st, "update execution");
}

int main(int argc, char **argv) {
  char path[4096], sid[40];
  long n = argc > 2 ? atol(argv[2]) : 1000, i;
  int round;
  double w0, c0;
  if (argc < 2 || n < 1) {
    fprintf(stderr, "usage: store-floor DIR [N]\n");
    return 2;
  }
  memset(filler, 'x', sizeof filler);
  snprintf(path, sizeof path, "%s/floor.db", argv[1]);
  if (sqlite3_open(path, &db) != SQLITE_OK) die("open");
  if (sqlite3_exec(db,
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
        "CREATE TABLE executions (sid TEXT PRIMARY KEY, contact TEXT NOT NULL, status TEXT NOT NULL,"
        " due_at REAL, updated_at REAL NOT NULL, context TEXT NOT NULL, wait TEXT, rev INTEGER NOT NULL);"
        "CREATE UNIQUE INDEX executions_contact ON executions(contact) WHERE status = 'active';"
        "CREATE INDEX executions_due ON executions(due_at) WHERE status = 'active';"
        "CREATE TABLE steps (execution_sid TEXT NOT NULL, idx INTEGER NOT NULL, date_created REAL NOT NULL,"
        " context TEXT NOT NULL, PRIMARY KEY (execution_sid, idx)) WITHOUT ROWID;",
        NULL, NULL, NULL) != SQLITE_OK)
    die("schema");
  begin_st = prepare("BEGIN IMMEDIATE");
  commit_st = prepare("COMMIT");
  insert_exec = prepare("INSERT INTO executions (sid, contact, status, updated_at, context, rev)"
                        " VALUES (?1, ?1, 'active', ?2, ?3, 1)");
  update_exec = prepare("UPDATE executions SET context = ?1, wait = ?2, due_at = ?3, updated_at = ?4,"
                        " rev = rev + 1 WHERE sid = ?5");
  end_exec = prepare("UPDATE executions SET status = 'ended', context = ?1, wait = ?2, due_at = ?3,"
                     " updated_at = ?4, rev = rev + 1 WHERE sid = ?5");
  insert_step = prepare("INSERT INTO steps (execution_sid, idx, date_created, context) VALUES (?1, ?2, ?3, ?4)");

  w0 = now_s(CLOCK_MONOTONIC);
  c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
  srand(1);
  for (i = 1; i <= n; i++) {                     /* start: the trigger's step, then the first wait */
    double t = now_s(CLOCK_REALTIME);
    /* rivulet's sids are random: so are these keys' places in the b-trees */
    snprintf(sid, sizeof sid, "FN%08lx%024lx", (unsigned long)rand(), i);
    run(begin_st, "begin");
    sqlite3_bind_text(insert_exec, 1, sid, -1, SQLITE_STATIC);
    sqlite3_bind_double(insert_exec, 2, t);
    sqlite3_bind_text(insert_exec, 3, filler, TRIGGER_BYTES + BASE_BYTES, SQLITE_STATIC);
    run(insert_exec, "insert execution");
    step(sid, 1, t);
    run(commit_st, "commit");
    run(begin_st, "begin");
    update(update_exec, sid, 0, 1, t);
    run(commit_st, "commit");
  }
  for (round = 1; round <= 3; round++) {          /* an answer: its step, then the next wait (or the end) */
    srand(1);
    for (i = 1; i <= n; i++) {
      double t = now_s(CLOCK_REALTIME);
      snprintf(sid, sizeof sid, "FN%08lx%024lx", (unsigned long)rand(), i);
      run(begin_st, "begin");
      update(update_exec, sid, round, 0, t);
      step(sid, round + 1, t);
      run(commit_st, "commit");
      run(begin_st, "begin");
      if (round < 3) update(update_exec, sid, round, 1, t);
      else {
        update(end_exec, sid, round, 0, t);
        step(sid, 5, t);
      }
      run(commit_st, "commit");
    }
  }
  printf("{\"impl\":\"floor\",\"executions\":%ld,\"steps\":%ld,\"wall_s\":%.4f,\"cpu_s\":%.4f}\n", n, 5 * n,
         now_s(CLOCK_MONOTONIC) - w0, now_s(CLOCK_PROCESS_CPUTIME_ID) - c0);
  sqlite3_close(db);
  return 0;
}
