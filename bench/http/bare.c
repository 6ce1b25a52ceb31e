/* bench/http/bare.c: the floor for one Run Function call on loopback. A bare libcurl
 * keep-alive POST with the body rivulet sends for {min = "1", max = "6"}, through the easy
 * interface with one reused handle (so one reused connection).
 *
 *   bare URL N SECONDS WARMUP
 *
 * Times each call with CLOCK_MONOTONIC after WARMUP untimed calls; stops after N calls
 * (N > 0) or after SECONDS. Every reply must be 200 {"number":4}. Prints one JSON line:
 * {"impl":"bare","n":..,"median_us":..,"p10_us":..,"p90_us":..,"mean_us":..}
 * Exit status 1 on any failed call. Build: cc -O2 bare.c $(pkg-config --cflags --libs libcurl)
 */
#define _POSIX_C_SOURCE 200809L
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char BODY[] = "max=6&min=1";
static const char EXPECT[] = "{\"number\":4}";

typedef struct {
  char data[256];
  size_t len;
} sink;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata) {
  sink *s = userdata;
  size_t n = size * nmemb;
  size_t room = sizeof s->data - s->len;
  memcpy(s->data + s->len, ptr, n < room ? n : room);
  s->len += n < room ? n : room;
  return n;
}

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static int call(CURL *h, sink *s) {
  long status = 0;
  CURLcode rc;
  s->len = 0;
  rc = curl_easy_perform(h);
  if (rc != CURLE_OK) {
    fprintf(stderr, "bare: %s\n", curl_easy_strerror(rc));
    return -1;
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200 || s->len != sizeof EXPECT - 1 || memcmp(s->data, EXPECT, s->len) != 0) {
    fprintf(stderr, "bare: unexpected reply: status %ld, %zu bytes\n", status, s->len);
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  const char *url;
  long n, warmup, i, count = 0, cap;
  double seconds, start, *samples, sum = 0;
  struct curl_slist *headers = NULL;
  sink s;
  CURL *h;

  if (argc != 5) {
    fprintf(stderr, "usage: bare URL N SECONDS WARMUP\n");
    return 2;
  }
  url = argv[1];
  n = strtol(argv[2], NULL, 10);
  seconds = strtod(argv[3], NULL);
  warmup = strtol(argv[4], NULL, 10);
  cap = n > 0 ? n : 10000000;
  samples = malloc((size_t)cap * sizeof *samples);
  if (!samples) return 1;

  curl_global_init(CURL_GLOBAL_DEFAULT);
  h = curl_easy_init();
  if (!h) return 1;
  headers = curl_slist_append(headers, "Content-Type: application/x-www-form-urlencoded; charset=utf-8");
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, BODY);
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)(sizeof BODY - 1));
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "bare/1");
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);

  for (i = 0; i < warmup; i++)
    if (call(h, &s) != 0) return 1;

  start = now_us();
  while (count < cap) {
    double t0 = now_us(), t1;
    if (call(h, &s) != 0) return 1;
    t1 = now_us();
    samples[count++] = t1 - t0;
    sum += t1 - t0;
    if (n <= 0 && t1 - start >= seconds * 1e6) break;
  }
  qsort(samples, (size_t)count, sizeof *samples, cmp_double);
  printf("{\"impl\":\"bare\",\"n\":%ld,\"median_us\":%.2f,\"p10_us\":%.2f,\"p90_us\":%.2f,\"mean_us\":%.2f}\n",
         count, samples[count / 2], samples[count / 10], samples[count * 9 / 10], sum / count);

  curl_slist_free_all(headers);
  curl_easy_cleanup(h);
  curl_global_cleanup();
  free(samples);
  return 0;
}
