/*
** A small SQLite binding for the execution store (lua/rivulet/store.lua): a connection, prepared
** statements with positional parameters, rows as tables keyed by column name. The store's
** schema and its rules live in Lua; this file only moves values across.
**
** Failures of the outside world (a locked, corrupt, full or foreign file) return
** nil, message, code; code is SQLite's primary result code as a name ("busy", "corrupt",
** "notadb", "full", "ioerr", "constraint", ...), and sqlite_open adds "missing" (no such
** file, or no such directory to create it in) and "isdir". The message is SQLite's, with
** the system's reason after it when an I/O call failed ("disk I/O error (File too large)").
** Misuse (a closed handle, an unbindable value) raises.
** No Lua error is ever raised while SQLite is running: values are read first, then pushed.
*/
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lazy.h"
#include "lrv.h"
#include "sqlite_ckpt.h"

#define LRV_SQLITE_DB   "rivulet.sqlite.Db"
#define LRV_SQLITE_STMT "rivulet.sqlite.Stmt"

typedef struct {
  sqlite3 *db;                /* NULL once closed */
  rv_ckpt *ckpt;              /* its checkpointer thread, or NULL */
} Db;

typedef struct {
  sqlite3_stmt *stmt;         /* NULL once finalized */
  Db *db;                     /* kept alive through the statement's user value */
} Stmt;

static const char *code_name(int rc) {
  switch (rc & 0xff) {
  case SQLITE_BUSY: return "busy";
  case SQLITE_LOCKED: return "locked";
  case SQLITE_NOMEM: return "nomem";
  case SQLITE_READONLY: return "readonly";
  case SQLITE_IOERR: return "ioerr";
  case SQLITE_CORRUPT: return "corrupt";
  case SQLITE_FULL: return "full";
  case SQLITE_CANTOPEN: return "cantopen";
  case SQLITE_CONSTRAINT: return "constraint";
  case SQLITE_NOTADB: return "notadb";
  case SQLITE_PERM: return "perm";
  case SQLITE_MISMATCH: return "mismatch";
  case SQLITE_TOOBIG: return "toobig";
  default: return "error";
  }
}

/* SQLite's message; after a failed system call (the file or the disk failed), its reason */
static void push_message(lua_State *L, sqlite3 *db, int rc) {
  int prim = rc & 0xff, err = db ? sqlite3_system_errno(db) : 0;
  const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  if (err != 0 && (prim == SQLITE_IOERR || prim == SQLITE_CANTOPEN || prim == SQLITE_FULL
                   || prim == SQLITE_READONLY || prim == SQLITE_PERM))
    lua_pushfstring(L, "%s (%s)", msg, strerror(err));
  else
    lua_pushstring(L, msg);
}

static int push_error(lua_State *L, sqlite3 *db, int rc) {
  luaL_pushfail(L);
  push_message(L, db, rc);
  lua_pushstring(L, code_name(rc));
  return 3;
}

static Db *check_db(lua_State *L, int idx) {
  Db *d = (Db *)luaL_checkudata(L, idx, LRV_SQLITE_DB);
  if (!d->db) luaL_error(L, "the store's database is closed");
  return d;
}

static Stmt *check_stmt(lua_State *L, int idx) {
  Stmt *s = (Stmt *)luaL_checkudata(L, idx, LRV_SQLITE_STMT);
  if (!s->stmt) luaL_error(L, "statement is finalized");
  if (!s->db->db) luaL_error(L, "the store's database is closed");
  return s;
}

/* "file:PATH?immutable=1": the URI SQLite reads a file by without locks or its -wal/-shm
** (the characters a URI gives meaning to escaped) */
static const char *push_immutable_uri(lua_State *L, const char *path) {
  luaL_Buffer b;
  const char *p;
  luaL_buffinit(L, &b);
  /* "file:" + "/x" would read as an authority when the path starts with "//" */
  luaL_addstring(&b, path[0] == '/' ? "file://" : "file:");
  for (p = path; *p; p++) {
    if (*p == '%' || *p == '?' || *p == '#') {
      char esc[4];
      esc[0] = '%';
      esc[1] = "0123456789ABCDEF"[(unsigned char)*p >> 4];
      esc[2] = "0123456789ABCDEF"[*p & 15];
      esc[3] = '\0';
      luaL_addstring(&b, esc);
    } else {
      luaL_addchar(&b, *p);
    }
  }
  luaL_addstring(&b, "?immutable=1");
  luaL_pushresult(&b);
  return lua_tostring(L, -1);
}

/* sqlite_open(path, mode) -> db | nil, err, code. mode "rw" (default) opens an existing
** file or creates one, readable by its owner only (a store holds conversations); "ro" opens
** read-only and never creates; "immutable" reads the file alone, as SQLite's immutable=1
** does (no locks, no -wal or -shm: for a file on a read-only medium that nothing writes).
** code "missing": no such file ("ro", "immutable"), or no directory to create it in ("rw");
** "isdir": the path is a directory; "readonly" ("rw"): the file cannot be created or
** written (its permissions, or a read-only medium), where SQLite would quietly open it
** read-only and fail at the first write. */
static int l_open(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  const char *mode = luaL_optstring(L, 2, "rw");
  const char *name = path;
  int flags = SQLITE_OPEN_NOMUTEX, rc, missing = 0;
  struct stat sb;
  const char *why;
  Db *d;
  if (strcmp(mode, "ro") == 0) flags |= SQLITE_OPEN_READONLY;
  else if (strcmp(mode, "rw") == 0) flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  else if (strcmp(mode, "immutable") == 0) {
    flags |= SQLITE_OPEN_READONLY | SQLITE_OPEN_URI;
    name = push_immutable_uri(L, path);
  }
  else return luaL_argerror(L, 2, "mode must be \"rw\", \"ro\" or \"immutable\"");
  if ((why = rv_sqlite_unavailable()) != NULL) {   /* SQLite is opened on first use */
    luaL_pushfail(L);
    lua_pushstring(L, why);
    lua_pushliteral(L, "unavailable");
    return 3;
  }
  d = (Db *)lua_newuserdatauv(L, sizeof *d, 0);
  d->db = NULL;
  d->ckpt = NULL;
  luaL_setmetatable(L, LRV_SQLITE_DB);
  if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
    luaL_pushfail(L);
    lua_pushliteral(L, "a directory, not a file");
    lua_pushliteral(L, "isdir");
    return 3;
  }
  if (flags & SQLITE_OPEN_CREATE) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);   /* empty: a new database */
    if (fd >= 0) close(fd);
    else if (errno == EROFS || errno == EACCES || errno == EPERM) {
      int e = errno;
      luaL_pushfail(L);
      lua_pushfstring(L, "cannot create the file (%s)", strerror(e));
      lua_pushliteral(L, "readonly");
      return 3;
    }
    else missing = errno == ENOENT || errno == ENOTDIR;     /* the directory is not there */
  } else {
    missing = stat(path, &sb) != 0 && (errno == ENOENT || errno == ENOTDIR);
  }
  rc = sqlite3_open_v2(name, &d->db, flags, NULL);
  if (rc != SQLITE_OK) {
    luaL_pushfail(L);
    push_message(L, d->db, rc);
    lua_pushstring(L, missing ? "missing" : code_name(rc));
    sqlite3_close_v2(d->db);
    d->db = NULL;
    return 3;
  }
  if ((flags & SQLITE_OPEN_READWRITE) && sqlite3_db_readonly(d->db, "main") == 1) {
    sqlite3_close_v2(d->db);
    d->db = NULL;
    luaL_pushfail(L);
    lua_pushliteral(L, "read-only: no write access to the file, or the medium it is on is read-only");
    lua_pushliteral(L, "readonly");
    return 3;
  }
  sqlite3_extended_result_codes(d->db, 0);
  return 1;
}

static int l_db_close(lua_State *L) {
  Db *d = (Db *)luaL_checkudata(L, 1, LRV_SQLITE_DB);
  rv_ckpt_stop(d->ckpt);        /* before the connection it follows goes */
  d->ckpt = NULL;
  if (d->db) {
    sqlite3_close_v2(d->db);    /* statements not yet collected keep it alive until then */
    d->db = NULL;
  }
  return 0;
}

/* db:exec(sql) -> true | nil, err, code: statements without parameters or rows */
static int l_db_exec(lua_State *L) {
  Db *d = check_db(L, 1);
  const char *sql = luaL_checkstring(L, 2);
  int rc = sqlite3_exec(d->db, sql, NULL, NULL, NULL);
  if (rc != SQLITE_OK) return push_error(L, d->db, rc);
  lua_pushboolean(L, 1);
  return 1;
}

/* db:busy_timeout(ms): how long a write waits for another connection's lock */
static int l_db_busy_timeout(lua_State *L) {
  Db *d = check_db(L, 1);
  sqlite3_busy_timeout(d->db, (int)luaL_checkinteger(L, 2));
  return 0;
}

/* db:checkpointer(pages) -> true | nil, err: WAL checkpoints on a thread of their own
** (src/sqlite_ckpt.h) once the WAL holds `pages` frames, instead of inside the commit that
** crosses SQLite's threshold. Once per connection; close stops it. */
static int l_db_checkpointer(lua_State *L) {
  Db *d = check_db(L, 1);
  lua_Integer pages = luaL_checkinteger(L, 2);
  const char *path = sqlite3_db_filename(d->db, "main");
  char err[256];
  luaL_argcheck(L, pages > 0 && pages <= 1000000, 2, "pages must be in 1..1000000");
  if (d->ckpt) return luaL_error(L, "the store's checkpointer is already running");
  if (path == NULL || *path == '\0') return luaL_error(L, "a checkpointer needs a database file");
  d->ckpt = rv_ckpt_start(d->db, path, (int)pages, err, sizeof err);
  if (!d->ckpt) {
    luaL_pushfail(L);
    lua_pushstring(L, err);
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* db:checkpoints() -> how many the checkpointer ran (0 without one), the last one's code
** ("ok", "busy", ...) */
static int l_db_checkpoints(lua_State *L) {
  Db *d = check_db(L, 1);
  int rc = SQLITE_OK;
  lua_pushinteger(L, d->ckpt ? (lua_Integer)rv_ckpt_runs(d->ckpt, &rc) : 0);
  lua_pushstring(L, rc == SQLITE_OK ? "ok" : code_name(rc));
  return 2;
}

static int l_db_changes(lua_State *L) {
  lua_pushinteger(L, sqlite3_changes(check_db(L, 1)->db));
  return 1;
}

static int l_db_autocommit(lua_State *L) {
  lua_pushboolean(L, sqlite3_get_autocommit(check_db(L, 1)->db));
  return 1;
}

/* db:prepare(sql) -> stmt | nil, err, code */
static int l_db_prepare(lua_State *L) {
  Db *d = check_db(L, 1);
  size_t len;
  const char *sql = luaL_checklstring(L, 2, &len);
  Stmt *s = (Stmt *)lua_newuserdatauv(L, sizeof *s, 1);
  int rc;
  s->stmt = NULL;
  s->db = d;
  luaL_setmetatable(L, LRV_SQLITE_STMT);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  rc = sqlite3_prepare_v2(d->db, sql, (int)len, &s->stmt, NULL);
  if (rc != SQLITE_OK) return push_error(L, d->db, rc);
  return 1;
}

static int l_db_gc(lua_State *L) {
  return l_db_close(L);
}

/* binds arguments from..top to parameters 1..; nil binds NULL. Strings are bound without a
** copy (SQLITE_STATIC): they stay on the Lua stack, alive, for as long as the calling method
** runs, and every method that steps a statement binds it here first, which clears what the
** previous call bound (a context of a kilobyte was copied twice per write: here, then into
** its record). */
static void bind_args(lua_State *L, Stmt *s, int from) {
  int top = lua_gettop(L), n = sqlite3_bind_parameter_count(s->stmt), i, rc = SQLITE_OK;
  sqlite3_reset(s->stmt);
  sqlite3_clear_bindings(s->stmt);
  if (top - from + 1 > n) luaL_error(L, "statement takes %d parameters, got %d", n, top - from + 1);
  for (i = from; i <= top; i++) {
    int p = i - from + 1;
    switch (lua_type(L, i)) {
    case LUA_TNIL: rc = sqlite3_bind_null(s->stmt, p); break;
    case LUA_TBOOLEAN: rc = sqlite3_bind_int(s->stmt, p, lua_toboolean(L, i)); break;
    case LUA_TNUMBER:
      if (lua_isinteger(L, i)) rc = sqlite3_bind_int64(s->stmt, p, (sqlite3_int64)lua_tointeger(L, i));
      else rc = sqlite3_bind_double(s->stmt, p, (double)lua_tonumber(L, i));
      break;
    case LUA_TSTRING: {
      size_t len;
      const char *v = lua_tolstring(L, i, &len);
      rc = sqlite3_bind_text64(s->stmt, p, v, (sqlite3_uint64)len, SQLITE_STATIC, SQLITE_UTF8);
      break;
    }
    default:
      luaL_error(L, "cannot store a %s (parameter %d)", luaL_typename(L, i), p);
    }
    if (rc != SQLITE_OK) luaL_error(L, "binding parameter %d: %s", p, sqlite3_errstr(rc));
  }
}

/* the current row as a table keyed by column name; NULL columns are absent */
static void push_row(lua_State *L, sqlite3_stmt *st) {
  int n = sqlite3_column_count(st), i;
  lua_createtable(L, 0, n);
  for (i = 0; i < n; i++) {
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_NULL: continue;
    case SQLITE_INTEGER: lua_pushinteger(L, (lua_Integer)sqlite3_column_int64(st, i)); break;
    case SQLITE_FLOAT: lua_pushnumber(L, (lua_Number)sqlite3_column_double(st, i)); break;
    default: {
      const void *p = sqlite3_column_blob(st, i);
      lua_pushlstring(L, p ? (const char *)p : "", (size_t)sqlite3_column_bytes(st, i));
    }
    }
    lua_setfield(L, -2, sqlite3_column_name(st, i));
  }
}

/* stmt:run(...) -> changes | nil, err, code: binds, steps to the end, resets */
static int l_stmt_run(lua_State *L) {
  Stmt *s = check_stmt(L, 1);
  int rc;
  bind_args(L, s, 2);
  while ((rc = sqlite3_step(s->stmt)) == SQLITE_ROW) {}
  sqlite3_reset(s->stmt);
  if (rc != SQLITE_DONE) return push_error(L, s->db->db, rc);
  lua_pushinteger(L, sqlite3_changes(s->db->db));
  return 1;
}

/* stmt:all(...) -> {row, ...} | nil, err, code */
static int l_stmt_all(lua_State *L) {
  Stmt *s = check_stmt(L, 1);
  int rc, n = 0;
  bind_args(L, s, 2);
  lua_newtable(L);
  while ((rc = sqlite3_step(s->stmt)) == SQLITE_ROW) {
    push_row(L, s->stmt);
    lua_rawseti(L, -2, ++n);
  }
  if (rc != SQLITE_DONE) {
    int r = sqlite3_reset(s->stmt);
    return push_error(L, s->db->db, r != SQLITE_OK ? r : rc);
  }
  sqlite3_reset(s->stmt);
  return 1;
}

/* stmt:first(...) -> row | false (no row) | nil, err, code */
static int l_stmt_first(lua_State *L) {
  Stmt *s = check_stmt(L, 1);
  int rc;
  bind_args(L, s, 2);
  rc = sqlite3_step(s->stmt);
  if (rc == SQLITE_ROW) {
    push_row(L, s->stmt);
    sqlite3_reset(s->stmt);
    return 1;
  }
  if (rc != SQLITE_DONE) {
    int r = sqlite3_reset(s->stmt);
    return push_error(L, s->db->db, r != SQLITE_OK ? r : rc);
  }
  sqlite3_reset(s->stmt);
  lua_pushboolean(L, 0);
  return 1;
}

static int l_stmt_gc(lua_State *L) {
  Stmt *s = (Stmt *)luaL_checkudata(L, 1, LRV_SQLITE_STMT);
  if (s->stmt) {
    sqlite3_finalize(s->stmt);
    s->stmt = NULL;
  }
  return 0;
}

/* sqlite_version() -> SQLite's version ("3.40.1") | nil, why it cannot be opened: a
** function, so that asking opens the library and loading the core does not */
static int l_version(lua_State *L) {
  const char *why = rv_sqlite_unavailable();
  if (why != NULL) {
    luaL_pushfail(L);
    lua_pushstring(L, why);
    return 2;
  }
  lua_pushstring(L, sqlite3_libversion());
  return 1;
}

void lrv_open_sqlite(lua_State *L) {
  static const luaL_Reg db_methods[] = {
    { "exec", l_db_exec }, { "prepare", l_db_prepare }, { "close", l_db_close },
    { "busy_timeout", l_db_busy_timeout }, { "changes", l_db_changes },
    { "autocommit", l_db_autocommit }, { "checkpointer", l_db_checkpointer },
    { "checkpoints", l_db_checkpoints }, { NULL, NULL }
  };
  static const luaL_Reg stmt_methods[] = {
    { "run", l_stmt_run }, { "all", l_stmt_all }, { "first", l_stmt_first },
    { "finalize", l_stmt_gc }, { NULL, NULL }
  };
  static const luaL_Reg db_meta[] = { { "__gc", l_db_gc }, { NULL, NULL } };
  static const luaL_Reg stmt_meta[] = { { "__gc", l_stmt_gc }, { NULL, NULL } };
  lrv_class(L, LRV_SQLITE_DB, db_meta, db_methods);
  lrv_class(L, LRV_SQLITE_STMT, stmt_meta, stmt_methods);
  lua_pushcfunction(L, l_open);
  lua_setfield(L, -2, "sqlite_open");
  lua_pushcfunction(L, l_version);
  lua_setfield(L, -2, "sqlite_version");
}
