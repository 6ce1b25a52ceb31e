/*
** libpq, loaded when first used (see lazy.h). Linking it maps some fifteen libraries
** (Kerberos, GSSAPI, LDAP, SASL, TLS...) at every start; only the PostgreSQL store uses it.
** The core's first libpq call is PQconnectStartParams, reached through core.pg_connect,
** which asks rv_pq_unavailable() first: the others are reached only on a connection that
** exists, so they forward without checking.
*/
#include <libpq-fe.h>

#include "lazy.h"

RV_LAZY_HIDE

#ifndef RV_PQ_SONAME
#define RV_PQ_SONAME "libpq.so.5"   /* libpq's ABI since PostgreSQL 8.0 */
#endif

/* every function forwarded: R returns a value, V does not */
#define PQ_FUNCS(R, V)                                                                     \
  R(int, PQbackendPID, (const PGconn *c), (c))                                             \
  V(PQclear, (PGresult *r), (r))                                                           \
  R(char *, PQcmdTuples, (PGresult *r), (r))                                               \
  R(PostgresPollingStatusType, PQconnectPoll, (PGconn *c), (c))                            \
  R(PGconn *, PQconnectStartParams, (const char *const *k, const char *const *v, int x),   \
    (k, v, x))                                                                             \
  R(int, PQconsumeInput, (PGconn *c), (c))                                                 \
  R(char *, PQerrorMessage, (const PGconn *c), (c))                                        \
  V(PQfinish, (PGconn *c), (c))                                                            \
  R(int, PQflush, (PGconn *c), (c))                                                        \
  R(char *, PQfname, (const PGresult *r, int i), (r, i))                                   \
  V(PQfreemem, (void *p), (p))                                                             \
  R(Oid, PQftype, (const PGresult *r, int i), (r, i))                                      \
  R(PGresult *, PQgetResult, (PGconn *c), (c))                                             \
  R(int, PQgetisnull, (const PGresult *r, int t, int f), (r, t, f))                        \
  R(int, PQgetlength, (const PGresult *r, int t, int f), (r, t, f))                        \
  R(char *, PQgetvalue, (const PGresult *r, int t, int f), (r, t, f))                      \
  R(int, PQisBusy, (PGconn *c), (c))                                                       \
  R(int, PQlibVersion, (void), ())                                                         \
  R(int, PQnfields, (const PGresult *r), (r))                                              \
  R(PGnotify *, PQnotifies, (PGconn *c), (c))                                              \
  R(int, PQnparams, (const PGresult *r), (r))                                              \
  R(int, PQntuples, (const PGresult *r), (r))                                              \
  R(Oid, PQparamtype, (const PGresult *r, int i), (r, i))                                  \
  R(char *, PQresultErrorField, (const PGresult *r, int f), (r, f))                        \
  R(char *, PQresultErrorMessage, (const PGresult *r), (r))                                \
  R(ExecStatusType, PQresultStatus, (const PGresult *r), (r))                              \
  R(int, PQsendDescribePrepared, (PGconn *c, const char *s), (c, s))                       \
  R(int, PQsendPrepare, (PGconn *c, const char *s, const char *q, int n, const Oid *t),    \
    (c, s, q, n, t))                                                                       \
  R(int, PQsendQuery, (PGconn *c, const char *q), (c, q))                                  \
  R(int, PQsendQueryPrepared, (PGconn *c, const char *s, int n, const char *const *v,      \
                               const int *l, const int *f, int rf),                        \
    (c, s, n, v, l, f, rf))                                                                \
  R(int, PQserverVersion, (const PGconn *c), (c))                                          \
  R(PQnoticeProcessor, PQsetNoticeProcessor, (PGconn *c, PQnoticeProcessor p, void *a),    \
    (c, p, a))                                                                             \
  R(int, PQsetnonblocking, (PGconn *c, int a), (c, a))                                     \
  R(int, PQsocket, (const PGconn *c), (c))                                                 \
  R(ConnStatusType, PQstatus, (const PGconn *c), (c))                                      \
  R(PGTransactionStatusType, PQtransactionStatus, (const PGconn *c), (c))

RV_LAZY_LIBRARY(PQ_FUNCS, rv_pq_unavailable, RV_PQ_SONAME, "libpq (the PostgreSQL client library)")
