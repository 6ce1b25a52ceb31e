/*
** libmicrohttpd, loaded when first used (see lazy.h). Linking it maps GnuTLS and its
** dependencies (nettle, gmp, p11-kit, idn2...) at every start; only the server uses it.
** The server's first call is MHD_start_daemon, which rv_server_new guards with
** rv_mhd_unavailable(); the others are reached only with a daemon that exists.
**
** The variadic functions: MHD_start_daemon forwards its options through
** MHD_start_daemon_va; the info queries forward no extra argument, as none of the
** connection or daemon information types the server asks for takes one.
*/
#include <stdarg.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <microhttpd.h>

#include "lazy.h"

RV_LAZY_HIDE

#ifndef RV_MHD_SONAME
#define RV_MHD_SONAME "libmicrohttpd.so.12"
#endif

typedef struct MHD_Daemon Daemon;
typedef struct MHD_Connection Conn;
typedef struct MHD_Response Resp;
typedef const union MHD_ConnectionInfo ConnInfo;
typedef const union MHD_DaemonInfo DaemonInfo;

/* every plain function forwarded: R returns a value, V does not */
#define MHD_FUNCS(R, V)                                                                    \
  R(enum MHD_Result, MHD_add_connection,                                                   \
    (Daemon *d, MHD_socket s, const struct sockaddr *a, socklen_t l), (d, s, a, l))        \
  R(enum MHD_Result, MHD_add_response_header, (Resp *r, const char *h, const char *c),     \
    (r, h, c))                                                                             \
  R(Resp *, MHD_create_response_from_buffer,                                               \
    (size_t n, void *b, enum MHD_ResponseMemoryMode m), (n, b, m))                         \
  V(MHD_destroy_response, (Resp *r), (r))                                                  \
  R(int, MHD_get_connection_values_n,                                                      \
    (Conn *c, enum MHD_ValueKind k, MHD_KeyValueIteratorN it, void *cls), (c, k, it, cls)) \
  R(enum MHD_Result, MHD_get_timeout, (Daemon *d, unsigned long long *t), (d, t))          \
  R(const char *, MHD_lookup_connection_value,                                             \
    (Conn *c, enum MHD_ValueKind k, const char *key), (c, k, key))                         \
  R(enum MHD_Result, MHD_queue_response, (Conn *c, unsigned int st, Resp *r), (c, st, r))  \
  R(MHD_socket, MHD_quiesce_daemon, (Daemon *d), (d))                                      \
  V(MHD_resume_connection, (Conn *c), (c))                                                 \
  R(enum MHD_Result, MHD_run, (Daemon *d), (d))                                            \
  V(MHD_stop_daemon, (Daemon *d), (d))                                                     \
  V(MHD_suspend_connection, (Conn *c), (c))

static struct {
  MHD_FUNCS(RV_LAZY_FIELD_R, RV_LAZY_FIELD_V)
  Daemon *(*MHD_start_daemon_va)(unsigned int, uint16_t, MHD_AcceptPolicyCallback, void *,
                                 MHD_AccessHandlerCallback, void *, va_list);
  ConnInfo *(*MHD_get_connection_info)(Conn *, enum MHD_ConnectionInfoType, ...);
  DaemonInfo *(*MHD_get_daemon_info)(Daemon *, enum MHD_DaemonInfoType, ...);
} fn;

static rv_lazy lib = { RV_MHD_SONAME, "libmicrohttpd (the HTTP server library)", NULL, 0, "" };

const char *rv_mhd_unavailable(void) {
  if (lib.state == 0 && rv_lazy_open(&lib)) {
    MHD_FUNCS(RV_LAZY_LOAD_R, RV_LAZY_LOAD_V)
    rv_lazy_sym(&lib, "MHD_start_daemon_va", &fn.MHD_start_daemon_va);
    rv_lazy_sym(&lib, "MHD_get_connection_info", &fn.MHD_get_connection_info);
    rv_lazy_sym(&lib, "MHD_get_daemon_info", &fn.MHD_get_daemon_info);
  }
  return lib.state > 0 ? NULL : lib.why;
}

static const char *rv_lazy_ready_(void) { return rv_mhd_unavailable(); }

MHD_FUNCS(RV_LAZY_DEF_R, RV_LAZY_DEF_V)

Daemon *(MHD_start_daemon)(unsigned int flags, uint16_t port, MHD_AcceptPolicyCallback apc,
                           void *apc_cls, MHD_AccessHandlerCallback dh, void *dh_cls, ...) {
  va_list ap;
  Daemon *d;
  if (rv_mhd_unavailable() != NULL)
    return NULL;
  va_start(ap, dh_cls);
  d = fn.MHD_start_daemon_va(flags, port, apc, apc_cls, dh, dh_cls, ap);
  va_end(ap);
  return d;
}

ConnInfo *(MHD_get_connection_info)(Conn *c, enum MHD_ConnectionInfoType t, ...) {
  return fn.MHD_get_connection_info(c, t);
}

DaemonInfo *(MHD_get_daemon_info)(Daemon *d, enum MHD_DaemonInfoType t, ...) {
  return fn.MHD_get_daemon_info(d, t);
}
