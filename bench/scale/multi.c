/* bench/scale/multi.c: the floors of the scale benchmark. COUNT calls to a function that
 * answers after 100 ms, all started at once on one thread, the POST rivulet's Run Function
 * sends ({"who": ...} form-encoded), every reply checked (200 {"number":4}).
 *
 *   multi curl URL COUNT     libcurl's multi socket interface on epoll, one easy handle per
 *                            call (what a C program using libcurl well would do)
 *   multi raw  URL COUNT     raw non-blocking sockets and epoll: connect, write the request,
 *                            read the reply; the least any client can do
 *
 * Prints one JSON line: {"impl":..,"count":..,"ok":..,"wall_s":..,"cpu_s":..}; exit status 1
 * when a call failed. Build: cc -O2 multi.c $(pkg-config --cflags --libs libcurl)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define REPLY_MAX 512 /* the server's whole answer is ~110 bytes */

static const char EXPECT[] = "{\"number\":4}";

typedef struct {
  char data[REPLY_MAX];
  size_t len;
  int fd;
  size_t sent;
} call;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_s(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata) {
  call *c = userdata;
  size_t n = size * nmemb, room = sizeof c->data - c->len;
  memcpy(c->data + c->len, ptr, n < room ? n : room);
  c->len += n < room ? n : room;
  return n;
}

/* libcurl's socket interface on epoll: curl_multi_socket_action touches only the transfers
 * with something to do (curl_multi_perform walks all 10,000 on every wake-up). Transfers
 * are spread over multi handles of SHARD transfers: libcurl 7.88 walks every connection of a
 * multi handle to find one to reuse and when a handle is removed, so one multi handle with
 * 10,000 connections is quadratic (rivulet's src/http.c does the same for the same reason). */
#define SHARD 256

static int curl_ep = -1;
static double *shard_due; /* when each shard wants its timeout run; < 0: never */
static long curl_done;      /* transfers finished, well or not */

static int on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp) {
  struct epoll_event ev;
  (void)e, (void)socketp;
  if (what == CURL_POLL_REMOVE) {
    epoll_ctl(curl_ep, EPOLL_CTL_DEL, s, NULL);
    return 0;
  }
  memset(&ev, 0, sizeof ev);
  ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
  ev.data.u64 = ((uint64_t)(uintptr_t)userp << 32) | (uint32_t)s;
  if (epoll_ctl(curl_ep, EPOLL_CTL_MOD, s, &ev) != 0) epoll_ctl(curl_ep, EPOLL_CTL_ADD, s, &ev);
  return 0;
}

static int on_timer(CURLM *m, long timeout_ms, void *userp) {
  (void)m;
  shard_due[(uintptr_t)userp] = timeout_ms < 0 ? -1 : now_s() + timeout_ms / 1e3;
  return 0;
}

static int finished(CURLM *m) {
  CURLMsg *msg;
  int left, ok = 0;
  while ((msg = curl_multi_info_read(m, &left)) != NULL) {
    if (msg->msg == CURLMSG_DONE) {
      call *c;
      long status = 0;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
      curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
      if (msg->data.result == CURLE_OK && status == 200 && c->len == sizeof EXPECT - 1 &&
          memcmp(c->data, EXPECT, c->len) == 0)
        ok++;
      else
        fprintf(stderr, "multi curl: %s, status %ld\n", curl_easy_strerror(msg->data.result), status);
      curl_done++;
      curl_multi_remove_handle(m, msg->easy_handle);
      curl_easy_cleanup(msg->easy_handle);
    }
  }
  return ok;
}

static int run_curl(const char *url, long count, call *calls) {
  long nshards = (count + SHARD - 1) / SHARD, i;
  CURLM **multi = calloc((size_t)nshards, sizeof *multi);
  struct curl_slist *headers =
      curl_slist_append(NULL, "Content-Type: application/x-www-form-urlencoded; charset=utf-8");
  int ok = 0, running;
  struct epoll_event evs[256];
  shard_due = calloc((size_t)nshards, sizeof *shard_due);
  curl_ep = epoll_create1(0);
  for (i = 0; i < nshards; i++) {
    multi[i] = curl_multi_init();
    curl_multi_setopt(multi[i], CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(multi[i], CURLMOPT_SOCKETDATA, (void *)(uintptr_t)i);
    curl_multi_setopt(multi[i], CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(multi[i], CURLMOPT_TIMERDATA, (void *)(uintptr_t)i);
    shard_due[i] = -1;
  }
  for (i = 0; i < count; i++) {
    CURL *h = curl_easy_init();
    char body[64];
    snprintf(body, sizeof body, "who=%%2B1555%07ld", i + 1);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_COPYPOSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &calls[i]);
    curl_easy_setopt(h, CURLOPT_PRIVATE, &calls[i]);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_multi_add_handle(multi[i / SHARD], h);
  }
  while (curl_done < count) {
    double next = -1, t;
    int n, k, wait;
    for (i = 0; i < nshards; i++)
      if (shard_due[i] >= 0 && (next < 0 || shard_due[i] < next)) next = shard_due[i];
    t = now_s();
    wait = next < 0 ? 1000 : next <= t ? 0 : (int)((next - t) * 1e3) + 1;
    n = epoll_wait(curl_ep, evs, 256, wait);
    for (k = 0; k < n; k++) {
      long idx = (long)(evs[k].data.u64 >> 32);
      int mask = (evs[k].events & EPOLLIN ? CURL_CSELECT_IN : 0) | (evs[k].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                 (evs[k].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
      curl_multi_socket_action(multi[idx], (curl_socket_t)(uint32_t)evs[k].data.u64, mask, &running);
      ok += finished(multi[idx]);
    }
    t = now_s();
    for (i = 0; i < nshards; i++)
      if (shard_due[i] >= 0 && shard_due[i] <= t) {
        shard_due[i] = -1;
        curl_multi_socket_action(multi[i], CURL_SOCKET_TIMEOUT, 0, &running);
        ok += finished(multi[i]);
      }
  }
  for (i = 0; i < nshards; i++) curl_multi_cleanup(multi[i]);
  curl_slist_free_all(headers);
  close(curl_ep);
  free(multi);
  free(shard_due);
  return ok;
}

static int run_raw(const char *url, long count, call *calls) {
  struct sockaddr_in a;
  char host[64];
  int port = 0, ep = epoll_create1(0), done = 0, ok = 0;
  const char *path = "/";
  long i;
  struct epoll_event ev, evs[256];
  char req[512];
  if (sscanf(url, "http://%63[^:]:%d", host, &port) != 2) return -1;
  path = strchr(url + 7, '/');
  if (!path) path = "/";
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((unsigned short)port);
  inet_pton(AF_INET, host, &a.sin_addr);
  for (i = 0; i < count; i++) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0 || (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS)) {
      perror("multi raw: connect");
      return -1;
    }
    calls[i].fd = fd;
    ev.events = EPOLLOUT;
    ev.data.ptr = &calls[i];
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
  while (done < count) {
    int n = epoll_wait(ep, evs, 256, 30000), k;
    if (n <= 0) return -1;
    for (k = 0; k < n; k++) {
      call *c = evs[k].data.ptr;
      if (evs[k].events & EPOLLOUT) {
        char body[64];
        int blen = snprintf(body, sizeof body, "who=%%2B1555%07ld", (long)(c - calls) + 1);
        int len = snprintf(req, sizeof req,
                           "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/x-www-form-urlencoded;"
                           " charset=utf-8\r\nContent-Length: %d\r\n\r\n%s",
                           path, host, port, blen, body);
        if (write(c->fd, req, (size_t)len) != len) return -1; /* a fresh socket takes 200 bytes */
        ev.events = EPOLLIN;
        ev.data.ptr = c;
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
      } else {
        ssize_t r = read(c->fd, c->data + c->len, sizeof c->data - c->len);
        char *end;
        if (r > 0) c->len += (size_t)r;
        end = memmem(c->data, c->len, "\r\n\r\n", 4);
        if (r <= 0 || (end && c->len - (size_t)(end + 4 - c->data) >= sizeof EXPECT - 1)) {
          if (end && strncmp(c->data, "HTTP/1.1 200", 12) == 0 &&
              memcmp(end + 4, EXPECT, sizeof EXPECT - 1) == 0)
            ok++;
          epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
          close(c->fd);
          done++;
        }
      }
    }
  }
  close(ep);
  return ok;
}

int main(int argc, char **argv) {
  long count;
  call *calls;
  double t0, c0;
  int ok;
  if (argc != 4 || (strcmp(argv[1], "curl") != 0 && strcmp(argv[1], "raw") != 0)) {
    fprintf(stderr, "usage: multi curl|raw URL COUNT\n");
    return 2;
  }
  count = strtol(argv[3], NULL, 10);
  calls = calloc((size_t)count, sizeof *calls);
  if (!calls || count <= 0) return 2;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  t0 = now_s();
  c0 = cpu_s();
  ok = argv[1][0] == 'c' ? run_curl(argv[2], count, calls) : run_raw(argv[2], count, calls);
  printf("{\"impl\":\"%s\",\"count\":%ld,\"ok\":%d,\"wall_s\":%.4f,\"cpu_s\":%.4f}\n", argv[1], count, ok,
         now_s() - t0, cpu_s() - c0);
  curl_global_cleanup();
  free(calls);
  return ok == count ? 0 : 1;
}
