/*
** SQLite, loaded when first used (see lazy.h): only the execution store needs it. Every
** connection starts at sqlite3_open_v2, which lrv_sqlite.c guards with
** rv_sqlite_unavailable(); the other functions are reached only through a connection.
*/
#include <sqlite3.h>

#include "lazy.h"

RV_LAZY_HIDE

#ifndef RV_SQLITE_SONAME
#define RV_SQLITE_SONAME "libsqlite3.so.0"
#endif

#define SQLITE_FUNCS(R, V)                                                                 \
  R(int, sqlite3_bind_double, (sqlite3_stmt *s, int i, double v), (s, i, v))               \
  R(int, sqlite3_bind_int, (sqlite3_stmt *s, int i, int v), (s, i, v))                     \
  R(int, sqlite3_bind_int64, (sqlite3_stmt *s, int i, sqlite3_int64 v), (s, i, v))         \
  R(int, sqlite3_bind_null, (sqlite3_stmt *s, int i), (s, i))                              \
  R(int, sqlite3_bind_parameter_count, (sqlite3_stmt *s), (s))                             \
  R(int, sqlite3_bind_text64, (sqlite3_stmt *s, int i, const char *v, sqlite3_uint64 n,    \
                               void (*d)(void *), unsigned char enc), (s, i, v, n, d, enc)) \
  R(int, sqlite3_busy_timeout, (sqlite3 *db, int ms), (db, ms))                            \
  R(int, sqlite3_changes, (sqlite3 *db), (db))                                             \
  R(int, sqlite3_clear_bindings, (sqlite3_stmt *s), (s))                                   \
  R(int, sqlite3_close_v2, (sqlite3 *db), (db))                                            \
  R(const void *, sqlite3_column_blob, (sqlite3_stmt *s, int i), (s, i))                   \
  R(int, sqlite3_column_bytes, (sqlite3_stmt *s, int i), (s, i))                           \
  R(int, sqlite3_column_count, (sqlite3_stmt *s), (s))                                     \
  R(double, sqlite3_column_double, (sqlite3_stmt *s, int i), (s, i))                       \
  R(int, sqlite3_column_int, (sqlite3_stmt *s, int i), (s, i))                             \
  R(sqlite3_int64, sqlite3_column_int64, (sqlite3_stmt *s, int i), (s, i))                 \
  R(const char *, sqlite3_column_name, (sqlite3_stmt *s, int i), (s, i))                   \
  R(int, sqlite3_column_type, (sqlite3_stmt *s, int i), (s, i))                            \
  R(sqlite3_filename, sqlite3_db_filename, (sqlite3 *db, const char *name), (db, name))    \
  R(int, sqlite3_db_readonly, (sqlite3 *db, const char *name), (db, name))                 \
  R(const char *, sqlite3_errmsg, (sqlite3 *db), (db))                                     \
  R(const char *, sqlite3_errstr, (int rc), (rc))                                          \
  R(int, sqlite3_exec, (sqlite3 *db, const char *sql, int (*cb)(void *, int, char **,      \
                        char **), void *arg, char **err), (db, sql, cb, arg, err))          \
  R(int, sqlite3_extended_result_codes, (sqlite3 *db, int on), (db, on))                   \
  R(int, sqlite3_finalize, (sqlite3_stmt *s), (s))                                         \
  R(int, sqlite3_get_autocommit, (sqlite3 *db), (db))                                      \
  R(const char *, sqlite3_libversion, (void), ())                                          \
  R(int, sqlite3_open_v2, (const char *name, sqlite3 **db, int flags, const char *vfs),    \
    (name, db, flags, vfs))                                                                \
  R(int, sqlite3_prepare_v2, (sqlite3 *db, const char *sql, int n, sqlite3_stmt **s,       \
                              const char **tail), (db, sql, n, s, tail))                   \
  R(int, sqlite3_reset, (sqlite3_stmt *s), (s))                                            \
  R(int, sqlite3_step, (sqlite3_stmt *s), (s))                                             \
  R(int, sqlite3_system_errno, (sqlite3 *db), (db))                                        \
  R(int, sqlite3_wal_autocheckpoint, (sqlite3 *db, int n), (db, n))                        \
  R(int, sqlite3_wal_checkpoint_v2, (sqlite3 *db, const char *name, int mode, int *log,    \
                                     int *ckpt), (db, name, mode, log, ckpt))              \
  R(void *, sqlite3_wal_hook, (sqlite3 *db, int (*cb)(void *, sqlite3 *, const char *,     \
                               int), void *arg), (db, cb, arg))

RV_LAZY_LIBRARY(SQLITE_FUNCS, rv_sqlite_unavailable, RV_SQLITE_SONAME, "libsqlite3 (the execution store)")
